/*
 * lhost_scripts.c -- host.scripts(folder): the Lua modules a folder of
 * the lua_dir search path holds, as module names ("routes.api"), sorted
 * and each once (the first directory of lua_dir that has it wins, as
 * require finds it). The sandbox has no io: this is the one listing a
 * script gets, of module files on lua_dir only. The folder is watched, so
 * with reload on a new file in it makes a new state (lhost_watch.c).
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"

#define SCRIPTS_MAX	1000	/* modules one listing returns at most */

static int
namecmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file name that is a module of its own: "name.lua", name a Lua
 * identifier in lower case (what require accepts as one segment). */
static int
module_file(const char *f, size_t *baselen)
{
	size_t	 n = strlen(f), i;

	if (n < 5 || n > 64 + 4 || strcmp(f + n - 4, ".lua") != 0)
		return 0;
	n -= 4;
	for (i = 0; i < n; i++)
		if (!((f[i] >= 'a' && f[i] <= 'z') || f[i] == '_' ||
		    (i > 0 && f[i] >= '0' && f[i] <= '9')))
			return 0;
	*baselen = n;
	return 1;
}

/* Adds the modules of dir to names (n so far, dups skipped). */
static size_t
list_dir(const char *dir, char **names, size_t n)
{
	DIR		*d;
	struct dirent	*e;
	struct stat	 st;
	char		 path[PATH_MAX], base[80];
	size_t		 len, i;

	if ((d = opendir(dir)) == NULL)
		return n;
	while (n < SCRIPTS_MAX && (e = readdir(d)) != NULL) {
		if (!module_file(e->d_name, &len))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >=
		    (int)sizeof(path) || stat(path, &st) == -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		memcpy(base, e->d_name, len);
		base[len] = '\0';
		for (i = 0; i < n && strcmp(names[i], base) != 0; i++)
			;
		if (i == n && (names[n] = strdup(base)) != NULL)
			n++;
	}
	closedir(d);
	return n;
}

int
lhost_scripts(lua_State *L)
{
	struct lhost	*lh = lhost_of(L);
	const char	*folder = luaL_checkstring(L, 1);
	char		 rel[128], dir[PATH_MAX], *dirs, *d, *save;
	char		**names;
	size_t		 i, n = 0;

	if (!lhost_valid_module(folder) || strlen(folder) >= sizeof(rel))
		return luaL_error(L, "host.scripts: invalid folder name '%s' "
		    "(a module name, such as \"routes\")", folder);
	snprintf(rel, sizeof(rel), "%s", folder);
	for (i = 0; rel[i]; i++)
		if (rel[i] == '.')
			rel[i] = '/';
	if ((names = calloc(SCRIPTS_MAX, sizeof(*names))) == NULL ||
	    (dirs = strdup(lh->lua_dir)) == NULL) {
		free(names);
		return luaL_error(L, "out of memory");
	}
	for (d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
		if (snprintf(dir, sizeof(dir), "%s/%s", d, rel) <
		    (int)sizeof(dir))
			n = list_dir(dir, names, n);
	free(dirs);
	watch_folder(&lh->watch, lh->lua_dir, rel);
	qsort(names, n, sizeof(*names), namecmp);
	lua_createtable(L, (int)n, 0);
	for (i = 0; i < n; i++) {
		lua_pushfstring(L, "%s.%s", folder, names[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return 1;
}
