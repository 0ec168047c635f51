/*
 * people.c -- what is done to a person, by the command line (tessera
 * user) and the People page alike: switched off or on (their sessions end
 * at once; their tokens stop because the gate reads the user's switch,
 * and on PostgreSQL the users trigger tells every worker's cache), a new
 * password (their other sessions end), and the one-time set-password
 * links, of which only a keyed hash is stored.
 */
#include <sodium.h>
#include <string.h>

#include "domain.h"

/* The keyed hash a link's secret is stored and found by: the pepper's
 * BLAKE2b of "set-password:" and the secret, so it is never the hash of
 * anything else made of the same alphabet (a session cookie). */
static void
link_hash(const unsigned char pepper[PEPPER_LEN], const char *secret,
    unsigned char out[32])
{
	static const char tag[] = "set-password:";
	char		 buf[sizeof(tag) + AUTH_TOKEN_LEN];
	size_t		 n = strlen(secret);

	if (n > AUTH_TOKEN_LEN)
		n = AUTH_TOKEN_LEN;	/* callers check the length first */
	memcpy(buf, tag, sizeof(tag) - 1);
	memcpy(buf + sizeof(tag) - 1, secret, n);
	auth_keyed_hash(pepper, buf, sizeof(tag) - 1 + n, out);
	sodium_memzero(buf, sizeof(buf));
}

int
people_password_ok(const char *pw, size_t n)
{
	return pw != NULL && n >= PASSWORD_MIN && n <= PASSWORD_MAX &&
	    utf8_valid(pw, n);
}

int
people_set_active(struct db *db, long long uid, int active)
{
	struct dbq	*st;

	if ((st = db_query(db, "user_set_active")) == NULL ||
	    db_bind_int64(st, ":active", active ? 1 : 0) ||
	    db_bind_int64(st, ":now", clock_now()) ||
	    db_bind_int64(st, ":id", uid) || db_run(db, st) != 0)
		return -1;
	if (!active && ((st = db_query(db, "session_delete_user")) == NULL ||
	    db_bind_int64(st, ":user_id", uid) || db_run(db, st) != 0))
		return -1;
	return 0;
}

int
people_set_password(struct db *db, long long uid, const char *hash,
    long long keep_session)
{
	struct dbq	*st;

	if ((st = db_query(db, "user_set_password")) == NULL ||
	    db_bind_text(st, ":password_hash", hash) ||
	    db_bind_int64(st, ":now", clock_now()) ||
	    db_bind_int64(st, ":id", uid) || db_run(db, st) != 0)
		return -1;
	if (keep_session > 0)
		return (st = db_query(db, "session_delete_user_except")) == NULL ||
		    db_bind_int64(st, ":user_id", uid) ||
		    db_bind_int64(st, ":keep", keep_session) ||
		    db_run(db, st) != 0 ? -1 : 0;
	return (st = db_query(db, "session_delete_user")) == NULL ||
	    db_bind_int64(st, ":user_id", uid) || db_run(db, st) != 0 ? -1 : 0;
}

int
people_link_make(struct db *db, const unsigned char pepper[PEPPER_LEN],
    long long uid, long long by, long long ttl,
    char secret[AUTH_TOKEN_LEN + 1], long long *expires)
{
	unsigned char	 h[32];
	struct dbq	*st;
	long long	 now = clock_now();

	auth_random_token(secret);
	link_hash(pepper, secret, h);
	*expires = now + ttl;
	if ((st = db_query(db, "password_links_drop_user")) == NULL ||
	    db_bind_int64(st, ":user_id", uid) || db_run(db, st) != 0)
		goto fail;
	if ((st = db_query(db, "password_link_add")) == NULL ||
	    db_bind_int64(st, ":user_id", uid) ||
	    db_bind_blob(st, ":secret_hash", h, sizeof(h)) ||
	    db_bind_int64(st, ":created_by", by) ||
	    db_bind_int64(st, ":now", now) ||
	    db_bind_int64(st, ":expires_at", *expires) ||
	    db_run(db, st) != 0)
		goto fail;
	return 0;
fail:
	sodium_memzero(secret, AUTH_TOKEN_LEN + 1);
	return -1;
}

int
people_link_find(struct db *db, const unsigned char pepper[PEPPER_LEN],
    const char *secret, size_t n, long long now, struct people_link *out)
{
	unsigned char	 h[32];
	struct dbq	*st;
	const char	*email;
	int		 rc;

	memset(out, 0, sizeof(*out));
	/* What auth_random_token makes: 43 characters of base64url. */
	if (n != AUTH_TOKEN_LEN ||
	    strspn(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_") != AUTH_TOKEN_LEN)
		return LINK_NONE;
	link_hash(pepper, secret, h);
	if ((st = db_query(db, "password_link_by_hash")) == NULL ||
	    db_bind_blob(st, ":secret_hash", h, sizeof(h)) == -1)
		return -1;
	if ((rc = db_step(st)) == DB_ROW) {
		out->id = db_col_int(st, 0);
		out->user_id = db_col_int(st, 1);
		out->expires_at = db_col_int(st, 2);
		out->used = db_col_type(st, 3) != DB_NULL;
		email = db_col_text(st, 4);
		snprintf(out->email, sizeof(out->email), "%s",
		    email ? email : "");
		out->account_id = db_col_int(st, 5);
		out->usable = db_col_int(st, 6) == 1 && db_col_int(st, 7) == 1;
	}
	db_reset(st);
	if (rc != DB_ROW)
		return rc == DB_DONE ? LINK_NONE : -1;
	if (out->used)
		return LINK_USED;
	if (now >= out->expires_at)
		return LINK_EXPIRED;
	if (!out->usable)
		return LINK_DISABLED;
	return LINK_OK;
}

int
people_link_use(struct db *db, const struct people_link *l, const char *hash)
{
	struct dbq	*st;

	if ((st = db_query(db, "password_link_use")) == NULL ||
	    db_bind_int64(st, ":now", clock_now()) ||
	    db_bind_int64(st, ":id", l->id) || db_run(db, st) != 0)
		return -1;
	if (db_changes(db) != 1)
		return 1;	/* spent meanwhile */
	return people_set_password(db, l->user_id, hash, 0);
}
