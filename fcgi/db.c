/*
 * db.c -- the SQLite layer: open with the house pragmas, apply numbered
 * migrations once, prepare every named query once per worker.
 *
 * Named queries live in schema/queries.sql (and, for operators,
 * schema/queries.d/NAME.sql) as
 *
 *	-- name: tokens_of_user
 *	SELECT ... WHERE user_id = :user_id;
 *
 * one statement each. Lua runs them by name with bound parameters; no SQL
 * is ever built from strings.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tessera.h"
#include "db_pg.h"

static int	 db_sync(struct db *);

/* The store's codes are SQLite's. */
_Static_assert(DB_NOT_DURABLE == SQLITE_IOERR_FSYNC, "DB_NOT_DURABLE");
_Static_assert(DB_UNIQUE == SQLITE_CONSTRAINT_UNIQUE, "DB_UNIQUE");
_Static_assert(DB_ROW == SQLITE_ROW && DB_DONE == SQLITE_DONE &&
    DB_OK == SQLITE_OK && DB_BUSY == SQLITE_BUSY &&
    DB_READONLY == SQLITE_READONLY && DB_FULL == SQLITE_FULL &&
    DB_CANTOPEN == SQLITE_CANTOPEN &&
    DB_CONSTRAINT == SQLITE_CONSTRAINT && DB_ERROR == SQLITE_ERROR,
    "result codes");
_Static_assert(DB_INTEGER == SQLITE_INTEGER && DB_FLOAT == SQLITE_FLOAT &&
    DB_TEXT == SQLITE_TEXT && DB_BLOB == SQLITE_BLOB &&
    DB_NULL == SQLITE_NULL, "column types");

/* Reads a whole file into a NUL-terminated malloc'd string the caller
 * frees. NULL with err set on failure. */
char *
db_slurp(const char *path, char *err, size_t errlen)
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
db_exec_sql(struct db *db, const char *sql, char *err, size_t errlen)
{
	char	*msg = NULL;

	if (db->pg)
		return pg_exec_sql(db->pg, sql, err, errlen);
	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : "sqlite error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Matches "NNN_name.sql"; returns NNN or -1. */
int
db_migration_version(const char *name)
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
 * each name and the array. Returns the count or -1. */
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
	return db_migration_version(name) >= 0;
}

int
db_list_migrations(const char *dir, char ***files)
{
	return list_dir(dir, is_migration, files);
}

void
db_free_list(char **v, int n)
{
	while (n-- > 0)
		free(v[n]);
	free(v);
}

/* Applies, in one IMMEDIATE transaction, every migration file whose
 * number is not yet in schema_migrations. Safe when several workers start
 * at once: the second sees the first one's work. */
static int
migrate(struct db *db, const char *dir, char *err, size_t errlen)
{
	char		**files, path[PATH_MAX], *sql;
	int		 n, i, v, rc = -1;
	sqlite3_stmt	*st = NULL;
	char		 msg[512];

	if ((n = list_dir(dir, is_migration, &files)) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "%s: no migrations found", dir);
		db_free_list(files, n);
		return -1;
	}
	if (db_exec_sql(db, "BEGIN IMMEDIATE", err, errlen) == -1) {
		db_free_list(files, n);
		return -1;
	}
	if (db_exec_sql(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
	    "applied_at INTEGER NOT NULL) STRICT", err, errlen) == -1)
		goto out;
	if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM schema_migrations "
	    "WHERE version = ?", -1, &st, NULL) != SQLITE_OK)
		goto sqlerr;
	for (i = 0; i < n; i++) {
		v = db_migration_version(files[i]);
		sqlite3_reset(st);
		sqlite3_bind_int(st, 1, v);
		if (sqlite3_step(st) == SQLITE_ROW)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if ((sql = db_slurp(path, err, errlen)) == NULL)
			goto out;
		if (db_exec_sql(db, sql, msg, sizeof(msg)) == -1) {
			snprintf(err, errlen, "%s: %s", files[i], msg);
			free(sql);
			goto out;
		}
		free(sql);
		sqlite3_finalize(st);
		st = NULL;
		if (sqlite3_prepare_v2(db->h, "INSERT INTO schema_migrations "
		    "(version, name, applied_at) VALUES (?, ?, ?)", -1, &st,
		    NULL) != SQLITE_OK)
			goto sqlerr;
		sqlite3_bind_int(st, 1, v);
		sqlite3_bind_text(st, 2, files[i], -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
		if (sqlite3_step(st) != SQLITE_DONE)
			goto sqlerr;
		sqlite3_finalize(st);
		if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM schema_migrations "
		    "WHERE version = ?", -1, &st, NULL) != SQLITE_OK)
			goto sqlerr;
		log_info("applied migration %s", files[i]);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (db_exec_sql(db, "COMMIT", err, errlen) == 0)
		rc = 0;
	goto out;
