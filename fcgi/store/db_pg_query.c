/*
 * db_pg_query.c -- the PostgreSQL engine's named queries (store.h's
 * calls on a query): ":name" parameters rewritten to "$n", each query
 * prepared once per connection, its parameters bound as text (bytea as
 * binary), run at its first step, its columns read from the whole
 * result. The connection under it is db_pg.c's.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db_pg.h"
#include "db_pg_local.h"
#include "store.h"

/* Type oids (pg_type.h is not in libpq-dev's public headers). */
#define OID_BOOL	16
#define OID_BYTEA	17
#define OID_INT8	20
#define OID_INT2	21
#define OID_INT4	23
#define OID_OID		26
#define OID_FLOAT4	700
#define OID_FLOAT8	701
#define OID_NUMERIC	1700

/* ------------------------------------------------------------ rewriting */

static int
name_start(int c)
{
	return isalpha(c) || c == '_';
}

static int
name_char(int c)
{
	return isalnum(c) || c == '_';
}

char *
pg_rewrite(const char *sql, size_t len, char ***names, int *nnames)
{
	char		*out, **v = NULL, **nv;
	const char	*p = sql, *end = sql + len, *q;
	size_t		 o = 0, cap = len * 2 + 16;
	int		 n = 0, i, k;

	*names = NULL;
	*nnames = 0;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	while (p < end) {
		if (*p == '\'' || *p == '"') {		/* literal, name */
			q = p + 1;
			while (q < end && *q != *p)
				q++;
			q = q < end ? q + 1 : q;
		} else if (p + 1 < end && p[0] == '-' && p[1] == '-') {
			q = p;
			while (q < end && *q != '\n')
				q++;
		} else if (p + 1 < end && p[0] == '/' && p[1] == '*') {
			q = p + 2;
			while (q + 1 < end && !(q[0] == '*' && q[1] == '/'))
				q++;
			q = q + 1 < end ? q + 2 : end;
		} else if (p + 1 < end && p[0] == ':' && p[1] == ':') {
			q = p + 2;			/* a cast */
		} else if (*p == ':' && p + 1 < end &&
		    name_start((unsigned char)p[1])) {
			q = p + 1;
			while (q < end && name_char((unsigned char)*q))
				q++;
			for (k = 0; k < n; k++)
				if (strlen(v[k]) == (size_t)(q - p) &&
				    memcmp(v[k], p, (size_t)(q - p)) == 0)
					break;
			if (k == n) {
				if ((nv = reallocarray(v, (size_t)n + 1,
				    sizeof(*v))) == NULL ||
				    (nv[n] = strndup(p, (size_t)(q - p))) ==
				    NULL) {
					v = nv ? nv : v;
					goto fail;
				}
				v = nv;
				n++;
			}
			o += (size_t)snprintf(out + o, cap - o, "$%d", k + 1);
			p = q;
			continue;
		} else
			q = p + 1;
		memcpy(out + o, p, (size_t)(q - p));
		o += (size_t)(q - p);
		p = q;
	}
	out[o] = '\0';
	*names = v;
	*nnames = n;
	return out;
fail:
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
	free(out);
	return NULL;
}

/* ------------------------------------------------------------ queries */

/* The first keyword of sql (after space and comments), upper-cased. */
static void
first_word(const char *sql, char *w, size_t wlen)
{
	size_t	 i = 0;

	for (;;) {
		while (isspace((unsigned char)*sql))
			sql++;
		if (strncmp(sql, "--", 2) == 0)
			sql += strcspn(sql, "\n");
		else
			break;
	}
	while (isalpha((unsigned char)*sql) && i + 1 < wlen)
		w[i++] = (char)toupper((unsigned char)*sql++);
	w[i] = '\0';
}

