/*
 * db_pg.c -- the PostgreSQL engine behind the store (store.h): libpq,
 * every named query prepared once per connection, ":name" parameters
 * rewritten to "$n".
 *
 * What differs from the SQLite engine, and how the store keeps the same
 * promises:
 *  - Durability: COMMIT returns once PostgreSQL has flushed the commit
 *    (synchronous_commit = on, and the synchronous standbys when the
 *    operator lists some), so nothing is left to sync.
 *  - One writer at a time: a write transaction takes one advisory lock
 *    first, as SQLite's BEGIN IMMEDIATE takes the write lock, so what a
 *    transaction read before it wrote (a quota, a count of failures, the
 *    subset rule) still holds when it commits, across every host.
 *  - The id an INSERT gave: an INSERT into a table with an id column is
 *    prepared with "RETURNING id" added; the engine keeps the id and
 *    shows no row, so db_last_id costs no round trip.
 *  - A lost connection (a failover) is re-opened, with every query
 *    prepared again, at the next request outside a transaction; until
 *    then every call fails with a code db_unavailable() names (503).
 */
#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "tessera.h"
#include "db_pg.h"

/* The advisory lock every write transaction takes ("tessera" in hex, near
 * enough): one writer at a time, as with SQLite. */
#define WRITE_LOCK	0x7e55e7a

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


struct pgdb {
	PGconn		*conn;
	char		*uri;
	long long	 lock_ms;
	long long	 changes;
	long long	 last_id;
	char		 errmsg[512];
	struct pgq	**qs;		/* every prepared query, to re-prepare */
	size_t		 nqs;
	unsigned	 epoch;		/* bumped at each reconnection */
	unsigned	 seen_epoch;	/* the one pg_changes last reported */
	int		 writing;	/* in a write transaction (DB_BEGIN) */
	int		 batch_sent;	/* statements sent in this batch */
	int		 batch_failed;	/* one could not be sent */
};

struct pgq {
	struct pgdb	*pg;
	char		 stname[16];	/* "q12" */
	char		*sql;		/* rewritten, as prepared */
	char		**names;	/* ":name" per $n */
	int		 n;
	char		**values;	/* NULL: SQL NULL */
	int		*lengths;
	int		*formats;
	int		 readonly;
	int		 hidden_id;	/* "RETURNING id" added by us */
	unsigned	 epoch;		/* prepared on this connection */
	PGresult	*res;
	int		 row;		/* current row, -1 before the first */
	int		 nrows;
	unsigned char	*blob;		/* the decoded bytea last asked for */
	size_t		 bloblen;
	int		 blobrow, blobcol;
};

int
pg_is_uri(const char *s)
{
	return s != NULL && (strncmp(s, "postgresql://", 13) == 0 ||
	    strncmp(s, "postgres://", 11) == 0);
}

static void
set_err(struct pgdb *pg, const char *what, const char *msg)
{
	size_t	 n;

	snprintf(pg->errmsg, sizeof(pg->errmsg), "%s%s%s", what,
	    *what ? ": " : "", msg ? msg : "");
	n = strlen(pg->errmsg);
	while (n > 0 && (pg->errmsg[n - 1] == '\n' || pg->errmsg[n - 1] == ' '))
		pg->errmsg[--n] = '\0';
}

/* The store's code for a failed result (SQLSTATE classes). */
static int
code_of(struct pgdb *pg, PGresult *r)
{
	const char	*st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	set_err(pg, "", r ? PQresultErrorMessage(r) : PQerrorMessage(pg->conn));
	if (PQstatus(pg->conn) != CONNECTION_OK || st == NULL)
		return DB_CANTOPEN;
	if (strcmp(st, "23505") == 0)
		return DB_UNIQUE;
	if (strncmp(st, "23", 2) == 0)
		return DB_CONSTRAINT;
	if (strncmp(st, "40", 2) == 0 || strcmp(st, "55P03") == 0 ||
	    strcmp(st, "57014") == 0)
		return DB_BUSY;		/* serialization, lock or timeout */
	if (strcmp(st, "25006") == 0)
		return DB_READONLY;	/* a standby, read-only */
	if (strncmp(st, "53", 2) == 0)
		return DB_FULL;		/* disk, memory, connections */
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "57", 2) == 0 ||
	    strncmp(st, "58", 2) == 0)
		return DB_CANTOPEN;	/* connection, shutdown, system */
	return DB_ERROR;
}

