/*
 * lhost_tokens_args.c -- for host.tokens: who acts (the request's token,
 * else the actor a script names), a call's arguments read and checked
 * (scopes, allowed addresses, expiry), and the refusals, {status, code,
 * message, field, required}, that become the HTTP answer.
 */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "lhost_tokens.h"

/* Who acts: the request's token when there is one, else the actor table
 * of argument t (a page's session, the runner). */
void
tok_get_actor(lua_State *L, int t, struct actor *a)
{
	const char	*role;

	memset(a, 0, sizeof(*a));
	if ((a->token = lhost_caller(L)) != NULL) {
		a->id = a->token->user_id;
		a->account_id = a->token->account_id;
		return;		/* a token acts as a member: its own */
	}
	if (lua_getfield(L, t, "actor") != LUA_TTABLE)
		luaL_error(L, "host.tokens: actor table required");
	lua_getfield(L, -1, "id");
	a->id = luaL_checkinteger(L, -1);
	lua_getfield(L, -2, "account_id");
	a->account_id = luaL_checkinteger(L, -1);
	lua_getfield(L, -3, "role");
	role = luaL_checkstring(L, -1);
	a->admin = strcmp(role, "admin") == 0;
	lua_pop(L, 4);
}

const char *
tok_opt_field(lua_State *L, int t, const char *name, const char *def)
{
	const char	*v;

	lua_getfield(L, t, name);
	v = luaL_optstring(L, -1, def);
	lua_pop(L, 1);
	return v;
}

lua_Integer
tok_opt_int(lua_State *L, int t, const char *name, lua_Integer def)
{
	lua_Integer	 v;

	lua_getfield(L, t, name);
	v = luaL_optinteger(L, -1, def);
	lua_pop(L, 1);
	return v;
}

int
tok_fail_db(lua_State *L)
{
	return lhost_error(L, 503, "UNAVAILABLE", "token store unavailable");
}

/* Returns nil, err (the refusal in e) to the script. */
int
tok_refusal(lua_State *L, const struct authority_err *e)
{
	lua_pushnil(L);
	lua_createtable(L, 0, 5);
	lua_pushinteger(L, e->status);
	lua_setfield(L, -2, "status");
	lua_pushstring(L, e->code);
	lua_setfield(L, -2, "code");
	lua_pushstring(L, e->message);
	lua_setfield(L, -2, "message");
	if (e->field) {
		lua_pushstring(L, e->field);
		lua_setfield(L, -2, "field");
	}
	if (e->required[0]) {
		lua_pushstring(L, e->required);
		lua_setfield(L, -2, "required");
	}
	return 2;
}

int
tok_refuse(lua_State *L, int status, const char *code, const char *msg)
{
	struct authority_err	 e;

	memset(&e, 0, sizeof(e));
	e.status = status;
	e.code = code;
	snprintf(e.message, sizeof(e.message), "%s", msg);
	return tok_refusal(L, &e);
}

/* 1 when the table at idx is a list: its keys are exactly 1..#t (a JSON
 * object, even an empty-looking one, is not). */
static int
is_list(lua_State *L, int idx)
{
	lua_Integer	 n = (lua_Integer)lua_rawlen(L, idx), keys = 0;

	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
		    lua_tointeger(L, -1) > n) {
			lua_pop(L, 1);
			return 0;
		}
		keys++;
	}
	return keys == n;
}

/* Reads field "scopes" of table t into *mask: absent (returns 0, *given
 * 0), or a list of scope names. Returns 0 or -1 with e. */
int
tok_get_scopes(lua_State *L, int t, uint32_t *mask, int *given,
    struct authority_err *e)
{
	lua_Integer	 i, n;
	const char	*s;
	size_t		 len;
	uint32_t	 bit;

	*mask = 0;
	*given = 0;
	if (lua_getfield(L, t, "scopes") == LUA_TNIL) {
		lua_pop(L, 1);
		return 0;
	}
	*given = 1;
	if (!lua_istable(L, -1) || !is_list(L, -1)) {
		lua_pop(L, 1);
		return authority_bad(e, "scopes", "scopes: a list of scope "
		    "names");
	}
	n = (lua_Integer)lua_rawlen(L, -1);
	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, -1, i);
		s = lua_tolstring(L, -1, &len);
		if (lua_type(L, -1) != LUA_TSTRING ||
		    (bit = scope_bit(s, len)) == 0) {
			authority_bad(e, "scopes", "scopes: unknown scope "
			    "\"%.40s\"", lua_type(L, -1) == LUA_TSTRING ? s :
			    "(not a string)");
			lua_pop(L, 2);
			return -1;
		}
		*mask |= bit;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return 0;
}

