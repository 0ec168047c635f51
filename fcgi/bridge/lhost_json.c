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

#include "bridge.h"
#include "lib/json.h"

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

/* If the table at idx is a read-only proxy, pushes the real table; else
 * pushes the table itself. (Only a table with a metatable can be one.) */
static void
push_real(lua_State *L, int idx)
{
	if (lua_getmetatable(L, idx)) {
		lua_pop(L, 1);
		if (lhost_push_real(L, idx))
			return;
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

/*
 * The encoder writes text directly (no intermediate jansson tree): it is
 * on every API answer. Output matches jansson's compact, sorted-keys form:
 * integers exact, floats with 17 significant digits, UTF-8 kept, control
 * characters, quote and backslash escaped.
 */
static int enc_value(lua_State *, int, struct buf *, int, char *, size_t);

static int
enc_string(struct buf *b, const char *s, size_t n, char *err, size_t errlen)
{
	if (json_put_string(b, s, n) == -1) {
		snprintf(err, errlen, "string is not valid UTF-8");
		return -1;
	}
	return 0;
}

struct key {
	const char	*s;
	size_t		 n;
	int		 idx;	/* the value's stack slot */
};

static int
keycmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int		 c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);

	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Encodes the array 1..n of the table at t. */
static int
enc_array(lua_State *L, int t, lua_Integer n, struct buf *b, int depth,
    char *err, size_t errlen)
{
	lua_Integer	 i;
	int		 rc = 0;

	buf_addc(b, '[');
	for (i = 1; i <= n && rc == 0; i++) {
		if (i > 1)
			buf_addc(b, ',');
		lua_rawgeti(L, t, i);
		rc = enc_value(L, lua_gettop(L), b, depth + 1, err, errlen);
		lua_pop(L, 1);
	}
	buf_addc(b, ']');
	return rc;
}

/*
 * Encodes the table on top of the stack. An object is walked once: each
 * value stays on the stack below the iteration key (so no second lookup),
 * the key strings stay alive in the table, and the keys are sorted so
 * the output is stable.
 */
static int
enc_table(lua_State *L, struct buf *b, int depth, char *err, size_t errlen)
{
	int		 t = lua_gettop(L), rc = 0, marked;
	lua_Integer	 n, count = 0;
	struct key	*keys = NULL, one[16];
	size_t		 nk = 0, cap = 16, i;

	n = (lua_Integer)lua_rawlen(L, t);
	marked = marked_array(L);
	if (n > 0 || marked) {
		lua_pushnil(L);
		while (lua_next(L, t) != 0) {
			count++;
			lua_pop(L, 1);
		}
		if (count == n)
			return enc_array(L, t, n, b, depth, err, errlen);
		if (marked) {
			snprintf(err, errlen, "array with holes or extra keys");
			return -1;
		}
		/* 1..n and more: an object, whose integer key fails below */
	}
	keys = one;
	lua_pushnil(L);
	while (lua_next(L, t) != 0) {		/* ... v1 .. vk key value */
		if (lua_type(L, -2) != LUA_TSTRING) {
			snprintf(err, errlen, "object keys must be strings");
			rc = -1;
			break;
		}
		if (nk == cap) {
			struct key *nkeys;

			cap *= 2;
			nkeys = keys == one ? malloc(cap * sizeof(*keys)) :
			    reallocarray(keys, cap, sizeof(*keys));
			if (nkeys == NULL) {
				snprintf(err, errlen, "out of memory");
				rc = -1;
				break;
			}
			if (keys == one)
				memcpy(nkeys, one, sizeof(one));
			keys = nkeys;
		}
		if (!lua_checkstack(L, 4)) {
			snprintf(err, errlen, "object too large");
			rc = -1;
			break;
		}
		lua_insert(L, -2);		/* ... value key */
		keys[nk].s = lua_tolstring(L, -1, &keys[nk].n);
		keys[nk].idx = lua_gettop(L) - 1;
		nk++;
	}
	if (rc == 0) {
		if (nk <= 16) {
			/* few keys (the usual object): insertion sort, no
			 * calls through qsort's comparator */
			for (i = 1; i < nk; i++) {
				struct key	 k = keys[i];
				size_t		 j = i;

				for (; j > 0 && keycmp(&keys[j - 1], &k) > 0; j--)
					keys[j] = keys[j - 1];
				keys[j] = k;
			}
		} else
			qsort(keys, nk, sizeof(*keys), keycmp);
		buf_addc(b, '{');
		for (i = 0; i < nk && rc == 0; i++) {
			if (i > 0)
				buf_addc(b, ',');
			if ((rc = enc_string(b, keys[i].s, keys[i].n, err,
			    errlen)) != 0)
				break;
			buf_addc(b, ':');
			rc = enc_value(L, keys[i].idx, b, depth + 1, err,
			    errlen);
		}
		buf_addc(b, '}');
	}
	lua_settop(L, t);
	if (keys != one)
		free(keys);
	return rc;
}

static int
enc_value(lua_State *L, int idx, struct buf *b, int depth, char *err,
    size_t errlen)
{
	size_t		 len;
	const char	*s;
	lua_Number	 d;
	char		 num[64];
	int		 rc;

	if (depth > JSON_DEPTH_MAX) {
		snprintf(err, errlen, "nested too deeply (or a cycle)");
		return -1;
	}
	if (!lua_checkstack(L, 6)) {
		snprintf(err, errlen, "nested too deeply");
		return -1;
	}
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		return buf_adds(b, "null");
	case LUA_TBOOLEAN:
		return buf_adds(b, lua_toboolean(L, idx) ? "true" : "false");
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return buf_addint(b, (long long)lua_tointeger(L, idx));
		d = lua_tonumber(L, idx);
		if (!isfinite(d)) {
			snprintf(err, errlen, "NaN or infinity");
			return -1;
		}
		snprintf(num, sizeof(num), "%.17g", d);
		if (strpbrk(num, ".eE") == NULL)
			strcat(num, ".0");	/* still a real */
		return buf_adds(b, num);
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		return enc_string(b, s, len, err, errlen);
	case LUA_TLIGHTUSERDATA:
		if (lhost_is_null(L, idx))
			return buf_adds(b, "null");
		break;
	case LUA_TTABLE:
		push_real(L, idx);
		rc = enc_table(L, b, depth, err, errlen);
		lua_pop(L, 1);
		return rc;
	}
	snprintf(err, errlen, "cannot encode a %s", luaL_typename(L, idx));
	return -1;
}