sqlerr:
	snprintf(err, errlen, "migrations: %s", sqlite3_errmsg(db->h));
out:
	sqlite3_finalize(st);
	if (rc == -1)
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	db_free_list(files, n);
	return rc;
}

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

/* Prepares one named query (persistent: it lives as long as the worker). */
static int
prep_one(void *arg, const char *name, const char *sql, size_t n)
{
	struct prep_ctx	*ctx = arg;
	struct db	*db = ctx->db;
	sqlite3_stmt	*st = NULL;
	const char	*tail;
	struct dbq	*nq;
	size_t		 i;

	for (i = 0; i < db->nq; i++)
		if (strcmp(db->q[i].name, name) == 0) {
			snprintf(ctx->msg, sizeof(ctx->msg),
			    "query %s defined twice", name);
			return -1;
		}
	if (db->pg) {
		struct pgq	*pq;

		ctx->msg[0] = '\0';
		if ((pq = pg_prepare(db->pg, name, sql, n, ctx->msg,
		    sizeof(ctx->msg))) == NULL)
			return -1;
		if ((nq = reallocarray(db->q, db->nq + 1, sizeof(*nq))) ==
		    NULL || (nq[db->nq].name = strdup(name)) == NULL) {
			if (nq)
				db->q = nq;
			return -1;	/* pq is freed with the connection */
		}
		db->q = nq;
		db->q[db->nq].st = NULL;
		db->q[db->nq++].pg = pq;
		return 0;
	}
	if (sqlite3_prepare_v3(db->h, sql, (int)n, SQLITE_PREPARE_PERSISTENT,
	    &st, &tail) != SQLITE_OK || st == NULL) {
		snprintf(ctx->msg, sizeof(ctx->msg), "query %s: %s", name,
		    st == NULL && sqlite3_errcode(db->h) == SQLITE_OK ?
		    "empty" : sqlite3_errmsg(db->h));
		sqlite3_finalize(st);
		return -1;
	}
	/* Only white space and comments may follow the one statement. */
	while (tail < sql + n) {
		const char *end;

		if (*tail == ' ' || *tail == '\t' || *tail == '\n' ||
		    *tail == '\r' || *tail == ';')
			tail++;
		else if (strncmp(tail, "--", 2) == 0)
			tail += strcspn(tail, "\n");
		else if (strncmp(tail, "/*", 2) == 0 &&
		    (end = strstr(tail + 2, "*/")) != NULL)
			tail = end + 2;
		else {
			snprintf(ctx->msg, sizeof(ctx->msg),
			    "query %s: one statement per query", name);
			sqlite3_finalize(st);
			return -1;
		}
	}
	if ((nq = reallocarray(db->q, db->nq + 1, sizeof(*nq))) == NULL ||
	    (nq[db->nq].name = strdup(name)) == NULL) {
		if (nq)
			db->q = nq;
		sqlite3_finalize(st);
		return -1;
	}
	db->q = nq;
	db->q[db->nq].pg = NULL;
	db->q[db->nq++].st = st;
	return 0;
}

static int
is_sql(const char *name)
{
	size_t	 n = strlen(name);

	return n > 4 && name[0] != '.' && strcmp(name + n - 4, ".sql") == 0;
}

