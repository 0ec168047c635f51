/*
 * lhost_auth.c -- host.auth: sessions, login, logout and CSRF for the
 * Lua pages. The session id and password hashes never reach Lua: login
 * and logout queue their Set-Cookie headers in the host, which adds them
 * to the response itself.
 *
 *	host.auth.session()      -> { id, csrf, user = {...} } or nil
 *	host.auth.login{email=, password=}
 *	                         -> user | nil, "invalid" | nil, "throttled", s
 *	host.auth.logout()       -> true
 *	host.auth.csrf_ok()      -> boolean (token + Origin/Referer)
 *	host.auth.login_csrf()   -> the pre-session CSRF token for /login
 */
#include <sqlite3.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "tessera.h"

/* Pushes the session as a Lua table. */
static void
push_session(lua_State *L, const struct session *s)
{
	lua_createtable(L, 0, 4);
	lua_pushinteger(L, s->id);
	lua_setfield(L, -2, "id");
	lua_pushstring(L, s->csrf);
	lua_setfield(L, -2, "csrf");
	lua_pushinteger(L, s->created_at);
	lua_setfield(L, -2, "created_at");
	lua_createtable(L, 0, 5);
	lua_pushinteger(L, s->user_id);
	lua_setfield(L, -2, "id");
	lua_pushstring(L, s->email);
	lua_setfield(L, -2, "email");
	lua_pushstring(L, s->role);
	lua_setfield(L, -2, "role");
	lua_pushinteger(L, s->account_id);
	lua_setfield(L, -2, "account_id");
	lua_pushstring(L, s->account_name);
	lua_setfield(L, -2, "account_name");
	lua_setfield(L, -2, "user");
}

/* The request's session, looked up once per request. NULL when none. */
static const struct session *
current(lua_State *L)
{
	struct session	*s;
	int		*state = lhost_session_state(L, &s);
	int		 rc;

	if (*state == 0) {
		rc = session_lookup(lhost_db(L), lhost_pepper(L),
		    lhost_config(L), lhost_req(L), s);
		if (rc == -1)
			lhost_error(L, 503, "UNAVAILABLE", "session lookup failed");
		*state = rc == 1 ? 2 : 1;
	}
	return *state == 2 ? s : NULL;
}

static int
l_session(lua_State *L)
{
	const struct session *s = current(L);

	if (s == NULL)
		lua_pushnil(L);
	else
		push_session(L, s);
	return 1;
}

/* Failed attempts for (scope, key) in the window; *oldest set. */
static long long
failures(lua_State *L, const char *scope, const char *key, long long since,
    long long *oldest)
{
	sqlite3_stmt	*st = db_query(lhost_db(L), "login_failures_count");
	long long	 n = 0;

	*oldest = 0;
	if (st == NULL || db_bind_text(st, ":scope", scope) == -1 ||
	    db_bind_text(st, ":key", key) == -1 ||
	    db_bind_int64(st, ":since", since) == -1)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		*oldest = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return n;
}

static void
failure_row(lua_State *L, const char *query, const char *scope,
    const char *key, long long now)
{
	sqlite3_stmt	*st = db_query(lhost_db(L), query);

	if (st == NULL || db_bind_text(st, ":scope", scope) == -1 ||
	    db_bind_text(st, ":key", key) == -1 ||
	    (strcmp(query, "login_failure_add") == 0 &&
	    db_bind_int64(st, ":now", now) == -1))
		return;
	db_run(lhost_db(L), st);
}

/* Records a failure for the IP and (when it is a valid one) the email. */
static void
record_failure(lua_State *L, const char *ip, const char *email,
    long long now)
{
	const struct config *cfg = lhost_config(L);
	sqlite3_stmt	*st;

	failure_row(L, "login_failure_add", "ip", ip, now);
	if (email[0])
		failure_row(L, "login_failure_add", "email", email, now);
	if ((st = db_query(lhost_db(L), "login_failures_prune")) != NULL &&
	    db_bind_int64(st, ":since", now - cfg->login_window) == 0)
		db_run(lhost_db(L), st);
}

struct found_user {
	long long	 id;
	int		 usable;	/* user and account active */
	char		 hash[AUTH_HASH_MAX];
};

