/*
 * lhost_auth.c -- host.auth: sessions, login, logout and CSRF for the
 * Lua pages. The session id and password hashes never reach Lua: login
 * and logout queue their Set-Cookie headers in the host, which adds them
 * to the response itself.
 *
 *	host.auth.session()      -> { id, csrf, user = {...} } or nil
 *	host.auth.login{email=}  -> true | nil, "incomplete" | nil, "invalid"
 *	                            | nil, "throttled", seconds
 *	                            (the password comes from the request's
 *	                            form, in C: scripts never see it)
 *	host.auth.logout()       -> true
 *	host.auth.csrf_ok()      -> boolean (token + Origin/Referer)
 *	host.auth.login_csrf()   -> the pre-session CSRF token for /login
 */
#include <sodium.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"

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

const struct session *
lhost_session_current(lua_State *L)
{
	return current(L);
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

/* Failed attempts for (scope, key) since since: how many, the oldest and
 * the newest. 0 or -1 (the database failed). */
static int
failures(struct db *db, const char *scope, const char *key, long long since,
    long long *n, long long *oldest, long long *newest)
{
	struct dbq	*st = db_query(db, "login_failures_count");
	int		 rc;

	*n = *oldest = *newest = 0;
	if (st == NULL || db_bind_text(st, ":scope", scope) == -1 ||
	    db_bind_text(st, ":key", key) == -1 ||
	    db_bind_int64(st, ":since", since) == -1)
		return -1;
	if ((rc = db_step(st)) == DB_ROW) {
		*n = db_col_int(st, 0);
		*oldest = db_col_int(st, 1);
		*newest = db_col_int(st, 2);
	}
	db_reset(st);
	return rc == DB_ROW ? 0 : -1;
}

/* Runs a named query on (scope, key) (and :now, :id, :since when it has
 * them). 0 or -1. */
static int
failure_query(struct db *db, const char *query, const char *scope,
    const char *key, long long now, long long id)
{
	struct dbq	*st = db_query(db, query);

	if (st == NULL ||
	    (db_has_param(st, ":scope") &&
	    db_bind_text(st, ":scope", scope) == -1) ||
	    (db_has_param(st, ":key") &&
	    db_bind_text(st, ":key", key) == -1) ||
	    (db_has_param(st, ":now") &&
	    db_bind_int64(st, ":now", now) == -1) ||
	    (db_has_param(st, ":since") &&
	    db_bind_int64(st, ":since", now) == -1) ||
	    (db_has_param(st, ":id") &&
	    db_bind_int64(st, ":id", id) == -1))
		return -1;
	return db_run(db, st) == 0 ? 0 : -1;
}

/* One login attempt, counted before its password is checked. */
struct attempt {
	char		 ip[64];		/* bucket: an IPv6 /64 is one */
	char		 email[256];		/* normalised, or "" */
	char		 pair[320];		/* email + " " + ip */
	long long	 row[3];		/* its failure rows */
	long long	 wait;			/* throttled: seconds */
};

/* Decides whether the attempt a may go on and, if so, counts it as a
 * failure in advance (its rows go again when the password is right), all
 * in one write transaction, so concurrent attempts see each other: the
 * count is exact. Limits: per (email, address) login_max_failures in the
 * window (a lock for that pair), per address four times that (offices
 * share addresses), per email a slow-down only (auth_slowdown). Returns 0
 * (go on, or a->wait > 0: throttled) or -1 (the database failed). */
static int
reserve(struct db *db, const struct config *cfg, long long now,
    struct attempt *a)
{
	static const char *const scope[3] = { "ip", "pair", "email" };
	const char	*key[3] = { a->ip, a->pair, a->email };
	long long	 n, oldest, newest, w, since = now - cfg->login_window;
	int		 i, ok = 1;

	a->wait = 0;
	if (db_tx(db, DB_BEGIN) != DB_OK)
		return -1;
	for (i = 0; i < 3 && ok; i++) {
		if (i > 0 && a->email[0] == '\0')
			break;
		if (failures(db, scope[i], key[i], since, &n, &oldest,
		    &newest) == -1) {
			ok = 0;
			break;
		}
		if (i == 0)
			w = auth_throttle(n, oldest, now,
			    cfg->login_max_failures * 4, cfg->login_window);
		else if (i == 1)
			w = auth_throttle(n, oldest, now,
			    cfg->login_max_failures, cfg->login_window);
		else
			w = auth_slowdown(n, newest, now,
			    cfg->login_max_failures);
		if (w > a->wait)
			a->wait = w;
	}
	for (i = 0; ok && a->wait == 0 && i < 3; i++) {
		a->row[i] = 0;
		if (i > 0 && a->email[0] == '\0')
			continue;
		ok = failure_query(db, "login_failure_add", scope[i], key[i],
		    now, 0) == 0;
		a->row[i] = db_last_id(db);
	}
	if (ok && a->wait == 0)
		ok = failure_query(db, "login_failures_prune", "", "", since,
		    0) == 0;
	if (!ok) {
		db_tx(db, DB_ROLLBACK);
		return -1;
	}
	return db_tx(db, DB_COMMIT) == DB_OK ? 0 : -1;
}

/* The password was right: the attempt's rows go, and so do the pair's
 * earlier failures (the email's and the address's age out). 0 or -1. */
static int
release(struct db *db, const struct attempt *a)
{
	int	 i, ok = 1;

	for (i = 0; i < 3; i++)
		if (a->row[i] > 0)
			ok &= failure_query(db, "login_failure_remove", "", "",
			    0, a->row[i]) == 0;
	if (a->email[0])
		ok &= failure_query(db, "login_failures_clear", "pair",
		    a->pair, 0, 0) == 0;
	return ok ? 0 : -1;
}

struct found_user {
	long long	 id;
	int		 usable;	/* user and account active */
	char		 hash[AUTH_HASH_MAX];
};

static int
find_user(lua_State *L, const char *email_norm, struct found_user *u)
{
	struct dbq	*st = db_query(lhost_db(L), "user_by_email");
	const char	*h;
	int		 rc;

	memset(u, 0, sizeof(*u));
	if (st == NULL || db_bind_text(st, ":email_norm", email_norm) == -1)
		return -1;
	if ((rc = db_step(st)) == DB_ROW) {
		u->id = db_col_int(st, 0);
		h = db_col_text(st, 3);
		snprintf(u->hash, sizeof(u->hash), "%s", h ? h : "");
		u->usable = (int)db_col_int(st, 5) == 1 &&
		    (int)db_col_int(st, 7) == 1;
	}
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

static void
rehash(lua_State *L, long long id, const char *pw, size_t len)
{
	char		 h[AUTH_HASH_MAX];
	struct dbq	*st;

	if (auth_hash_password(pw, len, h) == -1 ||
	    (st = db_query(lhost_db(L), "user_set_password")) == NULL ||
	    db_bind_text(st, ":password_hash", h) == -1 ||
	    db_bind_int64(st, ":now", clock_now()) == -1 ||
	    db_bind_int64(st, ":id", id) == -1)
		return;
	db_run(lhost_db(L), st);
}

/* The People page's "last login". */
static void
logged_in(lua_State *L, long long id, long long now)
{
	struct dbq	*st = db_query(lhost_db(L), "user_logged_in");

	if (st == NULL || db_bind_int64(st, ":now", now) == -1 ||
	    db_bind_int64(st, ":id", id) == -1 ||
	    db_run(lhost_db(L), st) != 0)
		log_warn("login: could not record the time of the login");
}

static int
l_login(lua_State *L)
{
	const struct config	*cfg = lhost_config(L);
	const struct req	*r = lhost_req(L);
	struct session		*s;
	struct found_user	 u;
	struct attempt		 a;
	const struct kv		*f;
	const char		*email, *pw;
	char			 cookie[AUTH_TOKEN_LEN + 1];
	char			 hdr[256];
	size_t			 pwlen;
	long long		 now = clock_now();
	int			 found, ok;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_getfield(L, 1, "email");
	email = luaL_checkstring(L, -1);
	if (lua_getfield(L, 1, "password") != LUA_TNIL)
		return luaL_error(L, "host.auth.login reads the password from "
		    "the request's form itself");
	/* The password never reaches Lua (req.form hides it). */
	if ((f = kv_get(&r->form, "password")) == NULL || f->vlen == 0 ||
	    f->vlen > PASSWORD_MAX) {
		lua_pushnil(L);
		lua_pushliteral(L, "incomplete");
		return 2;
	}
	pw = f->val;
	pwlen = f->vlen;
	memset(&a, 0, sizeof(a));
	req_addr_bucket(r, a.ip, sizeof(a.ip));	/* an IPv6 /64 is one */
	if (auth_email_norm(email, a.email, sizeof(a.email)) == -1)
		a.email[0] = '\0';
	snprintf(a.pair, sizeof(a.pair), "%s %s", a.email, a.ip);
	if (lhost_db(L)->tx_depth > 0)
		return luaL_error(L, "host.auth.login inside a transaction");
	if (reserve(lhost_db(L), cfg, now, &a) == -1)
		return lhost_error(L, 503, "UNAVAILABLE", "login unavailable");
	if (a.wait > 0) {
		lua_pushnil(L);
		lua_pushliteral(L, "throttled");
		lua_pushinteger(L, a.wait);
		return 3;
	}

	found = a.email[0] ? find_user(L, a.email, &u) : 0;
	if (found == -1)
		return lhost_error(L, 503, "UNAVAILABLE", "user lookup failed");
	/* The same Argon2 work whether or not the email exists. */
	ok = auth_verify_password(found == 1 ? u.hash : NULL, pw, pwlen) &&
	    u.usable;
	if (!ok) {
		/* Counted already (reserve). */
		lua_pushnil(L);
		lua_pushliteral(L, "invalid");
		return 2;
	}
	if (release(lhost_db(L), &a) == -1)
		log_warn("login: could not clear the attempt's rows");
	if (auth_needs_rehash(u.hash))
		rehash(L, u.id, pw, pwlen);
	logged_in(L, u.id, now);

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
	lua_pushboolean(L, req_same_origin(r) &&
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
