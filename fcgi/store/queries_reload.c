/*
 * queries_reload.c -- the named queries picked up again without a
 * restart (reload = true): when queries.sql or queries.d/ changed, the
 * files are read and every query prepared afresh beside the set in use;
 * only a set that loads whole replaces it. One that does not (a parse
 * error, a query the engine refuses, a name defined twice) is logged once
 * and the last good set stays, until the files change again.
 */
#include <stddef.h>

#include "lib/lib.h"
#include "named_queries.h"
#include "store.h"

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
