/*
 * lhost_req.c -- the req a handler gets: a userdata pointing at the
 * request's struct req, with one shared, read-only metatable
 * ("tessera.req", as lighttpd's mod_magnet does). A field is read from
 * the C request when the script asks for it (a handler that never looks
 * at the cookies pays nothing for them); the tables among them (query,
 * form, cookies, headers, auth) are kept in the userdata's user value for
 * the rest of the request, so two reads give the same table. Only
 * validated input is there, never a credential: not the Authorization
 * header, the host's own cookies, nor a token=, password=, csrf=,
 * secret= or session= field (kv_hidden; req.body is "" for a form that
 * holds one). When the request ends the userdata forgets it: a req kept
 * by a script raises when read, never shows another request's data.
 */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"

#define REQ_MT	"tessera.req"

struct req_ud {
	const struct req	*r;	/* NULL once the request ended */
};

static char	req_live_key;	/* registry slot: this request's req */

static const char *const req_fields[] = {
	"auth", "body", "content_type", "cookies", "form", "form_list",
	"headers", "method", "path", "query", "query_list", "query_string",
	"remote_addr", "scheme", "token_path", "wants_json", NULL,
};

/* Adds name = s to the table on top, when s is not NULL. */
static void
set_str(lua_State *L, const char *name, const char *s)
{
	if (s == NULL)
		return;
	lua_pushstring(L, s);
	lua_setfield(L, -2, name);
}

/* Credentials never reach a script: the host's own cookies, and query or
 * form fields named like one (the password, ?token=, the CSRF field),
 * which C reads itself. */
static int
kv_hidden(const struct kv *kv, int cookies)
{
	return cookies ? session_is_host_cookie(kv->key) :
	    credential_name(kv->key, strlen(kv->key));
}

/* Pushes a read-only map of first values, and a read-only list of
 * {name, value} pairs in order (for repeated keys). Without the list
 * (cookies), the host's own cookies are left out. */

static void
push_kv(lua_State *L, const struct kvlist *l, int with_list)
{
	size_t	 i;
	int	 n;

	lua_createtable(L, 0, (int)l->n);
	for (i = l->n; i > 0; i--) {	/* backwards: first value wins */
		if (kv_hidden(&l->v[i - 1], !with_list))
			continue;
		lua_pushlstring(L, l->v[i - 1].val, l->v[i - 1].vlen);
		lua_setfield(L, -2, l->v[i - 1].key);
	}
	lhost_push_readonly(L, -1);
	lua_remove(L, -2);
	if (!with_list)
		return;
	lua_createtable(L, (int)l->n, 0);
	for (i = 0, n = 0; i < l->n; i++) {
		if (kv_hidden(&l->v[i], 0))
			continue;
		lua_createtable(L, 2, 0);
		lua_pushstring(L, l->v[i].key);
		lua_rawseti(L, -2, 1);
		lua_pushlstring(L, l->v[i].val, l->v[i].vlen);
		lua_rawseti(L, -2, 2);
		lhost_push_readonly(L, -1);
		lua_remove(L, -2);
		lua_rawseti(L, -2, ++n);
	}
	lhost_push_readonly(L, -1);
	lua_remove(L, -2);
}

/* 1 when two principals show Lua the same req.auth. */
static int
same_auth(const struct principal *a, const struct principal *b)
{
	return a->token_id == b->token_id && a->user_id == b->user_id &&
	    a->account_id == b->account_id && a->first_use == b->first_use &&
	    a->scopes == b->scopes && a->expires_at == b->expires_at &&
	    a->parent_id == b->parent_id &&
	    a->destination_id == b->destination_id &&
	    strcmp(a->allowed_ips, b->allowed_ips) == 0 &&
	    strcmp(a->key, b->key) == 0 && strcmp(a->kind, b->kind) == 0 &&
	    strcmp(a->description, b->description) == 0 &&
	    strcmp(a->email, b->email) == 0 && strcmp(a->role, b->role) == 0 &&
	    strcmp(a->account_name, b->account_name) == 0;
}

/* Pushes req.auth for API and webhook requests: who the token acts as.
 * The tables are read-only, so the last one built is kept and handed out
 * again while the next request's principal says exactly the same (a
 * program calling with one token, the common case). Building them is
 * eight frozen tables: 35,000 instructions of the 137,000 a /api/me
 * request took in the worker without this (callgrind, 102,000 with it). */
