/*
 * lhost.h -- the Lua bridge as the rest of the host sees it: a sandboxed
 * lua_State per worker that loads the app, serves a request, runs the
 * runner's tick and other scripts. Its insides are bridge.h's.
 */
#ifndef LHOST_H
#define LHOST_H

#include "domain/domain.h"
#include "http/http.h"
#include "lib/lib.h"
#include "store/store.h"

/* ---------------------------------------------------------------- lhost */

struct lhost;
struct luaL_Reg;
struct lua_State;

/* Creates a sandboxed Lua state for one worker and loads app.lua. The db
 * and config are borrowed and must outlive the lhost. NULL on failure
 * with err set. */
struct lhost	*lhost_new(const struct config *, struct db *,
		    const unsigned char *pepper, char *err, size_t errlen);
/* True when reload is on and a loaded script changed on disk (or a file
 * appeared in a watched folder). */
int		 lhost_stale(struct lhost *);

/* A process's current state and, after a failed reload, what that try
 * read (lhost_reload.c). Zeroed to start. */
struct watchset;
struct lhost_slot {
	struct lhost	*lh;		/* the last good state, or NULL */
	struct watchset	*failed;	/* the failed try's files, or NULL */
};
/* Makes s->lh current: built first when it is missing or stale, and
 * swapped in only when the new one loads (then given rl); a failure is
 * logged (who prefixes the line, e.g. "runner: ") once per change while
 * the old state is kept. Returns s->lh: NULL when nothing loads. */
struct lhost	*lhost_refresh(struct lhost_slot *, const struct config *,
		    struct db *, const unsigned char *pepper, struct rl_map *,
		    const char *who);
/* Drops the failed try's record (the state stays). */
void		 lhost_slot_forget(struct lhost_slot *);
void		 lhost_slot_free(struct lhost_slot *);
/* Runs the app for req, whose route is m (route.h), and fills resp. Any
 * Lua failure becomes a logged traceback and a 500 (503 for an
 * unavailable database). */
void		 lhost_handle(struct lhost *, const struct req *,
		    const struct route_match *, struct resp *);
struct route_table;
/* The routes app.lua declared, compiled when the scripts loaded. */
const struct route_table *lhost_routes(const struct lhost *);
/* Hands the lhost the worker's rate-limit map (NULL: none) for
 * host.limits. */
void		 lhost_set_limits(struct lhost *, struct rl_map *);
/* Runs app.tick() (the runner's periodic work: expiry hooks) inside the
 * sandbox's limits. 0, or -1 when it failed (logged). */
int		 lhost_tick(struct lhost *);
/* Does one queued run, if the claim finds one (lhost_runs.c): app.claim()
 * under the usual limits, app.run(id) under the run's own
 * (run_max_instructions, run_memory_mb), and app.abort(id, why) when
 * those stop it. 1: a run was done (look again), 0: none, -1: failed
 * (logged). */
int		 lhost_work(struct lhost *);
void		 lhost_free(struct lhost *);
/* A state for a script that is not the app: the same sandbox and host
 * table, no app.lua, no instruction budget (tessera lua-test). */
struct lhost	*lhost_new_script(const struct config *, struct db *,
		    const unsigned char *pepper, const char *lua_dir,
		    char *err, size_t errlen);
/* Runs the script file in it, with a module modname (funcs, each with ud
 * as its upvalue) that require gives; *result is the integer the script
 * returns (0 for none). -1 with err (its traceback) when it raised. */
int		 lhost_run_script(struct lhost *, const char *file,
		    const char *modname, const struct luaL_Reg *funcs,
		    void *ud, int *result, char *err, size_t errlen);

#endif /* LHOST_H */