/* Prepares queries.sql, then queries.d/NAME.sql in name order. */
static int
load_queries(struct db *db, const char *dir, char *err, size_t errlen)
{
	struct prep_ctx	 ctx = { db, "" };
	char		 path[PATH_MAX + 256], sub[PATH_MAX], **files, *text;
	int		 n, i, rc;

	snprintf(path, sizeof(path), "%s/queries.sql", dir);
	if ((text = db_slurp(path, err, errlen)) == NULL)
		return -1;
	rc = db_parse_queries(text, prep_one, &ctx, err, errlen);
	free(text);
	if (rc == -1) {
		snprintf(err, errlen, "%s: %s", path, ctx.msg);
		return -1;
	}
	snprintf(sub, sizeof(sub), "%s/queries.d", dir);
	if ((n = list_dir(sub, is_sql, &files)) < 0) {
		snprintf(err, errlen, "%s: %s", sub, strerror(errno));
		return -1;
	}
	for (i = 0; i < n && rc == 0; i++) {
		snprintf(path, sizeof(path), "%s/%s", sub, files[i]);
		if ((text = db_slurp(path, err, errlen)) == NULL) {
			rc = -1;
			break;
		}
		rc = db_parse_queries(text, prep_one, &ctx, err, errlen);
		free(text);
		if (rc == -1)
			snprintf(err, errlen, "%s: %s", path, ctx.msg);
	}
	db_free_list(files, n);
	if (rc == 0)
		qsort(db->q, db->nq, sizeof(*db->q), querycmp);
	return rc;
}

/* Waits for a lock in short steps: SQLite's own busy_timeout sleeps
 * whole milliseconds, far longer than a write here holds the lock, so
 * concurrent writers (webhooks) would idle. Gives up after
 * busy_timeout_ms. */
static int
busy_wait(void *arg, int count)
{
	const struct db	*db = arg;
	static const int steps[] = { 20, 50, 100, 200, 500, 1000 };
	int		 us = steps[count < 5 ? count : 5];
	double		 waited = mono_now() - db->busy_since;

	if (count == 0 && !db->busy_started)
		((struct db *)db)->busy_since = mono_now(), waited = 0;
	if (waited * 1000.0 >= (double)db->busy_timeout_ms)
		return 0;
	usleep((useconds_t)us);
	return 1;
}

/* A -wal or -shm left read-only (SQLite copies the database's mode when
 * it creates them, so a database that was read-only for a while leaves
 * them so) would keep a writable database read-only: give them the
 * database's mode back when they are ours, else say which file it is. */
static void
fix_side_files(const char *dbpath)
{
	static const char *const sfx[] = { "-wal", "-shm" };
	char		 p[PATH_MAX + 8];
	struct stat	 dst, st;
	size_t		 i;

	if (stat(dbpath, &dst) == -1 || access(dbpath, W_OK) == -1)
		return;
	for (i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s%s", dbpath, sfx[i]);
		if (stat(p, &st) == -1 || access(p, W_OK) == 0)
			continue;
		if (st.st_uid == geteuid() &&
		    chmod(p, dst.st_mode & 0666) == 0)
			log_warn("%s was read-only; made it writable like the "
			    "database", p);
		else
			log_err("%s is not writable: the database stays "
			    "read-only until it is", p);
	}
}

/*
 * SQL functions for the named queries: iso_time(t) is 2026-11-27T23:10:58Z,
 * utc_minute(t) is 2026-11-27 23:10 UTC; NULL for NULL. strftime() does
 * the same at ten times the cost, and a page of tokens shows a hundred
 * times. Only queries.sql uses them, never the schema, so the database
 * stays readable by the sqlite3 shell.
 */
