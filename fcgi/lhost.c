/*
 * lhost.c -- the Lua bridge: one sandboxed lua_State per worker.
 *
 * The sandbox opens base, string, table, math and utf8 only; load,
 * loadfile, dofile, collectgarbage, rawset and string.dump are removed;
 * require loads text chunks from lua_dir only; globals are strict (reading
 * or writing an undeclared global is an error). Every allocation is
 * counted against lua_memory_mb and every request gets an instruction
 * budget enforced by a count hook. Errors caused by those limits cannot be
 * swallowed by pcall inside a script: the sandbox's pcall re-raises them.
 *
 * All calls into Lua go through lhost_call(), which installs a message
 * handler that records a traceback. A failing request is logged with its
 * traceback and answered 500 (503 for an unavailable database) while the
 * worker lives on.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "authority.h"
#include "route.h"
#include "tessera.h"

#define HOOK_EVERY	1000	/* instructions between hook calls */
#define FILES_MAX	256	/* scripts watched for reload */

struct watched {
	char		*path;
	struct timespec	 mtime;
	off_t		 size;
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
	struct watched		 files[FILES_MAX];
	size_t			 nfiles;
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

struct lhost *
lhost_of(lua_State *L)
{
	return *(struct lhost **)lua_getextraspace(L);
}

struct db *
lhost_db(lua_State *L)
{
	return lhost_of(L)->db;
}

const unsigned char *
lhost_pepper(lua_State *L)
{
	return lhost_of(L)->pepper;
}

int *
lhost_session_state(lua_State *L, struct session **s)
{
	struct lhost	*lh = lhost_of(L);

	*s = &lh->session;
	return &lh->session_state;
}

void
lhost_secret_issued(lua_State *L)
{
	struct lhost	*lh = lhost_of(L);

	lh->secret = 1;
	lh->wipe = 1;
}

int
lhost_secret_pending(lua_State *L)
{
	return lhost_of(L)->secret;
}

void
lhost_queue_cookie(lua_State *L, const char *v)
{
	struct lhost	*lh = lhost_of(L);

	buf_add(&lh->cookies, v, strlen(v) + 1);
}

const struct config *
lhost_config(lua_State *L)
{
	return lhost_of(L)->cfg;
}

const struct req *
lhost_req(lua_State *L)
{
	struct lhost	*lh = lhost_of(L);

	if (lh->req == NULL)
		luaL_error(L, "no request: this works only while a request "
		    "is served");
	return lh->req;
}

const struct principal *
lhost_caller(lua_State *L)
{
	struct lhost	*lh = lhost_of(L);

	return lh->req != NULL && lh->req->authed ? &lh->req->auth : NULL;
}

/* The allocator: counts bytes and refuses to pass mem_limit. Blocks come
 * from the small-block pool (pool.c); Lua always says a block's size. */
static void *
l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct lhost	*lh = ud;
	void		*p;

	if (ptr == NULL)
		osize = 0;
	if (nsize == 0) {
		if (lh->wipe && ptr)
			sodium_memzero(ptr, osize);
		pool_free(ptr, osize);
		lh->mem_used -= osize;
		return NULL;
	}
	if (nsize > osize && lh->mem_used + (nsize - osize) > lh->mem_limit)
		return NULL;
	if (lh->wipe && ptr) {
		/* a resize would release the old block unwiped */
		if ((p = pool_alloc(nsize)) == NULL)
			return NULL;
		memcpy(p, ptr, osize < nsize ? osize : nsize);
		sodium_memzero(ptr, osize);
		pool_free(ptr, osize);
	} else if ((p = pool_realloc(ptr, osize, nsize)) == NULL)
		return NULL;
	lh->mem_used = lh->mem_used - osize + nsize;
	return p;
}

/* The count hook: spends the budget; once it is gone, every further hook
 * call raises again, so no loop in the script can outlive it. */
static void
l_hook(lua_State *L, lua_Debug *ar)
{
	struct lhost	*lh = lhost_of(L);

	(void)ar;
	if (!lh->limited)
		return;
	if (lh->aborted || --lh->budget <= 0) {
		lh->aborted = 1;
		luaL_error(L, "instruction limit exceeded");
	}
}