/* Runs SQL of our own with no parameters; DB_OK or a code. */
static int
simple(struct pgdb *pg, const char *sql)
{
	PGresult	*r = PQexec(pg->conn, sql);
	int		 rc = DB_OK;

	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = code_of(pg, r);
	PQclear(r);
	return rc;
}

int
pg_exec_sql(struct pgdb *pg, const char *sql, char *err, size_t errlen)
{
	if (simple(pg, sql) != DB_OK) {
		snprintf(err, errlen, "%s", pg->errmsg);
		return -1;
	}
	return 0;
}

/* Per connection: UTC, the same wait for a lock as SQLite's busy
 * timeout, and commits that wait at least for the local disk, whatever
 * the server's or the role's default (the store's durability rests on
 * it; remote_write and remote_apply are kept). */
static int
session_setup(struct pgdb *pg)
{
	char	 sql[320];

	snprintf(sql, sizeof(sql), "SET TIME ZONE 'UTC'; SET lock_timeout = "
	    "%lld; SET application_name = 'tessera'; "
	    "SELECT set_config('synchronous_commit', 'on', false) "
	    "WHERE current_setting('synchronous_commit') IN ('off', 'local'); "
	    "SET client_min_messages = warning; LISTEN tessera_auth",
	    pg->lock_ms);
	return simple(pg, sql);
}

/* Applies schema/pg's pending migrations in one transaction, under an
 * advisory lock, so several hosts starting at once apply each once. */
static int
migrate(struct pgdb *pg, const char *dir, char *err, size_t errlen)
{
	char		**files = NULL, path[4096 + 256], *sql, v[16];
	const char	*pv[3];
	PGresult	*r;
	int		 n, i;

	if ((n = db_list_migrations(dir, &files)) <= 0) {
		snprintf(err, errlen, "%s: no migrations found", dir);
		db_free_list(files, n);
		return -1;
	}
	if (simple(pg, "BEGIN; SELECT pg_advisory_xact_lock(7283); "
	    "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint "
	    "PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)") !=
	    DB_OK)
		goto fail;
	for (i = 0; i < n; i++) {
		snprintf(v, sizeof(v), "%d", db_migration_version(files[i]));
		pv[0] = v;
		r = PQexecParams(pg->conn, "SELECT 1 FROM schema_migrations "
		    "WHERE version = $1::bigint", 1, NULL, pv, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			code_of(pg, r);
			PQclear(r);
			goto fail;
		}
		if (PQntuples(r) > 0) {
			PQclear(r);
			continue;
		}
		PQclear(r);
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if ((sql = db_slurp(path, err, errlen)) == NULL)
			goto out;
		if (simple(pg, sql) != DB_OK) {
			free(sql);
			snprintf(err, errlen, "%s: %s", files[i], pg->errmsg);
			goto out;
		}
		free(sql);
		pv[1] = files[i];
		r = PQexecParams(pg->conn, "INSERT INTO schema_migrations "
		    "(version, name, applied_at) VALUES ($1::bigint, $2, "
		    "extract(epoch FROM now())::bigint)", 2, NULL, pv, NULL,
		    NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			code_of(pg, r);
			PQclear(r);
			goto fail;
		}
		PQclear(r);
		log_info("applied migration pg/%s", files[i]);
	}
	if (simple(pg, "COMMIT") != DB_OK)
		goto fail;
	db_free_list(files, n);
	return 0;
fail:
	snprintf(err, errlen, "migrations: %s", pg->errmsg);
out:
	simple(pg, "ROLLBACK");
	db_free_list(files, n);
	return -1;
}

/* The server's warnings go to the log, not to stderr as they are. */
static void
notice(void *arg, const char *msg)
{
	(void)arg;
	log_warn("database: %.*s", (int)strcspn(msg, "\n"), msg);
}

struct pgdb *
pg_open(const char *uri, const char *dir, long long lock_ms, char *err,
    size_t errlen)
{
	struct pgdb	*pg;

	if ((pg = calloc(1, sizeof(*pg))) == NULL ||
	    (pg->uri = strdup(uri)) == NULL) {
		free(pg);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pg->lock_ms = lock_ms;
	pg->conn = PQconnectdb(uri);
	PQsetNoticeProcessor(pg->conn, notice, NULL);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		/* libpq's message names the host, never the password. */
		set_err(pg, "", PQerrorMessage(pg->conn));
		snprintf(err, errlen, "database: %s", pg->errmsg);
		pg_close(pg);
		return NULL;
	}
	if (session_setup(pg) != DB_OK) {
		snprintf(err, errlen, "database: %s", pg->errmsg);
		pg_close(pg);
		return NULL;
	}
	if (dir != NULL && migrate(pg, dir, err, errlen) == -1) {
		pg_close(pg);
		return NULL;
	}
	return pg;
}

