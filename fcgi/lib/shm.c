/*
 * shm.c -- memory shared by every process serving one data directory: a
 * file in DATA mapped MAP_SHARED. It works whoever started the processes
 * (tessera serve's workers, lighttpd's or mod_fcgid's separate spawns) and
 * outlives any one of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

/*
 * Who set a map up: the machine's boot and the map file itself. A map
 * stamped by another boot was left by a power cut or a crash, and may
 * hold a mutex marked held by a thread that no longer exists (the robust
 * mutex's owner-died hand-over only happens to a live kernel); a map
 * stamped with another inode is a copy (a backup of a live data
 * directory). Either is set up afresh.
 */
struct shm_stamp {
	char		 boot[40];
	uint64_t	 dev, ino;
};

/* Unmaps what shm_map_once mapped (size as given to it). */
void
shm_unmap(void *m, size_t size)
{
	if (m != NULL)
		munmap(m, size + sizeof(struct shm_stamp));
}

static void
stamp_now(struct shm_stamp *s, const struct stat *st)
{
	FILE	*f;

	memset(s, 0, sizeof(*s));
	if ((f = fopen("/proc/sys/kernel/random/boot_id", "re")) != NULL) {
		if (fgets(s->boot, sizeof(s->boot), f) == NULL)
			s->boot[0] = '\0';
		fclose(f);
	}
	s->dev = (uint64_t)st->st_dev;
	s->ino = (uint64_t)st->st_ino;
}

/*
 * Maps DATA/name, size bytes that begin with a magic word (and a stamp
 * after them), shared by every process of the data directory, and sets
 * it up once: under an flock of the file (dropped by the kernel if its
 * holder dies), the first process of this boot zeroes it, runs init(map)
 * and publishes want. NULL with err set, also for a map that another
 * version of tessera set up in this boot (another layout).
 */
void *
shm_map_once(const char *data_dir, const char *name, size_t size,
    uint64_t want, void (*init)(void *), char *err, size_t errlen)
{
	char			 path[PATH_MAX];
	size_t			 total = size + sizeof(struct shm_stamp);
	struct stat		 st;
	struct shm_stamp	 now, *stamp;
	uint64_t		*magic, v;
	void			*m = MAP_FAILED;
	int			 fd, rc;

	snprintf(path, sizeof(path), "%s/%s", data_dir, name);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	while ((rc = flock(fd, LOCK_EX)) == -1 && errno == EINTR)
		;
	if (rc == -1 || fstat(fd, &st) == -1 ||
	    (st.st_size < (off_t)total && ftruncate(fd, (off_t)total) == -1) ||
	    (m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0)) == MAP_FAILED) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);	/* nothing mapped: this drops the flock */
		return NULL;
	}
	magic = m;
	stamp = (struct shm_stamp *)((char *)m + size);
	stamp_now(&now, &st);
	v = __atomic_load_n(magic, __ATOMIC_ACQUIRE);
	if (v != want || memcmp(stamp, &now, sizeof(now)) != 0) {
		if (v != 0 && v != want && memcmp(stamp, &now,
		    sizeof(now)) == 0) {
			snprintf(err, errlen, "%s: set up by another version of "
			    "tessera that is running now", path);
			munmap(m, total);
			close(fd);	/* the last reference: the flock goes */
			return NULL;
		}
		memset(m, 0, size);
		init(m);
		memcpy(stamp, &now, sizeof(now));
		__atomic_store_n(magic, want, __ATOMIC_RELEASE);
	}
	/* Explicitly: the mapping keeps the open file, and with it the
	 * flock, alive past close(). */
	flock(fd, LOCK_UN);
	close(fd);
	return m;
}

/* A mutex several processes share, robust: one whose holder died is
 * handed to the next taker instead of staying locked for ever. */
void
shm_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t	 a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

/* Locks m, waiting at most timeout_ms (0: only if it is free). A lock
 * whose holder died is taken over (whatever it guarded is the caller's
 * to check). Returns 0 or an errno (ETIMEDOUT). */
int
shm_mutex_lock(pthread_mutex_t *m, long long timeout_ms)
{
	struct timespec	 t;
	int		 rc;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += (time_t)(timeout_ms / 1000);
	t.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	rc = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &t);
	if (rc == EOWNERDEAD) {
		pthread_mutex_consistent(m);
		rc = 0;
	}
	return rc;
}