static void
sql_time(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	char	 out[32];

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;			/* the result stays NULL */
	time_format(sqlite3_value_int64(argv[0]),
	    *(const int *)sqlite3_user_data(ctx), out, sizeof(out));
	if (out[0] != '\0')
		sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

static int
add_functions(sqlite3 *h)
{
	static const int iso = 0, human = 1;
	const int	 fl = SQLITE_UTF8 | SQLITE_DETERMINISTIC |
			    SQLITE_INNOCUOUS;

	return sqlite3_create_function(h, "iso_time", 1, fl, (void *)&iso,
	    sql_time, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(h, "utc_minute", 1, fl, (void *)&human,
	    sql_time, NULL, NULL) != SQLITE_OK ? -1 : 0;
}

/* Prepares the four transaction statements once, at open: a ROLLBACK
 * that could not be prepared when needed would leave the transaction,
 * and the writers' turn, held. */
static int
prepare_tx(struct db *db, char *err, size_t errlen)
{
	static const char *const sql[] = {
		"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK", "BEGIN",
	};
	size_t	 i;

	for (i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
		if (sqlite3_prepare_v3(db->h, sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &db->txst[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", sql[i],
			    sqlite3_errmsg(db->h));
			return -1;
		}
	return 0;
}

int
db_open(struct db *db, const struct config *cfg, int create, char *err,
    size_t errlen)
{
	char	 path[PATH_MAX], pragmas[256];
	int	 flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

	memset(db, 0, sizeof(*db));
	if (pg_is_uri(cfg->database)) {
		/* PostgreSQL: its migrations and queries are schema/pg's. */
		snprintf(path, sizeof(path), "%s/pg", cfg->schema_dir);
		db->busy_timeout_ms = cfg->busy_timeout_ms;
		if ((db->pg = pg_open(cfg->database, path,
		    cfg->busy_timeout_ms, err, errlen)) == NULL ||
		    load_queries(db, path, err, errlen) == -1)
			goto fail;
		return 0;
	}
	if (strcmp(cfg->database, "sqlite") != 0) {
		snprintf(err, errlen, "database: \"sqlite\" or a "
		    "postgresql:// URI");
		return -1;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", cfg->data_dir,
	    DB_FILE) >= sizeof(path)) {
		snprintf(err, errlen, "data_dir too long");
		return -1;
	}
	if (create)
		flags |= SQLITE_OPEN_CREATE;
	fix_side_files(path);
	if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s%s", path,
		    db->h ? sqlite3_errmsg(db->h) : "cannot open",
		    create ? "" : " (run: tessera init --data DIR)");
		goto fail;
	}
	sqlite3_extended_result_codes(db->h, 1);
	if (add_functions(db->h) == -1) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db->h));
		goto fail;
	}
	db->busy_timeout_ms = cfg->busy_timeout_ms;
	sqlite3_busy_handler(db->h, busy_wait, db);
	snprintf(pragmas, sizeof(pragmas),
	    "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; "
	    "PRAGMA synchronous = NORMAL; PRAGMA trusted_schema = OFF;");
	if (cfg->db_max_pages > 0)
		snprintf(pragmas + strlen(pragmas), sizeof(pragmas) -
		    strlen(pragmas), " PRAGMA max_page_count = %lld;",
		    cfg->db_max_pages);
	if (db_exec_sql(db, pragmas, err, errlen) == -1 ||
	    migrate(db, cfg->schema_dir, err, errlen) == -1 ||
	    load_queries(db, cfg->schema_dir, err, errlen) == -1 ||
	    prepare_tx(db, err, errlen) == -1)
		goto fail;
	if (db_settle(db) == -1) {	/* the migrations */
		snprintf(err, errlen, "%s: cannot sync", path);
		goto fail;
	}
	return 0;
fail:
	db_close(db);
	return -1;
}

static int
querykey(const void *key, const void *elt)
{
	return strcmp(key, ((const struct dbq *)elt)->name);
}

struct dbq *
db_query(struct db *db, const char *name)
{
	struct dbq	*q;

	q = bsearch(name, db->q, db->nq, sizeof(*db->q), querykey);
	if (q == NULL)
		return NULL;
	if (q->pg) {
		pg_clear(q->pg);
		return q;
	}
	sqlite3_reset(q->st);
	sqlite3_clear_bindings(q->st);
	return q;
}

/* Resets every statement left part-way (a Lua error, such as the memory
 * cap, can jump out of a loop of sqlite3_step before its reset): an
 * active statement keeps its read snapshot after the transaction ends,
 * and the connection's next BEGIN IMMEDIATE then fails at once with
 * SQLITE_BUSY_SNAPSHOT. */
void
db_reset_busy(struct db *db)
{
	sqlite3_stmt	*st = NULL;
	size_t		 i;

	if (db->pg) {		/* results are whole: free what is held */
		for (i = 0; i < db->nq; i++)
			pg_reset(db->q[i].pg);
		return;
	}
	while ((st = sqlite3_next_stmt(db->h, st)) != NULL)
		if (sqlite3_stmt_busy(st))
			sqlite3_reset(st);
}

/*
 * Transactions. The store, not its callers, makes what it commits
 * durable: a COMMIT that wrote anything is synced (db_sync, below) before
 * db_tx returns, and a statement that writes outside a transaction
 * (db_finish) likewise, so no caller can answer before its write is on
 * disk by forgetting a call. A COMMIT that fails is rolled back here.
 */
