/*
 * lhost_sandbox.c -- the lua_State a bridge runs: base, string, table,
 * math and utf8 only; load, loadfile, dofile, collectgarbage, rawset and
 * string.dump removed; require loads text chunks from lua_dir only;
 * globals strict (reading or writing an undeclared one is an error).
 * Every allocation is counted against lua_memory_mb and every call gets
 * an instruction budget enforced by a count hook. Errors caused by those
 * limits cannot be swallowed by pcall inside a script: the sandbox's
 * pcall re-raises them. Every call into Lua goes through lhost_call(),
 * whose message handler records a traceback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "bridge.h"

/* The allocator: counts bytes (Lua always says a block's size) and
 * refuses to pass mem_limit; malloc's blocks (a cache of small blocks in
 * front of it did not pay: bench/results.md, step 10). */
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
		free(ptr);
		lh->mem_used -= osize;
		return NULL;
	}
	if (nsize > osize && lh->mem_used + (nsize - osize) > lh->mem_limit)
		return NULL;
	if (lh->wipe && ptr) {
		/* a resize would release the old block unwiped */
		if ((p = malloc(nsize)) == NULL)
			return NULL;
		memcpy(p, ptr, osize < nsize ? osize : nsize);
		sodium_memzero(ptr, osize);
		free(ptr);
	} else if ((p = realloc(ptr, nsize)) == NULL)
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
int
lhost_valid_module(const char *s)
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

/* Never bytecode. */
void
lhost_load_file(lua_State *L, const char *path, const char *chunkname)
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
		watch_add(&lh->watch, path, &st);
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
int
lhost_require(lua_State *L)
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
	if (!lhost_valid_module(name))
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
		/* Watched while missing: with reload on, the file appearing
		 * rebuilds a state that failed (or ran without it). */
		watch_add(&lh->watch, path, NULL);
	}
	free(dirs);
	if (!found)
		return luaL_error(L, "module '%s' not found in %s", name,
		    lh->lua_dir);
	snprintf(chunk, sizeof(chunk), "@%s.lua", rel);
	lhost_load_file(L, path, chunk);
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
		{ "require",	lhost_require },
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

void
lhost_make_strict(lua_State *L)
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

int
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

void
lhost_limits_start(struct lhost *lh)
{
	lh->aborted = 0;
	lh->budget = lh->cfg->lua_max_instructions / HOOK_EVERY;
	if (lh->budget < 1)
		lh->budget = 1;
	lh->limited = !lh->is_test;
	buf_reset(&lh->traceback);
}

void
lhost_limits_stop(struct lhost *lh)
{
	lh->limited = 0;
	lh->aborted = 0;
}

lua_State *
lhost_sandbox_new(struct lhost *lh)
{
	lua_State	*L;

	if ((L = lua_newstate(l_alloc, lh)) == NULL)
		return NULL;
	*(struct lhost **)lua_getextraspace(L) = lh;
	lua_sethook(L, l_hook, LUA_MASKCOUNT, HOOK_EVERY);
	/* Most of what a request allocates dies with it. */
	lua_gc(L, LUA_GCGEN, 0, 0);
	open_sandbox(L);
	return L;
}