/* Message handler: keeps the first traceback of the request, returns the
 * error value unchanged so scripts that catch errors see what they
 * threw. */
int
lhost_msgh(lua_State *L)
{
	struct lhost	*lh = lhost_of(L);
	const char	*msg;

	if (lh->traceback.len == 0) {
		msg = lua_tostring(L, 1);
		if (msg == NULL && lua_istable(L, 1)) {
			lua_getfield(L, 1, "message");
			msg = lua_tostring(L, -1);
			lua_pop(L, 1);
		}
		luaL_traceback(L, L, msg ? msg : "(error object)", 1);
		buf_adds(&lh->traceback, lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	return 1;
}

/* The sandbox's pcall: like the base one, but errors raised by the limits
 * (memory, instructions) are re-raised, never returned. */
static int
sb_pcall(lua_State *L)
{
	struct lhost	*lh = lhost_of(L);
	int		 status;

	luaL_checkany(L, 1);
	lua_pushboolean(L, 1);
	lua_insert(L, 1);
	status = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
	if (status != LUA_OK) {
		if (lh->aborted || status == LUA_ERRMEM)
			return lua_error(L);
		buf_reset(&lh->traceback);	/* handled by the script */
		lua_pushboolean(L, 0);
		lua_insert(L, -2);
		return 2;
	}
	return lua_gettop(L);
}

static int
sb_xpcall(lua_State *L)
{
	struct lhost	*lh = lhost_of(L);
	int		 n = lua_gettop(L), status;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_pushboolean(L, 1);
	lua_pushvalue(L, 1);
	lua_rotate(L, 3, 2);
	status = lua_pcall(L, n - 2, LUA_MULTRET, 2);
	if (status != LUA_OK) {
		if (lh->aborted || status == LUA_ERRMEM)
			return lua_error(L);
		buf_reset(&lh->traceback);	/* handled by the script */
		lua_pushboolean(L, 0);
		lua_replace(L, -3);
		return 2;
	}
	return lua_gettop(L) - 2;
}

/* print: to the log in the app, to stdout in a test script. */
static int
sb_print(lua_State *L)
{
	struct lhost	*lh = lhost_of(L);
	struct buf	 b = { 0 };
	int		 i, n = lua_gettop(L);

	for (i = 1; i <= n; i++) {
		if (i > 1)
			buf_addc(&b, '\t');
		buf_adds(&b, luaL_tolstring(L, i, NULL));
		lua_pop(L, 1);
	}
	if (lh->is_test) {
		fputs(b.p ? b.p : "", stdout);
		fputc('\n', stdout);
		fflush(stdout);
	} else
		log_info("lua: %s", b.p ? b.p : "");
	buf_free(&b);
	return 0;
}

static int
strict_index(lua_State *L)
{
	return luaL_error(L, "undeclared global '%s'",
	    luaL_tolstring(L, 2, NULL));
}

static int
strict_newindex(lua_State *L)
{
	return luaL_error(L, "assignment to undeclared global '%s' "
	    "(use local)", luaL_tolstring(L, 2, NULL));
}

/* Module names: dotted lower-case identifiers ("routes.health"). */
static int
valid_module(const char *s)
{
	int	 start = 1;

	if (*s == '\0' || strlen(s) > 128)
		return 0;
	for (; *s; s++) {
		if (*s == '.') {
			if (start)
				return 0;
			start = 1;
		} else if ((*s >= 'a' && *s <= 'z') || *s == '_' ||
		    (!start && *s >= '0' && *s <= '9')) {
			start = 0;
		} else
			return 0;
	}
	return !start;
}

/* Remembers path's mtime and size so lhost_stale() can notice edits. */
static void
watch(struct lhost *lh, const char *path, const struct stat *st)
{
	size_t	 i;

	for (i = 0; i < lh->nfiles; i++)
		if (strcmp(lh->files[i].path, path) == 0)
			return;
	if (lh->nfiles == FILES_MAX ||
	    (lh->files[lh->nfiles].path = strdup(path)) == NULL)
		return;
	lh->files[lh->nfiles].mtime = st->st_mtim;
	lh->files[lh->nfiles].size = st->st_size;
	lh->nfiles++;
}

/* Loads path as a text chunk (never bytecode) and pushes the function, or
 * raises. */
static void
load_file(lua_State *L, const char *path, const char *chunkname)
{
	struct lhost	*lh = lhost_of(L);
	FILE		*f;
	struct stat	 st;
	struct buf	 b = { 0 };
	char		 tmp[8192];
	size_t		 n;
	int		 rc;

	if ((f = fopen(path, "r")) == NULL)
		luaL_error(L, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) == 0)
		watch(lh, path, &st);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		if (buf_add(&b, tmp, n) == -1)
			break;
	fclose(f);
	rc = luaL_loadbufferx(L, b.p ? b.p : "", b.len, chunkname, "t");
	buf_free(&b);
	if (rc != LUA_OK)
		lua_error(L);
}

/* require(name): from the lua_dir search path only, cached per state. */
static int
sb_require(lua_State *L)
{
	struct lhost	*lh = lhost_of(L);
	const char	*name = luaL_checkstring(L, 1);
	char		 path[PATH_MAX], rel[256], chunk[300], *dirs, *d, *save;
	struct stat	 st;
	size_t		 i;
	int		 found = 0;

	lua_getfield(L, LUA_REGISTRYINDEX, "tessera.loaded");
	if (lua_getfield(L, -1, name) != LUA_TNIL)
		return 1;
	lua_pop(L, 1);
	if (!valid_module(name))
		return luaL_error(L, "invalid module name '%s'", name);
	snprintf(rel, sizeof(rel), "%s", name);
	for (i = 0; rel[i]; i++)
		if (rel[i] == '.')
			rel[i] = '/';
	if ((dirs = strdup(lh->lua_dir)) == NULL)
		return luaL_error(L, "out of memory");
	for (d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(path, sizeof(path), "%s/%s.lua", d, rel);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			found = 1;
			break;
		}
	}
	free(dirs);
	if (!found)
		return luaL_error(L, "module '%s' not found in %s", name,
		    lh->lua_dir);
	snprintf(chunk, sizeof(chunk), "@%s.lua", rel);
	load_file(L, path, chunk);
	lua_pushstring(L, name);
	lua_call(L, 1, 1);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, name);
	return 1;
}

