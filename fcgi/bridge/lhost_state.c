/*
 * lhost_state.c -- the bridge of a lua_State and what it holds for the
 * request being served: the database, the config, the pepper, the
 * session looked up once, the cookies to set, whether a secret was made,
 * the calling token; and the message handler that keeps a call's first
 * traceback. The lowest floor of the bridge: it calls nothing above it.
 */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"

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

struct rl_map *
lhost_limits(lua_State *L)
{
	return lhost_of(L)->rl;
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

const struct req *
lhost_caller_req(lua_State *L)
{
	return lhost_of(L)->req;
}
