/*
 * store.h -- the store: one interface over the database engine.
 *
 * Everything above it (the gate, sessions, tokens, host.db, the command
 * line) runs named queries (schema/queries.sql) through these functions
 * and never calls the engine's own API. The store owns transactions and
 * durability: a commit that wrote, or a write outside a transaction, is
 * on disk before the call returns.
 *
 * Result and error codes are the store's own; they keep SQLite's numbers
 * so the SQLite engine passes them through unchanged (store.c checks that
 * they agree).
 */
#ifndef TESSERA_STORE_H
#define TESSERA_STORE_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct pgdb;
struct pgq;
struct sqlite3;
struct sqlite3_stmt;

enum {
	DB_OK		= 0,
	DB_ERROR	= 1,
	DB_BUSY		= 5,	/* locked for longer than busy_timeout_ms */
	DB_READONLY	= 8,
	DB_FULL		= 13,
	DB_CANTOPEN	= 14,	/* no connection to the database */
	DB_CONSTRAINT	= 19,
	DB_ROW		= 100,	/* db_step: a row is ready */
	DB_DONE		= 101,	/* db_step: no more rows */
	DB_UNIQUE	= 19 | (8 << 8),	/* a UNIQUE constraint */
	/* The commit went through but the disk refused to make it durable:
	 * answer 503. */
	DB_NOT_DURABLE	= 10 | (4 << 8)
};

/* A column's type in the current row. */
enum db_type { DB_INTEGER = 1, DB_FLOAT = 2, DB_TEXT = 3, DB_BLOB = 4,
	DB_NULL = 5 };

/* A named query, prepared once per connection. */
struct dbq {
	char			*name;
	struct sqlite3_stmt	*st;	/* SQLite's, or */
	struct pgq		*pg;	/* PostgreSQL's (db_pg_query.c) */
};

/* One open database with its named queries, owned by one process. */
struct db {
	struct sqlite3	*h;	/* SQLite's connection, or */
	struct pgdb	*pg;	/* PostgreSQL's (db_pg.c) */
	struct dbq	*q;	/* sorted by name */
	size_t		 nq;
	int		 tx_depth;	/* host.db.tx nesting (0: none) */
	int		 reading;	/* inside host.db.read */
	long long	 busy_timeout_ms;
	double		 busy_since;	/* when the current wait began */
	struct group_commit *gc;	/* NULL: each commit syncs alone */
	struct writer	*wr;		/* NULL: wait at SQLite's lock only */
	int		 wr_held;	/* this connection has the turn */
	int		 busy_started;	/* busy_since counts from the turn */
	struct sqlite3_stmt *txst[4];	/* see enum db_tx */
	long long	 tx_changes;	/* total changes when it began */
	long long	 synced_changes; /* total changes at the last sync */
	char		*qdir;		/* where the named queries come from */
	unsigned long long qstamp;	/* their files, as prepared */
	unsigned long long qfailed;	/* ... as they failed to load, or 0 */
};

#define DB_FILE		"tessera.db"

/* Sets the engine up for this process (before any db_open). */
void	 db_init_library(void);
/* Opens the database the setting `database` names: "sqlite" (default),
 * DATA/tessera.db (which must exist unless create is set), or a
 * postgresql:// URI. Applies pending migrations from schema_dir (its pg/
 * for PostgreSQL) and prepares every named query. Returns 0 or -1 with
 * err set. */
int	 db_open(struct db *, const struct config *, int create,
	    char *err, size_t errlen);
void	 db_close(struct db *);
/* With the named queries' files edited (queries.sql, queries.d/), reads
 * and prepares them again, outside a transaction; a set that does not
 * load is logged once and the last good one kept. 1 reloaded, 0 nothing
 * to do, -1 kept the old set (queries_reload.c). */
int	 db_queries_refresh(struct db *);
/* Runs SQL of our own (never input) with no result; 0 or -1 with err. */
int	 db_exec_sql(struct db *, const char *sql, char *err, size_t errlen);

/* ------------------------------------------------------- transactions */

enum db_tx { DB_BEGIN, DB_COMMIT, DB_ROLLBACK, DB_BEGIN_READ };

/* BEGIN (a write transaction, after the writers' turn), COMMIT, ROLLBACK
 * or BEGIN_READ (one snapshot for several reads). A COMMIT that wrote is
 * durable when it returns; one that failed has been rolled back. Returns
 * DB_OK, an error code or DB_NOT_DURABLE. */
int	 db_tx(struct db *, enum db_tx);
/* A savepoint inside a transaction, named by depth: open, release, or
 * roll back to it (and release it). DB_OK or an error code. */
enum db_savepoint { DB_SAVEPOINT, DB_RELEASE, DB_ROLLBACK_TO };
int	 db_savepoint(struct db *, enum db_savepoint, int depth);
/* A batch: one write transaction of statements that only add and count
 * (no read before a write, no result wanted), e.g. a webhook delivery.
 * On PostgreSQL it is one round trip (pipeline mode) and batches run side
 * by side; on SQLite it is a write transaction like db_tx's. Bind a
 * query, add it, bind it again, add it again...; end with commit 1 (0:
 * roll back). Each returns DB_OK or an error code; db_batch_end's commit
 * is durable like db_tx's. */
