/*
 * store.c -- the store's calls (store.h), each handed to the engine the
 * database was opened on: PostgreSQL (db_pg.c) when db->pg or q->pg is
 * set, else SQLite. The store's result codes and column types are
 * SQLite's, so a statement's own calls (bind, step, columns) run SQLite
 * directly here; what takes more on SQLite (opening, migrations,
 * transactions with the writers' turn, durability) is db_sqlite.c's.
 * The named queries are loaded by named_queries.c.
 */
#include <assert.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "db_pg.h"
#include "db_sqlite.h"
#include "lib/lib.h"
#include "lib/metrics.h"
#include "named_queries.h"
#include "store.h"

/* The store's codes are SQLite's. */
_Static_assert(DB_NOT_DURABLE == SQLITE_IOERR_FSYNC, "DB_NOT_DURABLE");
_Static_assert(DB_UNIQUE == SQLITE_CONSTRAINT_UNIQUE, "DB_UNIQUE");
_Static_assert(DB_ROW == SQLITE_ROW && DB_DONE == SQLITE_DONE &&
    DB_OK == SQLITE_OK && DB_BUSY == SQLITE_BUSY &&
    DB_READONLY == SQLITE_READONLY && DB_FULL == SQLITE_FULL &&
    DB_CANTOPEN == SQLITE_CANTOPEN &&
    DB_CONSTRAINT == SQLITE_CONSTRAINT && DB_ERROR == SQLITE_ERROR,
    "result codes");
_Static_assert(DB_INTEGER == SQLITE_INTEGER && DB_FLOAT == SQLITE_FLOAT &&
    DB_TEXT == SQLITE_TEXT && DB_BLOB == SQLITE_BLOB &&
    DB_NULL == SQLITE_NULL, "column types");

