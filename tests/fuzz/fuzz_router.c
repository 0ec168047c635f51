/*
 * fuzz_router.c -- the Lua router's matcher (lua/router.lua), r:match
 * (method, path), against a reference matcher written here in C.
 *
 * The first input byte picks the method, the rest is the path (a '/' is
 * put in front when it does not start with one). A Lua error from match
 * is a finding, and so is any difference from the reference: the handler
 * chosen (each handler returns its route's index), the captures, or the
 * Allow list when only the method is wrong.
 *
 * lua/router.lua is found through $TESSERA_ROOT, else the TESSERA_ROOT
 * the Makefile compiles in (the repository root).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#ifndef TESSERA_ROOT
#define TESSERA_ROOT "."
#endif

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The application's routes (api_mount "/api"), in registration order. */
static const struct route {
	const char	*method;
	const char	*pattern;
} routes[] = {
	{ "GET",	"/healthz" },
	{ "GET",	"/" },
	{ "GET",	"/login" },
	{ "POST",	"/login" },
	{ "POST",	"/logout" },
	{ "GET",	"/settings" },
	{ "GET",	"/settings/tokens" },
	{ "POST",	"/settings/tokens" },
	{ "POST",	"/settings/tokens/{key}/activate" },
	{ "POST",	"/settings/tokens/{key}/deactivate" },
	{ "GET",	"/api/me" },
	{ "GET",	"/api/tokens" },
	{ "POST",	"/api/tokens" },
	{ "POST",	"/api/tokens/{key}/activate" },
	{ "POST",	"/api/tokens/{key}/deactivate" },
	{ "GET",	"/api/sources" },
	{ "POST",	"/api/sources" },
	{ "GET",	"/api/sources/{id}" },
	{ "PUT",	"/api/sources/{id}" },
	{ "GET",	"/api/pipelines" },
	{ "POST",	"/api/pipelines" },
	{ "GET",	"/api/pipelines/{id}" },
	{ "PUT",	"/api/pipelines/{id}" },
	{ "POST",	"/api/pipelines/{id}/run" },
	{ "GET",	"/api/pipelines/{id}/status" },
	{ "GET",	"/api/pipelines/{id}/records" },
	/* Not the app's: a literal after a capture of the same shape, a
	 * HEAD route, a DELETE, two captures, an explicit trailing slash. */
	{ "GET",	"/api/sources/new" },
	{ "HEAD",	"/api/me" },
	{ "DELETE",	"/api/sources/{id}" },
	{ "GET",	"/a/{x}/b/{y}" },
	{ "GET",	"/files/" },
	{ "POST",	"/webhook" },
};
#define NROUTES	 (sizeof(routes) / sizeof(routes[0]))

static const char *const methods[] = {
	"GET", "POST", "PUT", "HEAD", "DELETE"
};

static lua_State	*L;
static int		 router_ref;	/* the router object r */

/* One path segment: bytes [p, p + n). */
struct seg {
	const char	*p;
	size_t		 n;
};

static struct seg	*parts;	/* the path's, one per '/' at most */

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_router: %s\n", what ? what : "(no message)");
	abort();
}

/* Splits a path that starts with '/' into segments: "/" has none, "/a/"
 * has "a" and "". Returns the count. */
static size_t
split(const char *path, size_t len, struct seg *out, size_t max)
{
	const char	*p = path + 1, *e = path + len, *slash;
	size_t		 n = 0;

	if (len == 1)
		return 0;
	for (;;) {
		if ((slash = memchr(p, '/', (size_t)(e - p))) == NULL)
			slash = e;
		if (n == max)
			fail("too many segments for the reference");
		out[n].p = p;
		out[n].n = (size_t)(slash - p);
		n++;
		if (slash == e)
			return n;
		p = slash + 1;
	}
}

static int
is_capture(const struct seg *s)
{
	return s->n >= 2 && s->p[0] == '{' && s->p[s->n - 1] == '}';
}

