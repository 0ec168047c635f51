/*
 * lhost_limits.c -- host.limits: the rate limits a script applies itself,
 * where only the script knows the amount (the records of a webhook
 * delivery). The per-request limits are the gate's (api.c); these share
 * its map (DATA/ratelimit.map), so every worker on the host counts
 * together.
 *
 *	host.limits.records(n) -> 0 (taken), seconds to wait, or -1 (more
 *	    than the bucket holds: never at this rate)
 *
 * records counts n records of the calling token against
 * rate_limit_webhook_records a second, in a bucket that holds twice that
 * or one whole delivery (webhook_max_records), whichever is more.
 */
#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"
#include "lib/metrics.h"

static int
l_records(lua_State *L)
{
	const struct config	*cfg = lhost_config(L);
	const struct principal	*p = lhost_caller(L);
	lua_Integer		 n = luaL_checkinteger(L, 1);
	long long		 rate = cfg->rate_limit_webhook_records, burst;
	long long		 wait;

	if (p == NULL)
		return luaL_error(L, "host.limits.records: only for a token's "
		    "request");
	burst = rate * 2 > cfg->webhook_max_records ? rate * 2 :
	    cfg->webhook_max_records;
	wait = rl_take(lhost_limits(L), "webhook_records", &p->token_id,
	    sizeof(p->token_id), rate, burst, n);
	/* Received when the answer is a 2xx (worker.c). */
	if (wait == 0)
		metrics_pending_records(n);
	else
		metrics_add(M_RL_WEBHOOK_RECORDS, 1);
	lua_pushinteger(L, wait);
	return 1;
}

void
lhost_open_limits(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "records",	l_records },
		{ NULL,		NULL },
	};

	luaL_newlib(L, fns);
}
