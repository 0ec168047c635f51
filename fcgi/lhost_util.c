/*
 * lhost_util.c -- the read-only "host" module and its small helpers:
 * host.null, host.config, host.log, host.now, host.iso8601,
 * host.url.encode, host.input (the one way to read ids and text from a
 * client); read-only proxies for req and host. (host.html is in
 * lhost_html.c.)
 */
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "tessera.h"

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

/* host.url.encode(s): percent-encodes everything but unreserved. */
static int
l_url_encode(lua_State *L)
{
	size_t		 len, i;
	const char	*s = luaL_checklstring(L, 1, &len);
	static const char hex[] = "0123456789ABCDEF";
	luaL_Buffer	 b;
	unsigned char	 c;

	luaL_buffinit(L, &b);
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~')
			luaL_addchar(&b, (char)c);
		else {
			luaL_addchar(&b, '%');
			luaL_addchar(&b, hex[c >> 4]);
			luaL_addchar(&b, hex[c & 15]);
		}
	}
	luaL_pushresult(&b);
	return 1;
}

/* host.input.int(s, min, max): s as a whole number in [min, max] by the
 * one strict rule (parse.c int_parse: digits only, no leading zero, no
 * "0x1", "1e0" or "1.0"), or nil. min defaults to 1, max to 2^63-1. */
static int
l_input_int(lua_State *L)
{
	size_t		 len = 0;
	const char	*s = lua_type(L, 1) == LUA_TSTRING ?
	    lua_tolstring(L, 1, &len) : NULL;
	lua_Integer	 min = luaL_optinteger(L, 2, 1);
	lua_Integer	 max = luaL_optinteger(L, 3, LUA_MAXINTEGER);
	long long	 v;

	if (s == NULL || max < 0 ||
	    int_parse(s, len, min, max, &v) == -1)
		lua_pushnil(L);
	else
		lua_pushinteger(L, v);
	return 1;
}

/* host.input.text(s, max): s trimmed of surrounding white space when it
 * is 1 to max characters of text a person can read as it is (parse.c
 * utf8_plain: no control characters, no invisible or direction-changing
 * code points); else nil and the reason, in words. */
static int
l_input_text(lua_State *L)
{
	size_t		 len = 0, n = 0, i;
	const char	*s, *why = NULL, *e;
	lua_Integer	 max = luaL_checkinteger(L, 2);

	s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : NULL;
	if (s == NULL) {
		lua_pushnil(L);
		lua_pushliteral(L, "it is required, as text");
		return 2;
	}
	while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\r' ||
	    *s == '\n'))
		s++, len--;
	e = s + len;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		e--;
	len = (size_t)(e - s);
	if (len == 0)
		why = "it is empty";
	else if (strlen(s) < len || !utf8_plain(s, len, &why))
		why = why ? why : "it contains a NUL byte";
	for (i = 0; why == NULL && i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	if (why == NULL && (lua_Integer)n > max)
		why = "it is too long";
	if (why) {
		lua_pushnil(L);
		lua_pushstring(L, why);
		return 2;
	}
	lua_pushlstring(L, s, len);
	return 1;
}

/* host.log(level, message): level is "info", "warn" or "error". */
static int
l_log(lua_State *L)
{
	static const char *const levels[] = { "info", "warn", "error", NULL };
	int		 lv = luaL_checkoption(L, 1, NULL, levels);
	const char	*msg = luaL_checkstring(L, 2);

	log_msg(levels[lv], "lua: %s", msg);
	return 0;
}

/* host.now(): Unix time in whole seconds (an integer). */
static int
l_now(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)clock_now());
	return 1;
}

/* host.iso8601(t): "2026-11-27T23:10:58Z". */
static int
l_iso8601(lua_State *L)
{
	char	 out[32];

	lua_pushstring(L, iso8601((long long)luaL_checkinteger(L, 1), out,
	    sizeof(out)));
	return 1;
}

static void
add_config(void *arg, const char *name, enum cfg_type t, const void *v)
{
	lua_State	*L = arg;

	switch (t) {
	case CFG_STR:
		lua_pushstring(L, v);
		break;
	case CFG_INT:
		lua_pushinteger(L, *(const long long *)v);
		break;
	case CFG_BOOL:
		lua_pushboolean(L, *(const int *)v);
		break;
	}
	lua_setfield(L, -2, name);
}

/*
 * A frozen proxy: read-only like the above, but with a metatable of its
 * own whose __index is the real table itself, so a read is a plain table
 * lookup in the VM instead of a call into C. One more table to build, so
 * it is for tables that live long and are read often: the host module,
 * and req.auth (which lhost.c keeps from request to request).
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

/* Pushes a frozen copy of the table on top, replacing it. */
static void
seal(lua_State *L)
{
	lhost_push_frozen(L, -1);
	lua_remove(L, -2);
}

/* Builds the host table and sets it as the global "host". */
void
lhost_open_util(lua_State *L)
{
	static const luaL_Reg top[] = {
		{ "iso8601",	l_iso8601 },
		{ "log",	l_log },
		{ "now",	l_now },
		{ NULL,		NULL },
	};

	luaL_newlib(L, top);
	lhost_push_null(L);
	lua_setfield(L, -2, "null");

	lhost_open_html(L);
	seal(L);
	lua_setfield(L, -2, "html");

	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, l_url_encode);
	lua_setfield(L, -2, "encode");
	seal(L);
	lua_setfield(L, -2, "url");

	lua_createtable(L, 0, 2);
	lua_pushcfunction(L, l_input_int);
	lua_setfield(L, -2, "int");
	lua_pushcfunction(L, l_input_text);
	lua_setfield(L, -2, "text");
	seal(L);
	lua_setfield(L, -2, "input");

	lua_newtable(L);
	cfg_each_public(lhost_config(L), add_config, L);
	seal(L);
	lua_setfield(L, -2, "config");

	lhost_open_db(L);
	seal(L);
	lua_setfield(L, -2, "db");
	lhost_open_auth(L);
	seal(L);
	lua_setfield(L, -2, "auth");
	lhost_open_tokens(L);
	seal(L);
	lua_setfield(L, -2, "tokens");
	lhost_open_json(L);
	seal(L);
	lua_setfield(L, -2, "json");
	lhost_open_limits(L);
	seal(L);
	lua_setfield(L, -2, "limits");
	lhost_open_reveal(L);
	seal(L);
	lua_setfield(L, -2, "reveal");

	seal(L);
	lua_setglobal(L, "host");
}
