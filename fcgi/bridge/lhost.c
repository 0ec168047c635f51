/*
 * lhost.c -- the Lua bridge: one sandboxed lua_State per worker
 * (lhost_sandbox.c) running the app (lua/app.lua), and a request's way
 * through it: the route's handler called with the req object
 * (lhost_req.c), the response it returns checked and taken, the
 * cookies the host queued added. A failing request is logged with its
 * traceback and answered 500 (503 for an unavailable database) while the
 * worker lives on. Also the app's routes compiled at load, the runner's
 * tick, the reload check, and other scripts run in the same sandbox
 * (tessera lua-test). bridge.h shows the bridge's floors.
 */
#include <assert.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>

#include <lauxlib.h>
#include <lua.h>

#include "domain/authority.h"
#include "bridge.h"

/* Compiles app.routes (the app table is on top of the stack): a list of
 * { method, pattern, handler, scope } in declaration order. The handlers
 * go into a registry table by the same index as the route table. A route
 * the table refuses (on a token path without a scope, an unknown scope,
 * a bad pattern) fails the load. Returns 0 or -1 with err. */
static int
load_routes(struct lhost *lh, char *err, size_t errlen)
{
	lua_State	*L = lh->L;
	const char	*prefixes[3], *method, *pattern, *scope;
	char		 msg[512];
	lua_Integer	 i, n;
	int		 base;

	req_token_prefixes(lh->cfg, prefixes);
	if (lua_getfield(L, -1, "routes") != LUA_TTABLE) {
		snprintf(err, errlen, "loading app.lua: it must return its "
		    "routes as app.routes");
		lua_pop(L, 1);
		return -1;
	}
	n = (lua_Integer)lua_rawlen(L, -1);
	lua_createtable(L, (int)n, 0);			/* handlers */
	base = lua_gettop(L);
	for (i = 1; i <= n; i++) {
		method = pattern = scope = NULL;
		if (lua_rawgeti(L, base - 1, i) == LUA_TTABLE &&
		    lua_getfield(L, -1, "method") == LUA_TSTRING &&
		    lua_getfield(L, -2, "pattern") == LUA_TSTRING &&
		    lua_getfield(L, -3, "handler") == LUA_TFUNCTION) {
			method = lua_tostring(L, -3);
			pattern = lua_tostring(L, -2);
			if (lua_getfield(L, -4, "scope") == LUA_TSTRING)
				scope = lua_tostring(L, -1);
			else if (!lua_isnil(L, -1))
				method = NULL;
		}
		if (method == NULL) {
			snprintf(err, errlen, "loading app.lua: route %lld is "
			    "not { method =, pattern =, handler =, scope = }",
			    (long long)i);
			lua_settop(L, base - 2);
			return -1;
		}
		if (route_add(&lh->routes, method, pattern, scope, prefixes,
		    msg, sizeof(msg)) == -1) {
			snprintf(err, errlen, "loading app.lua: %s", msg);
			lua_settop(L, base - 2);
			return -1;
		}
		lua_pushvalue(L, base + 4);		/* the handler */
		lua_rawseti(L, base, i);
		lua_settop(L, base);
	}
	lh->handlers_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);
	return 0;
}

const struct route_table *
lhost_routes(const struct lhost *lh)
{
	return &lh->routes;
}

void
lhost_set_limits(struct lhost *lh, struct rl_map *rl)
{
	lh->rl = rl;
}

/* Frees lh after a failed load, handing what it read to failed (NULL:
 * nobody wants it). */
static void
load_failed(struct lhost *lh, struct watchset *failed)
{
	lhost_limits_stop(lh);
	if (failed) {
		watch_clear(failed);
		*failed = lh->watch;
		lh->watch.n = 0;
	}
	lhost_free(lh);
}

/* The folders whose new files a state must notice: route modules (listed
 * by app.lua through host.scripts), pipeline kinds and transforms
 * (loaded by require when first used). */
static const char *const watched_folders[] = {
	"routes", "pipelines", "transforms",
};

/* Builds the lhost; on success app.lua is loaded and its handle function
 * kept in the registry. */