/* Opens the allowed libraries and trims the base library. */
static void
open_sandbox(lua_State *L)
{
	static const char *const removed[] = {
		"dofile", "loadfile", "load", "collectgarbage", "rawset",
		"require", "print", "pcall", "xpcall",
	};
	static const luaL_Reg sandbox_fns[] = {
		{ "pcall",	sb_pcall },
		{ "print",	sb_print },
		{ "require",	sb_require },
		{ "xpcall",	sb_xpcall },
		{ NULL,		NULL },
	};
	size_t	 i;

	luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
	luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
	luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
	luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
	luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
	lua_pop(L, 5);
	lua_pushglobaltable(L);
	for (i = 0; i < sizeof(removed) / sizeof(removed[0]); i++) {
		lua_pushnil(L);
		lua_setfield(L, -2, removed[i]);
	}
	luaL_setfuncs(L, sandbox_fns, 0);
	lua_getfield(L, -1, "string");
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	lua_pop(L, 1);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, "tessera.loaded");
	lua_pop(L, 1);
}

/* Makes the global table strict; called after host is installed. */
static void
make_strict(lua_State *L)
{
	lua_pushglobaltable(L);
	lua_newtable(L);
	lua_pushcfunction(L, strict_index);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, strict_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushliteral(L, "strict globals");
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_pop(L, 1);
}

/* Runs fn (on the stack with nargs arguments above it) with the traceback
 * handler. Returns the lua_pcall status; results or the error stay on the
 * stack. */
static int
lhost_call(struct lhost *lh, int nargs, int nres)
{
	lua_State	*L = lh->L;
	int		 base = lua_gettop(L) - nargs, status;

	lua_pushcfunction(L, lhost_msgh);
	lua_insert(L, base);
	status = lua_pcall(L, nargs, nres, base);
	lua_remove(L, base);
	return status;
}