/* 1 when route i's pattern matches parts[0..np). */
static int
segs_match(size_t i, size_t np)
{
	struct seg	 rs[16];
	size_t		 nr, k;

	nr = split(routes[i].pattern, strlen(routes[i].pattern), rs, 16);
	if (nr != np)
		return 0;
	for (k = 0; k < nr; k++) {
		if (is_capture(&rs[k])) {
			if (parts[k].n == 0)
				return 0;
		} else if (rs[k].n != parts[k].n ||
		    memcmp(rs[k].p, parts[k].p, rs[k].n) != 0)
			return 0;
	}
	return 1;
}

/* Checks the captures in the table at idx against route i's. */
static void
check_params(int idx, size_t i, size_t np, int exact)
{
	struct seg	 rs[16];
	size_t		 nr, k, want = 0, got = 0, len;
	const char	*v;
	char		 name[64];

	idx = lua_absindex(L, idx);
	if (lua_type(L, idx) != LUA_TTABLE)
		fail("params is not a table");
	nr = exact ? 0 : split(routes[i].pattern, strlen(routes[i].pattern),
	    rs, 16);
	for (k = 0; k < nr && k < np; k++) {
		if (!is_capture(&rs[k]))
			continue;
		want++;
		snprintf(name, sizeof(name), "%.*s", (int)rs[k].n - 2,
		    rs[k].p + 1);
		if (lua_getfield(L, idx, name) != LUA_TSTRING)
			fail("a capture is missing");
		v = lua_tolstring(L, -1, &len);
		if (len != parts[k].n || memcmp(v, parts[k].p, len) != 0)
			fail("a capture has the wrong value");
		if (len == 0 || memchr(v, '/', len) != NULL)
			fail("a capture is empty or holds '/'");
		lua_pop(L, 1);
	}
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		got++;
		lua_pop(L, 1);
	}
	if (got != want)
		fail("params has extra entries");
}

