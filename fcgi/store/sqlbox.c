/*
 * sqlbox.c -- an in-memory SQLite database for a model's SELECT (see
 * sqlbox.h for what it lets through and why).
 */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "lib/lib.h"
#include "sqlbox.h"

#define SQL_MAX		100000		/* bytes of a model's text */
#define VALUE_MAX	(4 << 20)	/* bytes of one string or blob */
#define LIKE_MAX	100		/* bytes of a LIKE or GLOB pattern */
#define COLS_MAX	2000

struct sqlbox {
	sqlite3		*db;
	sqlite3_stmt	*insert;	/* the table made last */
	int		 ncols;
	long long	 ksteps;	/* progress calls left (1000 steps) */
	long long	 max_ksteps;
	int		 user;		/* the authorizer is on */
};

/* Functions a model may call: SQLite's pure core, date, JSON scalar and
 * window functions. Anything else is refused: load_extension,
 * fts3_tokenizer, the sqlite_* introspection, and the table-valued ones
 * (json_each, json_tree, pragma_*), which are virtual tables. Sorted for
 * bsearch. */
static const char *const allowed_fn[] = {
	"->", "->>", "abs", "avg", "ceil", "ceiling", "char", "coalesce",
	"count", "cume_dist", "date", "datetime", "dense_rank", "exp",
	"first_value", "floor", "format", "glob", "group_concat", "hex",
	"ifnull", "iif", "instr", "json", "json_array", "json_array_length",
	"json_extract", "json_group_array", "json_group_object",
	"json_insert", "json_object", "json_patch", "json_quote",
	"json_remove", "json_replace", "json_set", "json_type", "json_valid",
	"julianday", "lag", "last_value", "lead", "length", "like",
	"likelihood", "likely", "ln", "log", "log10", "log2", "lower",
	"ltrim", "max", "min", "mod", "nth_value", "ntile", "nullif",
	"percent_rank", "pow", "power", "printf", "quote", "random", "rank",
	"replace", "round", "row_number", "rtrim", "sign", "sqrt",
	"strftime", "substr", "substring", "sum", "time", "total", "trim",
	"typeof", "unicode", "unixepoch", "unlikely", "upper",
};

static int
fn_cmp(const void *key, const void *elt)
{
	return strcmp(key, *(const char *const *)elt);
}

static int
fn_allowed(const char *name)
{
	char	 low[32];
	size_t	 i;

	if (name == NULL || strlen(name) >= sizeof(low))
		return 0;
	for (i = 0; name[i]; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[i] = '\0';
	return bsearch(low, allowed_fn, sizeof(allowed_fn) /
	    sizeof(allowed_fn[0]), sizeof(allowed_fn[0]), fn_cmp) != NULL;
}

/* The user's text may read tables (not the schema's own), select, use a
 * WITH RECURSIVE and call the allowed functions; nothing else. */
static int
authorize(void *ud, int action, const char *a, const char *b,
    const char *dbname, const char *trigger)
{
	struct sqlbox	*box = ud;

	(void)b;
	(void)trigger;
	if (!box->user)
		return SQLITE_OK;
	if (dbname != NULL && strcmp(dbname, "main") != 0)
		return SQLITE_DENY;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_READ:
		return a != NULL && strncasecmp(a, "sqlite_", 7) != 0 ?
		    SQLITE_OK : SQLITE_DENY;
	case SQLITE_FUNCTION:
		return fn_allowed(b) ? SQLITE_OK : SQLITE_DENY;
	default:
		return SQLITE_DENY;
	}
}

static int
progress(void *ud)
{
	struct sqlbox	*box = ud;

	return box->user && --box->ksteps < 0;
}

static void
set_err(char *err, size_t errlen, const char *what, sqlite3 *db)
{
	snprintf(err, errlen, "%s%s%s", what, db ? ": " : "",
	    db ? sqlite3_errmsg(db) : "");
}

