/*
 * lhost_sql.c -- host.sql: a model's SELECT over copies of its own
 * destination's tables, in a private in-memory database (store/sqlbox.h
 * says what the text may do).
 *
 *	local box = host.sql.box()	-- or box{steps = k, memory_mb = m}
 *	box:create(name, { {name = "id", type = "integer"}, ... })
 *	box:insert({ v1, v2, ... })	-- in the columns' order; nil is NULL
 *	local names, rows = box:select(sql)	-- or raises the reason
 *	box:close()			-- also when collected
 *
 * Column types: integer, real, boolean (stored 0/1), text, json (text).
 * The box's size is model_memory_mb; a SELECT may run model_max_steps
 * thousand steps.
 */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"
#include "store/sqlbox.h"

#define BOX_MT	"tessera.sqlbox"

struct box_ud {
	struct sqlbox	*box;
	int		 ncols;		/* of the table made last */
};

static struct box_ud *
check_box(lua_State *L)
{
	struct box_ud	*u = luaL_checkudata(L, 1, BOX_MT);

	if (u->box == NULL)
		luaL_error(L, "the box is closed");
	return u;
}

static const char *
sql_type(const char *t)
{
	if (strcmp(t, "integer") == 0 || strcmp(t, "boolean") == 0)
		return "INTEGER";
	if (strcmp(t, "real") == 0)
		return "REAL";
	return "TEXT";
}

/* box:create(name, columns) */
static int
l_create(lua_State *L)
{
	struct box_ud	*u = check_box(L);
	const char	*name = luaL_checkstring(L, 2);
	const char	**cols, **types;
	lua_Integer	 n, i;
	char		 err[512];
	int		 rc;

	luaL_checktype(L, 3, LUA_TTABLE);
	n = (lua_Integer)lua_rawlen(L, 3);
	luaL_argcheck(L, n > 0 && n <= 2000, 3, "1 to 2000 columns");
	cols = lua_newuserdatauv(L, (size_t)n * sizeof(*cols), 0);
	types = lua_newuserdatauv(L, (size_t)n * sizeof(*types), 0);
	/* Each name stays on the stack while the table is made. */
	luaL_checkstack(L, (int)n + 4, "too many columns");
	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, 3, i);
		luaL_argcheck(L, lua_istable(L, -1), 3, "columns are tables");
		lua_getfield(L, -1, "name");
		lua_getfield(L, -2, "type");
		cols[i - 1] = luaL_checkstring(L, -2);
		types[i - 1] = sql_type(luaL_optstring(L, -1, "text"));
		lua_pop(L, 1);
		lua_replace(L, -2);	/* keeps the name string alive */
	}
	rc = sqlbox_create(u->box, name, cols, types, (int)n, err,
	    sizeof(err));
	if (rc == -1)
		return luaL_error(L, "%s", err);
	u->ncols = (int)n;
	return 0;
}

/* box:insert(values) */
static int
l_insert(lua_State *L)
{
	struct box_ud		*u = check_box(L);
	struct sqlbox_value	*v;
	char			 err[512];
	int			 i, t;
	size_t			 len;

	luaL_checktype(L, 2, LUA_TTABLE);
	if (u->ncols < 1)
		return luaL_error(L, "create a table first");
	v = lua_newuserdatauv(L, (size_t)u->ncols * sizeof(*v), 0);
	memset(v, 0, (size_t)u->ncols * sizeof(*v));
	/* Each value stays on the stack until the row is in. */
	luaL_checkstack(L, u->ncols + 4, "too many columns");
	for (i = 0; i < u->ncols; i++) {
		t = lua_rawgeti(L, 2, i + 1);
		if (t == LUA_TNUMBER && lua_isinteger(L, -1)) {
			v[i].type = SQLBOX_INT;
			v[i].i = (long long)lua_tointeger(L, -1);
		} else if (t == LUA_TNUMBER) {
			v[i].type = SQLBOX_REAL;
			v[i].d = lua_tonumber(L, -1);
		} else if (t == LUA_TBOOLEAN) {
			v[i].type = SQLBOX_INT;
			v[i].i = lua_toboolean(L, -1);
		} else if (t == LUA_TSTRING) {
			v[i].type = SQLBOX_TEXT;
			v[i].s = lua_tolstring(L, -1, &len);
			v[i].n = len;
		} else if (t != LUA_TNIL && !lhost_is_null(L, -1))
			return luaL_error(L, "column %d: a %s is not a value",
			    i + 1, luaL_typename(L, -1));
		/* the strings stay on the stack until the insert is done */
	}
	if (sqlbox_insert(u->box, v, u->ncols, err, sizeof(err)) == -1)
		return luaL_error(L, "%s", err);
	return 0;
}

struct collect {
	lua_State		*L;
	int			 names;	/* l_select's stack slots of the */
	int			 rows;	/* names and the rows tables */
	lua_Integer		 n;
	int			 ncols;
	const char *const	*colnames;
	const struct sqlbox_value *v;	/* the row; NULL: the names */
	int			 failed; /* the error is on the stack */
};

