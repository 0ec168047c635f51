/*
 * cli_user.c -- "tessera user ...": the administrator's command line for
 * people. Passwords come from standard input when it is not a terminal
 * (one line), else a strong one is generated and printed once.
 *
 *	tessera user add --email E [--role admin|member] [--account NAME]
 *	tessera user list
 *	tessera user disable E | enable E | passwd E
 */
#include <sodium.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "domain/domain.h"
#include "lib/lib.h"
#include "process.h"
#include "store/store.h"

/* Reads the new password from piped stdin, or generates one (printed).
 * Returns 0 or -1 (message printed). */
static int
get_password(char *pw, size_t pwlen, int *generated)
{
	size_t	 n;

	*generated = 0;
	if (isatty(STDIN_FILENO) || fgets(pw, (int)pwlen, stdin) == NULL) {
		auth_random_password(pw);
		*generated = 1;
		return 0;
	}
	n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	if (!people_password_ok(pw, n)) {
		fprintf(stderr, "tessera user: the password must be 8 to 1024 "
		    "characters of UTF-8\n");
		sodium_memzero(pw, pwlen);
		return -1;
	}
	return 0;
}

/* The user's id by normalised email, 0 when none, -1 on error; the
 * account's id into *acct. */
static long long
user_id(struct db *db, const char *norm, long long *acct)
{
	struct dbq	*st = db_query(db, "user_by_email");
	long long	 id = 0;
	int		 rc;

	*acct = 0;
	if (st == NULL || db_bind_text(st, ":email_norm", norm) == -1)
		return -1;
	rc = db_step(st);
	if (rc == DB_ROW) {
		id = db_col_int(st, 0);
		*acct = db_col_int(st, 1);
	}
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? id : -1;
}

/* The account's id, created when missing. */
static long long
account_id(struct db *db, const char *name)
{
	struct dbq	*st;
	long long	 id = 0;

	if ((st = db_query(db, "account_by_name")) == NULL ||
	    db_bind_text(st, ":name", name) == -1)
		return -1;
	if (db_step(st) == DB_ROW)
		id = db_col_int(st, 0);
	db_reset(st);
	if (id > 0)
		return id;
	if ((st = db_query(db, "account_add")) == NULL ||
	    db_bind_text(st, ":name", name) == -1 ||
	    db_bind_int64(st, ":now", clock_now()) == -1 ||
	    db_run(db, st) != 0)
		return -1;
	return db_last_id(db);
}

/* Audits what the command line did to a user (never a password). */
static int
audit(struct db *db, long long acct, const char *action, const char *object)
{
	return audit_write_cli(db, acct, action, object, "");
}

static int
cmd_add(struct db *db, const char *email, const char *norm, const char *role,
    const char *account)
{
	char		 pw[1100], hash[AUTH_HASH_MAX];
	struct dbq	*st;
	long long	 acct;
	int		 gen, rc = 1;
	const char	*why;

	if (strcmp(role, "admin") != 0 && strcmp(role, "member") != 0) {
		fprintf(stderr, "tessera user add: --role is admin or member\n");
		return 2;
	}
	if (!text_plain(account, 200, &why)) {
		fprintf(stderr, "tessera user add: --account must be 1 to 200 "
		    "characters of plain text (%s)\n", why);
		return 2;
	}
	if (user_id(db, norm, &acct) > 0) {
		fprintf(stderr, "tessera user add: %s already exists\n", email);
		return 1;
	}
	if (get_password(pw, sizeof(pw), &gen) == -1)
		return 1;
	if (auth_hash_password(pw, strlen(pw), hash) == -1) {
		fprintf(stderr, "tessera user add: out of memory hashing\n");
		goto out;
	}
	if (db_tx(db, DB_BEGIN) != DB_OK) {
		fprintf(stderr, "tessera user add: %s\n", db_errmsg(db));
		goto out;
	}
	if ((acct = account_id(db, account)) <= 0 ||
	    (st = db_query(db, "user_add")) == NULL ||
	    db_bind_int64(st, ":account_id", acct) ||
	    db_bind_text(st, ":email", email) ||
	    db_bind_text(st, ":email_norm", norm) ||
	    db_bind_text(st, ":password_hash", hash) ||
	    db_bind_text(st, ":role", role) ||
	    db_bind_int64(st, ":now", clock_now()) ||
	    db_run(db, st) != 0) {
		db_tx(db, DB_ROLLBACK);
		fprintf(stderr, "tessera user add: %s could not be added\n",
		    email);
		goto out;
	}
	audit(db, acct, "user.added", email);
	if (db_tx(db, DB_COMMIT) != DB_OK) {
		fprintf(stderr, "tessera user add: %s\n", db_errmsg(db));
		goto out;
	}
	printf("added %s (%s) to account \"%s\"\n", email, role, account);
	if (gen)
		printf("password: %s\n", pw);
	rc = 0;
out:
	sodium_memzero(pw, sizeof(pw));
	return rc;
}

