/*
 * bridge.h -- what the files of the Lua bridge (lhost*.c) share, and no
 * other file sees: the state of one bridge (struct lhost), its
 * accessors, the sandbox, the req object and the helpers the host.*
 * modules are built with. The rest of the host knows the bridge only
 * through lhost.h.
 *
 * Who calls whom, one way only:
 *   lhost.c            the bridge's life and a request's way through it
 *   lhost_host.c       assembles the host table from the modules
 *   lhost_db.c, lhost_json.c, lhost_auth.c, lhost_html.c, lhost_tokens.c,
 *   lhost_reveal.c, lhost_limits.c, lhost_people.c   the host.* modules
 *   lhost_req.c        the req object a handler gets
 *   lhost_sandbox.c    the lua_State, its limits, require, pcall
 *   lhost_reload.c     the last good state kept while a newer fails
 *   lhost_scripts.c    host.scripts (the modules of a folder)
 *   lhost_openapi.c    host.openapi (the API description's text)
 *   lhost_state.c, lhost_util.c, lhost_watch.c    accessors and helpers,
 *                                      calling nothing above them
 */
#ifndef BRIDGE_H
#define BRIDGE_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "domain/domain.h"
#include "http/http.h"
#include "lhost.h"
#include "lib/lib.h"
#include "http/route.h"
#include "store/store.h"

struct lua_State;
struct stat;

#define HOOK_EVERY	1000	/* instructions between hook calls */
#define FILES_MAX	256	/* scripts watched for reload */

struct watched {
	char		*path;
	struct timespec	 mtime;
	off_t		 size;		/* -1: did not exist */
};

struct watchset {
	struct watched	 files[FILES_MAX];
	size_t		 n;
};

struct lhost {
	lua_State		*L;
	const struct config	*cfg;
	struct db		*db;
	char			*lua_dir;	/* search path, ':' separated */
	size_t			 mem_used;
	size_t			 mem_limit;
	long long		 budget;	/* hook calls left */
	int			 limited;	/* budget enforced */
	int			 aborted;	/* a limit was hit */
	int			 is_test;
	const struct req	*req;		/* during lhost_handle */
	struct buf		 traceback;	/* first one of a request */
	struct watchset		 watch;		/* what it was built from */
	int			 handle_ref;
	const unsigned char	*pepper;	/* borrowed from the worker */
	struct session		 session;	/* this request's, see state */
	int			 session_state;
	int			 secret;	/* a secret was issued */
	int			 wipe;		/* zero freed Lua memory */
	struct buf		 cookies;	/* queued Set-Cookie values,
						 * NUL-separated */
	int			 auth_ref;	/* last req.auth built */
	struct principal	 auth_for;	/* ... and what it says */
	struct route_table	 routes;	/* app.routes, compiled */
	int			 handlers_ref;	/* their handlers, by index */
	int			 tick_ref;	/* app.tick, or LUA_NOREF */
	struct rl_map		*rl;		/* the worker's, or NULL */
};

/* lhost_state.c: the bridge of a lua_State, and what it holds for the
 * request being served. */
struct lhost	*lhost_of(struct lua_State *);
void		 lhost_open_db(struct lua_State *);
void		 lhost_open_json(struct lua_State *);
void		 lhost_open_auth(struct lua_State *);
void		 lhost_open_html(struct lua_State *);
void		 lhost_html_reset(void);
void		 lhost_open_tokens(struct lua_State *);
void		 lhost_open_limits(struct lua_State *);
void		 lhost_open_reveal(struct lua_State *);
void		 lhost_open_people(struct lua_State *);
/* host.run_finished(status) (lhost_runs.c): a run ended, counted. */
int		 lhost_run_finished(struct lua_State *);
/* host.notify (lhost_notify.c). */
int		 lhost_notify(struct lua_State *);
/* The request's session (looked up once per request), or NULL. */
const struct session *lhost_session_current(struct lua_State *);
void		 lhost_push_row(struct lua_State *, struct dbq *);
/* Marks the current request as carrying a secret: the response is wiped
 * after writing and Lua memory freed from now on is zeroed. */
void		 lhost_secret_issued(struct lua_State *);
/* 1 once this request made a secret: buffers that may hold it are wiped. */
int		 lhost_secret_pending(struct lua_State *);
const unsigned char *lhost_pepper(struct lua_State *);
/* The per-request session cache: *s points at it; the returned state is
 * 0 (not looked up), 1 (none) or 2 (*s valid). */
int		*lhost_session_state(struct lua_State *, struct session **s);
/* Adds a Set-Cookie header to the current response (after the handler's
 * own headers); the value is wiped from memory after the response. */
