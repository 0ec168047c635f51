/*
 * lhost_tokens_read.c -- host.tokens.get, .list (a page of tokens and the
 * count, with the filter), .scope_names and .scopes; and the lookup of a
 * token the actor may see or change, which the writes share.
 */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "lhost_tokens.h"

/* Pushes the token named by key as token_visible shows it, if the actor
 * may see it: their own, or (an admin's session) the
 * account's. Returns 1 (pushed), 0 (nil pushed); raises on a database
 * failure. */
int
tok_push_visible(lua_State *L, const char *key, const struct actor *a)
{
	struct dbq	*st = db_query(lhost_db(L), "token_visible");
	int		 rc;

	if (!token_key_valid(key)) {
		lua_pushnil(L);
		return 0;
	}
	if (st == NULL || db_bind_text(st, ":key", key) ||
	    db_bind_int64(st, ":account_id", a->account_id) ||
	    db_bind_int64(st, ":all", a->admin) ||
	    db_bind_int64(st, ":user_id", a->id))
		return tok_fail_db(L);
	rc = db_step(st);
	if (rc == DB_ROW)
		lhost_push_row(L, st);
	else
		lua_pushnil(L);
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return tok_fail_db(L);
	return rc == DB_ROW;
}

/* Integer field name of the table on top. */
long long
tok_int_field(lua_State *L, const char *name)
{
	long long	 v;

	lua_getfield(L, -1, name);
	v = lua_tointeger(L, -1);
	lua_pop(L, 1);
	return v;
}

/* The token key names, looked up for a change by actor a: pushes the
 * token and returns its id, or returns 0 with nil, err pushed (not
 * visible: 404; a token outside the acting token's lineage: 403). */
long long
tok_target(lua_State *L, const char *key, const struct actor *a)
{
	struct dbq	*st;
	long long	 id, in = 0;
	int		 rc;

	if (!tok_push_visible(L, key, a)) {
		lua_pop(L, 1);
		tok_refuse(L, 404, "NOT_FOUND", "no such token");
		return 0;
	}
	id = tok_int_field(L, "id");
	if (a->token == NULL || id == a->token->token_id)
		return id;
	if ((st = db_query(lhost_db(L), "token_in_tree")) == NULL ||
	    db_bind_int64(st, ":id", id) ||
	    db_bind_int64(st, ":ancestor", a->token->token_id))
		tok_fail_db(L);
	if ((rc = db_step(st)) == DB_ROW)
		in = db_col_int(st, 0);
	db_reset(st);
	if (rc != DB_ROW)
		tok_fail_db(L);
	if (in)
		return id;
	lua_pop(L, 1);
	tok_refuse(L, 403, "FORBIDDEN", "a token may change only itself and the "
	    "tokens made from it");
	return 0;
}

int
tok_l_get(lua_State *L)
{
	struct actor	 a;

	luaL_checktype(L, 1, LUA_TTABLE);
	tok_get_actor(L, 1, &a);
	tok_push_visible(L, tok_opt_field(L, 1, "key", ""), &a);
	return 1;
}

/* Binds the filter shared by tokens_page and tokens_count (:q where the
 * statement has it). */
static int
bind_filter(struct dbq *st, const struct actor *a, const char *kind,
    const char *q)
{
	return db_bind_int64(st, ":account_id", a->account_id) ||
	    db_bind_text(st, ":kind", kind) ||
	    db_bind_int64(st, ":all", a->admin) ||
	    db_bind_int64(st, ":user_id", a->id) ||
	    (db_has_param(st, ":q") &&
	    db_bind_text(st, ":q", q)) ? -1 : 0;
}

int
tok_l_list(lua_State *L)
{
	struct actor	 a;
	const char	*kind, *q;
	lua_Integer	 limit, offset, n = 0;
	struct dbq	*st;
	int		 rc;

	luaL_checktype(L, 1, LUA_TTABLE);
	tok_get_actor(L, 1, &a);
	kind = tok_opt_field(L, 1, "kind", "user");
	q = tok_opt_field(L, 1, "q", "");
	limit = tok_opt_int(L, 1, "limit", 50);
	offset = tok_opt_int(L, 1, "offset", 0);
	if (limit < 1 || limit > 1000 || offset < 0)
		return luaL_error(L, "host.tokens.list: limit 1..1000, "
		    "offset >= 0");
	if ((st = db_query(lhost_db(L), "tokens_page")) == NULL ||
	    bind_filter(st, &a, kind, q) ||
	    db_bind_int64(st, ":limit", limit) ||
	    db_bind_int64(st, ":offset", offset))
		return tok_fail_db(L);
	lua_createtable(L, (int)limit, 0);
	while ((rc = db_step(st)) == DB_ROW) {
		lhost_push_row(L, st);
		lua_rawseti(L, -2, ++n);
	}
	db_reset(st);
	if (rc != DB_DONE)
		return tok_fail_db(L);
	if ((st = db_query(lhost_db(L), *q ? "tokens_count_q" :
	    "tokens_count")) == NULL ||
	    bind_filter(st, &a, kind, q))
		return tok_fail_db(L);
	rc = db_step(st);
	lua_pushinteger(L, rc == DB_ROW ? db_col_int(st, 0) : 0);
	db_reset(st);
	return 2;
}

void
lhost_push_scopes(lua_State *L, uint32_t mask)
{
	size_t	 i;
	int	 n = 0;

	lua_createtable(L, 8, 0);
	for (i = 0; i < scope_ndefs; i++) {
		if (!(mask & scope_defs[i].bit))
			continue;
		lua_pushstring(L, scope_defs[i].name);
		lua_rawseti(L, -2, ++n);
	}
	lhost_json_mark_array(L, -1);
}

int
tok_l_scope_names(lua_State *L)
{
	lua_Integer	 mask = luaL_checkinteger(L, 1);

	lhost_push_scopes(L, (uint32_t)mask);
	return 1;
}

/* host.tokens.scopes: the scope table, as data for pages. */
void
tok_push_scope_table(lua_State *L)
{
	size_t	 i;

	lua_createtable(L, (int)scope_ndefs, 0);
	for (i = 0; i < scope_ndefs; i++) {
		lua_createtable(L, 0, 4);
		lua_pushstring(L, scope_defs[i].name);
		lua_setfield(L, -2, "name");
		lua_pushstring(L, scope_defs[i].grants);
		lua_setfield(L, -2, "grants");
		lua_pushboolean(L, (scope_defs[i].bit &
		    SCOPE_USER_DEFAULT) != 0);
		lua_setfield(L, -2, "default");
		lua_pushboolean(L, (scope_defs[i].bit & SCOPE_USER_ALL) != 0);
		lua_setfield(L, -2, "user");
		lhost_push_readonly(L, -1);
		lua_remove(L, -2);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lhost_push_readonly(L, -1);
	lua_remove(L, -2);
}
