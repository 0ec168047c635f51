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

#include "domain.h"
#include "lib/lib.h"
#include "store/store.h"

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

/* The database's fingerprint of the pepper (meta "pepper_check"): a
 * keyed hash of a fixed text, in hex. It tells a host whose pepper.key
 * differs from the one the tokens were hashed with, and reveals nothing
 * of the pepper. */
void
data_pepper_fingerprint(const unsigned char pepper[PEPPER_LEN], char hex[65])
{
	static const char	 text[] = "tessera pepper check";
	unsigned char		 h[32];

	crypto_generichash(h, sizeof(h), (const unsigned char *)text,
	    sizeof(text) - 1, pepper, PEPPER_LEN);
	sodium_bin2hex(hex, 65, h, sizeof(h));
}

/* The value of meta key into out ("" when there is none); 0 or -1. */
static int
meta_text(struct db *db, const char *key, char *out, size_t outlen)
{
	struct dbq	*q;
	const char	*v;
	int		 rc;

	out[0] = '\0';
	if ((q = db_query(db, "meta_get")) == NULL ||
	    db_bind_text(q, ":key", key) == -1)
		return -1;
	if ((rc = db_step(q)) == DB_ROW && (v = db_col_text(q, 0)) != NULL)
		snprintf(out, outlen, "%s", v);
	db_reset(q);
	return rc == DB_ROW || rc == DB_DONE ? 0 : -1;
}

int
data_pepper_matches(struct db *db, const unsigned char *pepper,
    char *err, size_t errlen)
{
	char		 want[65], have[80];
	struct dbq	*q;

	data_pepper_fingerprint(pepper, want);
	if (meta_text(db, "pepper_check", have, sizeof(have)) == -1) {
		snprintf(err, errlen, "database: %s", db_errmsg(db));
		return -1;
	}
	if (have[0] == '\0') {		/* the first host: record it */
		if ((q = db_query(db, "meta_set")) == NULL ||
		    db_bind_text(q, ":key", "pepper_check") == -1 ||
		    db_bind_text(q, ":value", want) == -1 ||
		    db_run(db, q) != 0) {
			snprintf(err, errlen, "database: %s", db_errmsg(db));
			return -1;
		}
		return 0;
	}
	if (strcmp(have, want) != 0) {
		snprintf(err, errlen, "%s/%s is not the pepper this database's "
		    "tokens were made with: copy pepper.key from a host that "
		    "serves this database (every host needs the same file)",
		    "data_dir", PEPPER_FILE);
		return -1;
	}
	return 0;
}

int
data_init(const struct config *cfg, char *err, size_t errlen)
{
	char		 path[PATH_MAX], have[80];
	unsigned char	 pepper[PEPPER_LEN];
	struct db	 db;
	struct dbq	*q;
	long long	 tokens = 0;
	int		 rc = -1;

	umask(077);	/* the database and its WAL are private too */
	if (mkdirs(cfg->data_dir, 0700) == -1) {
		snprintf(err, errlen, "%s: %s", cfg->data_dir, strerror(errno));
		return -1;
	}
	if (db_open(&db, cfg, 1, err, errlen) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, PEPPER_FILE);
	if (access(path, F_OK) == -1) {
		/* A new pepper only for a database no other pepper made
		 * tokens in (a second host of a shared database copies
		 * the first one's file instead). */
		if ((q = db_query(&db, "tokens_any")) != NULL &&
		    db_step(q) == DB_ROW)
			tokens = db_col_int(q, 0);
		if (q != NULL)
			db_reset(q);
		if (meta_text(&db, "pepper_check", have, sizeof(have)) == -1)
			have[0] = '\0';
		if (tokens > 0 || have[0] != '\0') {
			snprintf(err, errlen, "%s: missing, and the database "
			    "already has %s made with another pepper: copy "
			    "pepper.key from a host that serves this database "
			    "(mode 0600) instead of making a new one", path,
			    tokens > 0 ? "tokens" : "a pepper's fingerprint");
			goto out;
		}
		if (make_pepper(path, err, errlen) == -1)
			goto out;
	}
	if (data_pepper(cfg, pepper, err, errlen) == -1)
		goto out;
	rc = data_pepper_matches(&db, pepper, err, errlen);
	sodium_memzero(pepper, sizeof(pepper));
out:
	db_close(&db);
	return rc;
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
