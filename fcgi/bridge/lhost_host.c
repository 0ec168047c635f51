/*
 * lhost_host.c -- the global "host" a script sees: assembled here from
 * the modules (host.db, host.json, host.auth, host.html, host.tokens,
 * host.limits, host.reveal, host.people), each frozen read-only, with the small
 * functions of its own: host.null, host.config (the public keys),
 * host.error (an error response, as the host renders its own), host.log,
 * host.now, host.iso8601, host.url.encode, host.ip_in (an address inside
 * networks, for the before_webhook hook's "only this range"), host.notify
 * (lhost_notify.c), host.scripts (lhost_scripts.c: the modules of a
 * folder), host.openapi (lhost_openapi.c), host.sql (lhost_sql.c) and host.input (the one way to read ids
 * and text from a client).
 */
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"
#include "lib/cidr.h"

/* host.url.encode(s): percent-encodes everything but unreserved. */
static int
l_url_encode(lua_State *L)
{
	size_t		 len, i;
	const char	*s = luaL_checklstring(L, 1, &len);
	static const char hex[] = "0123456789ABCDEF";
	luaL_Buffer	 b;
	unsigned char	 c;

	luaL_buffinit(L, &b);
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~')
			luaL_addchar(&b, (char)c);
		else {
			luaL_addchar(&b, '%');
			luaL_addchar(&b, hex[c >> 4]);
			luaL_addchar(&b, hex[c & 15]);
		}
	}
	luaL_pushresult(&b);
	return 1;
}

/* host.input.int(s, min, max): s as a whole number in [min, max] by the
 * one strict rule (parse.c int_parse: digits only, no leading zero, no
 * "0x1", "1e0" or "1.0"), or nil. min defaults to 1, max to 2^63-1. */
static int
l_input_int(lua_State *L)
{
	size_t		 len = 0;
	const char	*s = lua_type(L, 1) == LUA_TSTRING ?
	    lua_tolstring(L, 1, &len) : NULL;
	lua_Integer	 min = luaL_optinteger(L, 2, 1);
	lua_Integer	 max = luaL_optinteger(L, 3, LUA_MAXINTEGER);
	long long	 v;

	if (s == NULL || max < 0 ||
	    int_parse(s, len, min, max, &v) == -1)
		lua_pushnil(L);
	else
		lua_pushinteger(L, v);
	return 1;
}

/* host.input.text(s, max): s trimmed of surrounding white space when it
 * is 1 to max characters of text a person can read as it is (parse.c
 * utf8_plain: no control characters, no invisible or direction-changing
 * code points); else nil and the reason, in words. */
static int
l_input_text(lua_State *L)
{
	size_t		 len = 0, n = 0, i;
	const char	*s, *why = NULL, *e;
	lua_Integer	 max = luaL_checkinteger(L, 2);

	s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : NULL;
	if (s == NULL) {
		lua_pushnil(L);
		lua_pushliteral(L, "it is required, as text");
		return 2;
	}
	while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\r' ||
	    *s == '\n'))
		s++, len--;
	e = s + len;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		e--;
	len = (size_t)(e - s);
	if (len == 0)
		why = "it is empty";
	else if (strlen(s) < len || !utf8_plain(s, len, &why))
		why = why ? why : "it contains a NUL byte";
	for (i = 0; why == NULL && i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	if (why == NULL && (lua_Integer)n > max)
		why = "it is too long";
	if (why) {
		lua_pushnil(L);
		lua_pushstring(L, why);
		return 2;
	}
	lua_pushlstring(L, s, len);
	return 1;
}

/* host.log(level, message): level is "info", "warn" or "error". */
static int
l_log(lua_State *L)
{
	static const char *const levels[] = { "info", "warn", "error", NULL };
	int		 lv = luaL_checkoption(L, 1, NULL, levels);
	const char	*msg = luaL_checkstring(L, 2);

	log_msg(levels[lv], "lua: %s", msg);
	return 0;
}

/* host.ip_in(ip, networks): true when the address ip (req.remote_addr)
 * lies inside one of networks (CIDRs separated by commas or white space,
 * as allowed_ips takes them), false when not or when ip is no address.
 * A bad network is an error (the operator's script is wrong). */
static int
l_ip_in(lua_State *L)
{
	const char	*ip = luaL_checkstring(L, 1);
	const char	*nets = luaL_checkstring(L, 2);
	struct cidr_list l;
	char		 err[128];

	if (cidr_parse_list(nets, &l, err, sizeof(err)) == -1)
		return luaL_error(L, "host.ip_in: %s", err);
	lua_pushboolean(L, cidr_match(&l, ip));
	return 1;
}

/* host.now(): Unix time in whole seconds (an integer). */
static int
l_now(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)clock_now());
	return 1;
}

