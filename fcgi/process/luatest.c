/*
 * luatest.c -- tessera lua-test FILE: a Lua test file run in a sandboxed
 * state of its own (lhost_new_script), beside a whole app, a worker, that
 * it sends requests to through the module "test":
 *
 *   test.request{method=, path=, headers={}, body=}  -> status, headers, body
 *   test.clock()                                     -> monotonic seconds
 *
 * A request goes the way a web server's would (parsing, dispatch, the
 * response written), in memory. The file returns its number of failures,
 * which becomes the exit status. Only this file knows both the worker and
 * the bridge: the bridge never calls the worker.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "http/http.h"
#include "bridge/lhost.h"
#include "lib/lib.h"
#include "process.h"

/* The environment of a request, as NUL-separated "K=V" strings. */
static void
request_env(lua_State *L, struct buf *env, const char *method,
    const char *path, size_t blen)
{
	const char	*k, *v;

	buf_printf(env, "REQUEST_METHOD=%s", method);
	buf_addc(env, '\0');
	buf_printf(env, "REQUEST_URI=%s", path);
	buf_addc(env, '\0');
	buf_printf(env, "REMOTE_ADDR=127.0.0.1");
	buf_addc(env, '\0');
	buf_printf(env, "CONTENT_LENGTH=%zu", blen);
	buf_addc(env, '\0');
	if (lua_getfield(L, 1, "headers") == LUA_TTABLE) {
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			k = luaL_checkstring(L, -2);
			v = luaL_checkstring(L, -1);
			buf_printf(env, "%s=%s", k, v);
			buf_addc(env, '\0');
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
}

/* Pushes the status, the headers (lower-case names; repeated ones joined
 * by "\n") and the body of "Status: N ..\r\nH: V\r\n\r\nbody". */
static int
push_response(lua_State *L, struct buf *out)
{
	char	*hdr_end, *line, *colon, *q, *p;

	if (out->p == NULL || (hdr_end = strstr(out->p, "\r\n\r\n")) == NULL)
		return -1;
	*hdr_end = '\0';
	lua_pushinteger(L, atoi(out->p + 8));
	lua_newtable(L);
	for (line = strtok_r(out->p, "\r\n", &p); line;
	    line = strtok_r(NULL, "\r\n", &p)) {
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		for (q = line; *q; q++)
			*q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
		if (lua_getfield(L, -1, line) == LUA_TSTRING) {
			lua_pushliteral(L, "\n");
			lua_pushstring(L, colon + 2);
			lua_concat(L, 3);
		} else {
			lua_pop(L, 1);
			lua_pushstring(L, colon + 2);
		}
		lua_setfield(L, -2, line);
	}
	lua_pushlstring(L, hdr_end + 4,
	    out->len - (size_t)(hdr_end + 4 - out->p));
	return 0;
}

/* test.request{...}: the worker under test is the upvalue. */
static int
t_request(lua_State *L)
{
	struct worker	*app = lua_touserdata(L, lua_upvalueindex(1));
	struct buf	 env = { 0 }, out = { 0 };
	struct conn	 c = { 0 };
	char		**envp, *p, *e;
	const char	*method, *path, *body;
	size_t		 n = 0, i, blen = 0;
	int		 rc;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_getfield(L, 1, "method");
	method = luaL_optstring(L, -1, "GET");
	lua_getfield(L, 1, "path");
	path = luaL_checkstring(L, -1);
	lua_getfield(L, 1, "body");
	body = luaL_optlstring(L, -1, "", &blen);
	request_env(L, &env, method, path, blen);
	for (p = env.p, e = env.p + env.len; p < e; p += strlen(p) + 1)
		n++;
	if ((envp = calloc(n + 1, sizeof(*envp))) == NULL) {
		buf_free(&env);
		return luaL_error(L, "out of memory");
	}
	for (i = 0, p = env.p; p < e; p += strlen(p) + 1)
		envp[i++] = p;
	c.envp = envp;
	c.mem_body = body;
	c.mem_len = blen;
	c.mem_out = &out;
	worker_handle(app, &c);
	free(envp);
	buf_free(&env);
	rc = push_response(L, &out);
	buf_free(&out);
	if (rc == -1)
		return luaL_error(L, "malformed response");
	return 3;
}

static int
t_clock(lua_State *L)
{
	lua_pushnumber(L, mono_now());
	return 1;
}

static const luaL_Reg test_module[] = {
	{ "request", t_request },
	{ "clock", t_clock },
	{ NULL, NULL }
};

int
lua_test_run(const struct config *cfg, const char *file)
{
	struct worker	 app;
	struct lhost	*lh;
	char		 err[1024], dir[PATH_MAX], *slash, *path;
	int		 failures = 0, rc = 1;

	if (worker_init(&app, (struct config *)cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "lua-test: %s\n", err);
		return 1;
	}
	/* require finds the test's neighbours first, then the app's. */
	snprintf(dir, sizeof(dir), "%s", file);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if ((path = malloc(strlen(dir) + strlen(cfg->lua_dir) + 2)) == NULL)
		goto out;
	sprintf(path, "%s:%s", dir, cfg->lua_dir);
	lh = lhost_new_script(cfg, &app.db, app.pepper, path, err, sizeof(err));
	free(path);
	if (lh == NULL) {
		fprintf(stderr, "lua-test: %s\n", err);
		goto out;
	}
	if (lhost_run_script(lh, file, "test", test_module, &app, &failures,
	    err, sizeof(err)) == -1)
		fprintf(stderr, "lua-test: %s\n", err);
	else
		rc = failures;
	lhost_free(lh);
out:
	worker_free(&app);
	return rc;
}
