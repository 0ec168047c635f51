/*
 * cli_token.c -- "tessera token ...": tokens from the command line. The
 * key and the secret are printed once; only the secret's hash is kept.
 *
 *	tessera token add --email USER --description TEXT
 *	tessera token add-via --account NAME --destination NAME
 *	    [--email CREATOR] [--description TEXT]
 *
 * A Via token is made for a destination (the API makes one with every
 * Via destination; this is for destinations made elsewhere). A token acts
 * with its creator's rights: --email, else the account's first admin.
 */
#include <sqlite3.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "tessera.h"

/* Looks up one id with a named query bound to (name, text). */
static long long
lookup(struct db *db, const char *query, const char *p1, long long v1,
    const char *p2, const char *v2)
{
	sqlite3_stmt	*st = db_query(db, query);
	long long	 id = 0;

	if (st == NULL || (p1 && db_bind_int64(st, p1, v1)) ||
	    (p2 && db_bind_text(st, p2, v2)))
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return id;
}

/* tessera token add --email E --description D: a user token. */
static int
add_user_token(struct config *cfg, const char *email, const char *description)
{
	struct db		 db;
	struct token_new	 t = { 0 };
	struct token_made	 m;
	unsigned char		 pepper[PEPPER_LEN];
	char			 err[1024], norm[256];
	sqlite3_stmt		*st;
	size_t			 n;
	int			 rc = 1;

	n = description ? strlen(description) : 0;
	if (email == NULL || auth_email_norm(email, norm, sizeof(norm)) == -1 ||
	    n == 0 || n > 800 || !utf8_valid(description, n)) {
		fprintf(stderr, "tessera token add: --email and --description "
		    "(1 to 200 characters) are required\n");
		return 2;
	}
	if (data_pepper(cfg, pepper, err, sizeof(err)) == -1 ||
	    db_open(&db, cfg, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "tessera token: %s\n", err);
		return 1;
	}
	if ((st = db_query(&db, "user_by_email")) == NULL ||
	    db_bind_text(st, ":email_norm", norm))
		goto out;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 5) == 1) {
		t.user_id = sqlite3_column_int64(st, 0);
		t.account_id = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (t.user_id == 0) {
		fprintf(stderr, "tessera token add: no active user %s\n", email);
		goto out;
	}
	t.kind = "user";
	t.description = description;
	if (token_create(&db, pepper, &t, &m) == -1) {
		fprintf(stderr, "tessera token add: could not create the "
		    "token\n");
		goto out;
	}
	printf("Token Key: %s\nToken:     %s\n", m.key, m.secret);
	sodium_memzero(m.secret, sizeof(m.secret));
	rc = 0;
out:
	sodium_memzero(pepper, sizeof(pepper));
	db_close(&db);
	return rc;
}

int
cli_token(struct config *cfg, const char *sub, const char *account,
    const char *destination, const char *email, const char *description)
{
	struct db		 db;
	struct token_new	 t = { 0 };
	struct token_made	 m;
	unsigned char		 pepper[PEPPER_LEN];
	char			 err[1024], norm[256], desc[256];
	sqlite3_stmt		*st;
	long long		 acct, uid, dest;
	int			 rc = 1;

	if (strcmp(sub, "add") == 0)
		return add_user_token(cfg, email, description);
	if (strcmp(sub, "add-via") != 0) {
		fprintf(stderr, "tessera token: unknown command %s\n", sub);
		return 2;
	}
	if (account == NULL || destination == NULL || *destination == '\0' ||
	    strlen(destination) > 200 ||
	    !utf8_valid(destination, strlen(destination))) {
		fprintf(stderr, "tessera token add-via: --account and "
		    "--destination (1 to 200 characters) are required\n");
		return 2;
	}
	snprintf(desc, sizeof(desc), "%s", description ? description : "");
	if (desc[0] == '\0')
		snprintf(desc, sizeof(desc), "%s", destination);
	if (data_pepper(cfg, pepper, err, sizeof(err)) == -1 ||
	    db_open(&db, cfg, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "tessera token: %s\n", err);
		return 1;
	}
	if ((acct = lookup(&db, "account_by_name", NULL, 0, ":name",
	    account)) <= 0) {
		fprintf(stderr, "tessera token add-via: no account \"%s\"\n",
		    account);
		goto out;
	}
	if (email != NULL) {
		if (auth_email_norm(email, norm, sizeof(norm)) == -1 ||
		    (st = db_query(&db, "user_by_email")) == NULL ||
		    db_bind_text(st, ":email_norm", norm)) {
			fprintf(stderr, "tessera token add-via: bad --email\n");
			goto out;
		}
		uid = 0;
		if (sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_int64(st, 1) == acct &&
		    sqlite3_column_int(st, 5) == 1)
			uid = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	} else
		uid = lookup(&db, "account_first_admin", ":account_id", acct,
		    NULL, NULL);
	if (uid <= 0) {
		fprintf(stderr, "tessera token add-via: no active %s in "
		    "account \"%s\" to own the token\n",
		    email ? "user with that email" : "admin", account);
		goto out;
	}
	if (db_exec_sql(&db, "BEGIN IMMEDIATE", err, sizeof(err)) == -1)
		goto out;
	dest = lookup(&db, "destination_by_name", ":account_id", acct,
	    ":name", destination);
	if (dest == 0 && ((st = db_query(&db, "destination_add")) == NULL ||
	    db_bind_int64(st, ":account_id", acct) ||
	    db_bind_text(st, ":name", destination) ||
	    db_bind_text(st, ":type", "via") ||
	    db_bind_text(st, ":config", "{}") ||
	    db_bind_int64(st, ":created_by", uid) ||
	    db_bind_int64(st, ":now", (long long)time(NULL)) ||
	    db_run(&db, st) != 0 ||
	    (dest = sqlite3_last_insert_rowid(db.h)) <= 0))
		dest = -1;
	t.kind = "via";
	t.description = desc;
	t.account_id = acct;
	t.user_id = uid;
	t.destination_id = dest;
	if (dest <= 0 || token_create(&db, pepper, &t, &m) == -1 ||
	    db_exec_sql(&db, "COMMIT", err, sizeof(err)) == -1) {
		db_exec_sql(&db, "ROLLBACK", NULL, 0);
		fprintf(stderr, "tessera token add-via: could not create the "
		    "token\n");
		goto out;
	}
	printf("Via token for destination \"%s\" (account \"%s\")\n",
	    destination, account);
	printf("Token Key: %s\nToken:     %s\n", m.key, m.secret);
	printf("The token is shown only now; store it in the destination's "
	    "settings.\n");
	sodium_memzero(m.secret, sizeof(m.secret));
	rc = 0;
out:
	sodium_memzero(pepper, sizeof(pepper));
	db_close(&db);
	return rc;
}