void
pg_close(struct pgdb *pg)
{
	if (pg == NULL)
		return;
	PQfinish(pg->conn);
	free(pg->qs);
	free(pg->uri);
	free(pg);
}

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

static int
prepare_on(struct pgdb *pg, struct pgq *q)
{
	PGresult	*r;
	int		 ok;

	r = PQprepare(pg->conn, q->stname, q->sql, q->n, NULL);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		code_of(pg, r);
	PQclear(r);
	q->epoch = pg->epoch;
	return ok ? 0 : -1;
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
	snprintf(q->stname, sizeof(q->stname), "q%zu", pg->nqs);
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
		if (prepare_on(pg, q) == 0) {
			free(plain);
			q->hidden_id = 1;
		} else {
			q->sql = plain;
			free(with_id);
		}
	}
	if (!q->hidden_id && prepare_on(pg, q) == -1) {
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

/* A connection the server ended (a restart, a failover, kill -9) shows
 * as a readable socket whose read finds the end: look before using it,
 * so the reconnection happens before the statement, not after it fails.
 * A notification that arrived is queued for pg_changes meanwhile. */
static void
notice_loss(struct pgdb *pg)
{
	struct pollfd	 pfd;
	int		 i;

	/* The server's last words (its FATAL message) come before the end:
	 * the first read takes them, a second finds the end. */
	for (i = 0; i < 4 && PQstatus(pg->conn) == CONNECTION_OK; i++) {
		pfd.fd = PQsocket(pg->conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0 || poll(&pfd, 1, 0) != 1 ||
		    PQconsumeInput(pg->conn) == 0)
			return;
	}
}

/* After a lost connection: reconnect (libpq tries every host of the URI
 * again, so a multi-host URI finds the new primary) and prepare every
 * query again. Only outside a transaction. DB_OK or DB_CANTOPEN. */
static int
reconnect(struct pgdb *pg)
{
	size_t	 i;

	if (PQstatus(pg->conn) == CONNECTION_OK)
		return DB_OK;
	PQreset(pg->conn);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		set_err(pg, "no database", PQerrorMessage(pg->conn));
		return DB_CANTOPEN;
	}
	pg->epoch++;
	if (session_setup(pg) != DB_OK)
		return DB_CANTOPEN;
	for (i = 0; i < pg->nqs; i++)
		if (prepare_on(pg, pg->qs[i]) == -1)
			return DB_CANTOPEN;
	log_info("database: connected again, %zu queries prepared", pg->nqs);
	return DB_OK;
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
			notice_loss(pg);
		if (PQstatus(pg->conn) != CONNECTION_OK) {
			if (!outside || (rc = reconnect(pg)) != DB_OK)
				return DB_CANTOPEN;
		}
		if (q->epoch != pg->epoch && prepare_on(pg, q) == -1)
			return code_of(pg, NULL);
		q->res = PQexecPrepared(pg->conn, q->stname, q->n,
		    (const char *const *)q->values, q->lengths, q->formats, 0);
		s = PQresultStatus(q->res);
		if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
			rc = code_of(pg, q->res);
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

long long
pg_changes_count(struct pgdb *pg)
{
	return pg->changes;
}

long long
pg_last_id(struct pgdb *pg)
{
	return pg->last_id;
}

const char *
pg_errmsg(struct pgdb *pg)
{
	return pg->errmsg;
}

/* Tokens changed anywhere (schema/pg 002: a trigger notifies
 * "tessera_auth" with the token's id, or "*" for a user or account): read
 * from the connection without a round trip. A reconnection, or a
 * connection found lost, reports "*": what was missed is unknown. */
void
pg_changes(struct pgdb *pg, void (*fn)(void *, const char *), void *arg)
{
	PGnotify	*n;

	if (pg->seen_epoch != pg->epoch) {
		pg->seen_epoch = pg->epoch;
		fn(arg, "*");
	}
	/* Read what has arrived; a lost connection reports everything. */
	notice_loss(pg);
	while ((n = PQnotifies(pg->conn)) != NULL) {
		if (strcmp(n->relname, "tessera_auth") == 0)
			fn(arg, n->extra);
		PQfreemem(n);
	}
	if (PQstatus(pg->conn) != CONNECTION_OK)
		fn(arg, "*");
}

/* ------------------------------------------------------- transactions */

int
pg_in_tx(struct pgdb *pg)
{
	PGTransactionStatusType	 t = PQtransactionStatus(pg->conn);

	return t == PQTRANS_INTRANS || t == PQTRANS_INERROR ||
	    t == PQTRANS_ACTIVE;
}

/* What a COMMIT's result says: DB_OK, or the failure. A transaction an
 * error had ended answers COMMIT with ROLLBACK, not with an error. */
static int
commit_result(struct pgdb *pg, PGresult *r)
{
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return code_of(pg, r);
	if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		set_err(pg, "", "the transaction had failed and was rolled "
		    "back");
		return DB_ERROR;
	}
	return DB_OK;
}

