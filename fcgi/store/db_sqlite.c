/*
 * db_sqlite.c -- the SQLite engine behind the store (store.h): open
 * DATA/tessera.db with the house pragmas and SQL functions, apply
 * numbered migrations once, prepare a named query, run transactions
 * with the writers' turn (writer.c), and make what they wrote durable
 * (commit.c). store.c hands over to it; it calls only SQLite, the
 * schema's files (schema_files.c) and the turn and commit helpers.
 */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db_sqlite.h"
#include "lib/lib.h"
#include "schema_files.h"
#include "store.h"

static int	 db_sync(struct db *);

int
sq_exec(struct db *db, const char *sql, char *err, size_t errlen)
{
	char	*msg = NULL;

	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : "sqlite error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
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

	if ((n = schema_list_migrations(dir, &files)) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "%s: no migrations found", dir);
		schema_free_list(files, n);
		return -1;
	}
	if (sq_exec(db, "BEGIN IMMEDIATE", err, errlen) == -1) {
		schema_free_list(files, n);
		return -1;
	}
	if (sq_exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
	    "applied_at INTEGER NOT NULL) STRICT", err, errlen) == -1)
		goto out;
	if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM schema_migrations "
	    "WHERE version = ?", -1, &st, NULL) != SQLITE_OK)
		goto sqlerr;
	for (i = 0; i < n; i++) {
		v = schema_migration_version(files[i]);
		sqlite3_reset(st);
		sqlite3_bind_int(st, 1, v);
		if (sqlite3_step(st) == SQLITE_ROW)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if ((sql = schema_read_file(path, err, errlen)) == NULL)
			goto out;
		if (sq_exec(db, sql, msg, sizeof(msg)) == -1) {
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
	if (sq_exec(db, "COMMIT", err, errlen) == 0)
		rc = 0;
	goto out;
sqlerr:
	snprintf(err, errlen, "migrations: %s", sqlite3_errmsg(db->h));
out:
	sqlite3_finalize(st);
	if (rc == -1)
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	schema_free_list(files, n);
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
sq_open(struct db *db, const struct config *cfg, int create, char *err,
    size_t errlen)
{
	char	 path[PATH_MAX], pragmas[256];
	int	 flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

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
		return -1;
	}
	sqlite3_extended_result_codes(db->h, 1);
	if (add_functions(db->h) == -1) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db->h));
		return -1;
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
	if (cfg->db_mmap_mb > 0)
		snprintf(pragmas + strlen(pragmas), sizeof(pragmas) -
		    strlen(pragmas), " PRAGMA mmap_size = %lld;",
		    cfg->db_mmap_mb * 1024 * 1024);
	if (sq_exec(db, pragmas, err, errlen) == -1 ||
	    migrate(db, cfg->schema_dir, err, errlen) == -1 ||
	    prepare_tx(db, err, errlen) == -1)
		return -1;
	if (sq_settle(db) == -1) {	/* the migrations */
		snprintf(err, errlen, "%s: cannot sync", path);
		return -1;
	}
	return 0;
}

/* Persistent: the statement lives as long as the connection. */
struct sqlite3_stmt *
sq_prepare(struct db *db, const char *name, const char *sql, size_t n,
    char *err, size_t errlen)
{
	sqlite3_stmt	*st = NULL;
	const char	*tail;

	if (sqlite3_prepare_v3(db->h, sql, (int)n, SQLITE_PREPARE_PERSISTENT,
	    &st, &tail) != SQLITE_OK || st == NULL) {
		snprintf(err, errlen, "query %s: %s", name,
		    st == NULL && sqlite3_errcode(db->h) == SQLITE_OK ?
		    "empty" : sqlite3_errmsg(db->h));
		sqlite3_finalize(st);
		return NULL;
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
			snprintf(err, errlen, "query %s: one statement per "
			    "query", name);
			sqlite3_finalize(st);
			return NULL;
		}
	}
	return st;
}

/*
 * Transactions (db_tx, db_finish). A COMMIT that wrote anything is synced
 * (db_sync, below) before it returns, and a statement that wrote outside
 * a transaction likewise when it is finished. A COMMIT that fails is
 * rolled back here.
 */
int
sq_tx(struct db *db, enum db_tx which)
{
	int	 rc;

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
sq_finish(struct db *db, sqlite3_stmt *st)
{
	sqlite3_reset(st);
	if (!sqlite3_stmt_readonly(st) && sqlite3_get_autocommit(db->h) &&
	    sqlite3_changes64(db->h) > 0 && db_sync(db) == -1)
		return DB_NOT_DURABLE;
	return 0;
}

/* The statements go before the connection: SQLite will not close one
 * that has statements left. */
void
sq_close(struct db *db)
{
	size_t	 i;

	/* What the command line wrote is on disk before it says so. */
	if (db->nq > 0)
		db_sync(db);
	for (i = 0; i < sizeof(db->txst) / sizeof(db->txst[0]); i++)
		sqlite3_finalize(db->txst[i]);
	for (i = 0; i < db->nq; i++)
		sqlite3_finalize(db->q[i].st);
	sqlite3_close(db->h);
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
sq_settle(struct db *db)
{
	if (sqlite3_total_changes64(db->h) == db->synced_changes)
		return 0;
	return db_sync(db) == 0 ? 1 : -1;
}
