/*
 * lhost_openapi.c -- host.openapi(): the text of the API description
 * (OpenAPI 3.0, JSON) that openapi_file names: docs/openapi.json of the
 * tree the scripts come from (the source tree, or PREFIX/share/tessera
 * when installed). The sandbox has no io; this reads that one file only,
 * whole, and nothing a request names. routes/openapi.lua serves it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"
#include "lib/lib.h"

#define OPENAPI_MAX	(4L << 20)	/* bytes: far above the real one */

/* host.openapi() -> text, or nil and the reason (the file is missing,
 * unreadable, empty or larger than OPENAPI_MAX). The text is read into a
 * buffer of the state's own memory, allocated before the file is opened:
 * running out of Lua memory raises with nothing to leak. */
int
lhost_openapi(lua_State *L)
{
	const char	*path = lhost_config(L)->openapi_file;
	struct stat	 st;
	luaL_Buffer	 b;
	FILE		*f;
	char		*p;
	size_t		 n;

	if (path == NULL || *path == '\0' || stat(path, &st) == -1) {
		lua_pushnil(L);
		lua_pushfstring(L, "openapi_file %s: %s", path ? path : "",
		    strerror(path && *path ? errno : ENOENT));
		return 2;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size > OPENAPI_MAX) {
		lua_pushnil(L);
		lua_pushfstring(L, "openapi_file %s: not a file of 1 byte to "
		    "4 MiB", path);
		return 2;
	}
	p = luaL_buffinitsize(L, &b, (size_t)st.st_size);
	if ((f = fopen(path, "r")) == NULL) {
		lua_pushnil(L);
		lua_pushfstring(L, "openapi_file %s: %s", path,
		    strerror(errno));
		return 2;
	}
	n = fread(p, 1, (size_t)st.st_size, f);
	fclose(f);
	if (n != (size_t)st.st_size) {
		lua_pushnil(L);
		lua_pushfstring(L, "openapi_file %s: changed while read", path);
		return 2;
	}
	luaL_pushresultsize(&b, n);
	return 1;
}
