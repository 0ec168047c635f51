/*
 * lhost_json.c -- host.json: JSON through jansson, integers exact.
 *
 *	host.json.encode(v)  -> string (keys sorted, compact)
 *	host.json.decode(s)  -> value, or nil and a message
 *	host.json.array(t)   -> t, marked to encode as an array even if empty
 *
 * Lua integers <-> JSON integers (int64), floats <-> reals, host.null <->
 * null. Decoded arrays carry the array mark, so they encode back as
 * arrays. A table is an array when marked or when its keys are exactly
 * 1..n (n > 0); otherwise an object with string keys.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "tessera.h"

#define JSON_DEPTH_MAX	64
#define ARRAY_MT	"tessera.json.array"

/* Pushes the array metatable. */
static void
push_array_mt(lua_State *L)
{
	if (luaL_newmetatable(L, ARRAY_MT)) {
		lua_pushliteral(L, "array");
		lua_setfield(L, -2, "__jsontype");
	}
}

static void
push_json(lua_State *L, json_t *j, int depth)
{
	size_t		 i, n;
	const char	*k;
	json_t		*v;

	if (depth > JSON_DEPTH_MAX)
		luaL_error(L, "JSON nested too deeply");
	luaL_checkstack(L, 4, "JSON nested too deeply");
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		lua_createtable(L, 0, (int)json_object_size(j));
		json_object_foreach(j, k, v) {
			push_json(L, v, depth + 1);
			lua_setfield(L, -2, k);
		}
		break;
	case JSON_ARRAY:
		n = json_array_size(j);
		lua_createtable(L, (int)n, 0);
		for (i = 0; i < n; i++) {
			push_json(L, json_array_get(j, i), depth + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		push_array_mt(L);
		lua_setmetatable(L, -2);
		break;
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(j));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(j));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	case JSON_NULL:
		lhost_push_null(L);
		break;
	}
}

void
lhost_push_json(lua_State *L, void *j)
{
	push_json(L, j, 0);
}

/* If the table at idx is a read-only proxy, pushes the real table; else
 * pushes the table itself. */
static void
push_real(lua_State *L, int idx)
{
	if (lua_getmetatable(L, idx)) {
		if (lua_getfield(L, -1, "__tessera_ro") == LUA_TTABLE) {
			lua_remove(L, -2);
			return;
		}
		lua_pop(L, 2);
	}
	lua_pushvalue(L, idx);
}

/* 1 when the table on top is marked as an array. */
static int
marked_array(lua_State *L)
{
	int	 r = 0;

	if (lua_getmetatable(L, -1)) {
		if (lua_getfield(L, -1, "__jsontype") == LUA_TSTRING)
			r = strcmp(lua_tostring(L, -1), "array") == 0;
		lua_pop(L, 2);
	}
	return r;
}

static json_t *to_json(lua_State *, int, int, char *, size_t);

/* Converts the table on top of the stack. */
static json_t *
table_to_json(lua_State *L, int depth, char *err, size_t errlen)
{
	int		 t = lua_gettop(L);
	lua_Integer	 n, count = 0, i;
	json_t		*j, *v;
	int		 is_array;

	n = (lua_Integer)lua_rawlen(L, t);
	lua_pushnil(L);
	while (lua_next(L, t) != 0) {
		count++;
		lua_pop(L, 1);
	}
	is_array = marked_array(L) || (n > 0 && count == n);
	if (is_array) {
		if (count != n) {
			snprintf(err, errlen, "array with holes or extra keys");
			return NULL;
		}
		j = json_array();
		for (i = 1; j && i <= n; i++) {
			lua_rawgeti(L, t, i);
			v = to_json(L, -1, depth + 1, err, errlen);
			lua_pop(L, 1);
			if (v == NULL || json_array_append_new(j, v) == -1) {
				json_decref(j);
				return NULL;
			}
		}
		return j;
	}
	j = json_object();
	lua_pushnil(L);
	while (j && lua_next(L, t) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			snprintf(err, errlen, "object keys must be strings");
			lua_pop(L, 2);
			json_decref(j);
			return NULL;
		}
		v = to_json(L, -1, depth + 1, err, errlen);
		if (v == NULL ||
		    json_object_set_new(j, lua_tostring(L, -2), v) == -1) {
			if (v == NULL)
				;
			else
				snprintf(err, errlen, "invalid object key");
			lua_pop(L, 2);
			json_decref(j);
			return NULL;
		}
		lua_pop(L, 1);
	}
	return j;
}

