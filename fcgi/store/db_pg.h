/*
 * db_pg.h -- the PostgreSQL engine behind the store (store.h), for the
 * store's own files (store.c, named_queries.c): the connection is
 * db_pg.c's, the queries db_pg_query.c's. Chosen by
 * `database = postgresql://...` (a libpq URI).
 */
#ifndef TESSERA_DB_PG_H
#define TESSERA_DB_PG_H

#include <stddef.h>

struct pgdb;
struct pgq;

/* Is this database setting a PostgreSQL URI? */
int	 pg_is_uri(const char *);

/* Connects (uri may name several hosts), applies pending migrations from
 * dir (schema/pg) under an advisory lock. NULL with err set. */
struct pgdb *pg_open(const char *uri, const char *dir, long long lock_ms,
	    char *err, size_t errlen);
void	 pg_close(struct pgdb *);
/* Prepares one named query (":name" parameters). NULL with err. */
struct pgq *pg_prepare(struct pgdb *, const char *name, const char *sql,
	    size_t len, char *err, size_t errlen);
void	 pg_free(struct pgq *);
/* Frees q and forgets it: no longer prepared again after a reconnection,
 * and deallocated on the server (a reload of the named queries). */
void	 pg_forget(struct pgdb *, struct pgq *);

int	 pg_tx(struct pgdb *, int which);	/* enum db_tx */
int	 pg_savepoint(struct pgdb *, int what, int depth);
int	 pg_in_tx(struct pgdb *);
int	 pg_batch_begin(struct pgdb *);
int	 pg_batch_add(struct pgq *);
int	 pg_batch_end(struct pgdb *, int commit);
int	 pg_exec_sql(struct pgdb *, const char *sql, char *err, size_t errlen);

void	 pg_clear(struct pgq *);	/* reset and clear bindings */
void	 pg_reset(struct pgq *);
int	 pg_has_param(struct pgq *, const char *name);
int	 pg_param_count(struct pgq *);
const char *pg_param_name(struct pgq *, int i);
int	 pg_bind_int64(struct pgq *, int i, long long);
int	 pg_bind_double(struct pgq *, int i, double);
int	 pg_bind_text(struct pgq *, int i, const char *, size_t);
int	 pg_bind_blob(struct pgq *, int i, const void *, size_t);
int	 pg_bind_null(struct pgq *, int i);
int	 pg_param_index(struct pgq *, const char *name);
int	 pg_readonly(struct pgq *);
int	 pg_step(struct pgq *);
int	 pg_col_count(struct pgq *);
const char *pg_col_name(struct pgq *, int i);
int	 pg_col_type(struct pgq *, int i);
long long pg_col_int(struct pgq *, int i);
double	 pg_col_double(struct pgq *, int i);
const char *pg_col_text(struct pgq *, int i);
const void *pg_col_blob(struct pgq *, int i);
size_t	 pg_col_bytes(struct pgq *, int i);
long long pg_changes_count(struct pgdb *);
void	 pg_changes(struct pgdb *, void (*)(void *, const char *), void *);
long long pg_last_id(struct pgdb *);
const char *pg_errmsg(struct pgdb *);

/* Rewrites ":name" parameters to "$n" (the same name, the same n),
 * leaving strings, quoted names, comments and "::" casts alone. Returns a
 * malloc'd string and the names in order (malloc'd, *nnames of them), or
 * NULL. Exposed for the unit tests. */
char	*pg_rewrite(const char *sql, size_t len, char ***names, int *nnames);

#endif