/* add_row(c, names, rows): adds the row (or the names) c points at to
 * the tables; run under lua_pcall, so that no Lua error (memory, the
 * instruction budget) jumps out through SQLite's own frames. */
static int
add_row(lua_State *L)
{
	struct collect	*c = lua_touserdata(L, 1);
	const struct sqlbox_value *v = c->v;
	int		 i;

	if (v == NULL) {
		for (i = 0; i < c->ncols; i++) {
			lua_pushstring(L, c->colnames[i]);
			lua_rawseti(L, 2, i + 1);
		}
		return 0;
	}
	lua_createtable(L, c->ncols, 0);
	for (i = 0; i < c->ncols; i++) {
		switch (v[i].type) {
		case SQLBOX_INT:
			lua_pushinteger(L, (lua_Integer)v[i].i);
			break;
		case SQLBOX_REAL:
			lua_pushnumber(L, v[i].d);
			break;
		case SQLBOX_TEXT:
			lua_pushlstring(L, v[i].s, v[i].n);
			break;
		default:
			lhost_push_null(L);
		}
		lua_rawseti(L, -2, i + 1);
	}
	lua_rawseti(L, 3, ++c->n);
	return 0;
}

static int
collect_row(void *ud, int ncols, const char *const *names,
    const struct sqlbox_value *v)
{
	struct collect	*c = ud;
	lua_State	*L = c->L;

	if (!lua_checkstack(L, 8)) {
		lua_pushliteral(L, "out of stack");	/* checked: room */
		c->failed = 1;
		return -1;
	}
	c->ncols = ncols;
	c->colnames = names;
	c->v = v;
	lua_pushcfunction(L, add_row);
	lua_pushlightuserdata(L, c);
	lua_pushvalue(L, c->names);
	lua_pushvalue(L, c->rows);
	if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
		c->failed = 1;			/* the error stays on top */
		return -1;
	}
	return 0;
}

/* box:select(sql) -> names, rows (arrays of values; NULL is host.null).
 * A limit reached while the rows are collected stops the statement first
 * and is raised again once SQLite is done with it. */
static int
l_select(lua_State *L)
{
	struct box_ud	*u = check_box(L);
	const char	*sql = luaL_checkstring(L, 2);
	struct collect	 c;
	char		 err[1024];

	memset(&c, 0, sizeof(c));
	c.L = L;
	c.names = 3;
	c.rows = 4;
	lua_settop(L, 2);
	lua_newtable(L);		/* 3: names */
	lua_newtable(L);		/* 4: rows */
	if (sqlbox_select(u->box, sql, collect_row, &c, err,
	    sizeof(err)) == -1) {
		if (c.failed)
			return lua_error(L);	/* the row's error, again */
		return luaL_error(L, "%s", err);
	}
	u->ncols = 0;
	return 2;
}

static int
l_close(lua_State *L)
{
	struct box_ud	*u = luaL_checkudata(L, 1, BOX_MT);

	sqlbox_close(u->box);
	u->box = NULL;
	return 0;
}

/* host.sql.box([{steps = thousands, memory_mb = n}]): the budgets may be
 * tighter than the configuration's, never looser. */
static int
l_box(lua_State *L)
{
	const struct config *cfg = lhost_config(L);
	struct box_ud	*u;
	char		 err[512];
	static const luaL_Reg methods[] = {
		{ "create",	l_create },
		{ "insert",	l_insert },
		{ "select",	l_select },
		{ "close",	l_close },
		{ NULL,		NULL },
	};

	long long	 steps = cfg->model_max_steps;
	long long	 mb = cfg->model_memory_mb;

	if (!lua_isnoneornil(L, 1)) {	/* tighter budgets, never looser */
		luaL_checktype(L, 1, LUA_TTABLE);
		lua_getfield(L, 1, "steps");
		lua_getfield(L, 1, "memory_mb");
		if (!lua_isnil(L, -2) && luaL_checkinteger(L, -2) < steps)
			steps = luaL_checkinteger(L, -2) > 0 ?
			    luaL_checkinteger(L, -2) : 1;
		if (!lua_isnil(L, -1) && luaL_checkinteger(L, -1) < mb)
			mb = luaL_checkinteger(L, -1) > 0 ?
			    luaL_checkinteger(L, -1) : 1;
		lua_pop(L, 2);
	}
	u = lua_newuserdatauv(L, sizeof(*u), 0);
	memset(u, 0, sizeof(*u));
	if (luaL_newmetatable(L, BOX_MT)) {
		luaL_newlib(L, methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_close);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, l_close);
		lua_setfield(L, -2, "__close");
		lua_pushliteral(L, "sqlbox");
		lua_setfield(L, -2, "__metatable");
	}
	lua_setmetatable(L, -2);
	if ((u->box = sqlbox_open(mb << 20, steps, err, sizeof(err))) == NULL)
		return luaL_error(L, "%s", err);
	return 1;
}

void
lhost_open_sql(lua_State *L)
{
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, l_box);
	lua_setfield(L, -2, "box");
}