/* Starts a request's limits. */
static void
limits_start(struct lhost *lh)
{
	lh->aborted = 0;
	lh->budget = lh->cfg->lua_max_instructions / HOOK_EVERY;
	if (lh->budget < 1)
		lh->budget = 1;
	lh->limited = !lh->is_test;
	buf_reset(&lh->traceback);
}

static void
limits_stop(struct lhost *lh)
{
	lh->limited = 0;
	lh->aborted = 0;
}

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

struct rl_map *
lhost_limits(lua_State *L)
{
	return lhost_of(L)->rl;
}

/* Builds the lhost; on success app.lua is loaded and its handle function
 * kept in the registry. */
static struct lhost *
lhost_create(const struct config *cfg, struct db *db,
    const unsigned char *pepper, const char *lua_dir, int is_test, char *err,
    size_t errlen)
{
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
	    (L = lua_newstate(l_alloc, lh)) == NULL) {
		snprintf(err, errlen, "cannot create Lua state");
		free(lh->lua_dir);
		free(lh);
		return NULL;
	}
	lh->L = L;
	*(struct lhost **)lua_getextraspace(L) = lh;
	lua_sethook(L, l_hook, LUA_MASKCOUNT, HOOK_EVERY);
	/* Most of what a request allocates dies with it. */
	lua_gc(L, LUA_GCGEN, 0, 0);
	limits_start(lh);
	open_sandbox(L);
	lhost_open_util(L);	/* sets the global "host" */
	make_strict(L);
	if (is_test) {
		limits_stop(lh);
		return lh;
	}
	lua_pushcfunction(L, sb_require);
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
			limits_stop(lh);
			lhost_free(lh);
			return NULL;
		}
		lua_pop(L, 1);
	} else {
		snprintf(err, errlen, "loading app.lua: %s",
		    lh->traceback.len ? lh->traceback.p :
		    status == LUA_OK ? "it must return a table with a handle "
		    "function" : lua_tostring(L, -1));
		limits_stop(lh);
		lhost_free(lh);
		return NULL;
	}
	limits_stop(lh);
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT);
	return lh;
}

struct lhost *
lhost_new(const struct config *cfg, struct db *db,
    const unsigned char *pepper, char *err, size_t errlen)
{
	return lhost_create(cfg, db, pepper, cfg->lua_dir, 0, err, errlen);
}

int
lhost_stale(struct lhost *lh)
{
	struct stat	 st;
	size_t		 i;

	if (!lh->cfg->reload)
		return 0;
	for (i = 0; i < lh->nfiles; i++) {
		if (stat(lh->files[i].path, &st) == -1 ||
		    st.st_size != lh->files[i].size ||
		    st.st_mtim.tv_sec != lh->files[i].mtime.tv_sec ||
		    st.st_mtim.tv_nsec != lh->files[i].mtime.tv_nsec)
			return 1;
	}
	return 0;
}

/* Adds name = s to the table on top, when s is not NULL. */
static void
set_str(lua_State *L, const char *name, const char *s)
{
	if (s == NULL)
		return;
	lua_pushstring(L, s);
	lua_setfield(L, -2, name);
}

/* Credentials never reach a script: the host's own cookies, and query or
 * form fields named like one (the password, ?token=, the CSRF field),
 * which C reads itself. */
static int
kv_hidden(const struct kv *kv, int cookies)
{
	return cookies ? session_is_host_cookie(kv->key) :
	    credential_name(kv->key, strlen(kv->key));
}

/* Pushes a read-only map of first values, and a read-only list of
 * {name, value} pairs in order (for repeated keys). Without the list
 * (cookies), the host's own cookies are left out. */

static void
push_kv(lua_State *L, const struct kvlist *l, int with_list)
{
	size_t	 i;
	int	 n;

	lua_createtable(L, 0, (int)l->n);
	for (i = l->n; i > 0; i--) {	/* backwards: first value wins */
		if (kv_hidden(&l->v[i - 1], !with_list))
			continue;
		lua_pushlstring(L, l->v[i - 1].val, l->v[i - 1].vlen);
		lua_setfield(L, -2, l->v[i - 1].key);
	}
	lhost_push_readonly(L, -1);
	lua_remove(L, -2);
	if (!with_list)
		return;
	lua_createtable(L, (int)l->n, 0);
	for (i = 0, n = 0; i < l->n; i++) {
		if (kv_hidden(&l->v[i], 0))
			continue;
		lua_createtable(L, 2, 0);
		lua_pushstring(L, l->v[i].key);
		lua_rawseti(L, -2, 1);
		lua_pushlstring(L, l->v[i].val, l->v[i].vlen);
		lua_rawseti(L, -2, 2);
		lhost_push_readonly(L, -1);
		lua_remove(L, -2);
		lua_rawseti(L, -2, ++n);
	}
	lhost_push_readonly(L, -1);
	lua_remove(L, -2);
}

