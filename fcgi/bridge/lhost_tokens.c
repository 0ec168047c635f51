/*
 * lhost_tokens.c -- host.tokens: creating tokens (the only place a secret
 * exists in plaintext besides rotation), switching, editing and rotating
 * them, listing them, with the access rules in one place:
 *
 *  - a person (a page's session): an admin acts on every token of the
 *    account, a member on their own;
 *  - a token (an API request): on its own user's tokens, and it changes
 *    only itself and the tokens made from it (lineage); what it makes or
 *    edits stays within what it holds itself (the subset rule of
 *    authority.c), and a token it makes records it as its parent.
 *
 * The acting token is the request's, known to C (lhost_caller): a script
 * cannot claim another. Nothing here returns a secret except create()
 * and rotate(), once.
 *
 *	host.tokens.create{kind=, description=, actor=, destination_id=,
 *	    scopes=, expires_at=, expires_in_days=, allowed_ips=}
 *	    -> token | nil, err
 *	host.tokens.set_active{key=, active=, actor=} -> token, n | nil, err
 *	host.tokens.update{key=, actor=, description=, scopes=,
 *	    allowed_ips=} -> token | nil, err
 *	host.tokens.rotate{key=, actor=, grace_seconds=}
 *	    -> { key, token, previous_expires_at } | nil, err
 *	host.tokens.get{key=, actor=}   -> token or nil
 *	host.tokens.list{kind=, actor=, q=, limit=, offset=}
 *	    -> { token, ... }, total  (the columns of tokens_page)
 *	host.tokens.scope_names(mask)   -> { "objects:read", ... }
 *	host.tokens.scopes              -> { { name=, grants=, default=,
 *	    user= }, ... }
 *
 * actor is { id = user id, role = "admin"|"member", account_id = id } (a
 * token's request ignores it: the token is the actor). A token is a row
 * of token_rows (schema 009) with its times formatted; scopes is the
 * integer mask (lua/token.lua shapes it for the outside). err is
 * { status, code, message, field, required } for the HTTP answer; n is
 * how many tokens made from it a deactivation switched off too.
 * expires_at is Unix seconds, "2026-11-27T23:10:58Z", a date (its last
 * second) or host.null (never); allowed_ips a list of CIDRs or one
 * string of them separated by commas or white space.
 *
 * This file holds the writes; lhost_tokens_args.c reads and checks a
 * call's arguments, lhost_tokens_read.c answers get, list and the scope
 * names (lhost_tokens.h between them).
 */
#include <sodium.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "lhost_tokens.h"

#define GRACE_DEFAULT	86400
#define GRACE_MAX	604800

/* Opens a write transaction for a change of several statements, unless
 * a script's is open (the change is then part of it): 1 (opened), 0
 * (inside the script's) or -1 (busy or failing). */
static int
tx_open(struct db *db)
{
	if (db->tx_depth > 0)
		return 0;
	return db_tx(db, DB_BEGIN) == DB_OK ? 1 : -1;
}

/* Ends what tx_open began: commits (durably) when ok, else rolls back.
 * Inside a script's transaction only reports. 0 or -1. */
static int
tx_close(struct db *db, int own, int ok)
{
	if (own != 1)
		return ok ? 0 : -1;
	if (ok)
		return db_tx(db, DB_COMMIT) == DB_OK ? 0 : -1;
	db_tx(db, DB_ROLLBACK);
	return -1;
}

/* Reads a token's grant and its parent's (token_grant) into g and pg;
 * *has_parent and *active as they are now. 0, or -1 (none, or the
 * database failed). */
