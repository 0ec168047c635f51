/*
 * schema_files.c -- the files of the schema directory: numbered
 * migrations ("NNN_name.sql") and named-query files listed in name order,
 * and a whole file read. Both engines' migrations and the named-query
 * loader use them; this file calls neither.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_files.h"

char *
schema_read_file(const char *path, char *err, size_t errlen)
{
	FILE	*f;
	char	*p = NULL;
	long	 n;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    n < (1L << 24) && fseek(f, 0, SEEK_SET) == 0 &&
	    (p = malloc((size_t)n + 1)) != NULL) {
		if (fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		} else
			p[n] = '\0';
	}
	if (p == NULL)
		snprintf(err, errlen, "%s: cannot read", path);
	fclose(f);
	return p;
}

int
schema_migration_version(const char *name)
{
	size_t	 n = strlen(name);

	if (n < 9 || !isdigit((unsigned char)name[0]) ||
	    !isdigit((unsigned char)name[1]) ||
	    !isdigit((unsigned char)name[2]) || name[3] != '_' ||
	    strcmp(name + n - 4, ".sql") != 0)
		return -1;
	return (name[0] - '0') * 100 + (name[1] - '0') * 10 + (name[2] - '0');
}

static int
namecmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists dir's entries for which keep() is true, sorted; the caller frees
 * the list (schema_free_list). Returns the count or -1. */
static int
list_dir(const char *dir, int (*keep)(const char *), char ***out)
{
	DIR		*d;
	struct dirent	*e;
	char		**v = NULL, **nv;
	int		 n = 0;

	*out = NULL;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		if (!keep(e->d_name))
			continue;
		if ((nv = reallocarray(v, (size_t)n + 1, sizeof(*v))) == NULL)
			break;
		v = nv;
		if ((v[n] = strdup(e->d_name)) == NULL)
			break;
		n++;
	}
	closedir(d);
	qsort(v, (size_t)n, sizeof(*v), namecmp);
	*out = v;
	return n;
}

static int
is_migration(const char *name)
{
	return schema_migration_version(name) >= 0;
}

static int
is_sql(const char *name)
{
	size_t	 n = strlen(name);

	return n > 4 && name[0] != '.' && strcmp(name + n - 4, ".sql") == 0;
}

int
schema_list_migrations(const char *dir, char ***files)
{
	return list_dir(dir, is_migration, files);
}

int
schema_list_queries(const char *dir, char ***files)
{
	return list_dir(dir, is_sql, files);
}

void
schema_free_list(char **v, int n)
{
	while (n-- > 0)
		free(v[n]);
	free(v);
}