static void
setup(void)
{
	static const char chunk[] =
	    "local router, routes = ...\n"
	    "local r = router.new()\n"
	    "for i, rt in ipairs(routes) do\n"
	    "  local idx = i - 1\n"
	    "  r:add(rt[1], rt[2], function() return idx end)\n"
	    "end\n"
	    "return r\n";
	const char	*root = getenv("TESSERA_ROOT");
	char		 file[4096];
	size_t		 i;

	if (root == NULL || *root == '\0')
		root = TESSERA_ROOT;
	snprintf(file, sizeof(file), "%s/lua/router.lua", root);
	if ((L = luaL_newstate()) == NULL)
		fail("luaL_newstate");
	luaL_openlibs(L);
	if (luaL_loadbufferx(L, chunk, sizeof(chunk) - 1, "=setup", "t") !=
	    LUA_OK)
		fail(lua_tostring(L, -1));
	if (luaL_loadfilex(L, file, "t") != LUA_OK ||
	    lua_pcall(L, 0, 1, 0) != LUA_OK)
		fail(lua_tostring(L, -1));
	lua_createtable(L, (int)NROUTES, 0);
	for (i = 0; i < NROUTES; i++) {
		lua_createtable(L, 2, 0);
		lua_pushstring(L, routes[i].method);
		lua_rawseti(L, -2, 1);
		lua_pushstring(L, routes[i].pattern);
		lua_rawseti(L, -2, 2);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	if (lua_pcall(L, 2, 1, 0) != LUA_OK)
		fail(lua_tostring(L, -1));
	router_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* The handler index the function at idx returns. */
static size_t
handler_index(int idx)
{
	lua_Integer	 i;

	if (lua_type(L, idx) != LUA_TFUNCTION)
		fail("handler is not a function");
	lua_pushvalue(L, idx);
	if (lua_pcall(L, 0, 1, 0) != LUA_OK || !lua_isinteger(L, -1))
		fail("handler did not return its index");
	i = lua_tointeger(L, -1);
	lua_pop(L, 1);
	if (i < 0 || (size_t)i >= NROUTES)
		fail("handler index out of range");
	return (size_t)i;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*method;
	char		*path, allow[64] = "", *a;
	size_t		 len, np, i, want = NROUTES, fallback = NROUTES, got;
	int		 allowed[5] = { 0 }, k, exact = 0;

	if (L == NULL)
		setup();
	if (size == 0)
		return 0;
	method = methods[data[0] % 5];
	if ((path = malloc(size + 1)) == NULL)
		return 0;
	len = 0;
	if (size == 1 || data[1] != '/')
		path[len++] = '/';
	memcpy(path + len, data + 1, size - 1);
	len += size - 1;

	/* The reference: an exact literal route first, then the first route
	 * in order whose segments match with this method, then (HEAD) the
	 * first GET; else the methods that would match. */
	for (i = 0; i < NROUTES && want == NROUTES; i++)
		if (strcmp(routes[i].method, method) == 0 &&
		    strchr(routes[i].pattern, '{') == NULL &&
		    strlen(routes[i].pattern) == len &&
		    memcmp(routes[i].pattern, path, len) == 0)
			want = i, exact = 1;
	if ((parts = malloc(len * sizeof(*parts))) == NULL) {
		free(path);
		return 0;
	}
	np = split(path, len, parts, len);
	for (i = 0; i < NROUTES && want == NROUTES; i++) {
		if (!segs_match(i, np))
			continue;
		if (strcmp(routes[i].method, method) == 0)
			want = i;
		else if (strcmp(method, "HEAD") == 0 &&
		    strcmp(routes[i].method, "GET") == 0 && fallback == NROUTES)
			fallback = i;
		for (k = 0; k < 5; k++)
			if (strcmp(routes[i].method, methods[k]) == 0)
				allowed[k] = 1;
	}
	if (want == NROUTES)
		want = fallback;
	if (allowed[0])
		allowed[3] = 1;	/* GET implies HEAD */
	/* Sorted: DELETE, GET, HEAD, POST, PUT. */
	a = allow;
	for (k = 0; k < 5; k++) {
		static const int order[] = { 4, 0, 3, 1, 2 };

		if (allowed[order[k]])
			a += sprintf(a, "%s%s", a == allow ? "" : ", ",
			    methods[order[k]]);
	}

	lua_settop(L, 0);
	lua_rawgeti(L, LUA_REGISTRYINDEX, router_ref);
	lua_getfield(L, 1, "match");
	lua_pushvalue(L, 1);
	lua_pushstring(L, method);
	lua_pushlstring(L, path, len);
	if (lua_pcall(L, 3, 3, 0) != LUA_OK)
		fail(lua_tostring(L, -1));
	/* Stack: r, handler, params, allow. */
	if (want != NROUTES) {
		got = handler_index(2);
		if (got != want) {
			fprintf(stderr, "%s %.*s: got route %zu (%s %s), want "
			    "%zu (%s %s)\n", method, (int)len, path, got,
			    routes[got].method, routes[got].pattern, want,
			    routes[want].method, routes[want].pattern);
			fail("wrong route");
		}
		check_params(3, want, np, exact);
		if (!lua_isnil(L, 4))
			fail("a match also returned an Allow list");
	} else if (allow[0] != '\0') {
		if (!lua_isnil(L, 2) || !lua_isnil(L, 3) ||
		    lua_type(L, 4) != LUA_TSTRING)
			fail("no nil, nil, allow for a wrong method");
		if (strcmp(lua_tostring(L, 4), allow) != 0) {
			fprintf(stderr, "%s %.*s: Allow %s, want %s\n", method,
			    (int)len, path, lua_tostring(L, 4), allow);
			fail("wrong Allow list");
		}
	} else if (!lua_isnil(L, 2) || !lua_isnil(L, 3) || !lua_isnil(L, 4))
		fail("a result for a path no route matches");
	lua_settop(L, 0);
	free(parts);
	parts = NULL;
	free(path);
	return 0;
}
