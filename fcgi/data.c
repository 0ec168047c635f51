/*
 * data.c -- the data directory: the database and the pepper key file.
 * The pepper keys the hash of every token secret; it lives outside the
 * database so that a stolen database alone cannot verify a guess.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tessera.h"

/* mkdir -p with mode for the last component. */
static int
mkdirs(const char *dir, mode_t mode)
{
	char	 p[PATH_MAX], *s;

	if ((size_t)snprintf(p, sizeof(p), "%s", dir) >= sizeof(p))
		return -1;
	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	if (mkdir(p, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/* Writes a fresh random pepper unless one exists. */
static int
make_pepper(const char *path, char *err, size_t errlen)
{
	unsigned char	 key[PEPPER_LEN];
	int		 fd;

	ssize_t		 n;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		if (errno == EEXIST)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	randombytes_buf(key, sizeof(key));
	n = write(fd, key, sizeof(key));
	sodium_memzero(key, sizeof(key));
	if (n != (ssize_t)sizeof(key) || fsync(fd) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

int
data_init(const struct config *cfg, char *err, size_t errlen)
{
	char		 path[PATH_MAX];
	struct db	 db;

	umask(077);	/* the database and its WAL are private too */
	if (mkdirs(cfg->data_dir, 0700) == -1) {
		snprintf(err, errlen, "%s: %s", cfg->data_dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, PEPPER_FILE);
	if (make_pepper(path, err, errlen) == -1)
		return -1;
	if (db_open(&db, cfg, 1, err, errlen) == -1)
		return -1;
	db_close(&db);
	return 0;
}

int
data_pepper(const struct config *cfg, unsigned char out[PEPPER_LEN],
    char *err, size_t errlen)
{
	char		 path[PATH_MAX];
	struct stat	 st;
	int		 fd;
	ssize_t		 n;

	snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, PEPPER_FILE);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s (run: tessera init --data DIR)",
		    path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: must be mode 0600 (chmod 600 %s)",
		    path, path);
		close(fd);
		return -1;
	}
	n = st.st_size == PEPPER_LEN ? read(fd, out, PEPPER_LEN) : -1;
	close(fd);
	if (n != PEPPER_LEN) {
		snprintf(err, errlen, "%s: expected %d bytes", path,
		    PEPPER_LEN);
		sodium_memzero(out, PEPPER_LEN);
		return -1;
	}
	return 0;
}
