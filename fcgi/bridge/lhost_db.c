/*
 * lhost_db.c -- host.db: named queries with bound parameters, and
 * transactions.
 *
 *	host.db.rows(name, params)  -> { row, ... }   (row: column -> value)
 *	host.db.row(name, params)   -> row or nil
 *	host.db.value(name, params) -> first column of the first row, or nil
 *	host.db.exec(name, params)  -> changes, last_insert_rowid
 *	host.db.tx(fn, ...)         -> fn's results; rolled back if fn errors
 *	host.db.batch({ {name, params}, ... })  one write transaction of
 *	                            statements that only add and count
 *	host.db.engine              -> "sqlite" or "postgresql"
 *
 * params is a table of the query's :named parameters; a missing one, or a
 * key the query does not use, is an error (catches typos). host.null
 * binds NULL; SQL NULL comes back as nil. Integers stay int64.
 *
 * Every commit (tx(), or a write outside one) is durable before the
 * call returns: the store (store.c) syncs it.
 *
 * A busy, full, read-only or failing disk raises {status = 503}, which
 * fails the request with 503 UNAVAILABLE unless the script catches it; a
 * constraint violation raises {status = 409, code = "CONSTRAINT"}.
 */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"

/* Raises the right error for rc from a statement of query name. */
static int
db_fail(lua_State *L, struct db *db, const char *name, int rc)
{
	char	 msg[512];

	snprintf(msg, sizeof(msg), "query %s: %s", name,
	    rc == DB_NOT_DURABLE ? "commit not durable" :
	    db_errmsg(db));
	if (db_unavailable(rc)) {
		log_err("%s", msg);
		return lhost_error(L, 503, "UNAVAILABLE", msg);
	}
	if ((rc & 0xff) == DB_CONSTRAINT)
		return lhost_error(L, 409, "CONSTRAINT", msg);
	return luaL_error(L, "%s", msg);
}

/* Binds the params table at idx (may be none/nil) to st. */
static void
bind_params(lua_State *L, struct dbq *st, const char *name, int idx)
{
	int		 i, n = db_param_count(st), rc = 0;
	const char	*pn, *s;
	size_t		 len;
	char		 key[80];

	if (n > 0)
		luaL_checktype(L, idx, LUA_TTABLE);
	else if (!lua_isnoneornil(L, idx))
		luaL_checktype(L, idx, LUA_TTABLE);
	for (i = 1; i <= n; i++) {
		if ((pn = db_param_name(st, i)) == NULL)
			luaL_error(L, "query %s: use :named parameters", name);
		lua_getfield(L, idx, pn + 1);
		switch (lua_type(L, -1)) {
		case LUA_TNIL:
			luaL_error(L, "query %s: missing parameter %s", name,
			    pn);
			break;
		case LUA_TBOOLEAN:
			rc = db_bind_index_int64(st, i, lua_toboolean(L, -1));
			break;
		case LUA_TNUMBER:
			if (lua_isinteger(L, -1))
				rc = db_bind_index_int64(st, i,
				    (long long)lua_tointeger(L, -1));
			else
				rc = db_bind_index_double(st, i,
				    lua_tonumber(L, -1));
			break;
		case LUA_TSTRING:
			s = lua_tolstring(L, -1, &len);
			if (utf8_valid(s, len) && strlen(s) == len)
				rc = db_bind_index_text(st, i, s, len);
			else
				rc = db_bind_index_blob(st, i, s, len);
			break;
		case LUA_TLIGHTUSERDATA:
			if (lhost_is_null(L, -1)) {
				rc = db_bind_index_null(st, i);
				break;
			}
			/* FALLTHROUGH */
		default:
			luaL_error(L, "query %s: parameter %s cannot be a %s",
			    name, pn, luaL_typename(L, -1));
		}
		lua_pop(L, 1);
		if (rc != 0)
			luaL_error(L, "query %s: binding %s failed", name, pn);
	}
	if (lua_isnoneornil(L, idx))
		return;
	/* Every key given must be a parameter of the query. */
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING) {
			lua_pop(L, 1);
			luaL_error(L, "query %s: parameter names are strings",
			    name);
		}
		snprintf(key, sizeof(key), ":%s", lua_tostring(L, -1));
		if (!db_has_param(st, key))
			luaL_error(L, "query %s has no parameter :%s", name,
			    key + 1);
	}
}

/* Pushes the current row as a table (NULL columns left out). */
void
lhost_push_row(lua_State *L, struct dbq *st)
{
	int	 i, n = db_col_count(st);

	lua_createtable(L, 0, n);
	for (i = 0; i < n; i++) {
		switch (db_col_type(st, i)) {
		case DB_INTEGER:
			lua_pushinteger(L, (lua_Integer)
			    db_col_int(st, i));
			break;
		case DB_FLOAT:
			lua_pushnumber(L, db_col_double(st, i));
			break;
		case DB_TEXT:
			lua_pushlstring(L, (const char *)
			    db_col_text(st, i),
			    (size_t)db_col_bytes(st, i));
			break;
		case DB_BLOB:
			lua_pushlstring(L, db_col_blob(st, i),
			    (size_t)db_col_bytes(st, i));
			break;
		default:
			continue;	/* NULL: the key stays absent */
		}
		lua_setfield(L, -2, db_col_name(st, i));
	}
}