/*
 * Durability of a write transaction, the way the SQLite engine has it:
 * the commit under the writers' lock does not wait for the disk
 * (synchronous_commit = off for it), and the wait happens after the lock
 * is given back, where several workers' waits share one flush. The wait
 * is a transaction of its own that takes an id, committed with
 * synchronous_commit = on: its commit record follows ours in the WAL, so
 * once it is flushed (and, with synchronous_standby_names, on the
 * standby) so is ours. Both go in one round trip. DB_OK, an error code,
 * or DB_NOT_DURABLE when the commit went through but its wait failed.
 */
static int
commit_durably(struct pgdb *pg)
{
	PGresult	*r;
	int		 n = 0, rc = DB_OK, committed = 0;

	if (!PQsendQuery(pg->conn, "COMMIT; SELECT "
	    "pg_logical_emit_message(true, 'tessera', '')")) {
		rc = code_of(pg, NULL);
		if (pg_in_tx(pg))
			simple(pg, "ROLLBACK");
		return rc;
	}
	while ((r = PQgetResult(pg->conn)) != NULL) {
		if (n == 0)
			committed = (rc = commit_result(pg, r)) == DB_OK;
		else if (committed && PQresultStatus(r) != PGRES_TUPLES_OK) {
			code_of(pg, r);
			rc = DB_NOT_DURABLE;
		}
		PQclear(r);
		n++;
	}
	if (committed && n < 2 && rc == DB_OK)
		rc = DB_NOT_DURABLE;	/* the connection ended first */
	if (!committed && pg_in_tx(pg))
		simple(pg, "ROLLBACK");
	return rc;
}

/*
 * A batch: one write transaction of statements whose results nobody
 * reads (records added, counters raised), sent in pipeline mode, so the
 * whole transaction is one round trip: BEGIN, the lock, the statements,
 * COMMIT. It takes the writers' lock shared: batches run side by side,
 * and never beside a transaction that holds it alone (one that reads
 * before it writes). Its COMMIT waits for the disk itself
 * (synchronous_commit = on): the lock it holds meanwhile is shared, the
 * counters it raises are its connection's own stripe (schema/pg/003), so
 * no other batch waits for its flush, and one commit record instead of
 * commit_durably's two saves a transaction id per delivery (the postgres
 * backends' CPU per webhook delivery 443 -> 393 us in make bench).
 * pg_batch_add sends a statement with its current bindings (they are
 * copied out at once, so the same query may be bound and added again);
 * pg_batch_end reads every answer.
 */
static int
pipe_send(struct pgdb *pg, const char *sql)
{
	return PQsendQueryParams(pg->conn, sql, 0, NULL, NULL, NULL, NULL, 0) ?
	    0 : -1;
}

int
pg_batch_begin(struct pgdb *pg)
{
	char	 sql[96];
	int	 rc;

	notice_loss(pg);
	if ((rc = reconnect(pg)) != DB_OK)
		return rc;
	pg->batch_sent = 0;
	pg->batch_failed = 0;
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock_shared(%d)",
	    WRITE_LOCK);
	if (!PQenterPipelineMode(pg->conn))
		return code_of(pg, NULL);
	if (pipe_send(pg, "BEGIN") || pipe_send(pg, sql)) {
		/* Out of pipeline mode again, whatever was sent undone. */
		rc = code_of(pg, NULL);
		pg->batch_failed = 1;
		pg_batch_end(pg, 0);
		return rc;
	}
	pg->batch_sent = 2;
	return DB_OK;
}