static int
contains_word(const char *text, const char *word)
{
	const char	*s;
	size_t		 n = strlen(word);

	for (s = text; *s; s++)
		if (strncasecmp(s, word, n) == 0 && !name_char((unsigned char)
		    s[n]) && (s == text || !name_char((unsigned char)s[-1])))
			return 1;
	return 0;
}

struct pgq *
pg_prepare(struct pgdb *pg, const char *name, const char *sql, size_t len,
    char *err, size_t errlen)
{
	struct pgq	*q, **nq;
	char		 w[16], *with_id;
	size_t		 n;

	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->sql = pg_rewrite(sql, len, &q->names, &q->n)) == NULL) {
		free(q);
		snprintf(err, errlen, "query %s: out of memory", name);
		return NULL;
	}
	q->pg = pg;
	q->row = -1;
	/* Never a name in use: a reload prepares the new set beside the
	 * old (pg_forget). */
	snprintf(q->stname, sizeof(q->stname), "q%lu", pg->named++);
	/* Trailing space and semicolons go: "RETURNING id" may follow. */
	n = strlen(q->sql);
	while (n > 0 && (isspace((unsigned char)q->sql[n - 1]) ||
	    q->sql[n - 1] == ';'))
		q->sql[--n] = '\0';
	first_word(q->sql, w, sizeof(w));
	q->readonly = strcmp(w, "SELECT") == 0 || (strcmp(w, "WITH") == 0 &&
	    !contains_word(q->sql, "INSERT") && !contains_word(q->sql,
	    "UPDATE") && !contains_word(q->sql, "DELETE"));
	if ((q->values = calloc((size_t)q->n + 1, sizeof(char *))) == NULL ||
	    (q->lengths = calloc((size_t)q->n + 1, sizeof(int))) == NULL ||
	    (q->formats = calloc((size_t)q->n + 1, sizeof(int))) == NULL)
		goto fail;
	if (strcmp(w, "INSERT") == 0 && !contains_word(q->sql, "RETURNING") &&
	    asprintf(&with_id, "%s RETURNING id", q->sql) != -1) {
		char *plain = q->sql;

		q->sql = with_id;
		if (pg_prepare_on(pg, q) == 0) {
			free(plain);
			q->hidden_id = 1;
		} else {
			q->sql = plain;
			free(with_id);
		}
	}
	if (!q->hidden_id && pg_prepare_on(pg, q) == -1) {
		snprintf(err, errlen, "query %s: %s", name, pg->errmsg);
		goto fail;
	}
	if ((nq = reallocarray(pg->qs, pg->nqs + 1, sizeof(*nq))) == NULL)
		goto fail;
	pg->qs = nq;
	pg->qs[pg->nqs++] = q;
	return q;
fail:
	if (err[0] == '\0')
		snprintf(err, errlen, "query %s: out of memory", name);
	pg_free(q);
	return NULL;
}

void
pg_forget(struct pgdb *pg, struct pgq *q)
{
	char	 sql[32];
	size_t	 i;

	if (q == NULL)
		return;
	for (i = 0; i < pg->nqs; i++)
		if (pg->qs[i] == q) {
			memmove(&pg->qs[i], &pg->qs[i + 1],
			    (pg->nqs - i - 1) * sizeof(*pg->qs));
			pg->nqs--;
			break;
		}
	if (pg->conn && q->epoch == pg->epoch &&
	    PQstatus(pg->conn) == CONNECTION_OK) {
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", q->stname);
		PQclear(PQexec(pg->conn, sql));
	}
	pg_free(q);
}

void
pg_free(struct pgq *q)
{
	int	 i;

	if (q == NULL)
		return;
	pg_clear(q);
	for (i = 0; i < q->n; i++)
		free(q->names[i]);
	free(q->names);
	free(q->values);
	free(q->lengths);
	free(q->formats);
	free(q->sql);
	free(q);
}
void
pg_reset(struct pgq *q)
{
	PQclear(q->res);
	q->res = NULL;
	q->row = -1;
	q->nrows = 0;
	free(q->blob);
	q->blob = NULL;
}

