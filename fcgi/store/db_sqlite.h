/*
 * db_sqlite.h -- the SQLite engine behind the store (store.h), for the
 * store's own files (store.c, named_queries.c): opening the database,
 * migrations, preparing a named query, transactions with the writers'
 * turn, durability. A statement's own calls (bind, step, columns) need
 * no function here: the store's codes and types are SQLite's, and
 * store.c calls SQLite for them directly.
 */
#ifndef TESSERA_DB_SQLITE_H
#define TESSERA_DB_SQLITE_H

#include <stddef.h>

#include "lib/lib.h"
#include "store.h"

/* Opens DATA/tessera.db (which must exist unless create is set) with the
 * house pragmas and SQL functions, applies pending migrations from
 * cfg->schema_dir and makes them durable. 0, or -1 with err set and
 * what was opened left for sq_close. */
int	 sq_open(struct db *, const struct config *, int create,
	    char *err, size_t errlen);
/* Syncs what is not yet synced, finalizes every statement (the named
 * queries' too) and closes the connection. */
void	 sq_close(struct db *);
/* Runs SQL of our own (never input) with no result; 0 or -1 with err. */
int	 sq_exec(struct db *, const char *sql, char *err, size_t errlen);
/* Prepares one named query, for the life of the connection; NULL with
 * err set. */
struct sqlite3_stmt *sq_prepare(struct db *, const char *name,
	    const char *sql, size_t len, char *err, size_t errlen);

/* db_tx, db_finish and db_settle (store.h) on SQLite. */
int	 sq_tx(struct db *, enum db_tx);
int	 sq_finish(struct db *, struct sqlite3_stmt *);
int	 sq_settle(struct db *);

#endif
