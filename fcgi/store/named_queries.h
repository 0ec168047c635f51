/*
 * named_queries.h -- loading the named queries (store.h), for store.c.
 */
#ifndef TESSERA_NAMED_QUERIES_H
#define TESSERA_NAMED_QUERIES_H

#include <stddef.h>

struct db;
struct dbq;

/* Prepares, on the engine db has open, every query of dir/queries.sql
 * and then of dir/queries.d/NAME.sql in name order, kept in db->q sorted
 * by name (strcmp) for db_query. 0 or -1 with err set. */
int	 db_load_queries(struct db *, const char *dir, char *err,
	    size_t errlen);

/* Frees a set of n prepared queries that is not db->q (store.c: a
 * reload's old or failed set). */
void	 db_free_queries(struct db *, struct dbq *, size_t n);
/* A number that changes when dir/queries.sql, dir/queries.d or a file
 * in it changes (mtime, size, there or not); never 0. */
unsigned long long db_queries_stamp(const char *dir);

#endif
