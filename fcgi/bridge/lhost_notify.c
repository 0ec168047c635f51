/*
 * lhost_notify.c -- host.notify(name, payload): queues a message for the
 * runner to deliver (fcgi/process/notify.c) to the URL notify_targets
 * names for it.
 *
 * The message is a row of the outbox written with the named query
 * outbox_add through host.db.exec, on the script's own connection: inside
 * host.db.tx it commits or rolls back with what caused it; outside one it
 * is durable when the call returns. payload is any value host.json.encode
 * takes (at most NOTIFY_PAYLOAD_MAX bytes of JSON); the receiver gets that
 * JSON as the body. It should carry ids and words, never a secret.
 *
 * Returns true when queued, false when notify_targets names no target for
 * name: the message is dropped with a log line at info, so a hook may
 * notify whether or not an operator has set a receiver up. A name that is
 * not 1 to 64 of a-z 0-9 _, or a payload that cannot be encoded or is too
 * large, is an error.
 */
#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"

#define NOTIFY_PAYLOAD_MAX	(64 * 1024)

/* Pushes host.<a>.<b> (a function of the frozen host table). */
static void
push_host_fn(lua_State *L, const char *a, const char *b)
{
	lua_getglobal(L, "host");
	lua_getfield(L, -1, a);
	lua_getfield(L, -1, b);
	lua_replace(L, -3);
	lua_pop(L, 1);
}

int
lhost_notify(lua_State *L)
{
	size_t		 nlen, plen;
	const char	*name = luaL_checklstring(L, 1, &nlen);
	const struct config *cfg = lhost_config(L);

	luaL_checkany(L, 2);
	if (!notify_name_ok(name, nlen))
		return luaL_error(L, "host.notify: a name is 1 to %d of "
		    "a-z, 0-9 and _", NOTIFY_NAME_MAX);
	if (!notify_target(cfg->notify_targets, name, NULL, 0)) {
		log_info("notify: no notify_targets entry for \"%s\": "
		    "message dropped", name);
		lua_pushboolean(L, 0);
		return 1;
	}
	push_host_fn(L, "json", "encode");
	lua_pushvalue(L, 2);
	lua_call(L, 1, 1);
	luaL_checklstring(L, -1, &plen);
	if (plen > NOTIFY_PAYLOAD_MAX)
		return luaL_error(L, "host.notify: the payload is over %d "
		    "bytes of JSON", NOTIFY_PAYLOAD_MAX);
	push_host_fn(L, "db", "exec");
	lua_pushliteral(L, "outbox_add");
	lua_createtable(L, 0, 3);
	lua_pushvalue(L, 1);
	lua_setfield(L, -2, "name");
	lua_pushvalue(L, -4);		/* the JSON */
	lua_setfield(L, -2, "payload");
	lua_pushinteger(L, clock_now());
	lua_setfield(L, -2, "now");
	lua_call(L, 2, 0);
	lua_pushboolean(L, 1);
	return 1;
}