int
db_tx(struct db *db, enum db_tx which)
{
	int	 rc;

	if (db->pg)
		return pg_tx(db->pg, which);
	/* A write transaction waits for the workers' turn (writer.c) first,
	 * and gives it back once the transaction has ended, whichever way.
	 * The turn and SQLite's own lock share one busy_timeout_ms. */
	if (which == DB_BEGIN && db->wr && !db->wr_held) {
		db->busy_since = mono_now();
		if ((rc = writer_lock(db->wr, db->busy_timeout_ms)) != 0) {
			log_err("database: no turn to write within %lld ms%s%s",
			    db->busy_timeout_ms, rc == ETIMEDOUT ? "" : ": ",
			    rc == ETIMEDOUT ? "" : strerror(rc));
			return SQLITE_BUSY;
		}
		db->wr_held = 1;
		db->busy_started = 1;
	}
	if (which == DB_BEGIN || which == DB_BEGIN_READ)
		db->tx_changes = sqlite3_total_changes64(db->h);
	rc = sqlite3_step(db->txst[which]);
	sqlite3_reset(db->txst[which]);
	db->busy_started = 0;
	if (which == DB_COMMIT && rc != SQLITE_DONE &&
	    !sqlite3_get_autocommit(db->h)) {
		sqlite3_step(db->txst[DB_ROLLBACK]);
		sqlite3_reset(db->txst[DB_ROLLBACK]);
	}
	if (db->wr_held && sqlite3_get_autocommit(db->h)) {
		writer_unlock(db->wr);
		db->wr_held = 0;
	}
	/* Changes rolled back need no sync, unless others were pending. */
	if (which == DB_ROLLBACK && db->tx_changes == db->synced_changes)
		db->synced_changes = sqlite3_total_changes64(db->h);
	if (rc != SQLITE_DONE)
		return rc;
	/* Synced outside the turn: the next writer writes meanwhile. */
	if (which == DB_COMMIT &&
	    sqlite3_total_changes64(db->h) != db->tx_changes &&
	    db_sync(db) == -1)
		return DB_NOT_DURABLE;
	return SQLITE_OK;
}

int
db_finish(struct db *db, struct dbq *q)
{
	if (q->pg) {		/* a PostgreSQL commit is durable */
		pg_reset(q->pg);
		return 0;
	}
	sqlite3_reset(q->st);
	if (!sqlite3_stmt_readonly(q->st) && sqlite3_get_autocommit(db->h) &&
	    sqlite3_changes64(db->h) > 0 && db_sync(db) == -1)
		return DB_NOT_DURABLE;
	return 0;
}

void
db_close(struct db *db)
{
	size_t	 i;

	/* What the command line wrote is on disk before it says so. */
	if (db->h && db->nq > 0)
		db_sync(db);
	for (i = 0; i < sizeof(db->txst) / sizeof(db->txst[0]); i++)
		sqlite3_finalize(db->txst[i]);
	for (i = 0; i < db->nq; i++) {
		sqlite3_finalize(db->q[i].st);
		pg_free(db->q[i].pg);
		free(db->q[i].name);
	}
	free(db->q);
	if (db->h)
		sqlite3_close(db->h);
	pg_close(db->pg);
	memset(db, 0, sizeof(*db));
}

/*
 * Durability. The connection runs synchronous = NORMAL, so a commit
 * appends to the WAL without waiting for the disk, and releases the write
 * lock at once; db_sync() then fsyncs the WAL, outside the lock, before
 * the caller answers -- shared with the other workers' commits when the
 * worker has the group-commit map (commit.c). What was answered 2xx is on
 * disk exactly as with synchronous = FULL, but concurrent writers share
 * fsyncs instead of queueing behind each other's. (A checkpoint syncs the
 * WAL before copying it, so frames a checkpoint moved to the database are
 * durable there.) Returns 0, or -1 when the disk refused (the caller
 * answers 503).
 */
static int
db_sync(struct db *db)
{
	long long	 now = sqlite3_total_changes64(db->h);

	if (commit_sync(db->gc, db) == -1)
		return -1;
	db->synced_changes = now;
	return 0;
}

int
db_settle(struct db *db)
{
	if (db->h == NULL ||	/* none, or PostgreSQL: durable at COMMIT */
	    sqlite3_total_changes64(db->h) == db->synced_changes)
		return 0;
	return db_sync(db) == 0 ? 1 : -1;
}

/* Binding by parameter name, for the host's own use of named queries.
 * A name the statement lacks is an error (-1), like in Lua. */