static void
push_auth(lua_State *L, const struct principal *p)
{
	struct lhost	*lh = lhost_of(L);

	if (lh->auth_ref != LUA_NOREF && same_auth(&lh->auth_for, p)) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, lh->auth_ref);
		return;
	}
	lua_createtable(L, 0, 4);
	lua_createtable(L, 0, 6);
	lua_pushinteger(L, p->token_id);
	lua_setfield(L, -2, "id");
	set_str(L, "key", p->key);
	set_str(L, "kind", p->kind);
	set_str(L, "description", p->description);
	lhost_push_scopes(L, p->scopes);
	lhost_push_frozen(L, -1);
	lua_remove(L, -2);
	lua_setfield(L, -2, "scopes");
	if (p->expires_at > 0) {
		lua_pushinteger(L, p->expires_at);
		lua_setfield(L, -2, "expires_at");
	}
	if (p->destination_id > 0) {	/* a Via token's destination */
		lua_pushinteger(L, p->destination_id);
		lua_setfield(L, -2, "destination_id");
	}
	lhost_push_frozen(L, -1);
	lua_remove(L, -2);
	lua_setfield(L, -2, "token");
	lua_createtable(L, 0, 4);
	lua_pushinteger(L, p->user_id);
	lua_setfield(L, -2, "id");
	set_str(L, "email", p->email);
	set_str(L, "role", p->role);
	lua_pushinteger(L, p->account_id);
	lua_setfield(L, -2, "account_id");
	lhost_push_frozen(L, -1);
	lua_remove(L, -2);
	lua_setfield(L, -2, "user");
	lua_createtable(L, 0, 2);
	lua_pushinteger(L, p->account_id);
	lua_setfield(L, -2, "id");
	set_str(L, "name", p->account_name);
	lhost_push_frozen(L, -1);
	lua_remove(L, -2);
	lua_setfield(L, -2, "account");
	lua_pushboolean(L, p->first_use);
	lua_setfield(L, -2, "first_use");
	lhost_push_frozen(L, -1);
	lua_remove(L, -2);
	lua_pushvalue(L, -1);
	if (lh->auth_ref == LUA_NOREF)
		lh->auth_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	else
		lua_rawseti(L, LUA_REGISTRYINDEX, lh->auth_ref);
	lh->auth_for = *p;
}

/* Pushes the query string without its credential pairs (kv_hidden). */
static void
push_query_string(lua_State *L, const char *qs)
{
	struct buf	 b = { .wipe = 1 };
	const char	*p, *amp, *eq;
	size_t		 n;

	if (qs == NULL) {
		lua_pushnil(L);
		return;
	}
	for (p = qs; *p; p = *amp ? amp + 1 : amp) {
		if ((amp = strchr(p, '&')) == NULL)
			amp = p + strlen(p);
		n = (size_t)(amp - p);
		eq = memchr(p, '=', n);
		if (credential_field(p, eq ? (size_t)(eq - p) : n))
			continue;
		if (b.len)
			buf_addc(&b, '&');
		buf_add(&b, p, n);
	}
	lua_pushlstring(L, b.p ? b.p : "", b.len);
	buf_wipe(&b);
}

/* Whether a form body holds a credential field: then the script gets it
 * only parsed, without that field (req.form), and req.body is "". */
static int
form_has_credential(const struct req *r)
{
	size_t	 i;

	for (i = 0; i < r->form.n; i++)
		if (kv_hidden(&r->form.v[i], 0))
			return 1;
	return 0;
}

/* Pushes scalar field k of r, read straight from the request (nil when
 * absent). 0 when k is no such field. */
static int
push_scalar(lua_State *L, const struct req *r, const char *k)
{
	const char	*s = NULL;

	if (strcmp(k, "method") == 0)
		s = r->method;
	else if (strcmp(k, "path") == 0)
		s = r->path;
	else if (strcmp(k, "content_type") == 0)
		s = r->content_type;
	else if (strcmp(k, "remote_addr") == 0)
		s = r->remote_addr;
	else if (strcmp(k, "scheme") == 0)
		s = r->scheme;
	else if (strcmp(k, "token_path") == 0) {
		lua_pushboolean(L, r->path_kind != 0);
		return 1;
	} else if (strcmp(k, "wants_json") == 0) {
		lua_pushboolean(L, r->wants_json);
		return 1;
	} else
		return 0;
	if (s != NULL)
		lua_pushstring(L, s);
	else
		lua_pushnil(L);
	return 1;
}

/* Pushes field k of r that is built once a request (tables, the body,
 * the query string) and keeps it in the table at cache; query and
 * query_list (form and form_list) are built together. nil, not kept,
 * when absent or unknown. */