/* 1 when two principals show Lua the same req.auth. */
static int
same_auth(const struct principal *a, const struct principal *b)
{
	return a->token_id == b->token_id && a->user_id == b->user_id &&
	    a->account_id == b->account_id && a->first_use == b->first_use &&
	    a->scopes == b->scopes && a->expires_at == b->expires_at &&
	    a->parent_id == b->parent_id &&
	    strcmp(a->allowed_ips, b->allowed_ips) == 0 &&
	    strcmp(a->key, b->key) == 0 && strcmp(a->kind, b->kind) == 0 &&
	    strcmp(a->description, b->description) == 0 &&
	    strcmp(a->email, b->email) == 0 && strcmp(a->role, b->role) == 0 &&
	    strcmp(a->account_name, b->account_name) == 0;
}

/* Pushes req.auth for API and webhook requests: who the token acts as.
 * The tables are read-only, so the last one built is kept and handed out
 * again while the next request's principal says exactly the same (a
 * program calling with one token, the common case): eight tables and
 * seventeen fields less per request. */
static void
push_auth(lua_State *L, const struct principal *p)
{
	struct lhost	*lh = lhost_of(L);

	if (lh->auth_ref != LUA_NOREF && same_auth(&lh->auth_for, p)) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, lh->auth_ref);
		return;
	}
	lua_createtable(L, 0, 4);
	lua_createtable(L, 0, 6);
	lua_pushinteger(L, p->token_id);
	lua_setfield(L, -2, "id");
	set_str(L, "key", p->key);
	set_str(L, "kind", p->kind);
	set_str(L, "description", p->description);
	lhost_push_scopes(L, p->scopes);
	lhost_push_frozen(L, -1);
	lua_remove(L, -2);
	lua_setfield(L, -2, "scopes");
	if (p->expires_at > 0) {
		lua_pushinteger(L, p->expires_at);
		lua_setfield(L, -2, "expires_at");
	}
	lhost_push_frozen(L, -1);
	lua_remove(L, -2);
	lua_setfield(L, -2, "token");
	lua_createtable(L, 0, 4);
	lua_pushinteger(L, p->user_id);
	lua_setfield(L, -2, "id");
	set_str(L, "email", p->email);
	set_str(L, "role", p->role);
	lua_pushinteger(L, p->account_id);
	lua_setfield(L, -2, "account_id");
	lhost_push_frozen(L, -1);
	lua_remove(L, -2);
	lua_setfield(L, -2, "user");
	lua_createtable(L, 0, 2);
	lua_pushinteger(L, p->account_id);
	lua_setfield(L, -2, "id");
	set_str(L, "name", p->account_name);
	lhost_push_frozen(L, -1);
	lua_remove(L, -2);
	lua_setfield(L, -2, "account");
	lua_pushboolean(L, p->first_use);
	lua_setfield(L, -2, "first_use");
	lhost_push_frozen(L, -1);
	lua_remove(L, -2);
	lua_pushvalue(L, -1);
	if (lh->auth_ref == LUA_NOREF)
		lh->auth_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	else
		lua_rawseti(L, LUA_REGISTRYINDEX, lh->auth_ref);
	lh->auth_for = *p;
}

/*
 * The read-only req table is built lazily: a proxy whose fields are made
 * on first use (a handler that never looks at cookies pays nothing for
 * them) and cached for the rest of the request. Only validated input is
 * there; never a credential: not the Authorization header, the host's
 * own cookies, nor a token=, password=, csrf=, secret= or session= field
 * (kv_hidden; req.body is "" for a form that holds one).
 */