static int
grants_of(struct db *db, long long id, struct grant *g, struct grant *pg,
    int *has_parent, int *active)
{
	struct dbq	*st = db_query(db, "token_grant");
	char		 err[128];
	int		 rc, bad = 0;

	memset(g, 0, sizeof(*g));
	memset(pg, 0, sizeof(*pg));
	*has_parent = *active = 0;
	if (st == NULL || db_bind_int64(st, ":id", id))
		return -1;
	if ((rc = db_step(st)) == DB_ROW) {
		g->scopes = (uint32_t)db_col_int(st, 0);
		g->expires_at = db_col_int(st, 1);
		bad |= cidr_parse_list(db_col_text(st, 2),
		    &g->ips, err, sizeof(err));
		*has_parent = db_col_type(st, 3) != DB_NULL;
		if (*has_parent) {
			pg->scopes = (uint32_t)db_col_int(st, 5);
			pg->expires_at = db_col_int(st, 6);
			bad |= cidr_parse_list((const char *)
			    db_col_text(st, 7), &pg->ips, err,
			    sizeof(err));
		}
		*active = (int)db_col_int(st, 8) == 1;
	}
	db_reset(st);
	return rc == DB_ROW && !bad ? 0 : -1;
}

/* The acting token's grant as it is now, inside the change's transaction
 * (it may have been narrowed or switched off since the request began).
 * 0; 1 when it is no longer active; -1 on a database failure. */
static int
caller_now(struct db *db, const struct principal *p, struct grant *g)
{
	struct grant	 pg;
	int		 has_parent, active;

	if (grants_of(db, p->token_id, g, &pg, &has_parent, &active) == -1)
		return -1;
	return active ? 0 : 1;
}

/* The refusal when the acting token was switched off while its request
 * ran: like any inactive token. */
static int
caller_gone(lua_State *L)
{
	return tok_refuse(L, 401, "INVALID_TOKEN", "missing, invalid or inactive "
	    "credentials");
}

/* Ends a refused change: rolls back what tx_open began, then answers
 * for rc: -1 the database failed, 1 the acting token went inactive, 0 the
 * rules refused (e). */
static int
undo(lua_State *L, struct db *db, int own, int rc,
    const struct authority_err *e)
{
	tx_close(db, own, 0);
	if (rc == -1)
		return tok_fail_db(L);
	if (rc == 1)
		return caller_gone(L);
	return tok_refusal(L, e);
}

