/*
 * lhost_db.c -- host.db: named queries with bound parameters, and
 * transactions.
 *
 *	host.db.rows(name, params)  -> { row, ... }   (row: column -> value)
 *	host.db.row(name, params)   -> row or nil
 *	host.db.value(name, params) -> first column of the first row, or nil
 *	host.db.exec(name, params)  -> changes, last_insert_rowid
 *	host.db.tx(fn, ...)         -> fn's results; rolled back if fn errors
 *
 * params is a table of the query's :named parameters; a missing one, or a
 * key the query does not use, is an error (catches typos). host.null
 * binds NULL; SQL NULL comes back as nil. Integers stay int64.
 *
 * Every commit (tx(), or a write outside one) is durable before the
 * call returns: the store (db.c) syncs it.
 *
 * A busy, full, read-only or failing disk raises {status = 503}, which
 * fails the request with 503 UNAVAILABLE unless the script catches it; a
 * constraint violation raises {status = 409, code = "CONSTRAINT"}.
 */
#include <sqlite3.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "tessera.h"

/* Raises the right error for rc from a statement of query name. */
static int
db_fail(lua_State *L, struct db *db, const char *name, int rc)
{
	char	 msg[512];

	snprintf(msg, sizeof(msg), "query %s: %s", name,
	    rc == DB_NOT_DURABLE ? "commit not durable" :
	    sqlite3_errmsg(db->h));
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_NOMEM:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		log_err("%s", msg);
		return lhost_error(L, 503, "UNAVAILABLE", msg);
	case SQLITE_CONSTRAINT:
		return lhost_error(L, 409, "CONSTRAINT", msg);
	default:
		return luaL_error(L, "%s", msg);
	}
}

/* Binds the params table at idx (may be none/nil) to st. */
static void
bind_params(lua_State *L, sqlite3_stmt *st, const char *name, int idx)
{
	int		 i, n = sqlite3_bind_parameter_count(st), rc = SQLITE_OK;
	const char	*pn, *s;
	size_t		 len;
	char		 key[80];

	if (n > 0)
		luaL_checktype(L, idx, LUA_TTABLE);
	else if (!lua_isnoneornil(L, idx))
		luaL_checktype(L, idx, LUA_TTABLE);
	for (i = 1; i <= n; i++) {
		if ((pn = sqlite3_bind_parameter_name(st, i)) == NULL)
			luaL_error(L, "query %s: use :named parameters", name);
		lua_getfield(L, idx, pn + 1);
		switch (lua_type(L, -1)) {
		case LUA_TNIL:
			luaL_error(L, "query %s: missing parameter %s", name,
			    pn);
			break;
		case LUA_TBOOLEAN:
			rc = sqlite3_bind_int(st, i, lua_toboolean(L, -1));
			break;
		case LUA_TNUMBER:
			if (lua_isinteger(L, -1))
				rc = sqlite3_bind_int64(st, i,
				    (sqlite3_int64)lua_tointeger(L, -1));
			else
				rc = sqlite3_bind_double(st, i,
				    lua_tonumber(L, -1));
			break;
		case LUA_TSTRING:
			s = lua_tolstring(L, -1, &len);
			if (utf8_valid(s, len) && strlen(s) == len)
				rc = sqlite3_bind_text(st, i, s, (int)len,
				    SQLITE_TRANSIENT);
			else
				rc = sqlite3_bind_blob(st, i, s, (int)len,
				    SQLITE_TRANSIENT);
			break;
		case LUA_TLIGHTUSERDATA:
			if (lhost_is_null(L, -1)) {
				rc = sqlite3_bind_null(st, i);
				break;
			}
			/* FALLTHROUGH */
		default:
			luaL_error(L, "query %s: parameter %s cannot be a %s",
			    name, pn, luaL_typename(L, -1));
		}
		lua_pop(L, 1);
		if (rc != SQLITE_OK)
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
		if (sqlite3_bind_parameter_index(st, key) == 0) {
			key[0] = '@';
			if (sqlite3_bind_parameter_index(st, key) == 0) {
				key[0] = '$';
				if (sqlite3_bind_parameter_index(st, key) == 0)
					luaL_error(L, "query %s has no "
					    "parameter :%s", name, key + 1);
			}
		}
	}
}

/* Pushes the current row as a table (NULL columns left out). */
void
lhost_push_row(lua_State *L, sqlite3_stmt *st)
{
	int	 i, n = sqlite3_column_count(st);

	lua_createtable(L, 0, n);
	for (i = 0; i < n; i++) {
		switch (sqlite3_column_type(st, i)) {
		case SQLITE_INTEGER:
			lua_pushinteger(L, (lua_Integer)
			    sqlite3_column_int64(st, i));
			break;
		case SQLITE_FLOAT:
			lua_pushnumber(L, sqlite3_column_double(st, i));
			break;
		case SQLITE_TEXT:
			lua_pushlstring(L, (const char *)
			    sqlite3_column_text(st, i),
			    (size_t)sqlite3_column_bytes(st, i));
			break;
		case SQLITE_BLOB:
			lua_pushlstring(L, sqlite3_column_blob(st, i),
			    (size_t)sqlite3_column_bytes(st, i));
			break;
		default:
			continue;	/* NULL: the key stays absent */
		}
		lua_setfield(L, -2, sqlite3_column_name(st, i));
	}
}

