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
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tessera.h"

void *
shm_map(const char *data_dir, const char *name, size_t size, char *err,
    size_t errlen)
{
	char		 path[PATH_MAX];
	int		 fd;
	struct stat	 st;
	void		*m;

	snprintf(path, sizeof(path), "%s/%s", data_dir, name);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	/* A new file reads as zeros: the users' "not initialised yet". */
	if (fstat(fd, &st) == -1 ||
	    (st.st_size < (off_t)size && ftruncate(fd, (off_t)size) == -1)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
		return NULL;
	}
	return m;
}

void
shm_unmap(void *m, size_t size)
{
	if (m != NULL)
		munmap(m, size);
}

/*
 * shm_map for a map that begins with a magic word, set up once among all
 * the processes: the first to find the word zero claims it (1), runs
 * init(map), then publishes want; the others wait for that, up to a
 * second. NULL with err set when the file holds another magic (the
 * layout of another version) or its initialiser died half-way.
 */
void *
shm_map_once(const char *data_dir, const char *name, size_t size,
    uint64_t want, void (*init)(void *), char *err, size_t errlen)
{
	uint64_t	*magic, zero = 0, v;
	int		 i;

	if ((magic = shm_map(data_dir, name, size, err, errlen)) == NULL)
		return NULL;
	if (__atomic_load_n(magic, __ATOMIC_ACQUIRE) == want)
		return magic;
	if (__atomic_compare_exchange_n(magic, &zero, 1, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		init(magic);
		__atomic_store_n(magic, want, __ATOMIC_RELEASE);
		return magic;
	}
	for (i = 0; i < 10000; i++) {
		if ((v = __atomic_load_n(magic, __ATOMIC_ACQUIRE)) == want)
			return magic;
		if (v != 1)
			break;
		usleep(100);
	}
	snprintf(err, errlen, "%s/%s: not set up by this version (remove it "
	    "while tessera is stopped)", data_dir, name);
	shm_unmap(magic, size);
	return NULL;
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

/* Locks m, waiting at most timeout_ms (< 0: for ever). A lock whose
 * holder died is taken over (whatever it guarded is the caller's to
 * check). Returns 0 or an errno (ETIMEDOUT). */
int
shm_mutex_lock(pthread_mutex_t *m, long long timeout_ms)
{
	struct timespec	 t;
	int		 rc;

	if (timeout_ms < 0)
		rc = pthread_mutex_lock(m);
	else {
		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_sec += (time_t)(timeout_ms / 1000);
		t.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		rc = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &t);
	}
	if (rc == EOWNERDEAD) {
		pthread_mutex_consistent(m);
		rc = 0;
	}
	return rc;
}