int
db_bind_int64(struct dbq *q, const char *name, long long v)
{
	int	 i;

	if (q->pg)
		return pg_bind_int64(q->pg, pg_param_index(q->pg, name), v);
	i = sqlite3_bind_parameter_index(q->st, name);
	return i > 0 && sqlite3_bind_int64(q->st, i, v) == SQLITE_OK ? 0 : -1;
}

int
db_bind_text(struct dbq *q, const char *name, const char *s)
{
	int	 i;

	if (q->pg)
		return (s == NULL ? -1 : pg_bind_text(q->pg,
		    pg_param_index(q->pg, name), s, strlen(s)));
	i = sqlite3_bind_parameter_index(q->st, name);
	return i > 0 && sqlite3_bind_text(q->st, i, s, -1, SQLITE_TRANSIENT) ==
	    SQLITE_OK ? 0 : -1;
}

int
db_bind_blob(struct dbq *q, const char *name, const void *p, size_t n)
{
	int	 i;

	if (q->pg)
		return pg_bind_blob(q->pg, pg_param_index(q->pg, name), p, n);
	i = sqlite3_bind_parameter_index(q->st, name);
	return i > 0 && sqlite3_bind_blob(q->st, i, p, (int)n,
	    SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
}

int
db_has_param(struct dbq *q, const char *name)
{
	if (q->pg)
		return pg_has_param(q->pg, name);
	return sqlite3_bind_parameter_index(q->st, name) > 0;
}

int
db_param_count(struct dbq *q)
{
	if (q->pg)
		return pg_param_count(q->pg);
	return sqlite3_bind_parameter_count(q->st);
}

const char *
db_param_name(struct dbq *q, int i)
{
	if (q->pg)
		return pg_param_name(q->pg, i);
	return sqlite3_bind_parameter_name(q->st, i);
}

int
db_bind_index_int64(struct dbq *q, int i, long long v)
{
	if (q->pg)
		return pg_bind_int64(q->pg, i, v);
	return sqlite3_bind_int64(q->st, i, v) == SQLITE_OK ? 0 : -1;
}

int
db_bind_index_double(struct dbq *q, int i, double v)
{
	if (q->pg)
		return pg_bind_double(q->pg, i, v);
	return sqlite3_bind_double(q->st, i, v) == SQLITE_OK ? 0 : -1;
}

int
db_bind_index_text(struct dbq *q, int i, const char *s, size_t n)
{
	if (q->pg)
		return pg_bind_text(q->pg, i, s, n);
	return sqlite3_bind_text(q->st, i, s, (int)n, SQLITE_TRANSIENT) ==
	    SQLITE_OK ? 0 : -1;
}

int
db_bind_index_blob(struct dbq *q, int i, const void *p, size_t n)
{
	if (q->pg)
		return pg_bind_blob(q->pg, i, p, n);
	return sqlite3_bind_blob(q->st, i, p, (int)n, SQLITE_TRANSIENT) ==
	    SQLITE_OK ? 0 : -1;
}

int
db_bind_index_null(struct dbq *q, int i)
{
	if (q->pg)
		return pg_bind_null(q->pg, i);
	return sqlite3_bind_null(q->st, i) == SQLITE_OK ? 0 : -1;
}

int
db_readonly(struct dbq *q)
{
	if (q->pg)
		return pg_readonly(q->pg);
	return sqlite3_stmt_readonly(q->st);
}

int
db_step(struct dbq *q)
{
	if (q->pg)
		return pg_step(q->pg);
	return sqlite3_step(q->st);
}

void
db_reset(struct dbq *q)
{
	if (q->pg)
		pg_reset(q->pg);
	else
		sqlite3_reset(q->st);
}

int
db_col_count(struct dbq *q)
{
	if (q->pg)
		return pg_col_count(q->pg);
	return sqlite3_column_count(q->st);
}

const char *
db_col_name(struct dbq *q, int i)
{
	if (q->pg)
		return pg_col_name(q->pg, i);
	return sqlite3_column_name(q->st, i);
}

enum db_type
db_col_type(struct dbq *q, int i)
{
	if (q->pg)
		return (enum db_type)pg_col_type(q->pg, i);
	return (enum db_type)sqlite3_column_type(q->st, i);
}

long long
db_col_int(struct dbq *q, int i)
{
	if (q->pg)
		return pg_col_int(q->pg, i);
	return sqlite3_column_int64(q->st, i);
}

double
db_col_double(struct dbq *q, int i)
{
	if (q->pg)
		return pg_col_double(q->pg, i);
	return sqlite3_column_double(q->st, i);
}

const char *
db_col_text(struct dbq *q, int i)
{
	if (q->pg)
		return pg_col_text(q->pg, i);
	return (const char *)sqlite3_column_text(q->st, i);
}

const void *
db_col_blob(struct dbq *q, int i)
{
	if (q->pg)
		return pg_col_blob(q->pg, i);
	return sqlite3_column_blob(q->st, i);
}

size_t
db_col_bytes(struct dbq *q, int i)
{
	if (q->pg)
		return pg_col_bytes(q->pg, i);
	return (size_t)sqlite3_column_bytes(q->st, i);
}

long long
db_changes(struct db *db)
{
	if (db->pg)
		return pg_changes_count(db->pg);
	return sqlite3_changes64(db->h);
}

long long
db_last_id(struct db *db)
{
	if (db->pg)
		return pg_last_id(db->pg);
	return sqlite3_last_insert_rowid(db->h);
}

const char *
db_errmsg(struct db *db)
{
	if (db->pg)
		return pg_errmsg(db->pg);
	return sqlite3_errmsg(db->h);
}

int
db_unavailable(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_NOMEM:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return 1;
	default:
		return 0;
	}
}