/* host.iso8601(t): "2026-11-27T23:10:58Z". */
static int
l_iso8601(lua_State *L)
{
	char	 out[32];

	lua_pushstring(L, iso8601((long long)luaL_checkinteger(L, 1), out,
	    sizeof(out)));
	return 1;
}

/* host.error(status, code, message [, {field=, required=, json=}]): the
 * response a script answers an error with, rendered by the host's one
 * renderer (resp_error): the JSON envelope or the HTML page, chosen by
 * the request (req.wants_json) unless json says. A table {status,
 * headers, body} like any response. */
static int
l_error(lua_State *L)
{
	struct resp	 r = { .status = 200 };
	lua_Integer	 status = luaL_checkinteger(L, 1);
	const char	*code = luaL_checkstring(L, 2);
	const char	*msg = luaL_checkstring(L, 3);
	const char	*field = NULL, *required = NULL;
	const struct req *req;
	int		 json;
	size_t		 i;

	if (status < 400 || status > 599)
		return luaL_argerror(L, 1, "an error status (400-599)");
	req = lhost_caller_req(L);
	json = req == NULL || req->wants_json;
	if (lua_type(L, 4) == LUA_TTABLE) {
		if (lua_getfield(L, 4, "json") != LUA_TNIL)
			json = lua_toboolean(L, -1);
		if (lua_getfield(L, 4, "field") == LUA_TSTRING)
			field = lua_tostring(L, -1);
		if (lua_getfield(L, 4, "required") == LUA_TSTRING)
			required = lua_tostring(L, -1);
	} else if (!lua_isnoneornil(L, 4))
		return luaL_argerror(L, 4, "a table or nil");
	if (json)
		resp_error_json(&r, (int)status, code, msg, field, required);
	else
		resp_error(&r, (int)status, code, msg, 0);
	lua_createtable(L, 0, 3);
	lua_pushinteger(L, r.status);
	lua_setfield(L, -2, "status");
	lua_createtable(L, 0, (int)r.nh);
	for (i = 0; i < r.nh; i++) {
		lua_pushstring(L, r.h[i].val);
		lua_setfield(L, -2, r.h[i].name);
	}
	lua_setfield(L, -2, "headers");
	lua_pushlstring(L, r.body.p ? r.body.p : "", r.body.len);
	lua_setfield(L, -2, "body");
	resp_free(&r);
	return 1;
}

static void
add_config(void *arg, const char *name, enum cfg_type t, const void *v)
{
	lua_State	*L = arg;

	switch (t) {
	case CFG_STR:
		lua_pushstring(L, v);
		break;
	case CFG_INT:
		lua_pushinteger(L, *(const long long *)v);
		break;
	case CFG_BOOL:
		lua_pushboolean(L, *(const int *)v);
		break;
	}
	lua_setfield(L, -2, name);
}

/* Pushes a frozen copy of the table on top, replacing it. */
static void
seal(lua_State *L)
{
	lhost_push_frozen(L, -1);
	lua_remove(L, -2);
}

/* The host.* modules of their own files, each pushing its table. */
static const struct {
	const char	*name;
	void		(*open)(lua_State *);
} modules[] = {
	{ "html",	lhost_open_html },
	{ "db",		lhost_open_db },
	{ "auth",	lhost_open_auth },
	{ "tokens",	lhost_open_tokens },
	{ "json",	lhost_open_json },
	{ "limits",	lhost_open_limits },
	{ "reveal",	lhost_open_reveal },
	{ "sql",	lhost_open_sql },
	{ "people",	lhost_open_people },
};

void
lhost_open_host(lua_State *L)
{
	size_t	 i;
	static const luaL_Reg top[] = {
		{ "error",	l_error },
		{ "ip_in",	l_ip_in },
		{ "iso8601",	l_iso8601 },
		{ "log",	l_log },
		{ "notify",	lhost_notify },
		{ "now",	l_now },
		{ "openapi",	lhost_openapi },
		{ "run_finished", lhost_run_finished },
		{ "scripts",	lhost_scripts },
		{ NULL,		NULL },
	};

	luaL_newlib(L, top);
	lhost_push_null(L);
	lua_setfield(L, -2, "null");

	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, l_url_encode);
	lua_setfield(L, -2, "encode");
	seal(L);
	lua_setfield(L, -2, "url");

	lua_createtable(L, 0, 2);
	lua_pushcfunction(L, l_input_int);
	lua_setfield(L, -2, "int");
	lua_pushcfunction(L, l_input_text);
	lua_setfield(L, -2, "text");
	seal(L);
	lua_setfield(L, -2, "input");

	lua_newtable(L);
	cfg_each_public(lhost_config(L), add_config, L);
	seal(L);
	lua_setfield(L, -2, "config");

	for (i = 0; i < sizeof(modules) / sizeof(modules[0]); i++) {
		modules[i].open(L);
		seal(L);
		lua_setfield(L, -2, modules[i].name);
	}

	seal(L);
	lua_setglobal(L, "host");
}
