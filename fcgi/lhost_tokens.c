/*
 * lhost_tokens.c -- host.tokens: creating tokens (the only place a secret
 * exists in plaintext), switching them on and off, listing them, with the
 * access rule in one place: an admin acts on every token of the account,
 * a member on their own. Nothing here ever returns a secret except
 * create(), once.
 *
 *	host.tokens.create{kind=, description=, actor=, destination_id=}
 *	    -> { id, key, token, kind, description, active, created_at }
 *	host.tokens.set_active{key=, active=, actor=}
 *	    -> token (without secret) or nil, "not_found"
 *	host.tokens.get{key=, actor=}   -> token or nil
 *	host.tokens.list{kind=, actor=, q=, limit=, offset=}
 *	    -> { token, ... }, total  (the columns of tokens_page: what the
 *	    tokens page shows, times formatted)
 *
 * actor is { id = user id, role = "admin"|"member", account_id = id }.
 */
#include <sqlite3.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "tessera.h"

struct actor {
	long long	 id;
	long long	 account_id;
	int		 admin;
};

static void
get_actor(lua_State *L, int t, struct actor *a)
{
	const char	*role;

	if (lua_getfield(L, t, "actor") != LUA_TTABLE)
		luaL_error(L, "host.tokens: actor table required");
	lua_getfield(L, -1, "id");
	a->id = luaL_checkinteger(L, -1);
	lua_getfield(L, -2, "account_id");
	a->account_id = luaL_checkinteger(L, -1);
	lua_getfield(L, -3, "role");
	role = luaL_checkstring(L, -1);
	a->admin = strcmp(role, "admin") == 0;
	lua_pop(L, 4);
}

static const char *
opt_field(lua_State *L, int t, const char *name, const char *def)
{
	const char	*v;

	lua_getfield(L, t, name);
	v = luaL_optstring(L, -1, def);
	lua_pop(L, 1);
	return v;
}

static lua_Integer
opt_int(lua_State *L, int t, const char *name, lua_Integer def)
{
	lua_Integer	 v;

	lua_getfield(L, t, name);
	v = luaL_optinteger(L, -1, def);
	lua_pop(L, 1);
	return v;
}

static int
fail_db(lua_State *L)
{
	return lhost_error(L, 503, "UNAVAILABLE", "token store unavailable");
}

static int
l_create(lua_State *L)
{
	struct token_new	 t = { 0 };
	struct token_made	 m;
	struct actor		 a;
	size_t			 dlen;

	luaL_checktype(L, 1, LUA_TTABLE);
	get_actor(L, 1, &a);
	t.kind = opt_field(L, 1, "kind", "user");
	if (strcmp(t.kind, "user") != 0 && strcmp(t.kind, "via") != 0)
		return luaL_error(L, "host.tokens.create: kind is user or via");
	lua_getfield(L, 1, "description");
	t.description = luaL_checklstring(L, -1, &dlen);
	if (dlen == 0 || strlen(t.description) != dlen ||
	    !utf8_valid(t.description, dlen))
		return luaL_error(L, "host.tokens.create: bad description");
	t.destination_id = opt_int(L, 1, "destination_id", 0);
	if ((strcmp(t.kind, "via") == 0) != (t.destination_id > 0))
		return luaL_error(L, "host.tokens.create: a via token needs "
		    "a destination_id, a user token none");
	t.account_id = a.account_id;
	t.user_id = a.id;
	if (token_create(lhost_db(L), lhost_pepper(L), &t, &m) == -1 ||
	    (lhost_db(L)->tx_depth == 0 && db_sync(lhost_db(L)) == -1))
		return fail_db(L);
	lhost_secret_issued(L);
	lua_createtable(L, 0, 7);
	lua_pushinteger(L, m.id);
	lua_setfield(L, -2, "id");
	lua_pushstring(L, m.key);
	lua_setfield(L, -2, "key");
	lua_pushstring(L, m.secret);
	sodium_memzero(m.secret, sizeof(m.secret));
	lua_setfield(L, -2, "token");
	lua_pushstring(L, t.kind);
	lua_setfield(L, -2, "kind");
	lua_pushvalue(L, -4);	/* the description string */
	lua_setfield(L, -2, "description");
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "active");
	lua_pushinteger(L, m.created_at);
	lua_setfield(L, -2, "created_at");
	return 1;
}