static struct lhost *
lhost_create(const struct config *cfg, struct db *db,
    const unsigned char *pepper, const char *lua_dir, int is_test, char *err,
    size_t errlen, struct watchset *failed)
{
	size_t		 i;
	struct lhost	*lh;
	lua_State	*L;
	int		 status;

	if ((lh = calloc(1, sizeof(*lh))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	lh->cfg = cfg;
	lh->db = db;
	lh->pepper = pepper;
	lh->is_test = is_test;
	lh->handle_ref = LUA_NOREF;
	lh->auth_ref = LUA_NOREF;
	lh->handlers_ref = LUA_NOREF;
	lh->tick_ref = LUA_NOREF;
	lh->mem_limit = (size_t)cfg->lua_memory_mb << 20;
	if ((lh->lua_dir = strdup(lua_dir)) == NULL ||
	    (L = lhost_sandbox_new(lh)) == NULL) {
		snprintf(err, errlen, "cannot create Lua state");
		free(lh->lua_dir);
		free(lh);
		return NULL;
	}
	lh->L = L;
	lhost_limits_start(lh);
	lhost_open_host(L);	/* sets the global "host" */
	lhost_make_strict(L);
	if (is_test) {
		lhost_limits_stop(lh);
		return lh;
	}
	for (i = 0; i < sizeof(watched_folders) / sizeof(*watched_folders); i++)
		watch_folder(&lh->watch, lh->lua_dir, watched_folders[i]);
	lua_pushcfunction(L, lhost_require);
	lua_pushliteral(L, "app");
	status = lhost_call(lh, 1, 1);
	if (status == LUA_OK && lua_istable(L, -1) &&
	    lua_getfield(L, -1, "handle") == LUA_TFUNCTION) {
		lh->handle_ref = luaL_ref(L, LUA_REGISTRYINDEX);
		if (lua_getfield(L, -1, "tick") == LUA_TFUNCTION)
			lh->tick_ref = luaL_ref(L, LUA_REGISTRYINDEX);
		else
			lua_pop(L, 1);
		if (load_routes(lh, err, errlen) == -1) {
			load_failed(lh, failed);
			return NULL;
		}
		lua_pop(L, 1);
	} else {
		snprintf(err, errlen, "loading app.lua: %s",
		    lh->traceback.len ? lh->traceback.p :
		    status == LUA_OK ? "it must return a table with a handle "
		    "function" : lua_tostring(L, -1));
		load_failed(lh, failed);
		return NULL;
	}
	lhost_limits_stop(lh);
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT);
	return lh;
}

struct lhost *
lhost_new(const struct config *cfg, struct db *db,
    const unsigned char *pepper, char *err, size_t errlen)
{
	return lhost_create(cfg, db, pepper, cfg->lua_dir, 0, err, errlen,
	    NULL);
}

struct lhost *
lhost_build(const struct config *cfg, struct db *db,
    const unsigned char *pepper, char *err, size_t errlen,
    struct watchset *failed)
{
	return lhost_create(cfg, db, pepper, cfg->lua_dir, 0, err, errlen,
	    failed);
}

int
lhost_stale(struct lhost *lh)
{
	return lh->cfg->reload && watch_changed(&lh->watch);
}

/* Copies one header (value string or list of strings) into resp. */
static int
take_header(lua_State *L, struct resp *resp, const char *name)
{
	size_t		 len;
	const char	*v;
	lua_Integer	 i, n;

	if (lua_type(L, -1) == LUA_TTABLE) {
		n = (lua_Integer)lua_rawlen(L, -1);
		for (i = 1; i <= n; i++) {
			lua_rawgeti(L, -1, i);
			v = lua_tolstring(L, -1, &len);
			if (v == NULL || strlen(v) != len ||
			    resp_header(resp, name, v) == -1) {
				lua_pop(L, 1);
				return -1;
			}
			lua_pop(L, 1);
		}
		return 0;
	}
	if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
		return -1;
	v = lua_tolstring(L, -1, &len);
	if (strlen(v) != len)
		return -1;
	return resp_header(resp, name, v);
}

/* Reads the handler's {status=, headers=, body=} into resp. Returns 0 or
 * -1 with why set (the caller answers 500). */
static int
take_response(lua_State *L, struct resp *resp, const char **why)
{
	lua_Integer	 status;
	size_t		 len;
	const char	*body, *name;

	if (!lua_istable(L, -1)) {
		*why = "handler did not return a response table";
		return -1;
	}
	lua_getfield(L, -1, "status");
	status = lua_isinteger(L, -1) ? lua_tointeger(L, -1) :
	    lua_isnil(L, -1) ? 200 : -1;
	lua_pop(L, 1);
	if (status < 100 || status > 599) {
		*why = "response status must be an integer from 100 to 599";
		return -1;
	}
	resp->status = (int)status;
	if (lua_getfield(L, -1, "headers") == LUA_TTABLE) {
		lua_pushnil(L);
		while (lua_next(L, -2) != 0) {
			name = lua_type(L, -2) == LUA_TSTRING ?
			    lua_tostring(L, -2) : NULL;
			if (name == NULL || take_header(L, resp, name) == -1) {
				*why = "invalid response header (name, CR/LF "
				    "or NUL in value)";
				lua_pop(L, 3);
				return -1;
			}
			lua_pop(L, 1);
		}
	} else if (!lua_isnil(L, -1)) {
		*why = "response headers must be a table";
		lua_pop(L, 1);
		return -1;
	}
	lua_pop(L, 1);
	lua_getfield(L, -1, "secret");
	resp->secret = lua_toboolean(L, -1);
	lua_pop(L, 1);
	lua_getfield(L, -1, "body");
	body = lua_tolstring(L, -1, &len);
	if (body != NULL && buf_add(&resp->body, body, len) == -1) {
		lua_pop(L, 1);
		*why = "out of memory";
		return -1;
	}
	if (body == NULL && !lua_isnil(L, -1)) {
		lua_pop(L, 1);
		*why = "response body must be a string";
		return -1;
	}
	lua_pop(L, 1);
	return 0;
}

/* Adds the Set-Cookie headers queued by host.auth. */
static void
add_cookies(struct lhost *lh, struct resp *resp)
{
	const char	*p = lh->cookies.p, *e = p + lh->cookies.len;

	for (; p && p < e; p += strlen(p) + 1)
		resp_header(resp, "Set-Cookie", p);
	if (lh->cookies.len)
		resp->secret = 1;	/* the headers hold a session id */
}

/* Turns a failed call into the right error response and a log line. */
static void
fail(struct lhost *lh, const struct req *r, struct resp *resp,
    const char *why)
{
	lua_State	*L = lh->L;
	int		 status = 500, json = r->wants_json;
	const char	*code = "INTERNAL_ERROR", *msg = "internal error";

	if (why == NULL && lua_istable(L, -1)) {
		lua_getfield(L, -1, "status");
		if (lua_isinteger(L, -1) && lua_tointeger(L, -1) == 503) {
			status = 503;
			code = "UNAVAILABLE";
			msg = "service temporarily unavailable";
		}
		lua_pop(L, 1);
	}
	if (lh->aborted)
		log_err("%s %s: %s", r->method, r->path,
		    lh->traceback.len ? lh->traceback.p : "limit exceeded");
	else if (why)
		log_err("%s %s: %s", r->method, r->path, why);
	else
		log_err("%s %s: %s", r->method, r->path,
		    lh->traceback.len ? lh->traceback.p :
		    lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
	resp_error(resp, status, code, msg, json);
}

/* Ends a call into the app (a request, a tick): the limits stop, and a
 * transaction left open is rolled back (a script cannot leave one: tx()
 * closes its own, so this is a bug worth logging). */
void
lhost_call_done(struct lhost *lh)
{
	lhost_limits_stop(lh);
	if (lh->db->tx_depth != 0) {
		log_err("transaction left open; rolled back");
		db_tx(lh->db, DB_ROLLBACK);
		lh->db->tx_depth = 0;
		lh->db->reading = 0;
	}
	lua_settop(lh->L, 0);
}

/* Pushes what app.handle gets besides req for route match m: the
 * route's handler and its captures, or nil, nil and the methods of a 405
 * (nil when no route has the path). */
static void
push_route(struct lhost *lh, const struct route_match *m)
{
	lua_State	*L = lh->L;
	size_t		 i;

	if (m->route < 0) {
		lua_pushnil(L);
		lua_pushnil(L);
		if (m->allow[0])
			lua_pushstring(L, m->allow);
		else
			lua_pushnil(L);
		return;
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, lh->handlers_ref);
	lua_rawgeti(L, -1, m->route + 1);
	lua_remove(L, -2);
	lua_createtable(L, 0, (int)m->ncap);
	for (i = 0; i < m->ncap; i++) {
		lua_pushlstring(L, m->cap[i].val, m->cap[i].len);
		lua_setfield(L, -2, m->cap[i].name);
	}
	lhost_push_readonly(L, -1);
	lua_remove(L, -2);
	lua_pushnil(L);
}

void
lhost_handle(struct lhost *lh, const struct req *r,
    const struct route_match *m, struct resp *resp)
{
	lua_State	*L = lh->L;
	const char	*why = NULL;
	int		 status;

	assert(lh->req == NULL);	/* one request at a time, never nested */
	lh->req = r;
	lhost_html_reset();
	lh->session_state = 0;
	buf_reset(&lh->cookies);
	lhost_limits_start(lh);
	lua_settop(L, 0);
	lua_rawgeti(L, LUA_REGISTRYINDEX, lh->handle_ref);
	lhost_push_req(L, r);
	push_route(lh, m);
	status = lhost_call(lh, 4, 1);
	lhost_req_end(L);
	if (status != LUA_OK) {
		db_reset_busy(lh->db);
		fail(lh, r, resp, NULL);
	}
	else if (take_response(L, resp, &why) == -1) {
		resp_reset(resp);
		fail(lh, r, resp, why);
	} else
		add_cookies(lh, resp);
	if (lh->mem_used > (size_t)16 << 20) {
		/* A greedy request (or one stopped by the memory cap): give
		 * the memory back to the system, not just to malloc. */
		lua_settop(L, 0);
		lua_gc(L, LUA_GCCOLLECT);
		malloc_trim(0);
	}
	if (lh->secret) {
		/* The body holds a token secret: wipe it after writing, and
		 * zero every Lua block that held it as it is collected. */
		resp->secret = 1;
		lua_settop(L, 0);
		lua_gc(L, LUA_GCCOLLECT);
		lh->secret = lh->wipe = 0;
	}
	sodium_memzero(&lh->session, sizeof(lh->session));
	if (lh->cookies.p)
		sodium_memzero(lh->cookies.p, lh->cookies.cap);
	buf_reset(&lh->cookies);
	lhost_call_done(lh);
	lh->req = NULL;
}

int
lhost_tick(struct lhost *lh)
{
	lua_State	*L = lh->L;
	int		 status;

	if (lh->tick_ref == LUA_NOREF)
		return 0;
	lh->req = NULL;
	lhost_limits_start(lh);
	lua_settop(L, 0);
	lua_rawgeti(L, LUA_REGISTRYINDEX, lh->tick_ref);
	status = lhost_call(lh, 0, 0);
	if (status != LUA_OK) {
		db_reset_busy(lh->db);
		log_err("app.tick: %s", lh->traceback.len ? lh->traceback.p :
		    lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
	}
	lhost_call_done(lh);
	lua_gc(L, LUA_GCCOLLECT);
	return status == LUA_OK ? 0 : -1;
}

void
lhost_free(struct lhost *lh)
{
	if (lh == NULL)
		return;
	if (lh->L)
		lua_close(lh->L);
	route_free(&lh->routes);
	watch_clear(&lh->watch);
	buf_free(&lh->traceback);
	buf_wipe(&lh->cookies);
	free(lh->lua_dir);
	free(lh);
}

/* ------------------------------------------------------------ scripts */

struct lhost *
lhost_new_script(const struct config *cfg, struct db *db,
    const unsigned char *pepper, const char *lua_dir, char *err,
    size_t errlen)
{
	return lhost_create(cfg, db, pepper, lua_dir, 1, err, errlen, NULL);
}

/* Runs in protected mode (through lhost_call): registers the module,
 * then loads and calls the file. */
static int
run_script(lua_State *L)
{
	const char	*file = lua_tostring(L, 1), *name = lua_tostring(L, 2);
	const luaL_Reg	*funcs = lua_touserdata(L, 3);

	lua_getfield(L, LUA_REGISTRYINDEX, "tessera.loaded");
	lua_newtable(L);
	lua_pushvalue(L, 4);		/* ud, each function's upvalue */
	luaL_setfuncs(L, funcs, 1);
	lua_setfield(L, -2, name);
	lua_pop(L, 1);
	lhost_load_file(L, file, "@test");
	lua_call(L, 0, 1);
	return 1;
}

int
lhost_run_script(struct lhost *lh, const char *file, const char *modname,
    const luaL_Reg *funcs, void *ud, int *result, char *err, size_t errlen)
{
	lua_State	*L = lh->L;
	int		 status, rc = 0;

	lua_pushcfunction(L, run_script);
	lua_pushstring(L, file);
	lua_pushstring(L, modname);
	lua_pushlightuserdata(L, (void *)funcs);
	lua_pushlightuserdata(L, ud);
	status = lhost_call(lh, 4, 1);
	if (status != LUA_OK) {
		snprintf(err, errlen, "%s", lh->traceback.len ?
		    lh->traceback.p : lua_tostring(L, -1));
		rc = -1;
	} else
		*result = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
	lua_settop(L, 0);
	return rc;
}
