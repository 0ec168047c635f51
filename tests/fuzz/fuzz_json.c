/*
 * fuzz_json.c -- the JSON body path into Lua: host.json.decode, encode and
 * records (fcgi/bridge/lhost_json.c) on one plain lua_State.
 *
 * For every input: decode(input); when that gives a value, encode it
 * (under pcall: NaN, infinity and the like may be refused) and check the
 * encoder's output is a fixed point: encode(decode(text)) == text.
 * Then records(input) must return a list of strings (each one decodes to
 * an object) or nil plus an error code and message, and it must call the
 * input invalid exactly when jansson (decode's parser, duplicate keys
 * refused) does or the input nests deeper than 64: records has its own
 * scanner (fcgi/lib/jsonscan.c), and jansson is its reference here. A Lua
 * error where the API promises a value, or a broken invariant, aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "bridge/bridge.h"
#include "tessera.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static lua_State	*L;
static int		 json_ref;	/* the host.json table */

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_json: %s\n", what);
	abort();
}

static void
setup(void)
{
	L = luaL_newstate();
	if (L == NULL)
		fail("luaL_newstate");
	luaL_openlibs(L);
	lhost_open_json(L);
	json_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Calls host.json.<fn>(arg at idx) under pcall; leaves the results on the
 * stack and returns the pcall status and the number of results. */
static int
call(const char *fn, int idx, int *nres)
{
	int	 top, status;

	idx = lua_absindex(L, idx);
	top = lua_gettop(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, json_ref);
	lua_getfield(L, -1, fn);
	lua_remove(L, -2);
	lua_pushvalue(L, idx);
	status = lua_pcall(L, 1, LUA_MULTRET, 0);
	*nres = lua_gettop(L) - top;
	return status;
}

/* The encoder's output must decode and re-encode to itself. */
static void
roundtrip(int text)
{
	int		 n, status;
	size_t		 len, len2;
	const char	*s, *s2;

	s = lua_tolstring(L, text, &len);
	status = call("decode", text, &n);
	if (status != LUA_OK)
		fail("decode raised an error on encoder output");
	if (lua_isnil(L, -n))
		fail("decode refused encoder output");
	status = call("encode", -n, &n);
	if (status != LUA_OK || lua_type(L, -1) != LUA_TSTRING)
		fail("encode refused a value decoded from encoder output");
	s2 = lua_tolstring(L, -1, &len2);
	if (len != len2 || memcmp(s, s2, len) != 0) {
		fprintf(stderr, "first:  %.*s\nsecond: %.*s\n", (int)len, s,
		    (int)len2, s2);
		fail("encoder output is not a fixed point");
	}
}

/* The reference: what jansson accepts, nested at most 64 deep. */
static int
ref_depth_ok(json_t *j, int depth)
{
	size_t		 i;
	const char	*k;
	json_t		*v;

	if (depth > 64)
		return 0;
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if (!ref_depth_ok(v, depth + 1))
				return 0;
	} else if (json_is_object(j)) {
		json_object_foreach(j, k, v)
			if (!ref_depth_ok(v, depth + 1))
				return 0;
	}
	return 1;
}

static int
ref_valid(const char *s, size_t len)
{
	json_error_t	 e;
	json_t		*j;
	int		 ok;

	if (memchr(s, '\0', len) != NULL)
		return 0;	/* decode refuses these (jansson would not) */
	j = json_loadb(s, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
	if (j == NULL)
		return 0;
	ok = ref_depth_ok(j, 0);
	json_decref(j);
	return ok;
}

static void
check_records(int input)
{
	int		 n, status, i, k, m, valid;
	lua_Integer	 len;
	size_t		 ilen;
	const char	*in = lua_tolstring(L, input, &ilen);

	valid = ref_valid(in, ilen);

	status = call("records", input, &n);
	if (status != LUA_OK) {
		/* Only running out of memory may raise. */
		if (status != LUA_ERRMEM)
			fail(lua_tostring(L, -1));
		return;
	}
	if (n == 1 && lua_type(L, -1) == LUA_TTABLE) {
		if (!valid)
			fail("records accepted what jansson refuses");
		len = luaL_len(L, -1);
		if (len < 1)
			fail("records returned an empty list");
		k = lua_gettop(L);
		for (i = 1; i <= len; i++) {
			if (lua_rawgeti(L, k, i) != LUA_TSTRING)
				fail("a record is not a string");
			/* Each record is an object's text; it decodes back
			 * unless deeper than decode's limit (records has
			 * none: it never builds Lua tables). */
			status = call("decode", -1, &m);
			if (status != LUA_OK)
				fail("decode raised an error on a record");
			if (lua_type(L, -m) != LUA_TTABLE &&
			    (m != 2 || lua_type(L, -1) != LUA_TSTRING ||
			    strstr(lua_tostring(L, -1), "too deeply") == NULL))
				fail("a record does not decode");
			lua_settop(L, k);
		}
		return;
	}
	if (n != 3 || !lua_isnil(L, -3) || lua_type(L, -2) != LUA_TSTRING ||
	    lua_type(L, -1) != LUA_TSTRING)
		fail("records returned neither a list nor nil, code, message");
	if (strcmp(lua_tostring(L, -2), "INVALID_JSON") != 0 &&
	    strcmp(lua_tostring(L, -2), "INVALID_REQUEST") != 0)
		fail("records returned an unknown error code");
	if (valid != (strcmp(lua_tostring(L, -2), "INVALID_REQUEST") == 0)) {
		fprintf(stderr, "input: %.*s\nrecords: %s\n", (int)ilen, in,
		    lua_tostring(L, -1));
		fail(valid ? "records refused what jansson accepts" :
		    "records called invalid JSON a wrong shape");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int	 n, status, input, value;

	if (L == NULL)
		setup();
	lua_settop(L, 0);
	lua_pushlstring(L, (const char *)data, size);
	input = lua_gettop(L);

	status = call("decode", input, &n);
	if (status != LUA_OK && status != LUA_ERRMEM)
		fail(lua_tostring(L, -1));
	if (status == LUA_OK) {
		if (n < 1)
			fail("decode returned nothing");
		if (lua_isnil(L, -n)) {
			if (n != 2 || lua_type(L, -1) != LUA_TSTRING)
				fail("decode failed without a message");
		} else {
			value = lua_gettop(L) - n + 1;
			status = call("encode", value, &n);
			if (status == LUA_OK) {
				if (n != 1 || lua_type(L, -1) != LUA_TSTRING)
					fail("encode returned no string");
				roundtrip(lua_gettop(L));
			}
		}
	}
	lua_settop(L, input);
	check_records(input);
	lua_settop(L, 0);
	lua_gc(L, LUA_GCSTEP, 0);
	return 0;
}
