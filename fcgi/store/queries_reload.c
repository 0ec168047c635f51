/*
 * queries_reload.c -- the named queries picked up again without a
 * restart (reload = true): when queries.sql or queries.d/ changed, the
 * files are read and every query prepared afresh beside the set in use;
 * only a set that loads whole replaces it. One that does not (a parse
 * error, a query the engine refuses, a name defined twice) is logged once
 * and the last good set stays, until the files change again.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/lib.h"
#include "named_queries.h"
#include "schema_files.h"
#include "store.h"

/* FNV-1a over what stat says of path (or that it is missing). */
static unsigned long long
mix(unsigned long long h, const char *path)
{
	struct stat	 st;
	long long	 v[3] = { -1, -1, -1 };
	const unsigned char *p;
	size_t		 i;

	if (stat(path, &st) == 0) {
		v[0] = (long long)st.st_mtim.tv_sec;
		v[1] = (long long)st.st_mtim.tv_nsec;
		v[2] = (long long)st.st_size;
	}
	for (p = (const unsigned char *)path; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	p = (const unsigned char *)v;
	for (i = 0; i < sizeof(v); i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

unsigned long long
db_queries_stamp(const char *dir)
{
	unsigned long long h = 14695981039346656037ULL;
	char		 path[PATH_MAX + 256], sub[PATH_MAX];
	char		**files;
	int		 i, n;

	snprintf(path, sizeof(path), "%s/queries.sql", dir);
	h = mix(h, path);
	snprintf(sub, sizeof(sub), "%s/queries.d", dir);
	h = mix(h, sub);
	if ((n = schema_list_queries(sub, &files)) > 0) {
		for (i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/%s", sub, files[i]);
			h = mix(h, path);
		}
		schema_free_list(files, n);
	}
	return h ? h : 1;
}

int
db_queries_refresh(struct db *db)
{
	unsigned long long stamp;
	struct dbq	*old = db->q;
	size_t		 nold = db->nq;
	char		 err[1024] = "";

	if (db->qdir == NULL || db->tx_depth > 0 || db->reading ||
	    db_in_tx(db))
		return 0;
	stamp = db_queries_stamp(db->qdir);
	if (stamp == db->qstamp || stamp == db->qfailed)
		return 0;
	db->q = NULL;
	db->nq = 0;
	if (db_load_queries(db, db->qdir, err, sizeof(err)) == -1) {
		db_free_queries(db, db->q, db->nq);
		db->q = old;
		db->nq = nold;
		db->qfailed = stamp;
		log_err("database: the named queries do not load; still using "
		    "the last good set: %s", err);
		return -1;
	}
	db_free_queries(db, old, nold);
	db->qstamp = stamp;
	db->qfailed = 0;
	log_info("database: named queries reloaded (%zu)", db->nq);
	return 1;
}
