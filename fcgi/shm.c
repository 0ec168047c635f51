/*
 * shm.c -- memory shared by every process serving one data directory: a
 * file in DATA mapped MAP_SHARED. It works whoever started the processes
 * (tessera serve's workers, lighttpd's or mod_fcgid's separate spawns) and
 * outlives any one of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
