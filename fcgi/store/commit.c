/*
 * commit.c -- group commit: one fsync of the WAL makes the commits of
 * every worker durable that finished writing before it began.
 *
 * Each worker commits with synchronous = NORMAL (the frames are written,
 * not yet synced) and then calls commit_sync(). A shared counter numbers
 * the finished commits; a shared "synced up to" says which of them an
 * fsync already covers. A worker whose commit is covered answers at once;
 * otherwise it takes the shared lock, looks again (the fsync it waited
 * behind may have covered it), and else fsyncs for everyone written so
 * far. With several webhooks in flight, one fsync serves them all.
 *
 * Correct because fdatasync() makes durable every write to the file that
 * completed before the call: a commit is counted only after its writes
 * returned, and the leader reads the count before it syncs. The lock is
 * a robust process-shared mutex, so a worker killed while holding it
 * cannot wedge the others (the next one takes it over).
 */
#include <pthread.h>
#include <sqlite3.h>

#include "lib/lib.h"
#include "store.h"

#define GC_FILE		"commit.map"
#define GC_MAGIC	0x7473726763303031ULL	/* "tsrgc001" */

struct group_commit {
	uint64_t	 magic;
	uint64_t	 committed;	/* commits whose writes finished */
	uint64_t	 synced;	/* commits an fsync has covered */
	uint64_t	 fsyncs;	/* fsyncs done, for the figures */
	pthread_mutex_t	 mu;
};

static void
commit_init(void *p)
{
	shm_mutex_init(&((struct group_commit *)p)->mu);
}

struct group_commit *
commit_open(const char *data_dir, char *err, size_t errlen)
{
	return shm_map_once(data_dir, GC_FILE, sizeof(struct group_commit),
	    GC_MAGIC, commit_init, err, errlen);
}

void
commit_close(struct group_commit *g)
{
	shm_unmap(g, sizeof(*g));
}

uint64_t
commit_fsyncs(const struct group_commit *g)
{
	return g ? __atomic_load_n(&g->fsyncs, __ATOMIC_RELAXED) : 0;
}

/* fsync of the WAL behind db. */
static int
wal_sync(struct db *db)
{
	sqlite3_file	*f = NULL;

	if (sqlite3_file_control(db->h, "main", SQLITE_FCNTL_JOURNAL_POINTER,
	    &f) != SQLITE_OK || f == NULL || f->pMethods == NULL)
		return -1;
	return f->pMethods->xSync(f, SQLITE_SYNC_NORMAL) == SQLITE_OK ? 0 : -1;
}

int
commit_sync(struct group_commit *g, struct db *db)
{
	uint64_t	 mine, target;
	int		 rc;

	if (g == NULL) {
		rc = wal_sync(db);
		return rc;
	}
	mine = __atomic_add_fetch(&g->committed, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&g->synced, __ATOMIC_ACQUIRE) >= mine)
		return 0;
	/* A dead holder's lock is taken over; one that stays held past the
	 * busy timeout (it cannot, short of a bug) costs a lone fsync. */
	if (shm_mutex_lock(&g->mu, db->busy_timeout_ms) != 0)
		return wal_sync(db);
	if (__atomic_load_n(&g->synced, __ATOMIC_ACQUIRE) >= mine) {
		pthread_mutex_unlock(&g->mu);
		return 0;
	}
	target = __atomic_load_n(&g->committed, __ATOMIC_SEQ_CST);
	rc = wal_sync(db);
	if (rc == 0) {
		__atomic_store_n(&g->synced, target, __ATOMIC_RELEASE);
		__atomic_add_fetch(&g->fsyncs, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&g->mu);
	return rc;
}
