/*
 * db_pg.c -- the PostgreSQL engine behind the store (store.h): the libpq
 * connection (opened, set up, migrated, re-opened after a loss), its
 * transactions and batches, and what it reports (changes, ids, errors,
 * tokens changed elsewhere). Its named queries are db_pg_query.c's.
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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_pg.h"
#include "db_pg_local.h"
#include "lib/lib.h"
#include "schema_files.h"
#include "store.h"

/* The advisory lock every write transaction takes ("tessera" in hex, near
 * enough): one writer at a time, as with SQLite. */
#define WRITE_LOCK	0x7e55e7a

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
int
pg_code_of(struct pgdb *pg, PGresult *r)
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
		rc = pg_code_of(pg, r);
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

	if ((n = schema_list_migrations(dir, &files)) <= 0) {
		snprintf(err, errlen, "%s: no migrations found", dir);
		schema_free_list(files, n);
		return -1;
	}
	if (simple(pg, "BEGIN; SELECT pg_advisory_xact_lock(7283); "
	    "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint "
	    "PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)") !=
	    DB_OK)
		goto fail;
	for (i = 0; i < n; i++) {
		snprintf(v, sizeof(v), "%d", schema_migration_version(files[i]));
		pv[0] = v;
		r = PQexecParams(pg->conn, "SELECT 1 FROM schema_migrations "
		    "WHERE version = $1::bigint", 1, NULL, pv, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			pg_code_of(pg, r);
			PQclear(r);
			goto fail;
		}
		if (PQntuples(r) > 0) {
			PQclear(r);
			continue;
		}
		PQclear(r);
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if ((sql = schema_read_file(path, err, errlen)) == NULL)
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
			pg_code_of(pg, r);
			PQclear(r);
			goto fail;
		}
		PQclear(r);
		log_info("applied migration pg/%s", files[i]);
	}
	if (simple(pg, "COMMIT") != DB_OK)
		goto fail;
	schema_free_list(files, n);
	return 0;
fail:
	snprintf(err, errlen, "migrations: %s", pg->errmsg);
out:
	simple(pg, "ROLLBACK");
	schema_free_list(files, n);
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

/* Prepares q on the current connection under its name ("q12"): at
 * pg_prepare, and again for every query after a reconnection. */
int
pg_prepare_on(struct pgdb *pg, struct pgq *q)
{
	PGresult	*r;
	int		 ok;

	r = PQprepare(pg->conn, q->stname, q->sql, q->n, NULL);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		pg_code_of(pg, r);
	PQclear(r);
	q->epoch = pg->epoch;
	return ok ? 0 : -1;
}

/* A connection the server ended (a restart, a failover, kill -9) shows
 * as a readable socket whose read finds the end: look before using it,
 * so the reconnection happens before the statement, not after it fails.
 * A notification that arrived is queued for pg_changes meanwhile. */
void
pg_notice_loss(struct pgdb *pg)
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
int
pg_reconnect(struct pgdb *pg)
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
		if (pg_prepare_on(pg, pg->qs[i]) == -1)
			return DB_CANTOPEN;
	log_info("database: connected again, %zu queries prepared", pg->nqs);
	return DB_OK;
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
	pg_notice_loss(pg);
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
		return pg_code_of(pg, r);
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
		rc = pg_code_of(pg, NULL);
		if (pg_in_tx(pg))
			simple(pg, "ROLLBACK");
		return rc;
	}
	while ((r = PQgetResult(pg->conn)) != NULL) {
		if (n == 0)
			committed = (rc = commit_result(pg, r)) == DB_OK;
		else if (committed && PQresultStatus(r) != PGRES_TUPLES_OK) {
			pg_code_of(pg, r);
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

	pg_notice_loss(pg);
	if ((rc = pg_reconnect(pg)) != DB_OK)
		return rc;
	pg->batch_sent = 0;
	pg->batch_failed = 0;
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock_shared(%d)",
	    WRITE_LOCK);
	if (!PQenterPipelineMode(pg->conn))
		return pg_code_of(pg, NULL);
	if (pipe_send(pg, "BEGIN") || pipe_send(pg, sql)) {
		/* Out of pipeline mode again, whatever was sent undone. */
		rc = pg_code_of(pg, NULL);
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
		return pg_code_of(pg, NULL);
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
		rc = pg_code_of(pg, NULL);
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
			rc = pg_code_of(pg, r);
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
		rc = pg_code_of(pg, NULL);
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
		pg_notice_loss(pg);
		if ((rc = pg_reconnect(pg)) != DB_OK)
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
