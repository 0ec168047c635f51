/*
 * lhost_watch.c -- what a Lua state was built from: the scripts it read
 * and the folders whose new files it must notice (lua/routes/,
 * lua/pipelines/, lua/transforms/ and any folder host.scripts listed),
 * each by its mtime and size. With reload on, lhost_stale() asks whether
 * any of them changed; a failed rebuild keeps its own set, so that it is
 * tried again only once something it read changes (lhost_reload.c).
 *
 * A folder that did not exist is watched too (as missing): creating it
 * counts as a change.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lua.h>

#include "bridge.h"

#define MISSING	((off_t)-1)

void
watch_add(struct watchset *ws, const char *path, const struct stat *st)
{
	size_t	 i;

	for (i = 0; i < ws->n; i++)
		if (strcmp(ws->files[i].path, path) == 0)
			return;
	if (ws->n == FILES_MAX ||
	    (ws->files[ws->n].path = strdup(path)) == NULL)
		return;
	if (st) {
		ws->files[ws->n].mtime = st->st_mtim;
		ws->files[ws->n].size = st->st_size;
	} else {
		memset(&ws->files[ws->n].mtime, 0, sizeof(struct timespec));
		ws->files[ws->n].size = MISSING;
	}
	ws->n++;
}

void
watch_folder(struct watchset *ws, const char *lua_dir, const char *folder)
{
	char		 path[PATH_MAX], *dirs, *d, *save;
	struct stat	 st;

	if ((dirs = strdup(lua_dir)) == NULL)
		return;
	for (d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (snprintf(path, sizeof(path), "%s/%s", d, folder) >=
		    (int)sizeof(path))
			continue;
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			watch_add(ws, path, &st);
		else
			watch_add(ws, path, NULL);
	}
	free(dirs);
}

int
watch_changed(const struct watchset *ws)
{
	struct stat	 st;
	size_t		 i;

	for (i = 0; i < ws->n; i++) {
		if (stat(ws->files[i].path, &st) == -1) {
			if (ws->files[i].size != MISSING)
				return 1;
			continue;
		}
		if (st.st_size != ws->files[i].size ||
		    st.st_mtim.tv_sec != ws->files[i].mtime.tv_sec ||
		    st.st_mtim.tv_nsec != ws->files[i].mtime.tv_nsec)
			return 1;
	}
	return 0;
}

void
watch_clear(struct watchset *ws)
{
	size_t	 i;

	for (i = 0; i < ws->n; i++)
		free(ws->files[i].path);
	ws->n = 0;
}