struct sqlbox *
sqlbox_open(long long max_bytes, long long max_ksteps, char *err,
    size_t errlen)
{
	struct sqlbox	*box;
	char		 pragma[96];

	assert(max_bytes > 0 && max_ksteps > 0);
	if ((box = calloc(1, sizeof(*box))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	box->max_ksteps = max_ksteps;
	if (sqlite3_open_v2(":memory:", &box->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_PRIVATECACHE, NULL) != SQLITE_OK) {
		set_err(err, errlen, "cannot open a model's database", box->db);
		sqlbox_close(box);
		return NULL;
	}
	sqlite3_db_config(box->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(box->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0,
	    NULL);
	sqlite3_db_config(box->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(box->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
	sqlite3_db_config(box->db, SQLITE_DBCONFIG_DQS_DML, 0, NULL);
	sqlite3_limit(box->db, SQLITE_LIMIT_ATTACHED, 0);
	sqlite3_limit(box->db, SQLITE_LIMIT_LENGTH, VALUE_MAX);
	sqlite3_limit(box->db, SQLITE_LIMIT_SQL_LENGTH, SQL_MAX);
	/* One LIKE step is not interrupted by the progress handler: a long
	 * pattern over a long string would run for hours. */
	sqlite3_limit(box->db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, LIKE_MAX);
	snprintf(pragma, sizeof(pragma), "PRAGMA max_page_count = %lld",
	    max_bytes / 4096 + 1);
	/* Temporary tables and sorts stay in memory (no temp files), and
	 * all of SQLite's memory in this process is capped: the pages limit
	 * bounds the tables, not a sort or a string built in a query. The
	 * cap is process-wide (it covers the store's connection too), set
	 * once, and generous: twice the box's size and 64 MiB more. */
	if (sqlite3_hard_heap_limit64(-1) == 0)
		sqlite3_hard_heap_limit64(2 * max_bytes + (64LL << 20));
	if (sqlite3_exec(box->db, "PRAGMA page_size = 4096", NULL, NULL,
	    NULL) != SQLITE_OK || sqlite3_exec(box->db,
	    "PRAGMA temp_store = MEMORY", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(box->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
		set_err(err, errlen, "cannot set up a model's database",
		    box->db);
		sqlbox_close(box);
		return NULL;
	}
	sqlite3_set_authorizer(box->db, authorize, box);
	sqlite3_progress_handler(box->db, 1000, progress, box);
	return box;
}

void
sqlbox_close(struct sqlbox *box)
{
	if (box == NULL)
		return;
	sqlite3_finalize(box->insert);
	sqlite3_close(box->db);
	free(box);
}

/* Appends "text" as a quoted SQL identifier. */
static int
add_ident(struct buf *b, const char *s)
{
	if (*s == '\0' || strlen(s) > 256)
		return -1;
	buf_addc(b, '"');
	for (; *s; s++) {
		if (*s == '"')
			buf_addc(b, '"');
		buf_addc(b, *s);
	}
	return buf_addc(b, '"');
}

int
sqlbox_create(struct sqlbox *box, const char *name, const char *const *cols,
    const char *const *types, int n, char *err, size_t errlen)
{
	struct buf	 b = { 0 };
	int		 i, rc = -1;

	if (n < 1 || n > COLS_MAX) {
		snprintf(err, errlen, "table %s: 1 to %d columns", name,
		    COLS_MAX);
		return -1;
	}
	sqlite3_finalize(box->insert);
	box->insert = NULL;
	buf_adds(&b, "CREATE TABLE ");
	if (add_ident(&b, name) == -1)
		goto bad_name;
	buf_adds(&b, " (");
	for (i = 0; i < n; i++) {
		if (i)
			buf_adds(&b, ", ");
		if (add_ident(&b, cols[i]) == -1)
			goto bad_name;
		buf_addc(&b, ' ');
		buf_adds(&b, types[i]);
	}
	buf_adds(&b, ")");
	if (b.failed || sqlite3_exec(box->db, b.p, NULL, NULL, NULL) !=
	    SQLITE_OK) {
		set_err(err, errlen, "cannot make a table", box->db);
		goto out;
	}
	buf_reset(&b);
	buf_adds(&b, "INSERT INTO ");
	add_ident(&b, name);
	buf_adds(&b, " VALUES (");
	for (i = 0; i < n; i++)
		buf_adds(&b, i ? ", ?" : "?");
	buf_adds(&b, ")");
	if (b.failed || sqlite3_prepare_v2(box->db, b.p, -1, &box->insert,
	    NULL) != SQLITE_OK) {
		set_err(err, errlen, "cannot fill a table", box->db);
		goto out;
	}
	box->ncols = n;
	rc = 0;
	goto out;
bad_name:
	snprintf(err, errlen, "table %s: a name is empty or too long", name);
out:
	buf_free(&b);
	return rc;
}

static int
bind(sqlite3_stmt *st, int i, const struct sqlbox_value *v)
{
	switch (v->type) {
	case SQLBOX_INT:
		return sqlite3_bind_int64(st, i, v->i);
	case SQLBOX_REAL:
		return sqlite3_bind_double(st, i, v->d);
	case SQLBOX_TEXT:
		return sqlite3_bind_text64(st, i, v->s, v->n, SQLITE_TRANSIENT,
		    SQLITE_UTF8);
	default:
		return sqlite3_bind_null(st, i);
	}
}

int
sqlbox_insert(struct sqlbox *box, const struct sqlbox_value *v, int n,
    char *err, size_t errlen)
{
	int	 i, rc;

	assert(box->insert != NULL && n == box->ncols);
	for (i = 0; i < n; i++)
		if (bind(box->insert, i + 1, &v[i]) != SQLITE_OK) {
			set_err(err, errlen, "cannot copy a row", box->db);
			sqlite3_reset(box->insert);
			return -1;
		}
	rc = sqlite3_step(box->insert);
	sqlite3_reset(box->insert);
	if (rc != SQLITE_DONE) {
		set_err(err, errlen, "cannot copy a row", box->db);
		return -1;
	}
	return 0;
}

/* Only white space and semicolons may follow the statement. */
static int
only_one(const char *tail)
{
	for (; *tail; tail++)
		if (!isspace((unsigned char)*tail) && *tail != ';')
			return 0;
	return 1;
}

static void
column(sqlite3_stmt *st, int i, struct sqlbox_value *v)
{
	memset(v, 0, sizeof(*v));
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		v->type = SQLBOX_INT;
		v->i = sqlite3_column_int64(st, i);
		break;
	case SQLITE_FLOAT:
		v->type = SQLBOX_REAL;
		v->d = sqlite3_column_double(st, i);
		break;
	case SQLITE_TEXT:
	case SQLITE_BLOB:	/* as the bytes (hex() if you need it) */
		v->type = SQLBOX_TEXT;
		v->s = (const char *)sqlite3_column_text(st, i);
		v->n = (size_t)sqlite3_column_bytes(st, i);
		break;
	default:
		v->type = SQLBOX_NULL;
	}
}

int
sqlbox_select(struct sqlbox *box, const char *sql,
    int (*row)(void *, int, const char *const *, const struct sqlbox_value *),
    void *ud, char *err, size_t errlen)
{
	sqlite3_stmt		*st = NULL;
	const char		*tail = NULL, **names = NULL;
	struct sqlbox_value	*vals = NULL;
	int			 n, i, rc = -1, step;

	sqlite3_finalize(box->insert);
	box->insert = NULL;
	box->user = 1;
	box->ksteps = box->max_ksteps;
	if (strlen(sql) > SQL_MAX) {
		snprintf(err, errlen, "the SQL is longer than %d bytes",
		    SQL_MAX);
		goto out;
	}
	if (sqlite3_prepare_v2(box->db, sql, -1, &st, &tail) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(box->db));
		goto out;
	}
	if (st == NULL || !only_one(tail) || !sqlite3_stmt_readonly(st) ||
	    sqlite3_stmt_isexplain(st)) {
		snprintf(err, errlen, "the SQL must be exactly one SELECT");
		goto out;
	}
	n = sqlite3_column_count(st);
	if (n < 1 || (names = calloc((size_t)n, sizeof(*names))) == NULL ||
	    (vals = calloc((size_t)n, sizeof(*vals))) == NULL) {
		snprintf(err, errlen, n < 1 ? "the SELECT has no columns" :
		    "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		names[i] = sqlite3_column_name(st, i);
	if (row(ud, n, names, NULL) == -1) {
		snprintf(err, errlen, "stopped");
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		for (i = 0; i < n; i++)
			column(st, i, &vals[i]);
		if (row(ud, n, names, vals) == -1) {
			snprintf(err, errlen, "stopped");
			goto out;
		}
	}
	if (step != SQLITE_DONE) {
		if (step == SQLITE_INTERRUPT)
			snprintf(err, errlen, "the query ran past its budget "
			    "of %lld thousand steps", box->max_ksteps);
		else
			snprintf(err, errlen, "%s", sqlite3_errmsg(box->db));
		goto out;
	}
	rc = 0;
out:
	free(names);
	free(vals);
	sqlite3_finalize(st);
	box->user = 0;
	return rc;
}