int
pg_batch_add(struct pgq *q)
{
	struct pgdb	*pg = q->pg;

	if (pg->batch_failed)
		return DB_ERROR;
	if (q->epoch != pg->epoch) {
		set_err(pg, "", "connection re-opened during a batch");
		pg->batch_failed = 1;
		return DB_CANTOPEN;
	}
	if (!PQsendQueryPrepared(pg->conn, q->stname, q->n,
	    (const char *const *)q->values, q->lengths, q->formats, 0)) {
		pg->batch_failed = 1;
		return code_of(pg, NULL);
	}
	pg->batch_sent++;
	return DB_OK;
}

int
pg_batch_end(struct pgdb *pg, int commit)
{
	PGresult	*r;
	ExecStatusType	 s;
	int		 rc = DB_OK, i, committed = 0, n;

	n = pg->batch_sent;
	if (commit && !pg->batch_failed && pipe_send(pg, "COMMIT"))
		pg->batch_failed = 1;
	else if (commit && !pg->batch_failed)
		n += 1;
	if (!PQpipelineSync(pg->conn)) {
		rc = code_of(pg, NULL);
		PQexitPipelineMode(pg->conn);
		return rc;
	}
	/* Each statement's answer, each followed by NULL; then the sync. */
	for (i = 0; i < n; i++) {
		if ((r = PQgetResult(pg->conn)) == NULL)
			break;
		s = PQresultStatus(r);
		if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
			if (commit && i == n - 1)
				committed = strcmp(PQcmdStatus(r),
				    "COMMIT") == 0;
		} else if (rc == DB_OK && s != PGRES_PIPELINE_ABORTED)
			rc = code_of(pg, r);
		else if (rc == DB_OK)
			rc = DB_ERROR;
		PQclear(r);
		while ((r = PQgetResult(pg->conn)) != NULL &&
		    PQresultStatus(r) != PGRES_PIPELINE_SYNC)
			PQclear(r);
		if (r != NULL) {	/* the sync came early */
			PQclear(r);
			break;
		}
	}
	while ((r = PQgetResult(pg->conn)) != NULL) {
		s = PQresultStatus(r);
		PQclear(r);
		if (s == PGRES_PIPELINE_SYNC)
			break;
	}
	PQexitPipelineMode(pg->conn);
	if (pg_in_tx(pg))
		simple(pg, "ROLLBACK");
	if (pg->batch_failed && rc == DB_OK)
		rc = code_of(pg, NULL);
	if (!commit)
		return rc == DB_OK ? DB_OK : rc;
	if (!committed && rc == DB_OK)
		rc = DB_ERROR;
	return committed ? DB_OK : rc;
}

int
pg_tx(struct pgdb *pg, int which)
{
	PGresult	*r;
	int		 rc;
	char		 sql[96];

	switch (which) {
	case DB_BEGIN:
	case DB_BEGIN_READ:
		notice_loss(pg);
		if ((rc = reconnect(pg)) != DB_OK)
			return rc;
		if (which == DB_BEGIN_READ)
			return simple(pg, "BEGIN ISOLATION LEVEL REPEATABLE "
			    "READ READ ONLY");
		/* The commit itself does not wait for the disk (the lock is
		 * given back at once); commit_durably() waits after it. */
		snprintf(sql, sizeof(sql), "BEGIN; SET LOCAL synchronous_commit "
		    "= off; SELECT pg_advisory_xact_lock(%d)", WRITE_LOCK);
		if ((rc = simple(pg, sql)) != DB_OK && pg_in_tx(pg))
			simple(pg, "ROLLBACK");
		pg->writing = rc == DB_OK;
		return rc;
	case DB_COMMIT:
		if (pg->writing) {
			pg->writing = 0;
			return commit_durably(pg);
		}
		r = PQexec(pg->conn, "COMMIT");
		rc = commit_result(pg, r);
		PQclear(r);
		if (rc != DB_OK && pg_in_tx(pg))
			simple(pg, "ROLLBACK");
		return rc;
	default:
		pg->writing = 0;
		return simple(pg, "ROLLBACK");
	}
}

int
pg_savepoint(struct pgdb *pg, int what, int depth)
{
	char	 sql[64];

	if (what == DB_SAVEPOINT)
		snprintf(sql, sizeof(sql), "SAVEPOINT tx%d", depth);
	else if (what == DB_RELEASE)
		snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT tx%d", depth);
	else
		snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT tx%d; "
		    "RELEASE SAVEPOINT tx%d", depth, depth);
	return simple(pg, sql);
}