static int
l_create(lua_State *L)
{
	struct token_new	 t = { 0 };
	struct token_made	 m;
	struct actor		 a;
	struct authority_err	 e;
	struct expiry_ask	 ask;
	struct grant		 mine, parent;
	struct db		*db = lhost_db(L);
	char			 ips[TOKEN_IPS_MAX];
	size_t			 dlen;
	long long		 now = clock_now();
	int			 given_scopes, given_ips, own, rc;

	luaL_checktype(L, 1, LUA_TTABLE);
	tok_get_actor(L, 1, &a);
	t.kind = tok_opt_field(L, 1, "kind", "user");
	if (strcmp(t.kind, "user") != 0 && strcmp(t.kind, "via") != 0)
		return luaL_error(L, "host.tokens.create: kind is user or via");
	lua_getfield(L, 1, "description");
	t.description = luaL_checklstring(L, -1, &dlen);
	if (dlen == 0 || strlen(t.description) != dlen ||
	    !utf8_valid(t.description, dlen))
		return luaL_error(L, "host.tokens.create: bad description");
	t.destination_id = tok_opt_int(L, 1, "destination_id", 0);
	if ((strcmp(t.kind, "via") == 0) != (t.destination_id > 0))
		return luaL_error(L, "host.tokens.create: a via token needs "
		    "a destination_id, a user token none");
	memset(&mine, 0, sizeof(mine));
	if (tok_get_scopes(L, 1, &mine.scopes, &given_scopes, &e) == -1 ||
	    tok_get_expiry(L, 1, now, &ask, &e) == -1 ||
	    tok_get_ips(L, 1, &mine.ips, &given_ips, &e) == -1)
		return tok_refusal(L, &e);
	if (!given_scopes)
		mine.scopes = strcmp(t.kind, "via") == 0 ? SCOPE_VIA :
		    SCOPE_USER_DEFAULT;
	t.account_id = a.account_id;
	t.user_id = a.id;
	/* Made by a token: decided against what it may do now, in the
	 * transaction that makes the child, so a deactivation or a
	 * narrowing of the maker either comes first (and is seen) or after
	 * (and reaches the child). */
	if ((own = tx_open(db)) == -1)
		return tok_fail_db(L);
	rc = 0;
	if (a.token != NULL) {
		if ((rc = caller_now(db, a.token, &parent)) != 0)
			goto refused;
		if (!given_scopes && strcmp(t.kind, "user") == 0)
			mine.scopes &= parent.scopes;
		if (!given_ips)
			mine.ips = parent.ips;
		t.parent_id = a.token->token_id;
	}
	if (tok_check_kind_scopes(t.kind, mine.scopes, &e) == -1 ||
	    authority_expiry(lhost_config(L), now, &ask,
	    a.token ? parent.expires_at : 0, &mine.expires_at, &e) == -1)
		goto refused;
	if (a.token != NULL) {
		/* A Via token's one scope comes with its destination (made
		 * with objects:write), not from the maker's scopes. */
		if (strcmp(t.kind, "via") == 0)
			parent.scopes |= SCOPE_VIA;
		if (authority_within(&mine, &parent, &e) == -1)
			goto refused;
	}
	if (cidr_format_list(&mine.ips, ips, sizeof(ips)) == -1) {
		authority_bad(&e, "allowed_ips", "allowed_ips: too long");
		goto refused;
	}
	t.scopes = mine.scopes;
	t.expires_at = mine.expires_at;
	t.allowed_ips = ips;
	if (token_create(db, lhost_pepper(L), &t, &m) == -1) {
		tx_close(db, own, 0);
		return tok_fail_db(L);
	}
	if (tx_close(db, own, 1) == -1) {
		sodium_memzero(m.secret, sizeof(m.secret));
		return tok_fail_db(L);
	}
	lhost_secret_issued(L);
	lua_pushstring(L, m.secret);
	sodium_memzero(m.secret, sizeof(m.secret));
	if (!tok_push_visible(L, m.key, &a))
		return tok_fail_db(L);
	lua_insert(L, -2);
	lua_setfield(L, -2, "token");
	return 1;
refused:
	return undo(L, db, own, rc, &e);
}

static int
l_set_active(lua_State *L)
{
	struct actor	 a;
	struct db	*db = lhost_db(L);
	const char	*key;
	int		 active, rc;
	long long	 id, n;

	luaL_checktype(L, 1, LUA_TTABLE);
	tok_get_actor(L, 1, &a);
	key = tok_opt_field(L, 1, "key", "");
	lua_getfield(L, 1, "active");
	luaL_checktype(L, -1, LUA_TBOOLEAN);
	active = lua_toboolean(L, -1);
	lua_pop(L, 1);
	if ((id = tok_target(L, key, &a)) == 0)
		return 2;
	lua_pop(L, 1);
	/* One statement each way: a deactivation reaches every token made
	 * from id; an activation happens only under an active parent (and
	 * an acting token still active). */
	if ((rc = token_switch(db, id, active, a.id,
	    a.token ? a.token->token_id : 0)) == -1)
		return tok_fail_db(L);
	if (rc == 1)
		return tok_refuse(L, 409, "PARENT_INACTIVE", "the token this one "
		    "was made from is switched off: switch that one on first");
	n = db_changes(db);
	tok_push_visible(L, key, &a);
	lua_pushinteger(L, active || n < 1 ? 0 : n - 1);
	return 2;
}

/* One descendant being narrowed: its id, parent, kind, new grant. */
struct narrowed {
	long long	 id;
	long long	 parent_id;
	int		 via;
	int		 keep;
	struct grant	 g;
};

/* Narrows every token made from id (recursively) to what id may now do:
 * each keeps the scopes and addresses its parent keeps (a Via token its
 * via:read, which comes with its destination). One left with no scope or
 * no address (or more than CIDR_MAX networks) is switched off and so is
 * everything made from it: its addresses become its parent's, so it can
 * never be switched on wider than its parent. Parents come before their
 * children (ids grow). Inside the caller's transaction. 0 or -1. */
