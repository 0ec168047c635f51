/*
 * lhost_util.c -- the helpers the bridge's modules are built with:
 * read-only and frozen proxies of tables (what host and req.* are made
 * of), host.null, and the error a script raises for an HTTP answer.
 */
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"

/*
 * Read-only tables. A proxy is an empty table; the real table is found in
 * a weak-keyed registry map (proxy -> real), never in the proxy itself,
 * so next() and rawget() on a proxy find nothing to reach behind it. All
 * plain proxies share one metatable whose metamethods read through.
 */
static char	ro_map_key;	/* its address keys the map in the registry */

/* Pushes the weak-keyed map registered under key, making it on first
 * use: entries go when their key (a proxy) is collected. */
void
lhost_push_weakmap(lua_State *L, const void *key)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE)
		return;
	lua_pop(L, 1);
	lua_newtable(L);
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "k");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

/* Pushes the real table behind the proxy at idx (nil if it is none). */
static void
push_real_of(lua_State *L, int proxy)
{
	proxy = lua_absindex(L, proxy);
	lhost_push_weakmap(L, &ro_map_key);
	lua_pushvalue(L, proxy);
	lua_rawget(L, -2);
	lua_remove(L, -2);
}

/* Records real (at idx) as the table behind the proxy on top. */
static void
set_real(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	lhost_push_weakmap(L, &ro_map_key);
	lua_pushvalue(L, -2);
	lua_pushvalue(L, idx);
	lua_rawset(L, -3);
	lua_pop(L, 1);
}

static int
ro_index(lua_State *L)
{
	push_real_of(L, 1);
	lua_pushvalue(L, 2);
	lua_gettable(L, -2);
	return 1;
}

int
lhost_ro_newindex(lua_State *L)
{
	return luaL_error(L, "attempt to modify a read-only table (key '%s')",
	    luaL_tolstring(L, 2, NULL));
}

/* The iterator pairs() returns for a proxy: next() over the table held
 * as its upvalue. The table itself never reaches Lua (a state value
 * would: the generic for hands it to the script's own code too). */
static int
ro_iter(lua_State *L)
{
	lua_settop(L, 2);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 2);
	if (lua_next(L, -2))
		return 2;
	lua_pushnil(L);
	return 1;
}

void
lhost_push_pairs(lua_State *L, int idx)
{
	lua_pushvalue(L, idx);
	lua_pushcclosure(L, ro_iter, 1);
	lua_pushnil(L);
	lua_pushnil(L);
}

static int
ro_pairs(lua_State *L)
{
	push_real_of(L, 1);
	lhost_push_pairs(L, -1);
	return 3;
}

static int
ro_len(lua_State *L)
{
	push_real_of(L, 1);
	lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
	return 1;
}

/* Pushes the shared metatable, making it on first use. */
static void
push_ro_mt(lua_State *L)
{
	static const luaL_Reg mm[] = {
		{ "__index",	ro_index },
		{ "__len",	ro_len },
		{ "__newindex",	lhost_ro_newindex },
		{ "__pairs",	ro_pairs },
		{ NULL,		NULL },
	};

	if (luaL_newmetatable(L, "tessera.readonly")) {
		luaL_setfuncs(L, mm, 0);
		lua_pushliteral(L, "read-only");
		lua_setfield(L, -2, "__metatable");
	}
}

/* Pushes a proxy of the table at idx that reads through and refuses
 * writes; pairs, ipairs and # see the real table. */
void
lhost_push_readonly(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	lua_createtable(L, 0, 0);
	set_real(L, idx);
	push_ro_mt(L);
	lua_setmetatable(L, -2);
}

/* If the table at idx is a read-only proxy, pushes its real table and
 * returns 1; else pushes nothing and returns 0. */
int
lhost_push_real(lua_State *L, int idx)
{
	push_real_of(L, idx);
	if (lua_type(L, -1) == LUA_TTABLE)
		return 1;
	lua_pop(L, 1);
	return 0;
}

void
lhost_push_null(lua_State *L)
{
	lua_pushlightuserdata(L, NULL);
}

int
lhost_is_null(lua_State *L, int idx)
{
	return lua_islightuserdata(L, idx) && lua_touserdata(L, idx) == NULL;
}

/* Raises {status=, code=, message=}: the request fails with that status
 * when nothing catches it (used for 503 on an unavailable database). */
int
lhost_error(lua_State *L, int status, const char *code, const char *msg)
{
	lua_createtable(L, 0, 3);
	lua_pushinteger(L, status);
	lua_setfield(L, -2, "status");
	lua_pushstring(L, code);
	lua_setfield(L, -2, "code");
	lua_pushstring(L, msg);
	lua_setfield(L, -2, "message");
	return lua_error(L);
}

/*
 * A frozen proxy: read-only like the above, but with a metatable of its
 * own whose __index is the real table itself, so a read is a plain table
 * lookup in the VM instead of a call into C. One more table to build, so
 * it is for tables that live long and are read often: the host module,
 * and req.auth.
 */
void
lhost_push_frozen(lua_State *L, int idx)
{
	static const char *const same[] = {
		"__len", "__newindex", "__pairs", "__metatable", NULL,
	};
	int	 i;

	idx = lua_absindex(L, idx);
	lua_createtable(L, 0, 0);		/* proxy */
	set_real(L, idx);
	lua_createtable(L, 0, 5);		/* its metatable */
	push_ro_mt(L);
	for (i = 0; same[i]; i++) {
		lua_getfield(L, -1, same[i]);
		lua_setfield(L, -3, same[i]);
	}
	lua_pop(L, 1);
	lua_pushvalue(L, idx);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
}