void
pg_clear(struct pgq *q)
{
	int	 i;

	pg_reset(q);
	for (i = 0; i < q->n; i++) {
		free(q->values[i]);
		q->values[i] = NULL;
		q->lengths[i] = 0;
		q->formats[i] = 0;
	}
}

int
pg_param_count(struct pgq *q)
{
	return q->n;
}

const char *
pg_param_name(struct pgq *q, int i)
{
	return i >= 1 && i <= q->n ? q->names[i - 1] : NULL;
}

int
pg_param_index(struct pgq *q, const char *name)
{
	int	 i;

	for (i = 0; i < q->n; i++)
		if (strcmp(q->names[i], name) == 0)
			return i + 1;
	return 0;
}

int
pg_has_param(struct pgq *q, const char *name)
{
	return pg_param_index(q, name) > 0;
}

static int
bind(struct pgq *q, int i, const void *p, size_t n, int binary)
{
	char	*v;

	if (i < 1 || i > q->n || n > INT32_MAX ||
	    (v = malloc(n + 1)) == NULL)
		return -1;
	memcpy(v, p, n);
	v[n] = '\0';
	free(q->values[i - 1]);
	q->values[i - 1] = v;
	q->lengths[i - 1] = (int)n;
	q->formats[i - 1] = binary;
	return 0;
}

int
pg_bind_int64(struct pgq *q, int i, long long v)
{
	char	 s[24];

	return bind(q, i, s, (size_t)snprintf(s, sizeof(s), "%lld", v), 0);
}

int
pg_bind_double(struct pgq *q, int i, double v)
{
	char	 s[40];

	return bind(q, i, s, (size_t)snprintf(s, sizeof(s), "%.17g", v), 0);
}

int
pg_bind_text(struct pgq *q, int i, const char *s, size_t n)
{
	return bind(q, i, s, n, 0);
}

int
pg_bind_blob(struct pgq *q, int i, const void *p, size_t n)
{
	return bind(q, i, p, n, 1);
}

int
pg_bind_null(struct pgq *q, int i)
{
	if (i < 1 || i > q->n)
		return -1;
	free(q->values[i - 1]);
	q->values[i - 1] = NULL;
	q->lengths[i - 1] = 0;
	q->formats[i - 1] = 0;
	return 0;
}

int
pg_readonly(struct pgq *q)
{
	return q->readonly;
}

/* Runs the query at its first step; then walks its rows. */
int
pg_step(struct pgq *q)
{
	struct pgdb	*pg = q->pg;
	ExecStatusType	 s;
	int		 rc;

	if (q->res == NULL) {
		int	 outside = !pg_in_tx(pg), tries = 0;

again:
		if (outside)
			pg_notice_loss(pg);
		if (PQstatus(pg->conn) != CONNECTION_OK) {
			if (!outside || (rc = pg_reconnect(pg)) != DB_OK)
				return DB_CANTOPEN;
		}
		if (q->epoch != pg->epoch && pg_prepare_on(pg, q) == -1)
			return pg_code_of(pg, NULL);
		q->res = PQexecPrepared(pg->conn, q->stname, q->n,
		    (const char *const *)q->values, q->lengths, q->formats, 0);
		s = PQresultStatus(q->res);
		if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
			rc = pg_code_of(pg, q->res);
			pg_reset(q);
			/* The connection died under a read: once more on a new
			 * one. A write is not repeated: it may have happened. */
			if (rc == DB_CANTOPEN && outside && q->readonly &&
			    tries++ == 0 && PQstatus(pg->conn) != CONNECTION_OK)
				goto again;
			return rc;
		}
		pg->changes = atoll(PQcmdTuples(q->res));
		q->nrows = s == PGRES_TUPLES_OK ? PQntuples(q->res) : 0;
		if (q->hidden_id) {
			if (q->nrows > 0)
				pg->last_id = atoll(PQgetvalue(q->res,
				    q->nrows - 1, 0));
			q->nrows = 0;
		}
		q->row = -1;
	}
	if (q->row + 1 < q->nrows) {
		q->row++;
		return DB_ROW;
	}
	q->row = q->nrows;
	return DB_DONE;
}