/* Looks up and binds the query named by argument 1 with params at 2. */
static struct dbq *
prepare(lua_State *L, struct db *db, const char **name)
{
	struct dbq	*st;

	*name = luaL_checkstring(L, 1);
	if ((st = db_query(db, *name)) == NULL)
		luaL_error(L, "no query named '%s' in queries.sql", *name);
	if (db->reading && !db_readonly(st))
		luaL_error(L, "query %s writes: not inside host.db.read "
		    "(write in host.db.tx)", *name);
	bind_params(L, st, *name, 2);
	return st;
}

/* Steps st to the end collecting at most max rows (0: all) into a new
 * table; always resets st (no read transaction outlives the call). */
static int
collect(lua_State *L, struct db *db, struct dbq *st, const char *name,
    int max)
{
	int		 rc, n = 0;

	lua_newtable(L);
	while ((rc = db_step(st)) == DB_ROW) {
		if (max == 0 || n < max) {
			lhost_push_row(L, st);
			lua_rawseti(L, -2, ++n);
		}
		if (max && n >= max) {
			rc = DB_DONE;
			break;
		}
	}
	if (rc != DB_DONE)
		db_reset(st);
	else
		rc = db_finish(db, st) == 0 ? DB_DONE : DB_NOT_DURABLE;
	if (rc != DB_DONE)
		return db_fail(L, db, name, rc);
	return n;
}

static int
l_rows(lua_State *L)
{
	struct db	*db = lhost_db(L);
	const char	*name;
	struct dbq	*st = prepare(L, db, &name);

	collect(L, db, st, name, 0);
	return 1;
}

static int
l_row(lua_State *L)
{
	struct db	*db = lhost_db(L);
	const char	*name;
	struct dbq	*st = prepare(L, db, &name);

	if (collect(L, db, st, name, 1) == 0)
		lua_pushnil(L);
	else
		lua_rawgeti(L, -1, 1);
	return 1;
}

static int
l_value(lua_State *L)
{
	struct db	*db = lhost_db(L);
	const char	*name;
	struct dbq	*st = prepare(L, db, &name);
	int		 rc;

	rc = db_step(st);
	if (rc == DB_ROW) {
		switch (db_col_type(st, 0)) {
		case DB_INTEGER:
			lua_pushinteger(L, db_col_int(st, 0));
			break;
		case DB_FLOAT:
			lua_pushnumber(L, db_col_double(st, 0));
			break;
		case DB_NULL:
			lua_pushnil(L);
			break;
		default:
			lua_pushlstring(L, (const char *)
			    db_col_blob(st, 0),
			    (size_t)db_col_bytes(st, 0));
		}
		rc = DB_DONE;
	} else
		lua_pushnil(L);
	if (rc != DB_DONE)
		db_reset(st);
	else
		rc = db_finish(db, st) == 0 ? DB_DONE : DB_NOT_DURABLE;
	if (rc != DB_DONE)
		return db_fail(L, db, name, rc);
	return 1;
}

static int
l_exec(lua_State *L)
{
	struct db	*db = lhost_db(L);
	const char	*name;
	struct dbq	*st;
	int		 rc;

	st = prepare(L, db, &name);
	while ((rc = db_step(st)) == DB_ROW)
		;
	if (rc != DB_DONE)
		db_reset(st);
	else
		rc = db_finish(db, st) == 0 ? DB_DONE : DB_NOT_DURABLE;
	if (rc != DB_DONE)
		return db_fail(L, db, name, rc);
	lua_pushinteger(L, db_changes(db));
	lua_pushinteger(L, db_last_id(db));
	return 2;
}

/* host.db.tx(fn, ...): BEGIN IMMEDIATE (SAVEPOINT when nested), run fn,
 * COMMIT; on any error ROLLBACK and re-raise the same error. */
static int
l_tx(lua_State *L)
{
	struct db	*db = lhost_db(L);
	int		 depth, status, n, rc;

	luaL_checktype(L, 1, LUA_TFUNCTION);
	if (db->reading)
		return luaL_error(L, "host.db.tx inside host.db.read: begin the "
		    "transaction first");
	depth = db->tx_depth;
	if (depth == 0) {
		if ((rc = db_tx(db, DB_BEGIN)) != DB_OK)
			return db_fail(L, db, "BEGIN IMMEDIATE", rc);
	} else if ((rc = db_savepoint(db, DB_SAVEPOINT, depth)) != DB_OK)
		return db_fail(L, db, "SAVEPOINT", rc);
	db->tx_depth++;
	n = lua_gettop(L);
	lua_pushcfunction(L, lhost_msgh);
	lua_insert(L, 1);
	status = lua_pcall(L, n - 1, LUA_MULTRET, 1);
	lua_remove(L, 1);
	db->tx_depth--;
	if (status != LUA_OK) {
		db_reset_busy(db);
		if (depth == 0)
			db_tx(db, DB_ROLLBACK);
		else
			db_savepoint(db, DB_ROLLBACK_TO, depth);
		return lua_error(L);
	}
	if (depth == 0)
		rc = db_tx(db, DB_COMMIT);
	else
		rc = db_savepoint(db, DB_RELEASE, depth);
	if (rc != DB_OK)
		return db_fail(L, db, "COMMIT", rc);
	return lua_gettop(L);
}

