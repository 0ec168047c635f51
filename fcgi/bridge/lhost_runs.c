/*
 * lhost_runs.c -- the runner's way into the app for queued runs
 * (lua/runs.lua has the rules): app.claim() takes one under the usual
 * limits; app.run(id) does it under the run's own instruction and memory
 * budgets (run_max_instructions, run_memory_mb), which the sandbox's
 * pcall cannot swallow; when they stop it, app.abort(id, why) records
 * the failure under the usual limits again. host.run_finished(status)
 * is the other way: runs.lua counts a run it ended (the metrics'
 * tessera_runs_finished_total).
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"
#include "lib/metrics.h"

/* host.run_finished("success"|"failed"): one run ended, for the metrics.
 * Any other status raises (the label set stays the two). */
int
lhost_run_finished(lua_State *L)
{
	const char	*st = luaL_checkstring(L, 1);

	if (strcmp(st, "success") == 0)
		metrics_add(M_RUN_SUCCESS, 1);
	else if (strcmp(st, "failed") == 0)
		metrics_add(M_RUN_FAILED, 1);
	else
		return luaL_error(L, "host.run_finished: \"success\" or "
		    "\"failed\", not \"%s\"", st);
	return 0;
}

/* Pushes app[name] (nil when the app has none). */
static int
push_app_fn(lua_State *L, const char *name)
{
	int	 t;

	lua_getfield(L, LUA_REGISTRYINDEX, "tessera.loaded");
	if (!lua_istable(L, -1) || lua_getfield(L, -1, "app") != LUA_TTABLE) {
		lua_settop(L, 0);
		lua_pushnil(L);
		return LUA_TNIL;
	}
	t = lua_getfield(L, -1, name);
	lua_replace(L, 1);
	lua_settop(L, 1);
	return t;
}

static const char *
why(struct lhost *lh)
{
	lua_State	*L = lh->L;

	if (lh->traceback.len)
		return lh->traceback.p;
	return lua_tostring(L, -1) ? lua_tostring(L, -1) : "error";
}

/* Calls app.abort(id, message) under the usual limits. */
static void
abort_run(struct lhost *lh, lua_Integer id, const char *message)
{
	lua_State	*L = lh->L;

	lhost_limits_start(lh);
	lua_settop(L, 0);
	if (push_app_fn(L, "abort") == LUA_TFUNCTION) {
		lua_pushinteger(L, id);
		lua_pushstring(L, message);
		if (lhost_call(lh, 2, 0) != LUA_OK) {
			db_reset_busy(lh->db);
			log_err("run %lld: recording its failure: %s",
			    (long long)id, why(lh));
		}
	}
	lhost_call_done(lh);
}

int
lhost_work(struct lhost *lh)
{
	lua_State	*L = lh->L;
	lua_Integer	 id;
	size_t		 mem_limit = lh->mem_limit;
	char		 msg[1024];
	int		 status;

	lh->req = NULL;
	lhost_limits_start(lh);
	lua_settop(L, 0);
	if (push_app_fn(L, "claim") != LUA_TFUNCTION) {
		lhost_call_done(lh);
		return 0;		/* an app without runs */
	}
	if ((status = lhost_call(lh, 0, 1)) != LUA_OK) {
		db_reset_busy(lh->db);
		log_err("app.claim: %s", why(lh));
		lhost_call_done(lh);
		return -1;
	}
	if (!lua_isinteger(L, -1)) {
		status = lua_toboolean(L, -1);	/* true: one was settled */
		lhost_call_done(lh);
		return status ? 1 : 0;
	}
	id = lua_tointeger(L, -1);
	lhost_call_done(lh);

	/* The run, with its own budgets. */
	lhost_limits_start(lh);
	lh->budget = lh->cfg->run_max_instructions / HOOK_EVERY;
	lh->mem_limit = (size_t)lh->cfg->run_memory_mb << 20;
	lua_settop(L, 0);
	push_app_fn(L, "run");
	lua_pushinteger(L, id);
	status = lhost_call(lh, 1, 0);
	if (status != LUA_OK) {
		db_reset_busy(lh->db);
		snprintf(msg, sizeof(msg), "%s", why(lh));
	}
	lhost_call_done(lh);
	lh->mem_limit = mem_limit;
	lua_gc(L, LUA_GCCOLLECT);
	if (status != LUA_OK) {
		log_err("run %lld: %s", (long long)id, msg);
		/* The first line: the reason without the traceback. */
		msg[strcspn(msg, "\n")] = '\0';
		abort_run(lh, id, msg);
	}
	return 1;
}