int	 db_batch_begin(struct db *);
int	 db_batch_add(struct db *, struct dbq *);
int	 db_batch_end(struct db *, int commit);
/* Is a lookup a round trip to another process (PostgreSQL)? Then the
 * gate keeps verified tokens (authcache.h). */
int	 db_remote(struct db *);
/* Reports the tokens changed anywhere since the last call: fn gets each
 * one's id as text, or "*" for "any" (a user or account changed, or the
 * connection was re-opened). Nothing for SQLite, which is read anew. */
void	 db_auth_changes(struct db *, void (*fn)(void *, const char *),
	    void *);
/* Inside a transaction (a script's, the host's, or one a failure left)? */
int	 db_in_tx(struct db *);
/* The worker's check before it answers: syncs a change nothing synced
 * yet (which db_tx and db_finish leave only when the disk refused, or a
 * caller stepped a write itself). 0 (nothing pending), 1 (synced now)
 * or -1 (the disk refused). */
int	 db_settle(struct db *);
/* Resets every statement a Lua error left part-way. */
void	 db_reset_busy(struct db *);

/* ------------------------------------------------------- named queries */

/* The query named name (reset, bindings cleared), or NULL. */
struct dbq *db_query(struct db *, const char *name);
/* Binding by parameter name; a name the query lacks is an error (-1). */
int	 db_bind_int64(struct dbq *, const char *name, long long);
int	 db_bind_text(struct dbq *, const char *name, const char *);
int	 db_bind_blob(struct dbq *, const char *name, const void *, size_t);
/* Does the query have the parameter name (with its ':')? */
int	 db_has_param(struct dbq *, const char *name);
/* Binding by position (1-based), for host.db's tables of parameters. */
int	 db_param_count(struct dbq *);
const char *db_param_name(struct dbq *, int i);	/* with its ':' */
int	 db_bind_index_int64(struct dbq *, int i, long long);
int	 db_bind_index_double(struct dbq *, int i, double);
int	 db_bind_index_text(struct dbq *, int i, const char *, size_t);
int	 db_bind_index_blob(struct dbq *, int i, const void *, size_t);
int	 db_bind_index_null(struct dbq *, int i);
/* Does the query only read? */
int	 db_readonly(struct dbq *);

/* The next row: DB_ROW, DB_DONE or an error code. */
int	 db_step(struct dbq *);
/* Ends a query the caller stepped (to DB_DONE, or part-way): a write
 * outside a transaction is made durable. 0 or DB_NOT_DURABLE. */
int	 db_finish(struct db *, struct dbq *);
/* Resets a query without the durability step (after an error, or a
 * query that only reads). */
void	 db_reset(struct dbq *);
/* Steps to the end and finishes; 0 or the error code (logged). */
int	 db_run(struct db *, struct dbq *);

/* The current row's columns (0-based). Text and blobs stay valid until
 * the next step or reset. */
int	 db_col_count(struct dbq *);
const char *db_col_name(struct dbq *, int i);
enum db_type db_col_type(struct dbq *, int i);
long long db_col_int(struct dbq *, int i);
double	 db_col_double(struct dbq *, int i);
const char *db_col_text(struct dbq *, int i);	/* NULL for NULL */
const void *db_col_blob(struct dbq *, int i);
size_t	 db_col_bytes(struct dbq *, int i);

/* Rows the last write changed, and the id the last INSERT gave. */
long long db_changes(struct db *);
long long db_last_id(struct db *);
/* The engine's message for the last error. */
const char *db_errmsg(struct db *);
/* Does error code rc mean the store cannot serve now (busy, full,
 * read-only, failing disk, unreachable): answer 503? */
int	 db_unavailable(int rc);

/* Parses a named-query file into (name, sql) pairs via fn; exposed for
 * the unit tests. Returns 0 or -1 with err. */
int	 db_parse_queries(const char *text,
	    int (*fn)(void *, const char *name, const char *sql, size_t len),
	    void *arg, char *err, size_t errlen);

/* Durability and the writers' turn on SQLite (commit.c, writer.c),
 * shared by the workers of a data directory through shared memory. */

/* --------------------------------------------------------------- writer */

struct writer;

/* Maps DATA/writer.map: the workers' queue for SQLite's write lock. */
struct writer *writer_open(const char *data_dir, char *err, size_t errlen);
void	 writer_close(struct writer *);
/* Waits at most timeout_ms for the writer's turn. 0, or an errno
 * (ETIMEDOUT: the caller answers busy). */
int	 writer_lock(struct writer *, long long timeout_ms);
void	 writer_unlock(struct writer *);

/* --------------------------------------------------------------- commit */

struct group_commit;

/* Maps DATA/commit.map: the group-commit state of this data directory. */
struct group_commit *commit_open(const char *data_dir, char *err,
	    size_t errlen);
void	 commit_close(struct group_commit *);
/* Makes db's last commit durable, sharing fsyncs with the other workers
 * (g NULL: a plain fsync of the WAL). 0 or -1. */
int	 commit_sync(struct group_commit *, struct db *);
uint64_t commit_fsyncs(const struct group_commit *);

#endif