static char	req_map_key;	/* weak map: live req proxy -> its cache */
static char	req_live_key;	/* registry slot: this request's proxy */

static const char *const req_fields[] = {
	"auth", "body", "content_type", "cookies", "form", "form_list",
	"headers", "method", "path", "query", "query_list", "query_string",
	"remote_addr", "scheme", "token_path", "wants_json", NULL,
};

/* Pushes the query string without its credential pairs (kv_hidden). */
static void
push_query_string(lua_State *L, const char *qs)
{
	struct buf	 b = { .wipe = 1 };
	const char	*p, *amp, *eq;
	size_t		 n;

	if (qs == NULL) {
		lua_pushnil(L);
		return;
	}
	for (p = qs; *p; p = *amp ? amp + 1 : amp) {
		if ((amp = strchr(p, '&')) == NULL)
			amp = p + strlen(p);
		n = (size_t)(amp - p);
		eq = memchr(p, '=', n);
		if (credential_field(p, eq ? (size_t)(eq - p) : n))
			continue;
		if (b.len)
			buf_addc(&b, '&');
		buf_add(&b, p, n);
	}
	lua_pushlstring(L, b.p ? b.p : "", b.len);
	buf_wipe(&b);
}

/* Whether a form body holds a credential field: then the script gets it
 * only parsed, without that field (req.form), and req.body is "". */
static int
form_has_credential(const struct req *r)
{
	size_t	 i;

	for (i = 0; i < r->form.n; i++)
		if (kv_hidden(&r->form.v[i], 0))
			return 1;
	return 0;
}

/* Pushes field k of r (nil when absent or unknown); pairs of fields that
 * come together (query and query_list) are both stored in cache. */
static void
req_build(lua_State *L, const struct req *r, const char *k, int cache)
{
	if (strcmp(k, "method") == 0)
		lua_pushstring(L, r->method);
	else if (strcmp(k, "path") == 0)
		lua_pushstring(L, r->path);
	else if (strcmp(k, "query_string") == 0)
		push_query_string(L, r->query_string);
	else if (strcmp(k, "content_type") == 0 && r->content_type)
		lua_pushstring(L, r->content_type);
	else if (strcmp(k, "remote_addr") == 0)
		lua_pushstring(L, r->remote_addr);
	else if (strcmp(k, "scheme") == 0)
		lua_pushstring(L, r->scheme);
	else if (strcmp(k, "token_path") == 0)
		lua_pushboolean(L, r->path_kind != 0);
	else if (strcmp(k, "wants_json") == 0)
		lua_pushboolean(L, r->wants_json);
	else if (strcmp(k, "body") == 0 && form_has_credential(r))
		lua_pushliteral(L, "");
	else if (strcmp(k, "body") == 0)
		lua_pushlstring(L, r->body.p ? r->body.p : "", r->body.len);
	else if (strcmp(k, "query") == 0 || strcmp(k, "query_list") == 0 ||
	    strcmp(k, "form") == 0 || strcmp(k, "form_list") == 0) {
		int form = k[0] == 'f';

		push_kv(L, form ? &r->form : &r->query, 1);
		lua_setfield(L, cache, form ? "form_list" : "query_list");
		lua_setfield(L, cache, form ? "form" : "query");
		lua_getfield(L, cache, k);
		return;
	} else if (strcmp(k, "cookies") == 0)
		push_kv(L, &r->cookies, 0);
	else if (strcmp(k, "headers") == 0) {
		lua_createtable(L, 0, 6);
		set_str(L, "host", r->host);
		set_str(L, "origin", r->origin);
		set_str(L, "referer", r->referer);
		set_str(L, "accept", r->accept);
		set_str(L, "user_agent", r->user_agent);
		set_str(L, "x_csrf_token", r->csrf_header);
		lhost_push_readonly(L, -1);
		lua_remove(L, -2);
	} else if (strcmp(k, "auth") == 0 && r->authed)
		push_auth(L, &r->auth);
	else {
		lua_pushnil(L);
		return;
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, cache, k);
}

/* Pushes the cache of the req proxy at 1 and returns its request; an
 * error if the proxy outlived its request (lhost_handle drops the cache
 * when the request ends). */
