/*
 * lhost_people.c -- host.people: what the People page (lua/routes/
 * people.lua) asks of C, because it touches a password or a secret.
 * Who may do what (admins, the same account) is the route's to decide;
 * the rules of a password and a link are people.c's. Passwords come from
 * the request's form (fields password, confirm_password,
 * current_password: scripts never see them), a link's secret from its
 * token field (query or form, hidden from scripts as well).
 *
 *	host.people.add(account_id, email, role)
 *	    -> id | nil, "email" | "role" | "exists"
 *	    (an invited user: no password verifies until they set one)
 *	host.people.set_active(user_id, on)    -> true
 *	host.people.link(user_id, by_user_id)  -> secret, expires_at
 *	    (any older link of the user ends; the secret is shown once)
 *	host.people.link_check()
 *	    -> { user_id, account_id, email, expires_at }
 *	    | nil, "invalid" | "used" | "expired" | "disabled"
 *	host.people.link_use()
 *	    -> the same table, the password set, the link spent, the user's
 *	       sessions ended | nil, the reasons above or "weak" | "mismatch"
 *	host.people.change_password()
 *	    -> true (the session's user's, their other sessions ended)
 *	    | nil, "current" | "weak" | "mismatch" | "same"
 */
#include <sodium.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"

#define EMAIL_MAX	254

static const char *const link_why[] = {
	[LINK_NONE] = "invalid", [LINK_USED] = "used",
	[LINK_EXPIRED] = "expired", [LINK_DISABLED] = "disabled",
};

static int
refuse(lua_State *L, const char *why)
{
	lua_pushnil(L);
	lua_pushstring(L, why);
	return 2;
}

/* The form field name of the request, or NULL. */
static const struct kv *
field(lua_State *L, const char *name)
{
	return kv_get(&lhost_req(L)->form, name);
}

static int
l_add(lua_State *L)
{
	long long	 acct = luaL_checkinteger(L, 1);
	size_t		 n;
	const char	*email = luaL_checklstring(L, 2, &n);
	const char	*role = luaL_checkstring(L, 3);
	const char	*why;
	char		 norm[256];
	struct db	*db = lhost_db(L);
	struct dbq	*st;
	int		 rc;

	if (strcmp(role, "admin") != 0 && strcmp(role, "member") != 0)
		return refuse(L, "role");
	if (n == 0 || n > EMAIL_MAX || strlen(email) != n ||
	    !text_plain(email, EMAIL_MAX, &why) ||
	    strpbrk(email, " \t") != NULL ||
	    auth_email_norm(email, norm, sizeof(norm)) == -1)
		return refuse(L, "email");
	if ((st = db_query(db, "user_by_email")) == NULL ||
	    db_bind_text(st, ":email_norm", norm) == -1)
		return lhost_error(L, 503, "UNAVAILABLE", "user lookup failed");
	rc = db_step(st);
	db_reset(st);
	if (rc == DB_ROW)
		return refuse(L, "exists");
	if (rc != DB_DONE)
		return lhost_error(L, 503, "UNAVAILABLE", "user lookup failed");
	if ((st = db_query(db, "user_add")) == NULL ||
	    db_bind_int64(st, ":account_id", acct) ||
	    db_bind_text(st, ":email", email) ||
	    db_bind_text(st, ":email_norm", norm) ||
	    db_bind_text(st, ":password_hash", "") ||
	    db_bind_text(st, ":role", role) ||
	    db_bind_int64(st, ":now", clock_now()))
		return lhost_error(L, 503, "UNAVAILABLE", "cannot add the user");
	if ((rc = db_run(db, st)) != 0) {
		if (rc == DB_UNIQUE)
			return refuse(L, "exists");
		return lhost_error(L, 503, "UNAVAILABLE", "cannot add the user");
	}
	lua_pushinteger(L, db_last_id(db));
	return 1;
}

static int
l_set_active(lua_State *L)
{
	long long	 uid = luaL_checkinteger(L, 1);

	luaL_checktype(L, 2, LUA_TBOOLEAN);
	if (people_set_active(lhost_db(L), uid, lua_toboolean(L, 2)) != 0)
		return lhost_error(L, 503, "UNAVAILABLE", "cannot switch the user");
	lua_pushboolean(L, 1);
	return 1;
}

static int
l_link(lua_State *L)
{
	long long	 uid = luaL_checkinteger(L, 1);
	long long	 by = luaL_checkinteger(L, 2);
	long long	 expires;
	char		 secret[AUTH_TOKEN_LEN + 1];

	if (people_link_make(lhost_db(L), lhost_pepper(L), uid, by, LINK_TTL,
	    secret, &expires) != 0)
		return lhost_error(L, 503, "UNAVAILABLE", "cannot make the link");
	lhost_secret_issued(L);
	lua_pushstring(L, secret);
	sodium_memzero(secret, sizeof(secret));
	lua_pushinteger(L, expires);
	return 2;
}

/* The link the request names (its token field, in the form or else the
 * query): LINK_* into *rc. */
static void
find_link(lua_State *L, struct people_link *l, int *rc)
{
	const struct req *r = lhost_req(L);
	const struct kv	*t = kv_get(&r->form, "token");

	if (t == NULL)
		t = kv_get(&r->query, "token");
	if (t == NULL) {
		memset(l, 0, sizeof(*l));
		*rc = LINK_NONE;
		return;
	}
	*rc = people_link_find(lhost_db(L), lhost_pepper(L), t->val, t->vlen,
	    clock_now(), l);
	if (*rc == -1)
		lhost_error(L, 503, "UNAVAILABLE", "link lookup failed");
}