int
pg_col_count(struct pgq *q)
{
	return q->res && !q->hidden_id ? PQnfields(q->res) : 0;
}

const char *
pg_col_name(struct pgq *q, int i)
{
	return q->res ? PQfname(q->res, i) : NULL;
}

static int
at_row(struct pgq *q, int i)
{
	return q->res != NULL && q->row >= 0 && q->row < q->nrows && i >= 0 &&
	    i < PQnfields(q->res);
}

int
pg_col_type(struct pgq *q, int i)
{
	if (!at_row(q, i) || PQgetisnull(q->res, q->row, i))
		return DB_NULL;
	switch (PQftype(q->res, i)) {
	case OID_BOOL:
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
	case OID_OID:
		return DB_INTEGER;
	case OID_NUMERIC:
		/* sum() of bigints is numeric: whole ones stay integers. */
		return strchr(PQgetvalue(q->res, q->row, i), '.') ?
		    DB_FLOAT : DB_INTEGER;
	case OID_FLOAT4:
	case OID_FLOAT8:
		return DB_FLOAT;
	case OID_BYTEA:
		return DB_BLOB;
	default:
		return DB_TEXT;
	}
}

long long
pg_col_int(struct pgq *q, int i)
{
	const char	*v;

	if (!at_row(q, i) || PQgetisnull(q->res, q->row, i))
		return 0;
	v = PQgetvalue(q->res, q->row, i);
	if (PQftype(q->res, i) == OID_BOOL)
		return v[0] == 't';
	return strtoll(v, NULL, 10);
}

double
pg_col_double(struct pgq *q, int i)
{
	if (!at_row(q, i) || PQgetisnull(q->res, q->row, i))
		return 0;
	return strtod(PQgetvalue(q->res, q->row, i), NULL);
}

const char *
pg_col_text(struct pgq *q, int i)
{
	if (!at_row(q, i) || PQgetisnull(q->res, q->row, i))
		return NULL;
	if (PQftype(q->res, i) == OID_BYTEA)
		return pg_col_blob(q, i);	/* NUL-terminated too */
	return PQgetvalue(q->res, q->row, i);
}

/* A bytea arrives as text ("\x4142..."): decoded on demand, once per row
 * and column. */
const void *
pg_col_blob(struct pgq *q, int i)
{
	size_t		 n;

	if (!at_row(q, i) || PQgetisnull(q->res, q->row, i))
		return NULL;
	if (PQftype(q->res, i) != OID_BYTEA)
		return PQgetvalue(q->res, q->row, i);
	if (q->blob && q->blobrow == q->row && q->blobcol == i)
		return q->blob;
	free(q->blob);
	q->blob = NULL;
	{
		unsigned char *u = PQunescapeBytea((const unsigned char *)
		    PQgetvalue(q->res, q->row, i), &n);

		if (u == NULL)
			return NULL;
		if ((q->blob = malloc(n + 1)) != NULL) {
			memcpy(q->blob, u, n);
			q->blob[n] = '\0';
			q->bloblen = n;
			q->blobrow = q->row;
			q->blobcol = i;
		}
		PQfreemem(u);
	}
	return q->blob;
}

size_t
pg_col_bytes(struct pgq *q, int i)
{
	if (!at_row(q, i) || PQgetisnull(q->res, q->row, i))
		return 0;
	if (PQftype(q->res, i) == OID_BYTEA)
		return pg_col_blob(q, i) ? q->bloblen : 0;
	return (size_t)PQgetlength(q->res, q->row, i);
}
