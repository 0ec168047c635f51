/*
 * named_queries.c -- the named queries: schema/queries.sql (and, for
 * operators, schema/queries.d/NAME.sql) split at their "-- name:" lines,
 *
 *	-- name: tokens_of_user
 *	SELECT ... WHERE user_id = :user_id;
 *
 * one statement each, prepared once per connection by the engine open.
 * Lua runs them by name with bound parameters; no SQL is ever built from
 * strings.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db_pg.h"
#include "db_sqlite.h"
#include "named_queries.h"
#include "schema_files.h"
#include "store.h"

static int
valid_name(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) &&
		    !isdigit((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

int
db_parse_queries(const char *text,
    int (*fn)(void *, const char *, const char *, size_t), void *arg,
    char *err, size_t errlen)
{
	const char	*p = text, *eol, *body = NULL, *next;
	char		 name[65] = "";
	const char	*tag = "-- name:";
	size_t		 taglen = strlen(tag), nl;
	int		 line = 1;

	for (;;) {
		next = strstr(p, tag);
		while (next && next != text && next[-1] != '\n')
			next = strstr(next + 1, tag);
		if (body != NULL) {
			size_t n = next ? (size_t)(next - body) : strlen(body);

			if (fn(arg, name, body, n) == -1) {
				snprintf(err, errlen, "query %s: rejected",
				    name);
				return -1;
			}
		} else {
			/* Before the first tag: comments and space only. */
			const char *q = text;

			while (q < (next ? next : text + strlen(text))) {
				while (*q == ' ' || *q == '\t' || *q == '\n' ||
				    *q == '\r')
					q++;
				if (q >= (next ? next : text + strlen(text)))
					break;
				if (strncmp(q, "--", 2) != 0) {
					snprintf(err, errlen, "SQL before the "
					    "first \"-- name:\" line");
					return -1;
				}
				q += strcspn(q, "\n");
			}
		}
		if (next == NULL)
			return 0;
		for (; p < next; p++)
			line += *p == '\n';
		eol = next + strcspn(next, "\n");
		p = next + taglen;
		while (*p == ' ' || *p == '\t')
			p++;
		nl = (size_t)(eol - p);
		while (nl > 0 && (p[nl - 1] == ' ' || p[nl - 1] == '\t' ||
		    p[nl - 1] == '\r'))
			nl--;
		if (!valid_name(p, nl)) {
			snprintf(err, errlen, "line %d: query names are "
			    "[a-z0-9_], 1 to 64 characters", line);
			return -1;
		}
		memcpy(name, p, nl);
		name[nl] = '\0';
		body = eol;
		p = eol;
	}
}

static int
querycmp(const void *a, const void *b)
{
	return strcmp(((const struct dbq *)a)->name,
	    ((const struct dbq *)b)->name);
}

struct prep_ctx {
	struct db	*db;
	char		 msg[512];
};

/* Prepares one named query and adds it to db->q. */
static int
prep_one(void *arg, const char *name, const char *sql, size_t n)
{
	struct prep_ctx	*ctx = arg;
	struct db	*db = ctx->db;
	struct dbq	*nq, *q;
	size_t		 i;

	for (i = 0; i < db->nq; i++)
		if (strcmp(db->q[i].name, name) == 0) {
			snprintf(ctx->msg, sizeof(ctx->msg),
			    "query %s defined twice", name);
			return -1;
		}
	if ((nq = reallocarray(db->q, db->nq + 1, sizeof(*nq))) == NULL)
		return -1;
	db->q = nq;
	q = &db->q[db->nq];
	memset(q, 0, sizeof(*q));
	if ((q->name = strdup(name)) == NULL)
		return -1;
	ctx->msg[0] = '\0';
	if (db->pg)
		q->pg = pg_prepare(db->pg, name, sql, n, ctx->msg,
		    sizeof(ctx->msg));
	else
		q->st = sq_prepare(db, name, sql, n, ctx->msg,
		    sizeof(ctx->msg));
	if (q->pg == NULL && q->st == NULL) {
		free(q->name);
		return -1;
	}
	db->nq++;
	return 0;
}

/* Says why the file at path failed: what prep_one said (a query defined
 * twice, or refused by the engine), else what the parser said in err. */
static void
file_failed(const char *path, const struct prep_ctx *ctx, char *err,
    size_t errlen)
{
	char	 why[512];

	snprintf(why, sizeof(why), "%s", ctx->msg[0] ? ctx->msg : err);
	snprintf(err, errlen, "%s: %s", path, why);
}

int
db_load_queries(struct db *db, const char *dir, char *err, size_t errlen)
{
	struct prep_ctx	 ctx = { db, "" };
	char		 path[PATH_MAX + 256], sub[PATH_MAX], **files, *text;
	int		 n, i, rc;

	snprintf(path, sizeof(path), "%s/queries.sql", dir);
	if ((text = schema_read_file(path, err, errlen)) == NULL)
		return -1;
	rc = db_parse_queries(text, prep_one, &ctx, err, errlen);
	free(text);
	if (rc == -1) {
		file_failed(path, &ctx, err, errlen);
		return -1;
	}
	snprintf(sub, sizeof(sub), "%s/queries.d", dir);
	if ((n = schema_list_queries(sub, &files)) < 0) {
		snprintf(err, errlen, "%s: %s", sub, strerror(errno));
		return -1;
	}
	for (i = 0; i < n && rc == 0; i++) {
		snprintf(path, sizeof(path), "%s/%s", sub, files[i]);
		if ((text = schema_read_file(path, err, errlen)) == NULL) {
			rc = -1;
			break;
		}
		rc = db_parse_queries(text, prep_one, &ctx, err, errlen);
		free(text);
		if (rc == -1)
			file_failed(path, &ctx, err, errlen);
	}
	schema_free_list(files, n);
	if (rc == 0)
		qsort(db->q, db->nq, sizeof(*db->q), querycmp);
	return rc;
}

/* FNV-1a over what stat says of path (or that it is missing). */
static unsigned long long
mix(unsigned long long h, const char *path)
{
	struct stat	 st;
	long long	 v[3] = { -1, -1, -1 };
	const unsigned char *p;
	size_t		 i;

	if (stat(path, &st) == 0) {
		v[0] = (long long)st.st_mtim.tv_sec;
		v[1] = (long long)st.st_mtim.tv_nsec;
		v[2] = (long long)st.st_size;
	}
	for (p = (const unsigned char *)path; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	p = (const unsigned char *)v;
	for (i = 0; i < sizeof(v); i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

unsigned long long
db_queries_stamp(const char *dir)
{
	unsigned long long h = 14695981039346656037ULL;
	char		 path[PATH_MAX + 256], sub[PATH_MAX];
	char		**files;
	int		 i, n;

	snprintf(path, sizeof(path), "%s/queries.sql", dir);
	h = mix(h, path);
	snprintf(sub, sizeof(sub), "%s/queries.d", dir);
	h = mix(h, sub);
	if ((n = schema_list_queries(sub, &files)) > 0) {
		for (i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/%s", sub, files[i]);
			h = mix(h, path);
		}
		schema_free_list(files, n);
	}
	return h ? h : 1;
}