/* Item i of host.db.batch's list: looks its query up and binds its
 * parameters (raising on any mistake); leaves the stack as it found it. */
static struct dbq *
batch_item(lua_State *L, struct db *db, lua_Integer i, const char **name)
{
	struct dbq	*st;
	int		 top = lua_gettop(L);

	if (lua_rawgeti(L, 1, i) != LUA_TTABLE)
		luaL_error(L, "host.db.batch: item %d is not { name, params }",
		    (int)i);
	lua_rawgeti(L, -1, 1);
	*name = lua_tostring(L, -1);
	if (*name == NULL || (st = db_query(db, *name)) == NULL)
		luaL_error(L, "host.db.batch: item %d: no query named '%s'",
		    (int)i, *name ? *name : "?");
	if (db_readonly(st))
		luaL_error(L, "host.db.batch: query %s only reads", *name);
	lua_rawgeti(L, -2, 2);
	bind_params(L, st, *name, lua_gettop(L));
	lua_settop(L, top);
	return st;
}

/*
 * host.db.batch({ { name, params }, ... }): the statements, in order, as
 * one write transaction whose results nobody reads (records added,
 * counters raised: db_batch_begin). One round trip on PostgreSQL, where
 * batches also run side by side. Every item is checked before anything
 * is sent; a failure rolls the whole batch back and raises like tx().
 */
static int
l_batch(lua_State *L)
{
	struct db	*db = lhost_db(L);
	struct dbq	*st;
	const char	*name = "";
	lua_Integer	 i, n;
	int		 rc;

	luaL_checktype(L, 1, LUA_TTABLE);
	if (db->tx_depth > 0 || db->reading)
		return luaL_error(L, "host.db.batch inside a transaction");
	if ((n = (lua_Integer)lua_rawlen(L, 1)) < 1)
		return luaL_error(L, "host.db.batch: no statements");
	for (i = 1; i <= n; i++)
		batch_item(L, db, i, &name);
	if ((rc = db_batch_begin(db)) != DB_OK)
		return db_fail(L, db, "BEGIN", rc);
	for (i = 1; i <= n; i++) {
		st = batch_item(L, db, i, &name);
		if ((rc = db_batch_add(db, st)) != DB_OK) {
			db_batch_end(db, 0);
			return db_fail(L, db, name, rc);
		}
	}
	if ((rc = db_batch_end(db, 1)) != DB_OK)
		return db_fail(L, db, "COMMIT", rc);
	return 0;
}

/*
 * host.db.read(fn, ...): runs fn inside one read transaction, so all its
 * queries see the same snapshot (a page's rows agree with its count) and
 * the shared lock is taken once, not once per query. Inside a transaction
 * already, fn just runs. Nothing inside may write: a named query that
 * writes raises, host.db.tx raises, and the host's own writers (db_run)
 * refuse; should a write slip through anyway, it is synced like any.
 */
static int
l_read(lua_State *L)
{
	struct db	*db = lhost_db(L);
	int		 status, n, rc;

	luaL_checktype(L, 1, LUA_TFUNCTION);
	n = lua_gettop(L);
	if (db->tx_depth > 0) {
		lua_call(L, n - 1, LUA_MULTRET);
		return lua_gettop(L);
	}
	if ((rc = db_tx(db, DB_BEGIN_READ)) != DB_OK)
		return db_fail(L, db, "BEGIN", rc);
	db->tx_depth++;
	db->reading = 1;
	lua_pushcfunction(L, lhost_msgh);
	lua_insert(L, 1);
	status = lua_pcall(L, n - 1, LUA_MULTRET, 1);
	lua_remove(L, 1);
	db->reading = 0;
	db->tx_depth--;
	if (status != LUA_OK)
		db_reset_busy(db);
	rc = db_tx(db, status == LUA_OK ? DB_COMMIT : DB_ROLLBACK);
	if (status != LUA_OK)
		return lua_error(L);
	if (rc != DB_OK)
		return db_fail(L, db, "COMMIT", rc);
	return lua_gettop(L);
}

void
lhost_open_db(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "batch",	l_batch },
		{ "exec",	l_exec },
		{ "read",	l_read },
		{ "row",	l_row },
		{ "rows",	l_rows },
		{ "tx",		l_tx },
		{ "value",	l_value },
		{ NULL,		NULL },
	};
	struct db	*db = lhost_db(L);

	luaL_newlib(L, fns);
	/* host.db.engine: "sqlite" or "postgresql", for the few scripts
	 * that must know (an integer kept in meta reads back as text on
	 * PostgreSQL, for one). */
	lua_pushstring(L, db != NULL && db_remote(db) ? "postgresql" :
	    "sqlite");
	lua_setfield(L, -2, "engine");
}