int
db_batch_begin(struct db *db)
{
	if (db->pg)
		return pg_batch_begin(db->pg);
	return db_tx(db, DB_BEGIN);
}

int
db_batch_add(struct db *db, struct dbq *q)
{
	int	 rc;

	if (db_readonly(q)) {
		log_err("database: a batch takes writes only");
		return SQLITE_MISUSE;
	}
	if (q->pg)
		return pg_batch_add(q->pg);
	while ((rc = sqlite3_step(q->st)) == SQLITE_ROW)
		;
	sqlite3_reset(q->st);
	if (rc == SQLITE_DONE)
		return SQLITE_OK;
	log_err("database: %s", sqlite3_errmsg(db->h));
	return rc;
}

int
db_batch_end(struct db *db, int commit)
{
	if (db->pg)
		return pg_batch_end(db->pg, commit);
	if (!commit) {
		db_tx(db, DB_ROLLBACK);
		return SQLITE_OK;
	}
	return db_tx(db, DB_COMMIT);
}

int
db_remote(struct db *db)
{
	return db->pg != NULL;
}

void
db_auth_changes(struct db *db, void (*fn)(void *, const char *), void *arg)
{
	if (db->pg)
		pg_changes(db->pg, fn, arg);
}

int
db_in_tx(struct db *db)
{
	if (db->pg)
		return pg_in_tx(db->pg);
	return db->h != NULL && !sqlite3_get_autocommit(db->h);
}

int
db_savepoint(struct db *db, enum db_savepoint what, int depth)
{
	char	 sql[64];

	if (db->pg)
		return pg_savepoint(db->pg, what, depth);
	switch (what) {
	case DB_SAVEPOINT:
		snprintf(sql, sizeof(sql), "SAVEPOINT tx%d", depth);
		break;
	case DB_RELEASE:
		snprintf(sql, sizeof(sql), "RELEASE tx%d", depth);
		break;
	default:
		snprintf(sql, sizeof(sql), "ROLLBACK TO tx%d; RELEASE tx%d",
		    depth, depth);
		break;
	}
	return sqlite3_exec(db->h, sql, NULL, NULL, NULL);
}

/* Steps a write statement to the end and finishes it (db_finish).
 * Returns 0 or the SQLite error code (logged). */
int
db_run(struct db *db, struct dbq *q)
{
	int	 rc;

	if (db->reading && !db_readonly(q)) {
		/* A deferred read transaction must not turn into a write:
		 * it could not be synced as one, and may not be current. */
		log_err("database: a write inside a read transaction refused");
		return SQLITE_READONLY;
	}
	while ((rc = db_step(q)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE) {
		log_err("database: %s", db_errmsg(db));
		db_reset(q);
		return rc;
	}
	return db_finish(db, q);
}

void
db_init_library(void)
{
	/* Every process is single-threaded (workers are processes): SQLite
	 * need not take a mutex on every allocation and statement. Its
	 * allocator is pool.c's. */
	sqlite3_config(SQLITE_CONFIG_SINGLETHREAD);
	pool_sqlite_install();
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