static int
l_encode(lua_State *L)
{
	char		 err[128] = "";
	struct buf	 b = { .wipe = 1 };	/* may hold a token secret */

	luaL_checkany(L, 1);
	buf_reserve(&b, 500);	/* one allocation for most answers */
	if (enc_value(L, 1, &b, 0, err, sizeof(err)) != 0 || b.p == NULL ||
	    b.failed) {
		buf_wipe(&b);
		return luaL_error(L, "host.json.encode: %s",
		    err[0] ? err : "out of memory");
	}
	lua_pushlstring(L, b.p, b.len);
	/* The text may hold a token secret (the create answer). */
	buf_wipe(&b);
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

	/* jansson lets a NUL byte straight after a number pass ("[1\0]");
	 * no JSON text holds one, and records() refuses it too. */
	if (memchr(s, '\0', len) != NULL) {
		lua_pushnil(L);
		lua_pushliteral(L, "NUL byte in JSON text");
		return 2;
	}
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

/* host.json.records(body, max): a webhook body, a JSON object or a
 * non-empty array of objects, split into one JSON text per object -- the
 * very bytes sent, once the whole body is proved valid (jsonscan.c: what
 * decode accepts, without building it). Returns the list, or nil and
 * "INVALID_JSON" | "INVALID_REQUEST" | "PAYLOAD_TOO_LARGE" (more than max
 * records, when max > 0) and a message. */
static int
l_records(lua_State *L)
{
	size_t		 len, i, line = 1, col = 1;
	const char	*s = luaL_checklstring(L, 1, &len);
	lua_Integer	 max = luaL_optinteger(L, 2, 0);
	struct jscan	 js;
	int		 rc;

	rc = json_scan(s, len, JSON_DEPTH_MAX, &js);
	if (rc != 0) {
		json_scan_free(&js);
		lua_pushnil(L);
		lua_pushliteral(L, "INVALID_JSON");
		if (rc == -2) {
			lua_pushliteral(L, "body nested too deeply");
			return 3;
		}
		for (i = 0; i < js.err_pos && i < len; i++, col++)
			if (s[i] == '\n') {
				line++;
				col = 0;
			}
		lua_pushfstring(L, "body is not JSON: %s at line %d, column %d",
		    js.err, (int)line, (int)col);
		return 3;
	}
	if (js.top == 0 || (js.top == '[' && js.n == 0) || js.not_object) {
		lua_pushnil(L);
		lua_pushliteral(L, "INVALID_REQUEST");
		if (js.top == 0)
			lua_pushliteral(L, "body must be a JSON object or an "
			    "array of objects");
		else if (js.n == 0)
			lua_pushliteral(L, "the array holds no records");
		else
			lua_pushfstring(L, "record %d is not a JSON object",
			    (int)js.not_object);
		json_scan_free(&js);
		return 3;
	}
	if (max > 0 && js.n > (size_t)max) {
		lua_pushnil(L);
		lua_pushliteral(L, "PAYLOAD_TOO_LARGE");
		lua_pushfstring(L, "%d records: at most %d in one delivery",
		    (int)js.n, (int)max);
		json_scan_free(&js);
		return 3;
	}
	lua_createtable(L, (int)js.n, 0);
	for (i = 0; i < js.n; i++) {
		lua_pushlstring(L, s + js.spans[2 * i],
		    js.spans[2 * i + 1] - js.spans[2 * i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	json_scan_free(&js);
	return 1;
}

void
lhost_json_mark_array(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	push_array_mt(L);
	lua_setmetatable(L, idx);
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