static void
push_link(lua_State *L, const struct people_link *l)
{
	lua_createtable(L, 0, 4);
	lua_pushinteger(L, l->user_id);
	lua_setfield(L, -2, "user_id");
	lua_pushinteger(L, l->account_id);
	lua_setfield(L, -2, "account_id");
	lua_pushstring(L, l->email);
	lua_setfield(L, -2, "email");
	lua_pushinteger(L, l->expires_at);
	lua_setfield(L, -2, "expires_at");
}

static int
l_link_check(lua_State *L)
{
	struct people_link	 l;
	int			 rc;

	find_link(L, &l, &rc);
	if (rc != LINK_OK)
		return refuse(L, link_why[rc]);
	push_link(L, &l);
	return 1;
}

/* The new password of the form (password, confirm_password), hashed into
 * hash; NULL, or why it cannot be. */
static const char *
new_password(lua_State *L, char hash[AUTH_HASH_MAX])
{
	const struct kv	*pw = field(L, "password");
	const struct kv	*again = field(L, "confirm_password");

	if (pw == NULL || !people_password_ok(pw->val, pw->vlen))
		return "weak";
	if (again == NULL || again->vlen != pw->vlen ||
	    sodium_memcmp(again->val, pw->val, pw->vlen) != 0)
		return "mismatch";
	if (auth_hash_password(pw->val, pw->vlen, hash) == -1)
		lhost_error(L, 503, "UNAVAILABLE", "out of memory hashing");
	return NULL;
}

static int
l_link_use(lua_State *L)
{
	struct db		*db = lhost_db(L);
	struct people_link	 l;
	char			 hash[AUTH_HASH_MAX];
	const char		*why;
	int			 rc;

	if (db->tx_depth > 0)
		return luaL_error(L, "host.people.link_use inside a transaction");
	find_link(L, &l, &rc);
	if (rc != LINK_OK)
		return refuse(L, link_why[rc]);
	if ((why = new_password(L, hash)) != NULL)
		return refuse(L, why);
	if (db_tx(db, DB_BEGIN) != DB_OK)
		goto fail;
	/* Again inside the transaction: a second use waits for the first. */
	find_link(L, &l, &rc);
	if (rc != LINK_OK) {
		db_tx(db, DB_ROLLBACK);
		sodium_memzero(hash, sizeof(hash));
		return refuse(L, link_why[rc]);
	}
	if ((rc = people_link_use(db, &l, hash)) != 0) {
		db_tx(db, DB_ROLLBACK);
		sodium_memzero(hash, sizeof(hash));
		if (rc == 1)
			return refuse(L, "used");
		goto fail;
	}
	sodium_memzero(hash, sizeof(hash));
	if (db_tx(db, DB_COMMIT) != DB_OK)
		goto fail;
	push_link(L, &l);
	return 1;
fail:
	sodium_memzero(hash, sizeof(hash));
	return lhost_error(L, 503, "UNAVAILABLE", "cannot set the password");
}

static int
l_change_password(lua_State *L)
{
	const struct session	*s = lhost_session_current(L);
	const struct kv		*cur = field(L, "current_password");
	struct db		*db = lhost_db(L);
	struct dbq		*st;
	char			 old[AUTH_HASH_MAX], hash[AUTH_HASH_MAX];
	const char		*h, *why;
	int			 ok, rc;

	if (s == NULL)
		return lhost_error(L, 401, "UNAUTHENTICATED", "log in first");
	if ((st = db_query(db, "password_hash_of")) == NULL ||
	    db_bind_int64(st, ":id", s->user_id) == -1)
		return lhost_error(L, 503, "UNAVAILABLE", "user lookup failed");
	memset(old, 0, sizeof(old));
	if ((rc = db_step(st)) == DB_ROW && (h = db_col_text(st, 0)) != NULL)
		snprintf(old, sizeof(old), "%s", h);
	db_reset(st);
	if (rc != DB_ROW)
		return lhost_error(L, 503, "UNAVAILABLE", "user lookup failed");
	ok = cur != NULL && cur->vlen > 0 && cur->vlen <= PASSWORD_MAX &&
	    auth_verify_password(old, cur->val, cur->vlen);
	sodium_memzero(old, sizeof(old));
	if (!ok)
		return refuse(L, "current");
	if ((why = new_password(L, hash)) != NULL)
		return refuse(L, why);
	if (field(L, "password")->vlen == cur->vlen &&
	    sodium_memcmp(field(L, "password")->val, cur->val, cur->vlen) == 0) {
		sodium_memzero(hash, sizeof(hash));
		return refuse(L, "same");
	}
	/* The password and the end of the other sessions, at once. */
	if (db->tx_depth > 0)
		rc = people_set_password(db, s->user_id, hash, s->id);
	else if ((rc = db_tx(db, DB_BEGIN) == DB_OK ? 0 : -1) == 0) {
		rc = people_set_password(db, s->user_id, hash, s->id);
		if (rc != 0)
			db_tx(db, DB_ROLLBACK);
		else if (db_tx(db, DB_COMMIT) != DB_OK)
			rc = -1;
	}
	sodium_memzero(hash, sizeof(hash));
	if (rc != 0)
		return lhost_error(L, 503, "UNAVAILABLE", "cannot set the password");
	lua_pushboolean(L, 1);
	return 1;
}

void
lhost_open_people(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "add",		l_add },
		{ "change_password",	l_change_password },
		{ "link",		l_link },
		{ "link_check",		l_link_check },
		{ "link_use",		l_link_use },
		{ "set_active",		l_set_active },
		{ NULL,			NULL },
	};

	luaL_newlib(L, fns);
}
