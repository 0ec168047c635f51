/*
 * session.c -- browser sessions in the database. The cookie carries 32
 * random bytes; the table holds only their keyed BLAKE2b hash, so a copy
 * of the database cannot be replayed as a cookie. Sessions end on logout,
 * after session_idle seconds unused, after session_absolute seconds, and
 * as soon as the user or the account is disabled. The session's CSRF
 * token is derived from the cookie value (auth_csrf_of), not stored.
 */
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "domain/domain.h"
#include "http.h"
#include "lib/lib.h"
#include "store/store.h"

static int
secure(const struct req *r)
{
	return r->scheme && strcmp(r->scheme, "https") == 0;
}

const char *
session_cookie(const struct req *r)
{
	return secure(r) ? "__Host-tessera" : "tessera";
}

const char *
session_csrf_cookie(const struct req *r)
{
	return secure(r) ? "__Host-tessera_csrf" : "tessera_csrf";
}

int
session_is_host_cookie(const char *name)
{
	return strcmp(name, "tessera") == 0 ||
	    strcmp(name, "__Host-tessera") == 0 ||
	    strcmp(name, "tessera_csrf") == 0 ||
	    strcmp(name, "__Host-tessera_csrf") == 0;
}

void
session_set_cookie(const struct req *r, const char *name, const char *value,
    char *out, size_t outlen)
{
	snprintf(out, outlen, "%s=%s; Path=/; HttpOnly; SameSite=Lax%s%s",
	    name, value ? value : "", value ? "" : "; Max-Age=0",
	    secure(r) ? "; Secure" : "");
}

/* Copies column i as text into out. */
static void
col_text(struct dbq *st, int i, char *out, size_t outlen)
{
	const char	*s = db_col_text(st, i);

	snprintf(out, outlen, "%s", s ? s : "");
}

int
session_lookup(struct db *db, const unsigned char *pepper,
    const struct config *cfg, const struct req *r, struct session *out)
{
	const struct kv	*c = kv_get(&r->cookies, session_cookie(r));

	memset(out, 0, sizeof(*out));
	return c == NULL ? 0 : session_find(db, pepper, cfg, c->val, out);
}

int
session_find(struct db *db, const unsigned char *pepper,
    const struct config *cfg, const char *value, struct session *out)
{
	unsigned char	 h[32];
	struct dbq	*st;
	long long	 now = clock_now(), last, expires;
	int		 rc;

	memset(out, 0, sizeof(*out));
	if (strlen(value) != AUTH_TOKEN_LEN)
		return 0;
	auth_keyed_hash(pepper, value, AUTH_TOKEN_LEN, h);
	if ((st = db_query(db, "session_by_hash")) == NULL ||
	    db_bind_blob(st, ":id_hash", h, sizeof(h)) == -1)
		return -1;
	rc = db_step(st);
	if (rc != DB_ROW) {
		db_reset(st);
		return rc == DB_DONE ? 0 : -1;
	}
	out->id = db_col_int(st, 0);
	last = db_col_int(st, 1);
	expires = db_col_int(st, 2);
	out->created_at = db_col_int(st, 3);
	out->user_id = db_col_int(st, 4);
	col_text(st, 5, out->email, sizeof(out->email));
	col_text(st, 6, out->role, sizeof(out->role));
	out->account_id = db_col_int(st, 7);
	col_text(st, 8, out->account_name, sizeof(out->account_name));
	db_reset(st);
	auth_csrf_of(pepper, value, out->csrf);
	if (expires <= now || last + cfg->session_idle <= now) {
		session_delete(db, out->id);
		memset(out, 0, sizeof(*out));
		return 0;
	}
	/* At most one write a minute per session. */
	if (now - last >= 60 && (st = db_query(db, "session_touch")) != NULL &&
	    db_bind_int64(st, ":now", now) == 0 &&
	    db_bind_int64(st, ":id", out->id) == 0)
		db_run(db, st);
	return 1;
}

int
session_create(struct db *db, const unsigned char *pepper,
    const struct config *cfg, const struct req *r, long long user_id,
    char cookie_val[AUTH_TOKEN_LEN + 1], char csrf[AUTH_TOKEN_LEN + 1])
{
	unsigned char	 h[32];
	struct dbq	*st;
	long long	 now = clock_now();
	char		 ua[256];

	auth_random_token(cookie_val);
	auth_csrf_of(pepper, cookie_val, csrf);
	auth_keyed_hash(pepper, cookie_val, AUTH_TOKEN_LEN, h);
	snprintf(ua, sizeof(ua), "%s", r->user_agent ? r->user_agent : "");
	while (!utf8_valid(ua, strlen(ua)))	/* cut inside a character */
		ua[strlen(ua) - 1] = '\0';
	if ((st = db_query(db, "session_add")) == NULL ||
	    db_bind_blob(st, ":id_hash", h, sizeof(h)) == -1 ||
	    db_bind_int64(st, ":user_id", user_id) == -1 ||
	    db_bind_int64(st, ":now", now) == -1 ||
	    db_bind_int64(st, ":expires_at", now + cfg->session_absolute) == -1 ||
	    db_bind_text(st, ":ip", r->remote_addr ? r->remote_addr : "") == -1 ||
	    db_bind_text(st, ":user_agent", ua) == -1 ||
	    db_run(db, st) != 0) {
		sodium_memzero(cookie_val, AUTH_TOKEN_LEN + 1);
		return -1;
	}
	return 0;
}

int
session_delete(struct db *db, long long id)
{
	struct dbq	*st;

	if ((st = db_query(db, "session_delete")) == NULL ||
	    db_bind_int64(st, ":id", id) == -1)
		return -1;
	return db_run(db, st) == 0 ? 0 : -1;
}