static json_t *
to_json(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
	size_t		 len;
	const char	*s;
	lua_Number	 d;
	json_t		*j;

	if (depth > JSON_DEPTH_MAX) {
		snprintf(err, errlen, "nested too deeply (or a cycle)");
		return NULL;
	}
	luaL_checkstack(L, 6, "JSON encoding");
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		return json_null();
	case LUA_TBOOLEAN:
		return json_boolean(lua_toboolean(L, idx));
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return json_integer((json_int_t)lua_tointeger(L, idx));
		d = lua_tonumber(L, idx);
		if (!isfinite(d)) {
			snprintf(err, errlen, "NaN or infinity");
			return NULL;
		}
		return json_real(d);
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		if ((j = json_stringn(s, len)) == NULL)
			snprintf(err, errlen, "string is not valid UTF-8");
		return j;
	case LUA_TLIGHTUSERDATA:
		if (lhost_is_null(L, idx))
			return json_null();
		break;
	case LUA_TTABLE:
		push_real(L, idx);
		j = table_to_json(L, depth, err, errlen);
		lua_pop(L, 1);
		return j;
	}
	snprintf(err, errlen, "cannot encode a %s", luaL_typename(L, idx));
	return NULL;
}

void *
lhost_to_json(lua_State *L, int idx, char *err, size_t errlen)
{
	return to_json(L, lua_absindex(L, idx), 0, err, errlen);
}

static int
l_encode(lua_State *L)
{
	char	 err[128] = "", *s;
	json_t	*j;

	luaL_checkany(L, 1);
	if ((j = to_json(L, 1, 0, err, sizeof(err))) == NULL)
		return luaL_error(L, "host.json.encode: %s", err);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_decref(j);
	if (s == NULL)
		return luaL_error(L, "host.json.encode: out of memory");
	lua_pushstring(L, s);
	free(s);
	return 1;
}

static int
p_push(lua_State *L)
{
	push_json(L, lua_touserdata(L, 1), 0);
	return 1;
}

static int
l_decode(lua_State *L)
{
	int		 status;
	size_t		 len;
	const char	*s = luaL_checklstring(L, 1, &len);
	json_error_t	 e;
	json_t		*j;

	j = json_loadb(s, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
	if (j == NULL) {
		lua_pushnil(L);
		lua_pushfstring(L, "%s at line %d, column %d", e.text,
		    e.line, e.column);
		return 2;
	}
	/* Convert under protection so j is freed even if Lua raises. */
	lua_pushcfunction(L, p_push);
	lua_pushlightuserdata(L, j);
	status = lua_pcall(L, 1, 1, 0);
	json_decref(j);
	if (status == LUA_ERRMEM)
		return lua_error(L);
	if (status != LUA_OK) {
		lua_pushnil(L);
		lua_insert(L, -2);
		return 2;
	}
	return 1;
}

/* host.json.records(body): a webhook body, a JSON object or a non-empty
 * array of objects, split into one compact JSON text per object (keys in
 * the order sent, numbers exactly as parsed). Returns the list, or nil and
 * "INVALID_JSON" | "INVALID_REQUEST" and a message. */
static int
l_records(lua_State *L)
{
	size_t		 len, i, n;
	const char	*s = luaL_checklstring(L, 1, &len);
	json_error_t	 e;
	json_t		*j, *v;
	char		*text;

	j = json_loadb(s, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
	if (j == NULL) {
		lua_pushnil(L);
		lua_pushliteral(L, "INVALID_JSON");
		lua_pushfstring(L, "body is not JSON: %s at line %d, column %d",
		    e.text, e.line, e.column);
		return 3;
	}
	n = json_is_array(j) ? json_array_size(j) : 1;
	if (!json_is_object(j) && !json_is_array(j)) {
		json_decref(j);
		lua_pushnil(L);
		lua_pushliteral(L, "INVALID_REQUEST");
		lua_pushliteral(L, "body must be a JSON object or an array of "
		    "objects");
		return 3;
	}
	if (n == 0) {
		json_decref(j);
		lua_pushnil(L);
		lua_pushliteral(L, "INVALID_REQUEST");
		lua_pushliteral(L, "the array holds no records");
		return 3;
	}
	lua_createtable(L, (int)n, 0);
	for (i = 0; i < n; i++) {
		v = json_is_array(j) ? json_array_get(j, i) : j;
		if (!json_is_object(v)) {
			json_decref(j);
			lua_pushnil(L);
			lua_pushliteral(L, "INVALID_REQUEST");
			lua_pushfstring(L, "record %d is not a JSON object",
			    (int)i + 1);
			return 3;
		}
		if ((text = json_dumps(v, JSON_COMPACT)) == NULL) {
			json_decref(j);
			return luaL_error(L, "out of memory");
		}
		lua_pushstring(L, text);
		free(text);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	json_decref(j);
	return 1;
}

static int
l_array(lua_State *L)
{
	if (lua_isnoneornil(L, 1))
		lua_newtable(L);
	else
		luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	push_array_mt(L);
	lua_setmetatable(L, 1);
	return 1;
}

void
lhost_open_json(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "array",	l_array },
		{ "decode",	l_decode },
		{ "encode",	l_encode },
		{ "records",	l_records },
		{ NULL,		NULL },
	};

	luaL_newlib(L, fns);
	lhost_push_null(L);
	lua_setfield(L, -2, "null");
}
