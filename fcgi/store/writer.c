/*
 * writer.c -- the workers take turns at SQLite's write lock, queued in the
 * kernel instead of polling.
 *
 * SQLite offers no way to wait for its write lock: a connection that
 * finds it taken calls the busy handler, which sleeps and tries again
 * (db_sqlite.c's busy_wait). With several workers writing at once (webhooks)
 * they sleep through most releases and spend fcntl calls on the others.
 * So a worker takes this process-shared mutex before BEGIN IMMEDIATE and
 * gives it back when the transaction has ended: a waiter sleeps in a
 * futex and wakes when the holder lets go. The fsync of the commit comes
 * after (db_sync), outside the turn, so the next writer writes while the
 * disk syncs.
 *
 * Only the workers queue here. The command line and the sqlite3 shell
 * meet them at SQLite's own lock as before, and a turn that waits for
 * them is bounded by busy_timeout_ms like any wait. The mutex is robust:
 * a worker killed during its transaction (whose frames SQLite then
 * ignores) hands the turn to the next one.
 */
#include <pthread.h>
#include <stdint.h>

#include "lib/lib.h"
#include "store.h"

#define WR_FILE		"writer.map"
#define WR_MAGIC	0x7473727772743031ULL	/* "tsrwrt01" */

struct writer {
	uint64_t	 magic;
	pthread_mutex_t	 mu;
};

static void
writer_init(void *p)
{
	shm_mutex_init(&((struct writer *)p)->mu);
}

struct writer *
writer_open(const char *data_dir, char *err, size_t errlen)
{
	return shm_map_once(data_dir, WR_FILE, sizeof(struct writer),
	    WR_MAGIC, writer_init, err, errlen);
}

void
writer_close(struct writer *w)
{
	shm_unmap(w, sizeof(*w));
}

int
writer_lock(struct writer *w, long long timeout_ms)
{
	return shm_mutex_lock(&w->mu, timeout_ms);
}

void
writer_unlock(struct writer *w)
{
	pthread_mutex_unlock(&w->mu);
}