static void
push_built(lua_State *L, const struct req *r, const char *k, int cache)
{
	if (strcmp(k, "query_string") == 0)
		push_query_string(L, r->query_string);
	else if (strcmp(k, "body") == 0 && form_has_credential(r))
		lua_pushliteral(L, "");
	else if (strcmp(k, "body") == 0)
		lua_pushlstring(L, r->body.p ? r->body.p : "", r->body.len);
	else if (strcmp(k, "query") == 0 || strcmp(k, "query_list") == 0 ||
	    strcmp(k, "form") == 0 || strcmp(k, "form_list") == 0) {
		int form = k[0] == 'f';

		push_kv(L, form ? &r->form : &r->query, 1);
		lua_setfield(L, cache, form ? "form_list" : "query_list");
		lua_setfield(L, cache, form ? "form" : "query");
		lua_getfield(L, cache, k);
		return;
	} else if (strcmp(k, "cookies") == 0)
		push_kv(L, &r->cookies, 0);
	else if (strcmp(k, "headers") == 0) {
		lua_createtable(L, 0, 6);
		set_str(L, "host", r->host);
		set_str(L, "origin", r->origin);
		set_str(L, "referer", r->referer);
		set_str(L, "accept", r->accept);
		set_str(L, "user_agent", r->user_agent);
		set_str(L, "x_csrf_token", r->csrf_header);
		lhost_push_readonly(L, -1);
		lua_remove(L, -2);
	} else if (strcmp(k, "auth") == 0 && r->authed)
		push_auth(L, &r->auth);
	else {
		lua_pushnil(L);
		return;
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, cache, k);
}

/* The request of the req at idx; raises once it ended. */
static const struct req *
live(lua_State *L, int idx)
{
	struct req_ud	*u = luaL_checkudata(L, idx, REQ_MT);

	if (u->r == NULL)
		luaL_error(L, "req used after its request ended");
	return u->r;
}

/* Pushes field k of the req at idx: read from the request, from its
 * cache (the user value, made on first need), or built now. */
static void
push_field(lua_State *L, int idx, const char *k)
{
	const struct req *r = live(L, idx);
	int		 cache;

	if (push_scalar(L, r, k))
		return;
	idx = lua_absindex(L, idx);
	if (lua_getiuservalue(L, idx, 1) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_createtable(L, 0, 4);
		lua_pushvalue(L, -1);
		lua_setiuservalue(L, idx, 1);
	}
	cache = lua_gettop(L);
	if (lua_getfield(L, cache, k) == LUA_TNIL) {
		lua_pop(L, 1);
		push_built(L, r, k, cache);
	}
	lua_remove(L, cache);
}

static int
req_index(lua_State *L)
{
	if (lua_type(L, 2) != LUA_TSTRING) {
		live(L, 1);
		lua_pushnil(L);
		return 1;
	}
	push_field(L, 1, lua_tostring(L, 2));
	return 1;
}

static int
req_newindex(lua_State *L)
{
	return luaL_error(L, "req is read-only");
}

/* The iterator of pairs(req): the field after the key, by req_fields'
 * order, skipping absent ones. The req is its upvalue. */
static int
req_next(lua_State *L)
{
	const char	*k = lua_tostring(L, 2);
	size_t		 i = 0;

	if (k != NULL) {
		while (req_fields[i] && strcmp(req_fields[i], k) != 0)
			i++;
		if (req_fields[i] == NULL) {	/* not a key it gave */
			lua_pushnil(L);
			return 1;
		}
		i++;
	}
	for (; req_fields[i]; i++) {
		push_field(L, lua_upvalueindex(1), req_fields[i]);
		if (!lua_isnil(L, -1)) {
			lua_pushstring(L, req_fields[i]);
			lua_insert(L, -2);
			return 2;
		}
		lua_pop(L, 1);
	}
	lua_pushnil(L);
	return 1;
}

/* pairs(req): an iterator closing over the req; no table to reach
 * behind it. */
static int
req_pairs(lua_State *L)
{
	live(L, 1);
	lua_pushvalue(L, 1);
	lua_pushcclosure(L, req_next, 1);
	lua_pushnil(L);
	lua_pushnil(L);
	return 3;
}

static int
req_tostring(lua_State *L)
{
	const struct req *r = live(L, 1);

	lua_pushfstring(L, "req %s %s", r->method, r->path);
	return 1;
}

void
lhost_push_req(lua_State *L, const struct req *r)
{
	static const luaL_Reg mm[] = {
		{ "__index",	req_index },
		{ "__newindex",	req_newindex },
		{ "__pairs",	req_pairs },
		{ "__tostring",	req_tostring },
		{ NULL,		NULL },
	};
	struct req_ud	*u;

	u = lua_newuserdatauv(L, sizeof(*u), 1);
	u->r = r;
	if (luaL_newmetatable(L, REQ_MT)) {
		luaL_setfuncs(L, mm, 0);
		lua_pushliteral(L, "read-only");
		lua_setfield(L, -2, "__metatable");
	}
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &req_live_key);
}

void
lhost_req_end(lua_State *L)
{
	struct req_ud	*u;

	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &req_live_key) ==
	    LUA_TUSERDATA) {
		u = lua_touserdata(L, -1);
		u->r = NULL;
		lua_pushnil(L);
		lua_setiuservalue(L, -2, 1);
	}
	lua_pop(L, 1);
	lua_pushnil(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &req_live_key);
}