/* Pushes the token named by key if the actor may see it, else nil. */
static int
push_visible(lua_State *L, const char *key, const struct actor *a)
{
	sqlite3_stmt	*st = db_query(lhost_db(L), "token_visible");
	int		 rc;

	if (!token_key_valid(key)) {
		lua_pushnil(L);
		return 0;
	}
	if (st == NULL || db_bind_text(st, ":key", key) ||
	    db_bind_int64(st, ":account_id", a->account_id) ||
	    db_bind_int64(st, ":all", a->admin) ||
	    db_bind_int64(st, ":user_id", a->id))
		return fail_db(L);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		lhost_push_row(L, st);
	else
		lua_pushnil(L);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail_db(L);
	return rc == SQLITE_ROW;
}

static int
l_get(lua_State *L)
{
	struct actor	 a;

	luaL_checktype(L, 1, LUA_TTABLE);
	get_actor(L, 1, &a);
	push_visible(L, opt_field(L, 1, "key", ""), &a);
	return 1;
}

static int
l_set_active(lua_State *L)
{
	struct actor	 a;
	const char	*key;
	int		 active;
	lua_Integer	 id;
	sqlite3_stmt	*st;

	luaL_checktype(L, 1, LUA_TTABLE);
	get_actor(L, 1, &a);
	key = opt_field(L, 1, "key", "");
	lua_getfield(L, 1, "active");
	luaL_checktype(L, -1, LUA_TBOOLEAN);
	active = lua_toboolean(L, -1);
	lua_pop(L, 1);
	if (!push_visible(L, key, &a)) {
		lua_pushliteral(L, "not_found");
		return 2;
	}
	lua_getfield(L, -1, "id");
	id = lua_tointeger(L, -1);
	lua_pop(L, 2);
	if ((st = db_query(lhost_db(L), "token_set_active")) == NULL ||
	    db_bind_int64(st, ":active", active) ||
	    db_bind_int64(st, ":now", (long long)time(NULL)) ||
	    db_bind_int64(st, ":actor", a.id) || db_bind_int64(st, ":id", id) ||
	    db_run(lhost_db(L), st) != 0 ||
	    (lhost_db(L)->tx_depth == 0 && db_sync(lhost_db(L)) == -1))
		return fail_db(L);
	push_visible(L, key, &a);
	return 1;
}

/* Binds the filter shared by tokens_page and tokens_count (:q where the
 * statement has it). */
static int
bind_filter(sqlite3_stmt *st, const struct actor *a, const char *kind,
    const char *q)
{
	return db_bind_int64(st, ":account_id", a->account_id) ||
	    db_bind_text(st, ":kind", kind) ||
	    db_bind_int64(st, ":all", a->admin) ||
	    db_bind_int64(st, ":user_id", a->id) ||
	    (sqlite3_bind_parameter_index(st, ":q") > 0 &&
	    db_bind_text(st, ":q", q)) ? -1 : 0;
}

static int
l_list(lua_State *L)
{
	struct actor	 a;
	const char	*kind, *q;
	lua_Integer	 limit, offset, n = 0;
	sqlite3_stmt	*st;
	int		 rc;

	luaL_checktype(L, 1, LUA_TTABLE);
	get_actor(L, 1, &a);
	kind = opt_field(L, 1, "kind", "user");
	q = opt_field(L, 1, "q", "");
	limit = opt_int(L, 1, "limit", 50);
	offset = opt_int(L, 1, "offset", 0);
	if (limit < 1 || limit > 1000 || offset < 0)
		return luaL_error(L, "host.tokens.list: limit 1..1000, "
		    "offset >= 0");
	if ((st = db_query(lhost_db(L), "tokens_page")) == NULL ||
	    bind_filter(st, &a, kind, q) ||
	    db_bind_int64(st, ":limit", limit) ||
	    db_bind_int64(st, ":offset", offset))
		return fail_db(L);
	lua_createtable(L, (int)limit, 0);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		lhost_push_row(L, st);
		lua_rawseti(L, -2, ++n);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return fail_db(L);
	if ((st = db_query(lhost_db(L), *q ? "tokens_count_q" :
	    "tokens_count")) == NULL ||
	    bind_filter(st, &a, kind, q))
		return fail_db(L);
	rc = sqlite3_step(st);
	lua_pushinteger(L, rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0);
	sqlite3_reset(st);
	return 2;
}

void
lhost_open_tokens(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "create",	l_create },
		{ "get",	l_get },
		{ "list",	l_list },
		{ "set_active",	l_set_active },
		{ NULL,		NULL },
	};

	luaL_newlib(L, fns);
}