void
db_init_library(void)
{
	/* Every process is single-threaded (workers are processes): SQLite
	 * need not take a mutex on every allocation and statement. */
	sqlite3_config(SQLITE_CONFIG_SINGLETHREAD);
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int
db_open(struct db *db, const struct config *cfg, int create, char *err,
    size_t errlen)
{
	char		 pgdir[PATH_MAX];
	const char	*dir = cfg->schema_dir;

	memset(db, 0, sizeof(*db));
	if (pg_is_uri(cfg->database)) {
		/* PostgreSQL: its migrations and queries are schema/pg's. */
		snprintf(pgdir, sizeof(pgdir), "%s/pg", cfg->schema_dir);
		dir = pgdir;
		db->busy_timeout_ms = cfg->busy_timeout_ms;
		if ((db->pg = pg_open(cfg->database, dir,
		    cfg->busy_timeout_ms, err, errlen)) == NULL)
			goto fail;
	} else if (strcmp(cfg->database, "sqlite") == 0) {
		if (sq_open(db, cfg, create, err, errlen) == -1)
			goto fail;
	} else {
		snprintf(err, errlen, "database: \"sqlite\" or a "
		    "postgresql:// URI");
		return -1;
	}
	db->qstamp = db_queries_stamp(dir);
	if (db_load_queries(db, dir, err, errlen) == -1)
		goto fail;
	if ((db->qdir = strdup(dir)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return 0;
fail:
	db_close(db);
	return -1;
}

void
db_close(struct db *db)
{
	size_t	 i;

	if (db->h)
		sq_close(db);	/* the queries' statements with it */
	for (i = 0; i < db->nq; i++) {
		pg_free(db->q[i].pg);
		free(db->q[i].name);
	}
	free(db->q);
	free(db->qdir);
	pg_close(db->pg);
	memset(db, 0, sizeof(*db));
}

void
db_free_queries(struct db *db, struct dbq *q, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (db->pg)
			pg_forget(db->pg, q[i].pg);
		else
			sqlite3_finalize(q[i].st);
		free(q[i].name);
	}
	free(q);
}

int
db_exec_sql(struct db *db, const char *sql, char *err, size_t errlen)
{
	if (db->pg)
		return pg_exec_sql(db->pg, sql, err, errlen);
	return sq_exec(db, sql, err, errlen);
}

/* db->q is sorted by name (named_queries.c). */
static int
querykey(const void *key, const void *elt)
{
	return strcmp(key, ((const struct dbq *)elt)->name);
}

struct dbq *
db_query(struct db *db, const char *name)
{
	struct dbq	*q;

	q = bsearch(name, db->q, db->nq, sizeof(*db->q), querykey);
	if (q == NULL)
		return NULL;
	if (q->pg) {
		pg_clear(q->pg);
		return q;
	}
	sqlite3_reset(q->st);
	sqlite3_clear_bindings(q->st);
	return q;
}

/* Resets every statement left part-way (a Lua error, such as the memory
 * cap, can jump out of a loop of sqlite3_step before its reset): an
 * active statement keeps its read snapshot after the transaction ends,
 * and the connection's next BEGIN IMMEDIATE then fails at once with
 * SQLITE_BUSY_SNAPSHOT. */
void
db_reset_busy(struct db *db)
{
	sqlite3_stmt	*st = NULL;
	size_t		 i;

	if (db->pg) {		/* results are whole: free what is held */
		for (i = 0; i < db->nq; i++)
			pg_reset(db->q[i].pg);
		return;
	}
	while ((st = sqlite3_next_stmt(db->h, st)) != NULL)
		if (sqlite3_stmt_busy(st))
			sqlite3_reset(st);
}

/*
 * Transactions. The store, not its callers, makes what it commits
 * durable: a COMMIT that wrote anything is durable before db_tx returns,
 * and a statement that writes outside a transaction (db_finish)
 * likewise, so no caller can answer before its write is on disk by
 * forgetting a call. A COMMIT that fails is rolled back. On SQLite this
 * is db_sqlite.c's work; a PostgreSQL COMMIT is durable when it returns.
 */
/* Counts a failure for want of the store (metrics: busy, full, ...);
 * returns rc. Both engines' codes are SQLite's (db_pg.c maps them). */
static int
seen(int rc)
{
	if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		metrics_add(M_DB_BUSY, 1);
		break;
	case SQLITE_FULL:
		metrics_add(M_DB_FULL, 1);
		break;
	case SQLITE_READONLY:
		metrics_add(M_DB_READONLY, 1);
		break;
	case SQLITE_IOERR:
		metrics_add(M_DB_IO, 1);
		break;
	default:
		if (db_unavailable(rc))
			metrics_add(M_DB_OTHER, 1);
	}
	return rc;
}

int
db_tx(struct db *db, enum db_tx which)
{
	assert(db->pg != NULL || db->h != NULL);	/* an open store */
	if (db->pg)
		return seen(pg_tx(db->pg, which));
	return seen(sq_tx(db, which));
}

int
db_finish(struct db *db, struct dbq *q)
{
	if (q->pg) {		/* a PostgreSQL commit is durable */
		pg_reset(q->pg);
		return 0;
	}
	return sq_finish(db, q->st);
}

int
db_settle(struct db *db)
{
	if (db->h == NULL)	/* none, or PostgreSQL: durable at COMMIT */
		return 0;
	return sq_settle(db);
}

int
db_remote(struct db *db)
{
	return db->pg != NULL;
}

void
db_auth_changes(struct db *db, void (*fn)(void *, const char *), void *arg)
{
	if (db->pg)
		pg_changes(db->pg, fn, arg);
}

int
db_in_tx(struct db *db)
{
	if (db->pg)
		return pg_in_tx(db->pg);
	return db->h != NULL && !sqlite3_get_autocommit(db->h);
}

int
db_savepoint(struct db *db, enum db_savepoint what, int depth)
{
	char	 sql[64];

	assert(depth > 0);	/* a savepoint lives inside a transaction */
	if (db->pg)
		return pg_savepoint(db->pg, what, depth);
	switch (what) {
	case DB_SAVEPOINT:
		snprintf(sql, sizeof(sql), "SAVEPOINT tx%d", depth);
		break;
	case DB_RELEASE:
		snprintf(sql, sizeof(sql), "RELEASE tx%d", depth);
		break;
	default:
		snprintf(sql, sizeof(sql), "ROLLBACK TO tx%d; RELEASE tx%d",
		    depth, depth);
		break;
	}
	return sqlite3_exec(db->h, sql, NULL, NULL, NULL);
}

/* Steps a write statement to the end and finishes it (db_finish).
 * Returns 0 or the SQLite error code (logged). */
int
db_run(struct db *db, struct dbq *q)
{
	int	 rc;

	if (db->reading && !db_readonly(q)) {
		/* A deferred read transaction must not turn into a write:
		 * it could not be synced as one, and may not be current. */
		log_err("database: a write inside a read transaction refused");
		return SQLITE_READONLY;
	}
	while ((rc = db_step(q)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE) {
		log_err("database: %s", db_errmsg(db));
		db_reset(q);
		return rc;
	}
	return db_finish(db, q);
}

int
db_batch_begin(struct db *db)
{
	if (db->pg)
		return pg_batch_begin(db->pg);
	return db_tx(db, DB_BEGIN);
}

int
db_batch_add(struct db *db, struct dbq *q)
{
	int	 rc;

	if (db_readonly(q)) {
		log_err("database: a batch takes writes only");
		return SQLITE_MISUSE;
	}
	if (q->pg)
		return seen(pg_batch_add(q->pg));
	while ((rc = sqlite3_step(q->st)) == SQLITE_ROW)
		;
	sqlite3_reset(q->st);
	if (rc == SQLITE_DONE)
		return SQLITE_OK;
	log_err("database: %s", sqlite3_errmsg(db->h));
	return seen(rc);
}

int
db_batch_end(struct db *db, int commit)
{
	if (db->pg)
		return pg_batch_end(db->pg, commit);
	if (!commit) {
		db_tx(db, DB_ROLLBACK);
		return SQLITE_OK;
	}
	return db_tx(db, DB_COMMIT);
}

/* Binding by parameter name, for the host's own use of named queries.
 * A name the statement lacks is an error (-1), like in Lua. */
int
db_bind_int64(struct dbq *q, const char *name, long long v)
{
	int	 i;

	if (q->pg)
		return pg_bind_int64(q->pg, pg_param_index(q->pg, name), v);
	i = sqlite3_bind_parameter_index(q->st, name);
	return i > 0 && sqlite3_bind_int64(q->st, i, v) == SQLITE_OK ? 0 : -1;
}

int
db_bind_text(struct dbq *q, const char *name, const char *s)
{
	int	 i;

	if (q->pg)
		return (s == NULL ? -1 : pg_bind_text(q->pg,
		    pg_param_index(q->pg, name), s, strlen(s)));
	i = sqlite3_bind_parameter_index(q->st, name);
	return i > 0 && sqlite3_bind_text(q->st, i, s, -1, SQLITE_TRANSIENT) ==
	    SQLITE_OK ? 0 : -1;
}

int
db_bind_blob(struct dbq *q, const char *name, const void *p, size_t n)
{
	int	 i;

	if (q->pg)
		return pg_bind_blob(q->pg, pg_param_index(q->pg, name), p, n);
	i = sqlite3_bind_parameter_index(q->st, name);
	return i > 0 && sqlite3_bind_blob(q->st, i, p, (int)n,
	    SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
}

int
db_has_param(struct dbq *q, const char *name)
{
	if (q->pg)
		return pg_has_param(q->pg, name);
	return sqlite3_bind_parameter_index(q->st, name) > 0;
}

int
db_param_count(struct dbq *q)
{
	if (q->pg)
		return pg_param_count(q->pg);
	return sqlite3_bind_parameter_count(q->st);
}

const char *
db_param_name(struct dbq *q, int i)
{
	if (q->pg)
		return pg_param_name(q->pg, i);
	return sqlite3_bind_parameter_name(q->st, i);
}

int
db_bind_index_int64(struct dbq *q, int i, long long v)
{
	if (q->pg)
		return pg_bind_int64(q->pg, i, v);
	return sqlite3_bind_int64(q->st, i, v) == SQLITE_OK ? 0 : -1;
}

int
db_bind_index_double(struct dbq *q, int i, double v)
{
	if (q->pg)
		return pg_bind_double(q->pg, i, v);
	return sqlite3_bind_double(q->st, i, v) == SQLITE_OK ? 0 : -1;
}

int
db_bind_index_text(struct dbq *q, int i, const char *s, size_t n)
{
	if (q->pg)
		return pg_bind_text(q->pg, i, s, n);
	return sqlite3_bind_text(q->st, i, s, (int)n, SQLITE_TRANSIENT) ==
	    SQLITE_OK ? 0 : -1;
}

int
db_bind_index_blob(struct dbq *q, int i, const void *p, size_t n)
{
	if (q->pg)
		return pg_bind_blob(q->pg, i, p, n);
	return sqlite3_bind_blob(q->st, i, p, (int)n, SQLITE_TRANSIENT) ==
	    SQLITE_OK ? 0 : -1;
}

int
db_bind_index_null(struct dbq *q, int i)
{
	if (q->pg)
		return pg_bind_null(q->pg, i);
	return sqlite3_bind_null(q->st, i) == SQLITE_OK ? 0 : -1;
}

int
db_readonly(struct dbq *q)
{
	if (q->pg)
		return pg_readonly(q->pg);
	return sqlite3_stmt_readonly(q->st);
}

int
db_step(struct dbq *q)
{
	int	 rc;

	rc = q->pg ? pg_step(q->pg) : sqlite3_step(q->st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		seen(rc);
	return rc;
}

void
db_reset(struct dbq *q)
{
	if (q->pg)
		pg_reset(q->pg);
	else
		sqlite3_reset(q->st);
}

int
db_col_count(struct dbq *q)
{
	if (q->pg)
		return pg_col_count(q->pg);
	return sqlite3_column_count(q->st);
}

const char *
db_col_name(struct dbq *q, int i)
{
	if (q->pg)
		return pg_col_name(q->pg, i);
	return sqlite3_column_name(q->st, i);
}

enum db_type
db_col_type(struct dbq *q, int i)
{
	if (q->pg)
		return (enum db_type)pg_col_type(q->pg, i);
	return (enum db_type)sqlite3_column_type(q->st, i);
}

long long
db_col_int(struct dbq *q, int i)
{
	if (q->pg)
		return pg_col_int(q->pg, i);
	return sqlite3_column_int64(q->st, i);
}

double
db_col_double(struct dbq *q, int i)
{
	if (q->pg)
		return pg_col_double(q->pg, i);
	return sqlite3_column_double(q->st, i);
}

const char *
db_col_text(struct dbq *q, int i)
{
	if (q->pg)
		return pg_col_text(q->pg, i);
	return (const char *)sqlite3_column_text(q->st, i);
}

const void *
db_col_blob(struct dbq *q, int i)
{
	if (q->pg)
		return pg_col_blob(q->pg, i);
	return sqlite3_column_blob(q->st, i);
}

size_t
db_col_bytes(struct dbq *q, int i)
{
	if (q->pg)
		return pg_col_bytes(q->pg, i);
	return (size_t)sqlite3_column_bytes(q->st, i);
}

long long
db_changes(struct db *db)
{
	if (db->pg)
		return pg_changes_count(db->pg);
	return sqlite3_changes64(db->h);
}

long long
db_last_id(struct db *db)
{
	if (db->pg)
		return pg_last_id(db->pg);
	return sqlite3_last_insert_rowid(db->h);
}

const char *
db_errmsg(struct db *db)
{
	if (db->pg)
		return pg_errmsg(db->pg);
	return sqlite3_errmsg(db->h);
}

int
db_unavailable(int rc)
{
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
		return 1;
	default:
		return 0;
	}
}
