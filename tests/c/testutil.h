/*
 * testutil.h -- helpers shared by the C unit tests: a private scratch
 * directory (under $TESSERA_TEST_TMP, else /tmp) removed at exit, small
 * file helpers, and a clean TESSERA_* environment.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

/* The scratch directory of this test binary. */
static char tu_dir[PATH_MAX];

static inline int
tu_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

/* Creates the scratch directory; exits on failure (nothing can run). */
static inline void
tu_tmp_init(const char *tag)
{
	const char	*base = getenv("TESSERA_TEST_TMP");

	if (base == NULL || *base == '\0')
		base = "/tmp";
	snprintf(tu_dir, sizeof(tu_dir), "%s/%s.XXXXXX", base, tag);
	if (mkdtemp(tu_dir) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", tu_dir, strerror(errno));
		exit(99);
	}
}

/* Removes the scratch directory and everything in it. */
static inline void
tu_tmp_done(void)
{
	if (tu_dir[0])
		nftw(tu_dir, tu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	tu_dir[0] = '\0';
}

/* tu_dir/name into out (PATH_MAX bytes); returns out. */
static inline char *
tu_path(char *out, const char *name)
{
	if ((size_t)snprintf(out, PATH_MAX, "%s/%s", tu_dir, name) >=
	    PATH_MAX) {
		fprintf(stderr, "path too long: %s/%s\n", tu_dir, name);
		abort();
	}
	return out;
}

/* Writes text to path, creating or truncating; returns 0 or -1. */
static inline int
tu_write(const char *path, const char *text)
{
	FILE	*f;
	size_t	 n = strlen(text);
	int	 rc;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	rc = fwrite(text, 1, n, f) == n ? 0 : -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

/* Unsets every TESSERA_* variable except TESSERA_TEST_TMP, so that the
 * caller's environment cannot change what cfg_load returns. */
static inline void
tu_clean_env(void)
{
	char	 name[256];
	char	*eq;
	int	 again = 1;
	size_t	 i, n;

	while (again) {
		again = 0;
		for (i = 0; environ[i] != NULL; i++) {
			if (strncmp(environ[i], "TESSERA_", 8) != 0 ||
			    strncmp(environ[i], "TESSERA_TEST_TMP=", 17) == 0)
				continue;
			if ((eq = strchr(environ[i], '=')) == NULL)
				continue;
			n = (size_t)(eq - environ[i]);
			if (n >= sizeof(name))
				continue;
			memcpy(name, environ[i], n);
			name[n] = '\0';
			unsetenv(name);
			again = 1;	/* environ changed: rescan */
			break;
		}
	}
}

/* The repository's schema/ directory into out (PATH_MAX bytes): in the
 * working directory (the runner's is the repository's root), else two
 * levels above the test binary. */
static inline void
tu_repo_schema(char *out)
{
	char	 d[PATH_MAX], probe[PATH_MAX + 32], *slash;
	ssize_t	 n;

	if (getcwd(d, sizeof(d)) != NULL) {
		snprintf(probe, sizeof(probe), "%s/schema/queries.sql", d);
		if (access(probe, R_OK) == 0) {
			snprintf(out, PATH_MAX, "%.4000s/schema", d);
			return;
		}
	}
	n = readlink("/proc/self/exe", d, sizeof(d) - 1);
	if (n > 0) {
		d[n] = '\0';
		if ((slash = strrchr(d, '/')) != NULL)
			*slash = '\0';
		snprintf(out, PATH_MAX, "%.4000s/../../schema", d);
	}
}

#endif /* TESTUTIL_H */