static int
cmd_list(struct db *db)
{
	struct dbq	*st = db_query(db, "users_all");
	char		 when[32];

	if (st == NULL)
		return 1;
	printf("%-32s %-7s %-8s %-20s %s\n", "EMAIL", "ROLE", "ACTIVE",
	    "CREATED", "ACCOUNT");
	while (db_step(st) == DB_ROW)
		printf("%-32s %-7s %-8s %-20s %s\n",
		    db_col_text(st, 1),
		    db_col_text(st, 2),
		    (int)db_col_int(st, 3) ? "yes" : "no",
		    iso8601(db_col_int(st, 4), when, sizeof(when)),
		    db_col_text(st, 5));
	db_reset(st);
	return 0;
}

/* disable / enable: sessions of a disabled user end at once, their tokens
 * stop (people.c, as the People page does). */
static int
cmd_active(struct db *db, long long uid, long long acct, const char *email,
    int active)
{
	if (people_set_active(db, uid, active) != 0)
		return 1;
	audit(db, acct, active ? "user.enabled" : "user.disabled", email);
	printf("%s %s\n", email, active ? "enabled" : "disabled");
	return 0;
}

/* passwd: a new password ends the user's sessions (people.c). */
static int
cmd_passwd(struct db *db, long long uid, long long acct, const char *email)
{
	char		 pw[1100], hash[AUTH_HASH_MAX];
	int		 gen, rc = 1;

	if (get_password(pw, sizeof(pw), &gen) == -1)
		return 1;
	if (auth_hash_password(pw, strlen(pw), hash) == 0 &&
	    people_set_password(db, uid, hash, 0) == 0) {
		audit(db, acct, "user.password_changed", email);
		printf("password changed for %s\n", email);
		if (gen)
			printf("password: %s\n", pw);
		rc = 0;
	}
	sodium_memzero(pw, sizeof(pw));
	return rc;
}

int
cli_user(struct config *cfg, const char *sub, const char *email,
    const char *role, const char *account)
{
	struct db	 db;
	char		 err[1024], norm[256];
	long long	 uid, acct;
	int		 rc;

	if (db_open(&db, cfg, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "tessera user: %s\n", err);
		return 1;
	}
	if (strcmp(sub, "list") == 0) {
		rc = cmd_list(&db);
		goto out;
	}
	if (email == NULL || auth_email_norm(email, norm, sizeof(norm)) == -1) {
		fprintf(stderr, "tessera user %s: a valid email is required\n",
		    sub);
		rc = 2;
		goto out;
	}
	if (strcmp(sub, "add") == 0) {
		rc = cmd_add(&db, email, norm, role ? role : "member",
		    account ? account : "Default");
		goto out;
	}
	if ((uid = user_id(&db, norm, &acct)) <= 0) {
		fprintf(stderr, "tessera user %s: no user %s\n", sub, email);
		rc = 1;
		goto out;
	}
	if (strcmp(sub, "disable") == 0)
		rc = cmd_active(&db, uid, acct, email, 0);
	else if (strcmp(sub, "enable") == 0)
		rc = cmd_active(&db, uid, acct, email, 1);
	else if (strcmp(sub, "passwd") == 0)
		rc = cmd_passwd(&db, uid, acct, email);
	else {
		fprintf(stderr, "tessera user: unknown command %s\n", sub);
		rc = 2;
	}
out:
	db_close(&db);
	return rc;
}