void		 lhost_queue_cookie(struct lua_State *, const char *);
void		 lhost_push_readonly(struct lua_State *, int idx);
/* Pushes the weak-keyed registry map stored under key (made if new). */
void		 lhost_push_weakmap(struct lua_State *, const void *key);
/* The same, with reads answered by the VM (for long-lived tables). */
void		 lhost_push_frozen(struct lua_State *, int idx);
int		 lhost_push_real(struct lua_State *, int idx);
/* Metamethods shared by the read-only tables: refuse a write; next(). */
int		 lhost_ro_newindex(struct lua_State *);
/* Pushes what pairs() returns for the table at idx, without letting the
 * table itself out: an iterator closing over it, nil, nil. */
void		 lhost_push_pairs(struct lua_State *, int idx);
void		 lhost_push_null(struct lua_State *);
/* Marks the table at idx to encode as a JSON array (host.json.array). */
void		 lhost_json_mark_array(struct lua_State *, int idx);
/* Pushes the names of a scope mask as a JSON array (authority.h). */
void		 lhost_push_scopes(struct lua_State *, uint32_t);
int		 lhost_is_null(struct lua_State *, int idx);
int		 lhost_msgh(struct lua_State *);
int		 lhost_error(struct lua_State *, int status, const char *code,
		    const char *msg);
struct db	*lhost_db(struct lua_State *);
const struct config *lhost_config(struct lua_State *);
/* The request being served (raises outside one). */
const struct req *lhost_req(struct lua_State *);
/* The token acting, when the request authenticated with one, else NULL
 * (a page, the runner, a test). */
const struct principal *lhost_caller(struct lua_State *);
/* The request being served, or NULL (the runner, a test script). */
const struct req *lhost_caller_req(struct lua_State *);
/* The worker's rate-limit map, or NULL (host.limits). */
struct rl_map	*lhost_limits(struct lua_State *);

/* lhost.c: ends a call into the app (a request, a tick, a run): the
 * limits stop, a transaction left open is rolled back and logged. */
void		 lhost_call_done(struct lhost *);
/* lhost_host.c's modules, continued: host.sql (lhost_sql.c). */
void		 lhost_open_sql(struct lua_State *);

/* lhost_sandbox.c */
/* A new lua_State for lh: the counting allocator, the instruction hook,
 * the allowed libraries and the sandbox's require, pcall and print.
 * NULL when out of memory. */
struct lua_State *lhost_sandbox_new(struct lhost *);
/* Makes the globals strict; after the host table is set. */
void		 lhost_make_strict(struct lua_State *);
/* Loads path as a text chunk and pushes it, or raises. */
void		 lhost_load_file(struct lua_State *, const char *path,
		    const char *chunkname);
/* 1 when s is a module name: dotted lower-case identifiers. */
int		 lhost_valid_module(const char *s);
/* host.scripts(folder) (lhost_scripts.c; a lua_CFunction). */
int		 lhost_scripts(struct lua_State *);
/* host.openapi() (lhost_openapi.c; a lua_CFunction). */
int		 lhost_openapi(struct lua_State *);
/* require(name) from the search path (a lua_CFunction). */
int		 lhost_require(struct lua_State *);
/* Calls the function under nargs arguments with the traceback handler:
 * the lua_pcall status, results or error left on the stack. */
int		 lhost_call(struct lhost *, int nargs, int nres);
/* A call's limits: the instruction budget and the first traceback. */
void		 lhost_limits_start(struct lhost *);
void		 lhost_limits_stop(struct lhost *);

/* lhost_watch.c: the files and folders a state was built from. */
/* Adds path as it is now (st; NULL: it does not exist). */
void		 watch_add(struct watchset *, const char *path,
		    const struct stat *st);
/* Adds DIR/folder for every DIR of the ':'-separated lua_dir. */
void		 watch_folder(struct watchset *, const char *lua_dir,
		    const char *folder);
/* 1 when anything in the set changed, appeared or went. */
int		 watch_changed(const struct watchset *);
void		 watch_clear(struct watchset *);

/* lhost.c: builds a state for the app; on failure NULL with err set and,
 * when failed is not NULL, what the try read moved into *failed. */
struct lhost	*lhost_build(const struct config *, struct db *,
		    const unsigned char *pepper, char *err, size_t errlen,
		    struct watchset *failed);

/* lhost_req.c */
/* Pushes the req object of r, the request being served. */
void		 lhost_push_req(struct lua_State *, const struct req *);
/* Ends it: a req kept by a script refuses to be read from now on. */
void		 lhost_req_end(struct lua_State *);

/* lhost_host.c */
/* Builds the host table from the modules and sets the global "host". */
void		 lhost_open_host(struct lua_State *);

#endif /* BRIDGE_H */
