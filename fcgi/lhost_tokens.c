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
 */
#include <sodium.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "authority.h"
#include "bridge.h"

#define GRACE_DEFAULT	86400
#define GRACE_MAX	604800

struct actor {
	long long		 id;
	long long		 account_id;
	int			 admin;
	const struct principal	*token;	/* the acting token, or NULL */
};

/* Who acts: the request's token when there is one, else the actor table
 * of argument t (a page's session, the runner). */
static void
get_actor(lua_State *L, int t, struct actor *a)
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

static const char *
opt_field(lua_State *L, int t, const char *name, const char *def)
{
	const char	*v;

	lua_getfield(L, t, name);
	v = luaL_optstring(L, -1, def);
	lua_pop(L, 1);
	return v;
}

static lua_Integer
opt_int(lua_State *L, int t, const char *name, lua_Integer def)
{
	lua_Integer	 v;

	lua_getfield(L, t, name);
	v = luaL_optinteger(L, -1, def);
	lua_pop(L, 1);
	return v;
}

static int
fail_db(lua_State *L)
{
	return lhost_error(L, 503, "UNAVAILABLE", "token store unavailable");
}

/* Returns nil, err (the refusal in e) to the script. */
static int
refusal(lua_State *L, const struct authority_err *e)
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

static int
refuse(lua_State *L, int status, const char *code, const char *msg)
{
	struct authority_err	 e;

	memset(&e, 0, sizeof(e));
	e.status = status;
	e.code = code;
	snprintf(e.message, sizeof(e.message), "%s", msg);
	return refusal(L, &e);
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
static int
get_scopes(lua_State *L, int t, uint32_t *mask, int *given,
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
static int
check_kind_scopes(const char *kind, uint32_t mask, struct authority_err *e)
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
static int
get_ips(lua_State *L, int t, struct cidr_list *l, int *given,
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
static int
get_expiry(lua_State *L, int t, long long now, struct expiry_ask *ask,
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

/* Pushes the token named by key as token_visible shows it, if the actor
 * may see it: their own, or (an admin's session) the
 * account's. Returns 1 (pushed), 0 (nil pushed); raises on a database
 * failure. */
static int
push_visible(lua_State *L, const char *key, const struct actor *a)
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
		return fail_db(L);
	rc = db_step(st);
	if (rc == DB_ROW)
		lhost_push_row(L, st);
	else
		lua_pushnil(L);
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return fail_db(L);
	return rc == DB_ROW;
}

/* Integer field name of the table on top. */
static long long
int_field(lua_State *L, const char *name)
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
static long long
target(lua_State *L, const char *key, const struct actor *a)
{
	struct dbq	*st;
	long long	 id, in = 0;
	int		 rc;

	if (!push_visible(L, key, a)) {
		lua_pop(L, 1);
		refuse(L, 404, "NOT_FOUND", "no such token");
		return 0;
	}
	id = int_field(L, "id");
	if (a->token == NULL || id == a->token->token_id)
		return id;
	if ((st = db_query(lhost_db(L), "token_in_tree")) == NULL ||
	    db_bind_int64(st, ":id", id) ||
	    db_bind_int64(st, ":ancestor", a->token->token_id))
		fail_db(L);
	if ((rc = db_step(st)) == DB_ROW)
		in = db_col_int(st, 0);
	db_reset(st);
	if (rc != DB_ROW)
		fail_db(L);
	if (in)
		return id;
	lua_pop(L, 1);
	refuse(L, 403, "FORBIDDEN", "a token may change only itself and the "
	    "tokens made from it");
	return 0;
}

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
	return refuse(L, 401, "INVALID_TOKEN", "missing, invalid or inactive "
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
		return fail_db(L);
	if (rc == 1)
		return caller_gone(L);
	return refusal(L, e);
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
	get_actor(L, 1, &a);
	t.kind = opt_field(L, 1, "kind", "user");
	if (strcmp(t.kind, "user") != 0 && strcmp(t.kind, "via") != 0)
		return luaL_error(L, "host.tokens.create: kind is user or via");
	lua_getfield(L, 1, "description");
	t.description = luaL_checklstring(L, -1, &dlen);
	if (dlen == 0 || strlen(t.description) != dlen ||
	    !utf8_valid(t.description, dlen))
		return luaL_error(L, "host.tokens.create: bad description");
	t.destination_id = opt_int(L, 1, "destination_id", 0);
	if ((strcmp(t.kind, "via") == 0) != (t.destination_id > 0))
		return luaL_error(L, "host.tokens.create: a via token needs "
		    "a destination_id, a user token none");
	memset(&mine, 0, sizeof(mine));
	if (get_scopes(L, 1, &mine.scopes, &given_scopes, &e) == -1 ||
	    get_expiry(L, 1, now, &ask, &e) == -1 ||
	    get_ips(L, 1, &mine.ips, &given_ips, &e) == -1)
		return refusal(L, &e);
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
		return fail_db(L);
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
	if (check_kind_scopes(t.kind, mine.scopes, &e) == -1 ||
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
		return fail_db(L);
	}
	if (tx_close(db, own, 1) == -1) {
		sodium_memzero(m.secret, sizeof(m.secret));
		return fail_db(L);
	}
	lhost_secret_issued(L);
	lua_pushstring(L, m.secret);
	sodium_memzero(m.secret, sizeof(m.secret));
	if (!push_visible(L, m.key, &a))
		return fail_db(L);
	lua_insert(L, -2);
	lua_setfield(L, -2, "token");
	return 1;
refused:
	return undo(L, db, own, rc, &e);
}

static int
l_get(lua_State *L)
{
	struct actor	 a;

	luaL_checktype(L, 1, LUA_TTABLE);
	get_actor(L, 1, &a);
	push_visible(L, opt_field(L, 1, "key", ""), &a);
	return 1;
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
	get_actor(L, 1, &a);
	key = opt_field(L, 1, "key", "");
	lua_getfield(L, 1, "active");
	luaL_checktype(L, -1, LUA_TBOOLEAN);
	active = lua_toboolean(L, -1);
	lua_pop(L, 1);
	if ((id = target(L, key, &a)) == 0)
		return 2;
	lua_pop(L, 1);
	/* One statement each way: a deactivation reaches every token made
	 * from id; an activation happens only under an active parent (and
	 * an acting token still active). */
	if ((rc = token_switch(db, id, active, a.id,
	    a.token ? a.token->token_id : 0)) == -1)
		return fail_db(L);
	if (rc == 1)
		return refuse(L, 409, "PARENT_INACTIVE", "the token this one "
		    "was made from is switched off: switch that one on first");
	n = db_changes(db);
	push_visible(L, key, &a);
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
	get_actor(L, 1, &a);
	key = opt_field(L, 1, "key", "");
	memset(&mine, 0, sizeof(mine));
	if (get_scopes(L, 1, &mine.scopes, &given_scopes, &e) == -1 ||
	    get_ips(L, 1, &mine.ips, &given_ips, &e) == -1)
		return refusal(L, &e);
	if ((id = target(L, key, &a)) == 0)
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
		return fail_db(L);
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
	if (check_kind_scopes(via ? "via" : "user", g.scopes, &e) == -1 ||
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
		return fail_db(L);
	}
	if (tx_close(db, own, 1) == -1)
		return fail_db(L);
	push_visible(L, key, &a);
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
	get_actor(L, 1, &a);
	key = opt_field(L, 1, "key", "");
	grace = opt_int(L, 1, "grace_seconds", GRACE_DEFAULT);
	if (grace < 0 || grace > GRACE_MAX) {
		struct authority_err e;

		authority_bad(&e, "grace_seconds", "grace_seconds: 0 to %d",
		    GRACE_MAX);
		return refusal(L, &e);
	}
	if ((id = target(L, key, &a)) == 0)
		return 2;
	lua_pop(L, 1);
	if (token_rotate(db, lhost_pepper(L), id, grace, a.id, secret, &prev,
	    &rc) == -1)
		return fail_db(L);
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

static int
l_list(lua_State *L)
{
	struct actor	 a;
	const char	*kind, *q;
	lua_Integer	 limit, offset, n = 0;
	struct dbq	*st;
	int		 rc;

	luaL_checktype(L, 1, LUA_TTABLE);
	get_actor(L, 1, &a);
	kind = opt_field(L, 1, "kind", "user");
	q = opt_field(L, 1, "q", "");
	limit = opt_int(L, 1, "limit", 50);
	offset = opt_int(L, 1, "offset", 0);
	if (limit < 1 || limit > 1000 || offset < 0)
		return luaL_error(L, "host.tokens.list: limit 1..1000, "
		    "offset >= 0");
	if ((st = db_query(lhost_db(L), "tokens_page")) == NULL ||
	    bind_filter(st, &a, kind, q) ||
	    db_bind_int64(st, ":limit", limit) ||
	    db_bind_int64(st, ":offset", offset))
		return fail_db(L);
	lua_createtable(L, (int)limit, 0);
	while ((rc = db_step(st)) == DB_ROW) {
		lhost_push_row(L, st);
		lua_rawseti(L, -2, ++n);
	}
	db_reset(st);
	if (rc != DB_DONE)
		return fail_db(L);
	if ((st = db_query(lhost_db(L), *q ? "tokens_count_q" :
	    "tokens_count")) == NULL ||
	    bind_filter(st, &a, kind, q))
		return fail_db(L);
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

static int
l_scope_names(lua_State *L)
{
	lua_Integer	 mask = luaL_checkinteger(L, 1);

	lhost_push_scopes(L, (uint32_t)mask);
	return 1;
}

/* host.tokens.scopes: the scope table, as data for pages. */
static void
push_scope_table(lua_State *L)
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

void
lhost_open_tokens(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "create",	l_create },
		{ "get",	l_get },
		{ "list",	l_list },
		{ "rotate",	l_rotate },
		{ "scope_names", l_scope_names },
		{ "set_active",	l_set_active },
		{ "update",	l_update },
		{ NULL,		NULL },
	};

	luaL_newlib(L, fns);
	push_scope_table(L);
	lua_setfield(L, -2, "scopes");
}