static int
find_user(lua_State *L, const char *email_norm, struct found_user *u)
{
	sqlite3_stmt	*st = db_query(lhost_db(L), "user_by_email");
	const char	*h;
	int		 rc;

	memset(u, 0, sizeof(*u));
	if (st == NULL || db_bind_text(st, ":email_norm", email_norm) == -1)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		u->id = sqlite3_column_int64(st, 0);
		h = (const char *)sqlite3_column_text(st, 3);
		snprintf(u->hash, sizeof(u->hash), "%s", h ? h : "");
		u->usable = sqlite3_column_int(st, 5) == 1 &&
		    sqlite3_column_int(st, 7) == 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static void
rehash(lua_State *L, long long id, const char *pw, size_t len)
{
	char		 h[AUTH_HASH_MAX];
	sqlite3_stmt	*st;

	if (auth_hash_password(pw, len, h) == -1 ||
	    (st = db_query(lhost_db(L), "user_set_password")) == NULL ||
	    db_bind_text(st, ":password_hash", h) == -1 ||
	    db_bind_int64(st, ":now", clock_now()) == -1 ||
	    db_bind_int64(st, ":id", id) == -1)
		return;
	db_run(lhost_db(L), st);
}

static int
l_login(lua_State *L)
{
	const struct config	*cfg = lhost_config(L);
	const struct req	*r = lhost_req(L);
	struct session		*s;
	struct found_user	 u;
	const char		*email, *pw, *ip;
	char			 norm[256] = "", cookie[AUTH_TOKEN_LEN + 1];
	char			 hdr[256];
	size_t			 pwlen;
	long long		 now = clock_now(), o1, o2 = 0, w1, w2;
	long long		 n1, n2;
	int			 found, ok;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_getfield(L, 1, "email");
	email = luaL_checkstring(L, -1);
	lua_getfield(L, 1, "password");
	pw = luaL_checklstring(L, -1, &pwlen);
	ip = r->remote_addr ? r->remote_addr : "";
	if (auth_email_norm(email, norm, sizeof(norm)) == -1)
		norm[0] = '\0';

	/* Per IP four times the per-email allowance (offices share IPs). */
	n1 = failures(L, "ip", ip, now - cfg->login_window, &o1);
	w1 = auth_throttle(n1, o1, now, cfg->login_max_failures * 4,
	    cfg->login_window);
	n2 = norm[0] ? failures(L, "email", norm, now - cfg->login_window,
	    &o2) : 0;
	w2 = n2 ? auth_throttle(n2, o2, now, cfg->login_max_failures,
	    cfg->login_window) : 0;
	if (w1 || w2) {
		lua_pushnil(L);
		lua_pushliteral(L, "throttled");
		lua_pushinteger(L, w1 > w2 ? w1 : w2);
		return 3;
	}

	found = norm[0] ? find_user(L, norm, &u) : 0;
	if (found == -1)
		return lhost_error(L, 503, "UNAVAILABLE", "user lookup failed");
	/* The same Argon2 work whether or not the email exists. */
	ok = auth_verify_password(found == 1 ? u.hash : NULL, pw, pwlen) &&
	    u.usable;
	if (!ok) {
		record_failure(L, ip, norm, now);
		lua_pushnil(L);
		lua_pushliteral(L, "invalid");
		return 2;
	}
	failure_row(L, "login_failures_clear", "email", norm, now);
	if (auth_needs_rehash(u.hash))
		rehash(L, u.id, pw, pwlen);

	/* A new session id at every login; the old session ends. */
	if (current(L) != NULL)
		session_delete(lhost_db(L), current(L)->id);
	lhost_session_state(L, &s);
	if (session_create(lhost_db(L), lhost_pepper(L), cfg, r, u.id, cookie,
	    s->csrf) == -1)
		return lhost_error(L, 503, "UNAVAILABLE", "cannot create session");
	session_set_cookie(r, session_cookie(r), cookie, hdr, sizeof(hdr));
	lhost_queue_cookie(L, hdr);
	sodium_memzero(hdr, sizeof(hdr));
	/* Later calls in this request see the new session. */
	*lhost_session_state(L, &s) = session_find(lhost_db(L),
	    lhost_pepper(L), cfg, cookie, s) == 1 ? 2 : 1;
	sodium_memzero(cookie, sizeof(cookie));
	lua_pushboolean(L, 1);
	return 1;
}

static int
l_logout(lua_State *L)
{
	const struct req	*r = lhost_req(L);
	const struct session	*s = current(L);
	struct session		*ps;
	char			 hdr[256];

	if (s != NULL)
		session_delete(lhost_db(L), s->id);
	*lhost_session_state(L, &ps) = 1;
	session_set_cookie(r, session_cookie(r), NULL, hdr, sizeof(hdr));
	lhost_queue_cookie(L, hdr);
	lua_pushboolean(L, 1);
	return 1;
}

/* The token the request sent: form field csrf, else X-CSRF-Token. */
static const char *
sent_token(const struct req *r)
{
	const struct kv	*f = kv_get(&r->form, "csrf");

	return f ? f->val : r->csrf_header;
}

static int
l_csrf_ok(lua_State *L)
{
	const struct req	*r = lhost_req(L);
	const struct session	*s = current(L);
	const struct kv		*c;
	const char		*expected = NULL;

	if (s != NULL)
		expected = s->csrf;
	else if ((c = kv_get(&r->cookies, session_csrf_cookie(r))) != NULL)
		expected = c->val;
	lua_pushboolean(L, auth_same_origin(r) &&
	    auth_str_eq(sent_token(r), expected));
	return 1;
}

static int
l_login_csrf(lua_State *L)
{
	const struct req	*r = lhost_req(L);
	const struct kv		*c = kv_get(&r->cookies, session_csrf_cookie(r));
	char			 tok[AUTH_TOKEN_LEN + 1], hdr[256];

	if (c != NULL && c->vlen == AUTH_TOKEN_LEN) {
		lua_pushstring(L, c->val);
		return 1;
	}
	auth_random_token(tok);
	session_set_cookie(r, session_csrf_cookie(r), tok, hdr, sizeof(hdr));
	lhost_queue_cookie(L, hdr);
	lua_pushstring(L, tok);
	return 1;
}

void
lhost_open_auth(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "csrf_ok",	l_csrf_ok },
		{ "login",	l_login },
		{ "login_csrf",	l_login_csrf },
		{ "logout",	l_logout },
		{ "session",	l_session },
		{ NULL,		NULL },
	};

	luaL_newlib(L, fns);
}