/* Looks up and binds the query named by argument 1 with params at 2. */
static sqlite3_stmt *
prepare(lua_State *L, struct db *db, const char **name)
{
	sqlite3_stmt	*st;

	*name = luaL_checkstring(L, 1);
	if ((st = db_query(db, *name)) == NULL)
		luaL_error(L, "no query named '%s' in queries.sql", *name);
	if (db->reading && !sqlite3_stmt_readonly(st))
		luaL_error(L, "query %s writes: not inside host.db.read "
		    "(write in host.db.tx)", *name);
	bind_params(L, st, *name, 2);
	return st;
}

/* Steps st to the end collecting at most max rows (0: all) into a new
 * table; always resets st (no read transaction outlives the call). */
static int
collect(lua_State *L, struct db *db, sqlite3_stmt *st, const char *name,
    int max)
{
	int		 rc, n = 0;

	lua_newtable(L);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (max == 0 || n < max) {
			lhost_push_row(L, st);
			lua_rawseti(L, -2, ++n);
		}
		if (max && n >= max) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		sqlite3_reset(st);
	else
		rc = db_finish(db, st) == 0 ? SQLITE_DONE : DB_NOT_DURABLE;
	if (rc != SQLITE_DONE)
		return db_fail(L, db, name, rc);
	return n;
}

static int
l_rows(lua_State *L)
{
	struct db	*db = lhost_db(L);
	const char	*name;
	sqlite3_stmt	*st = prepare(L, db, &name);

	collect(L, db, st, name, 0);
	return 1;
}

static int
l_row(lua_State *L)
{
	struct db	*db = lhost_db(L);
	const char	*name;
	sqlite3_stmt	*st = prepare(L, db, &name);

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
	sqlite3_stmt	*st = prepare(L, db, &name);
	int		 rc;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		switch (sqlite3_column_type(st, 0)) {
		case SQLITE_INTEGER:
			lua_pushinteger(L, sqlite3_column_int64(st, 0));
			break;
		case SQLITE_FLOAT:
			lua_pushnumber(L, sqlite3_column_double(st, 0));
			break;
		case SQLITE_NULL:
			lua_pushnil(L);
			break;
		default:
			lua_pushlstring(L, (const char *)
			    sqlite3_column_blob(st, 0),
			    (size_t)sqlite3_column_bytes(st, 0));
		}
		rc = SQLITE_DONE;
	} else
		lua_pushnil(L);
	if (rc != SQLITE_DONE)
		sqlite3_reset(st);
	else
		rc = db_finish(db, st) == 0 ? SQLITE_DONE : DB_NOT_DURABLE;
	if (rc != SQLITE_DONE)
		return db_fail(L, db, name, rc);
	return 1;
}

static int
l_exec(lua_State *L)
{
	struct db	*db = lhost_db(L);
	const char	*name;
	sqlite3_stmt	*st;
	int		 rc;

	st = prepare(L, db, &name);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		sqlite3_reset(st);
	else
		rc = db_finish(db, st) == 0 ? SQLITE_DONE : DB_NOT_DURABLE;
	if (rc != SQLITE_DONE)
		return db_fail(L, db, name, rc);
	lua_pushinteger(L, sqlite3_changes64(db->h));
	lua_pushinteger(L, sqlite3_last_insert_rowid(db->h));
	return 2;
}

/* Runs SQL text of our own (never user input) for tx control. */
static int
tx_sql(lua_State *L, struct db *db, const char *sql)
{
	int	 rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return db_fail(L, db, sql, rc);
	return 0;
}

/* host.db.tx(fn, ...): BEGIN IMMEDIATE (SAVEPOINT when nested), run fn,
 * COMMIT; on any error ROLLBACK and re-raise the same error. */
static int
l_tx(lua_State *L)
{
	struct db	*db = lhost_db(L);
	char		 sql[64];
	int		 depth, status, n, rc;

	luaL_checktype(L, 1, LUA_TFUNCTION);
	if (db->reading)
		return luaL_error(L, "host.db.tx inside host.db.read: begin the "
		    "transaction first");
	depth = db->tx_depth;
	if (depth == 0) {
		if ((rc = db_tx(db, DB_BEGIN)) != SQLITE_OK)
			return db_fail(L, db, "BEGIN IMMEDIATE", rc);
	} else {
		snprintf(sql, sizeof(sql), "SAVEPOINT tx%d", depth);
		tx_sql(L, db, sql);
	}
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
		else {
			snprintf(sql, sizeof(sql), "ROLLBACK TO tx%d; "
			    "RELEASE tx%d", depth, depth);
			sqlite3_exec(db->h, sql, NULL, NULL, NULL);
		}
		return lua_error(L);
	}
	if (depth == 0)
		rc = db_tx(db, DB_COMMIT);
	else {
		snprintf(sql, sizeof(sql), "RELEASE tx%d", depth);
		rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK)
		return db_fail(L, db, "COMMIT", rc);
	return lua_gettop(L);
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
	if ((rc = db_tx(db, DB_BEGIN_READ)) != SQLITE_OK)
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
	if (rc != SQLITE_OK)
		return db_fail(L, db, "COMMIT", rc);
	return lua_gettop(L);
}

void
lhost_open_db(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "exec",	l_exec },
		{ "read",	l_read },
		{ "row",	l_row },
		{ "rows",	l_rows },
		{ "tx",		l_tx },
		{ "value",	l_value },
		{ NULL,		NULL },
	};

	luaL_newlib(L, fns);
}
