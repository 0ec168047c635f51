/*
 * authority.c -- what a token may do (authority.h): the scope table, the
 * operator's expiry policy, and the subset rule for tokens made or edited
 * by a token. No database and no Lua here: callers (the gate, the Lua
 * bridge, the command line) bring the values and apply the answer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "authority.h"
#include "lib/lib.h"

const struct scope_def scope_defs[] = {
	{ "objects:read",   SCOPE_OBJECTS_READ,
	  "Read sources, destinations, pipelines and models, and a "
	  "pipeline's status" },
	{ "objects:write",  SCOPE_OBJECTS_WRITE,
	  "Create and change sources, destinations, pipelines and models" },
	{ "pipelines:run",  SCOPE_PIPELINES_RUN,
	  "Start pipeline runs" },
	{ "webhook:write",  SCOPE_WEBHOOK_WRITE,
	  "Send records to webhook pipelines" },
	{ "records:read",   SCOPE_RECORDS_READ,
	  "Read the records a pipeline received" },
	{ "tokens:read",    SCOPE_TOKENS_READ,
	  "List your tokens and read one (never a secret)" },
	{ "tokens:write",   SCOPE_TOKENS_WRITE,
	  "Create tokens within this one's rights, and switch, rotate or "
	  "edit it and the tokens made from it" },
	{ "via:read",       SCOPE_VIA_READ,
	  "Read the one Via destination the token was made for" },
};
const size_t scope_ndefs = sizeof(scope_defs) / sizeof(scope_defs[0]);

uint32_t
scope_bit(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < scope_ndefs; i++)
		if (strlen(scope_defs[i].name) == len &&
		    memcmp(scope_defs[i].name, s, len) == 0)
			return scope_defs[i].bit;
	return 0;
}

const char *
scope_missing(uint32_t have, uint32_t need)
{
	size_t	 i;

	for (i = 0; i < scope_ndefs; i++)
		if ((need & scope_defs[i].bit) && !(have & scope_defs[i].bit))
			return scope_defs[i].name;
	return NULL;
}

char *
scope_names(uint32_t mask, const char *sep, char *out, size_t outlen)
{
	size_t	 i, o = 0;
	int	 n;

	if (outlen == 0)
		return out;
	out[0] = '\0';
	for (i = 0; i < scope_ndefs; i++) {
		if (!(mask & scope_defs[i].bit))
			continue;
		n = snprintf(out + o, outlen - o, "%s%s", o ? sep : "",
		    scope_defs[i].name);
		if (n < 0 || (size_t)n >= outlen - o) {
			out[o] = '\0';	/* cut at a whole name */
			break;
		}
		o += (size_t)n;
	}
	return out;
}

int
authority_bad(struct authority_err *e, const char *field, const char *fmt,
    ...)
{
	va_list	 ap;

	memset(e, 0, sizeof(*e));
	e->status = 400;
	e->code = "INVALID_REQUEST";
	e->field = field;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* Fills e as a 403 INSUFFICIENT_SCOPE. Returns -1. */
static int
refuse(struct authority_err *e, const char *field, const char *required,
    const char *msg)
{
	memset(e, 0, sizeof(*e));
	e->status = 403;
	e->code = "INSUFFICIENT_SCOPE";
	e->field = field;
	snprintf(e->required, sizeof(e->required), "%s", required);
	snprintf(e->message, sizeof(e->message), "%s", msg);
	return -1;
}

int
authority_expiry(const struct config *cfg, long long now,
    const struct expiry_ask *ask, long long cap, long long *out,
    struct authority_err *e)
{
	long long	 day = 86400, at;
	long long	 limit = cfg->token_max_expiry_days > 0 ?
	    now + cfg->token_max_expiry_days * day : 0;

	if (!ask->given) {
		at = cfg->token_default_expiry_days > 0 ?
		    now + cfg->token_default_expiry_days * day : limit;
		if (cap > 0 && (at == 0 || at > cap))
			at = cap;
		*out = at;
		return 0;
	}
	at = ask->at;
	if (at != 0 && at <= now)
		return authority_bad(e, "expires_at", "expires_at: the expiry "
		    "must be in the future");
	if (at > now + EXPIRY_DAYS_MAX * day)
		return authority_bad(e, "expires_at", "expires_at: at most %d "
		    "days from now", EXPIRY_DAYS_MAX);
	if (limit > 0 && (at == 0 || at > limit))
		return authority_bad(e, "expires_at", "expires_at: this "
		    "service's policy is that tokens expire within %lld days",
		    cfg->token_max_expiry_days);
	if (cap > 0 && (at == 0 || at > cap))
		return refuse(e, "expires_at", "", "a token cannot make a "
		    "token that outlives it: expires_at must be no later than "
		    "the caller's own");
	*out = at;
	return 0;
}

int
authority_within(const struct grant *child, const struct grant *parent,
    struct authority_err *e)
{
	const char	*miss;
	char		 msg[160];

	if ((miss = scope_missing(parent->scopes, child->scopes)) != NULL) {
		snprintf(msg, sizeof(msg), "the scope %s is not the caller's "
		    "own: a token grants only scopes it holds", miss);
		return refuse(e, "scopes", miss, msg);
	}
	if (parent->expires_at > 0 && (child->expires_at == 0 ||
	    child->expires_at > parent->expires_at))
		return refuse(e, "expires_at", "", "a token cannot make a "
		    "token that outlives it: expires_at must be no later than "
		    "the caller's own");
	if (!cidr_within(&child->ips, &parent->ips))
		return refuse(e, "allowed_ips", "", "allowed_ips must lie "
		    "within the caller's own allowed_ips");
	return 0;
}