/* Checks a scope mask for a token of kind. Returns 0 or -1 with e. */
int
tok_check_kind_scopes(const char *kind, uint32_t mask, struct authority_err *e)
{
	if (strcmp(kind, "via") == 0) {
		if (mask != SCOPE_VIA)
			return authority_bad(e, "scopes", "scopes: a Via token "
			    "has exactly via:read");
		return 0;
	}
	if (mask & ~SCOPE_USER_ALL)
		return authority_bad(e, "scopes", "scopes: via:read belongs to "
		    "Via tokens");
	if (mask == 0)
		return authority_bad(e, "scopes", "scopes: name at least one "
		    "scope");
	return 0;
}

/* Reads field "allowed_ips" of table t: absent (*given 0), one string,
 * or a list of strings. Returns 0 or -1 with e. */
int
tok_get_ips(lua_State *L, int t, struct cidr_list *l, int *given,
    struct authority_err *e)
{
	struct buf	 b = { 0 };
	lua_Integer	 i, n;
	const char	*s;
	char		 err[200];
	int		 rc = 0;

	l->n = 0;
	*given = 0;
	switch (lua_getfield(L, t, "allowed_ips")) {
	case LUA_TNIL:
		lua_pop(L, 1);
		return 0;
	case LUA_TSTRING:
		buf_adds(&b, lua_tostring(L, -1));
		break;
	case LUA_TTABLE:
		if (!is_list(L, -1)) {
			rc = authority_bad(e, "allowed_ips", "allowed_ips: a list "
			    "of CIDRs");
			break;
		}
		n = (lua_Integer)lua_rawlen(L, -1);
		for (i = 1; i <= n && rc == 0; i++) {
			lua_rawgeti(L, -1, i);
			if ((s = lua_tostring(L, -1)) == NULL ||
			    lua_type(L, -1) != LUA_TSTRING ||
			    strpbrk(s, ", \t\r\n") != NULL || *s == '\0')
				rc = authority_bad(e, "allowed_ips",
				    "allowed_ips: each entry is one address or "
				    "network, as text");
			else {
				buf_adds(&b, s);
				buf_addc(&b, ',');
			}
			lua_pop(L, 1);
		}
		break;
	default:
		rc = authority_bad(e, "allowed_ips", "allowed_ips: a list of "
		    "CIDRs");
	}
	lua_pop(L, 1);
	*given = 1;
	if (rc == 0 && b.failed)
		rc = authority_bad(e, "allowed_ips", "allowed_ips: too long");
	if (rc == 0 && cidr_parse_list(b.p ? b.p : "", l, err,
	    sizeof(err)) == -1)
		rc = authority_bad(e, "allowed_ips", "allowed_ips: %s", err);
	buf_free(&b);
	return rc;
}

/* Reads what expiry was asked: expires_in_days (0..EXPIRY_DAYS_MAX, 0:
 * never) or expires_at (seconds, ISO text, a date, host.null: never).
 * Returns 0 or -1 with e. */
int
tok_get_expiry(lua_State *L, int t, long long now, struct expiry_ask *ask,
    struct authority_err *e)
{
	int		 has_days, has_at;
	lua_Integer	 days;
	long long	 at;

	memset(ask, 0, sizeof(*ask));
	has_days = lua_getfield(L, t, "expires_in_days") != LUA_TNIL;
	has_at = lua_getfield(L, t, "expires_at") != LUA_TNIL;
	if (has_days && has_at) {
		lua_pop(L, 2);
		return authority_bad(e, "expires_at", "give expires_at or "
		    "expires_in_days, not both");
	}
	if (has_days) {
		if (!lua_isinteger(L, -2) || (days = lua_tointeger(L, -2)) < 0 ||
		    days > EXPIRY_DAYS_MAX) {
			lua_pop(L, 2);
			return authority_bad(e, "expires_in_days",
			    "expires_in_days: a whole number of days, 1 to %d",
			    EXPIRY_DAYS_MAX);
		}
		ask->given = 1;
		ask->at = days ? now + days * 86400 : 0;
	} else if (has_at) {
		ask->given = 1;
		if (lhost_is_null(L, -1))
			ask->at = 0;
		else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0)
			ask->at = lua_tointeger(L, -1);
		else if (lua_type(L, -1) == LUA_TSTRING &&
		    time_parse(lua_tostring(L, -1), &at) == 0)
			ask->at = at;
		else {
			lua_pop(L, 2);
			return authority_bad(e, "expires_at", "expires_at: "
			    "\"2026-11-27T23:10:58Z\", a date \"2026-11-27\" or "
			    "null for never");
		}
	}
	lua_pop(L, 2);
	return 0;
}