static int
narrow_tree(struct db *db, long long id, const struct grant *top,
    long long actor)
{
	struct dbq	*st;
	struct narrowed	*v = NULL, *nv;
	const struct grant *pg;
	struct cidr_list own;
	size_t		 n = 0, cap = 0, i, k;
	char		 err[128], ips[TOKEN_IPS_MAX];
	int		 rc, ret = -1, parent_keeps;

	if ((st = db_query(db, "token_descendants")) == NULL ||
	    db_bind_int64(st, ":id", id))
		return -1;
	while ((rc = db_step(st)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL)
				break;
			v = nv;
		}
		memset(&v[n], 0, sizeof(v[n]));
		v[n].id = db_col_int(st, 0);
		v[n].g.scopes = (uint32_t)db_col_int(st, 1);
		if (cidr_parse_list(db_col_text(st, 2),
		    &v[n].g.ips, err, sizeof(err)) == -1)
			break;
		v[n].parent_id = db_col_int(st, 4);
		v[n].via = strcmp(db_col_text(st, 5),
		    "via") == 0;
		n++;
	}
	db_reset(st);
	if (rc != DB_DONE)
		goto out;
	for (i = 0; i < n; i++) {
		pg = top;
		parent_keeps = 1;
		for (k = 0; k < i; k++)
			if (v[k].id == v[i].parent_id) {
				pg = &v[k].g;
				parent_keeps = v[k].keep;
			}
		own = v[i].g.ips;
		if (!v[i].via)
			v[i].g.scopes &= pg->scopes;
		v[i].keep = parent_keeps && v[i].g.scopes != 0 &&
		    cidr_intersect(&own, &pg->ips, &v[i].g.ips) == 0;
		if (!v[i].keep)
			v[i].g.ips = pg->ips;
		if (cidr_format_list(&v[i].g.ips, ips, sizeof(ips)) == -1 ||
		    (st = db_query(db, "token_narrow")) == NULL ||
		    db_bind_int64(st, ":scopes", v[i].g.scopes) ||
		    db_bind_text(st, ":allowed_ips", ips) ||
		    db_bind_int64(st, ":keep", v[i].keep) ||
		    db_bind_int64(st, ":now", clock_now()) ||
		    db_bind_int64(st, ":actor", actor) ||
		    db_bind_int64(st, ":id", v[i].id) || db_run(db, st) != 0)
			goto out;
	}
	ret = 0;
out:
	free(v);
	return ret;
}

/* The writes of an edit: the token, then its descendants narrowed. */
static int
write_update(struct db *db, long long id, const char *description,
    const struct grant *g, long long actor)
{
	struct dbq	*st;
	char		 ips[TOKEN_IPS_MAX];

	if (cidr_format_list(&g->ips, ips, sizeof(ips)) == -1 ||
	    (st = db_query(db, "token_update")) == NULL ||
	    db_bind_text(st, ":description", description) ||
	    db_bind_int64(st, ":scopes", g->scopes) ||
	    db_bind_text(st, ":allowed_ips", ips) ||
	    db_bind_int64(st, ":now", clock_now()) ||
	    db_bind_int64(st, ":actor", actor) ||
	    db_bind_int64(st, ":id", id) || db_run(db, st) != 0)
		return -1;
	return narrow_tree(db, id, g, actor);
}