static const struct req *
req_cache(lua_State *L)
{
	struct lhost	*lh = lhost_of(L);

	lhost_push_weakmap(L, &req_map_key);
	lua_pushvalue(L, 1);
	lua_rawget(L, -2);
	lua_remove(L, -2);
	if (lh->req == NULL || lua_type(L, -1) != LUA_TTABLE)
		luaL_error(L, "req used after its request ended");
	return lh->req;
}

static int
req_index(lua_State *L)
{
	const struct req *r = req_cache(L);		/* 3: cache */

	lua_pushvalue(L, 2);
	if (lua_rawget(L, 3) != LUA_TNIL || lua_type(L, 2) != LUA_TSTRING)
		return 1;
	lua_pop(L, 1);
	req_build(L, r, lua_tostring(L, 2), 3);
	return 1;
}

/* pairs(req): every field, built now. */
static int
req_pairs(lua_State *L)
{
	const struct req *r;
	size_t		 i;

	lua_settop(L, 1);
	r = req_cache(L);				/* 2: cache */
	for (i = 0; req_fields[i]; i++) {
		if (lua_getfield(L, 2, req_fields[i]) == LUA_TNIL) {
			lua_pop(L, 1);
			req_build(L, r, req_fields[i], 2);
		}
		lua_pop(L, 1);
	}
	lhost_push_pairs(L, 2);
	return 3;
}

/* Pushes the req proxy for the current request (lh->req, read lazily). */
static void
push_req(lua_State *L)
{
	static const luaL_Reg mm[] = {
		{ "__index",	req_index },
		{ "__newindex",	lhost_ro_newindex },
		{ "__pairs",	req_pairs },
		{ NULL,		NULL },
	};

	lua_createtable(L, 0, 0);			/* the proxy */
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &req_live_key);
	lhost_push_weakmap(L, &req_map_key);
	lua_pushvalue(L, -2);
	lua_createtable(L, 0, 8);			/* its cache */
	lua_rawset(L, -3);
	lua_pop(L, 1);
	if (luaL_newmetatable(L, "tessera.req")) {
		luaL_setfuncs(L, mm, 0);
		lua_pushliteral(L, "read-only");
		lua_setfield(L, -2, "__metatable");
	}
	lua_setmetatable(L, -2);
}

/* Ends this request's req: its cache goes, so a script that kept the
 * proxy gets an error from it later, never another request's data. */
static void
req_end(lua_State *L)
{
	lhost_push_weakmap(L, &req_map_key);
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &req_live_key) == LUA_TTABLE) {
		lua_pushnil(L);
		lua_rawset(L, -3);
	} else
		lua_pop(L, 1);
	lua_pop(L, 1);
	lua_pushnil(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &req_live_key);
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
static void
call_done(struct lhost *lh)
{
	limits_stop(lh);
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

	lh->req = r;
	lhost_html_reset();
	lh->session_state = 0;
	buf_reset(&lh->cookies);
	limits_start(lh);
	lua_settop(L, 0);
	lua_rawgeti(L, LUA_REGISTRYINDEX, lh->handle_ref);
	push_req(L);
	push_route(lh, m);
	status = lhost_call(lh, 4, 1);
	req_end(L);
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
		pool_trim();
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
	call_done(lh);
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
	limits_start(lh);
	lua_settop(L, 0);
	lua_rawgeti(L, LUA_REGISTRYINDEX, lh->tick_ref);
	status = lhost_call(lh, 0, 0);
	if (status != LUA_OK) {
		db_reset_busy(lh->db);
		log_err("app.tick: %s", lh->traceback.len ? lh->traceback.p :
		    lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
	}
	call_done(lh);
	lua_gc(L, LUA_GCCOLLECT);
	return status == LUA_OK ? 0 : -1;
}

void
lhost_free(struct lhost *lh)
{
	size_t	 i;

	if (lh == NULL)
		return;
	if (lh->L)
		lua_close(lh->L);
	route_free(&lh->routes);
	for (i = 0; i < lh->nfiles; i++)
		free(lh->files[i].path);
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
	return lhost_create(cfg, db, pepper, lua_dir, 1, err, errlen);
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
	load_file(L, file, "@test");
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