static int
l_update(lua_State *L)
{
	struct actor		 a;
	struct authority_err	 e;
	struct grant		 g, pg, mine, caller;
	struct db		*db = lhost_db(L);
	const char		*key, *desc, *kind;
	size_t			 dlen;
	long long		 id;
	int			 given_scopes, given_ips, has_parent, active;
	int			 own, rc = 0, via;

	luaL_checktype(L, 1, LUA_TTABLE);
	tok_get_actor(L, 1, &a);
	key = tok_opt_field(L, 1, "key", "");
	memset(&mine, 0, sizeof(mine));
	if (tok_get_scopes(L, 1, &mine.scopes, &given_scopes, &e) == -1 ||
	    tok_get_ips(L, 1, &mine.ips, &given_ips, &e) == -1)
		return tok_refusal(L, &e);
	if ((id = tok_target(L, key, &a)) == 0)
		return 2;
	lua_getfield(L, -1, "kind");
	kind = lua_tostring(L, -1);		/* kept alive by the row */
	lua_pop(L, 1);
	via = kind != NULL && strcmp(kind, "via") == 0;
	lua_getfield(L, 1, "description");
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_getfield(L, -1, "description");
	}
	desc = luaL_checklstring(L, -1, &dlen);
	if (dlen == 0 || strlen(desc) != dlen || !utf8_valid(desc, dlen))
		return luaL_error(L, "host.tokens.update: bad description");
	/* Decided and written in one transaction, against the grants as
	 * they are then. */
	if ((own = tx_open(db)) == -1)
		return tok_fail_db(L);
	if (grants_of(db, id, &g, &pg, &has_parent, &active) == -1) {
		rc = -1;
		goto refused;
	}
	if (given_scopes)
		g.scopes = mine.scopes;
	if (given_ips)
		g.ips = mine.ips;
	/* A Via token's via:read is its destination's, not its maker's. */
	if (via)
		pg.scopes |= SCOPE_VIA;
	if (tok_check_kind_scopes(via ? "via" : "user", g.scopes, &e) == -1 ||
	    (has_parent && authority_within(&g, &pg, &e) == -1))
		goto refused;
	if (a.token != NULL) {
		if ((rc = caller_now(db, a.token, &caller)) != 0)
			goto refused;
		if (via)
			caller.scopes |= SCOPE_VIA;
		if (authority_within(&g, &caller, &e) == -1)
			goto refused;
	}
	if (write_update(db, id, desc, &g, a.id) == -1) {
		tx_close(db, own, 0);
		return tok_fail_db(L);
	}
	if (tx_close(db, own, 1) == -1)
		return tok_fail_db(L);
	tok_push_visible(L, key, &a);
	return 1;
refused:
	return undo(L, db, own, rc, &e);
}

static int
l_rotate(lua_State *L)
{
	struct actor	 a;
	struct db	*db = lhost_db(L);
	char		 secret[TOKEN_SECRET_LEN + 1];
	const char	*key;
	lua_Integer	 grace;
	long long	 id, prev;
	int		 rc;

	luaL_checktype(L, 1, LUA_TTABLE);
	tok_get_actor(L, 1, &a);
	key = tok_opt_field(L, 1, "key", "");
	grace = tok_opt_int(L, 1, "grace_seconds", GRACE_DEFAULT);
	if (grace < 0 || grace > GRACE_MAX) {
		struct authority_err e;

		authority_bad(&e, "grace_seconds", "grace_seconds: 0 to %d",
		    GRACE_MAX);
		return tok_refusal(L, &e);
	}
	if ((id = tok_target(L, key, &a)) == 0)
		return 2;
	lua_pop(L, 1);
	if (token_rotate(db, lhost_pepper(L), id, grace, a.id, secret, &prev,
	    &rc) == -1)
		return tok_fail_db(L);
	lhost_secret_issued(L);
	lua_createtable(L, 0, 3);
	lua_pushstring(L, key);
	lua_setfield(L, -2, "key");
	lua_pushstring(L, secret);
	sodium_memzero(secret, sizeof(secret));
	lua_setfield(L, -2, "token");
	if (prev > 0) {
		lua_pushinteger(L, prev);
		lua_setfield(L, -2, "previous_expires_at");
	}
	return 1;
}

void
lhost_open_tokens(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "create",	l_create },
		{ "get",	tok_l_get },
		{ "list",	tok_l_list },
		{ "rotate",	l_rotate },
		{ "scope_names", tok_l_scope_names },
		{ "set_active",	l_set_active },
		{ "update",	l_update },
		{ NULL,		NULL },
	};

	luaL_newlib(L, fns);
	tok_push_scope_table(L);
	lua_setfield(L, -2, "scopes");
}
