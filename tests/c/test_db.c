/*
 * test_db.c -- the store on SQLite (fcgi/store/store.c, db_sqlite.c,
 * named_queries.c) and the data directory
 * (fcgi/domain/data.c): named-query parsing, opening with the house pragmas,
 * migrations applied once, one statement per name, exact 64-bit integers,
 * the pepper key file, and the workers' turns at the write lock
 * (fcgi/store/writer.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>

#include "tessera.h"
#include "testutil.h"

/* The repository's schema/ directory (absolute). */
static char	 repo_schema[PATH_MAX];

/* Number of NNN_*.sql migration files in dir. */
static int
count_migrations(const char *dir)
{
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;
	size_t		 l;

	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		l = strlen(e->d_name);
		if (l >= 9 && isdigit((unsigned char)e->d_name[0]) &&
		    isdigit((unsigned char)e->d_name[1]) &&
		    isdigit((unsigned char)e->d_name[2]) &&
		    e->d_name[3] == '_' && strcmp(e->d_name + l - 4, ".sql") == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* A fresh, empty directory under the scratch dir; its path in out. */
static char *
fresh_dir(char *out, const char *name)
{
	tu_path(out, name);
	assert_int_equal(mkdir(out, 0700), 0);
	return out;
}

/* Loads a config with data_dir and schema_dir set. */
static void
make_cfg(struct config *c, const char *data, const char *schema)
{
	char	 err[512] = "";

	tu_clean_env();
	if (cfg_load(c, NULL, data, err, sizeof(err)) == -1)
		fail_msg("cfg_load: %s", err);
	if (cfg_set(c, "schema_dir", schema, err, sizeof(err)) == -1)
		fail_msg("cfg_set: %s", err);
}

/* Writes dir/name with text. */
static void
put(const char *dir, const char *name, const char *text)
{
	char	 p[PATH_MAX + 256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(tu_write(p, text), 0);
}

/* ------------------------------------------------------- db_parse_queries */

struct coll {
	int	 n;
	int	 fail_at;	/* fn returns -1 on this call (1-based) */
	char	 name[8][65];
	char	 sql[8][256];
};

static int
collect(void *arg, const char *name, const char *sql, size_t len)
{
	struct coll	*c = arg;

	if (c->n >= 8)
		return -1;
	snprintf(c->name[c->n], sizeof(c->name[0]), "%s", name);
	snprintf(c->sql[c->n], sizeof(c->sql[0]), "%.*s", (int)len, sql);
	c->n++;
	return c->n == c->fail_at ? -1 : 0;
}

static void
parse_queries_in_order(void **state)
{
	struct coll	 c = { 0 };
	char		 err[256] = "";

	(void)state;
	assert_int_equal(db_parse_queries(
	    "-- Leading comment about the file.\n"
	    "--\n"
	    "\n"
	    "-- name: first\n"
	    "SELECT 1;\n"
	    "-- name:   second_2  \n"
	    "SELECT :a\n"
	    "  + :b; -- name: not_a_tag (not at the start of a line)\n"
	    "\n"
	    "-- name:third\n"
	    "-- a comment inside the body\n"
	    "UPDATE t SET x = 1 WHERE y = :y;\n",
	    collect, &c, err, sizeof(err)), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.name[0], "first");
	assert_string_equal(c.name[1], "second_2");
	assert_string_equal(c.name[2], "third");
	assert_non_null(strstr(c.sql[0], "SELECT 1;"));
	assert_null(strstr(c.sql[0], "second"));
	assert_null(strstr(c.sql[0], "name:"));
	assert_non_null(strstr(c.sql[1], "SELECT :a\n  + :b;"));
	assert_non_null(strstr(c.sql[1], "not_a_tag"));	/* kept as SQL */
	assert_null(strstr(c.sql[1], "third"));
	assert_non_null(strstr(c.sql[2], "UPDATE t SET x = 1 WHERE y = :y;"));
	assert_non_null(strstr(c.sql[2], "a comment inside"));
}

static void
parse_queries_empty_and_comment_only(void **state)
{
	struct coll	 c = { 0 };
	char		 err[256] = "";

	(void)state;
	assert_int_equal(db_parse_queries("", collect, &c, err, sizeof(err)),
	    0);
	assert_int_equal(c.n, 0);
	assert_int_equal(db_parse_queries("-- only a comment\n\n  \t\n-- more",
	    collect, &c, err, sizeof(err)), 0);
	assert_int_equal(c.n, 0);
	/* CRLF line ends. */
	assert_int_equal(db_parse_queries("-- c\r\n-- name: crlf\r\nSELECT 2;"
	    "\r\n", collect, &c, err, sizeof(err)), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.name[0], "crlf");
	assert_non_null(strstr(c.sql[0], "SELECT 2;"));
}

static void
parse_queries_sql_before_first_name(void **state)
{
	struct coll	 c = { 0 };
	char		 err[256] = "";

	(void)state;
	assert_int_equal(db_parse_queries("SELECT 1;\n-- name: a\nSELECT 2;\n",
	    collect, &c, err, sizeof(err)), -1);
	assert_int_equal(c.n, 0);
	assert_true(err[0] != '\0');
	/* After a comment too, and with no tag at all. */
	err[0] = '\0';
	assert_int_equal(db_parse_queries("-- header\nDROP TABLE users;\n"
	    "-- name: a\nSELECT 2;\n", collect, &c, err, sizeof(err)), -1);
	assert_int_equal(c.n, 0);
	assert_true(err[0] != '\0');
	assert_int_equal(db_parse_queries("SELECT 1;", collect, &c, err,
	    sizeof(err)), -1);
	assert_int_equal(c.n, 0);
}

static void
parse_queries_bad_names(void **state)
{
	static const char *const bad[] = {
		"-- name: Bad-Name\nSELECT 1;\n",
		"-- name: UPPER\nSELECT 1;\n",
		"-- name: has space\nSELECT 1;\n",
		"-- name:\nSELECT 1;\n",
		"-- name: dash-ed\nSELECT 1;\n",
		"-- name: dot.ted\nSELECT 1;\n",
		"-- name: x\xc3\xa9\nSELECT 1;\n",
	};
	struct coll	 c;
	char		 err[256], text[128];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0, sizeof(c));
		err[0] = '\0';
		assert_int_equal(db_parse_queries(bad[i], collect, &c, err,
		    sizeof(err)), -1);
		assert_int_equal(c.n, 0);
		assert_true(err[0] != '\0');
	}
	/* The error gives the line of the bad name. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(db_parse_queries("-- name: ok\nSELECT 1;\n"
	    "-- name: Bad-Name\nSELECT 2;\n", collect, &c, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "line 3"));
	/* 64 characters is the longest name, 65 is too long. */
	memset(&c, 0, sizeof(c));
	memcpy(text, "-- name: ", 9);
	memset(text + 9, 'q', 64);
	strcpy(text + 9 + 64, "\nSELECT 1;\n");
	assert_int_equal(db_parse_queries(text, collect, &c, err, sizeof(err)),
	    0);
	assert_int_equal(c.n, 1);
	assert_int_equal(strlen(c.name[0]), 64);
	memset(&c, 0, sizeof(c));
	memset(text + 9, 'q', 65);
	strcpy(text + 9 + 65, "\nSELECT 1;\n");
	assert_int_equal(db_parse_queries(text, collect, &c, err, sizeof(err)),
	    -1);
	assert_int_equal(c.n, 0);
}

static void
parse_queries_callback_failure(void **state)
{
	struct coll	 c = { 0 };
	char		 err[256] = "";

	(void)state;
	c.fail_at = 2;
	assert_int_equal(db_parse_queries("-- name: a\nSELECT 1;\n"
	    "-- name: b\nSELECT 2;\n-- name: c\nSELECT 3;\n", collect, &c, err,
	    sizeof(err)), -1);
	assert_int_equal(c.n, 2);		/* stopped at b */
	assert_non_null(strstr(err, "b"));
}

/* ---------------------------------------------------------------- db_open */

/* Runs a one-value query on the raw handle and returns it as text. */
static void
pragma_text(struct db *db, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt	*st;

	assert_int_equal(sqlite3_prepare_v2(db->h, sql, -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

static sqlite3_int64
one_int(struct db *db, const char *sql)
{
	sqlite3_stmt	*st;
	sqlite3_int64	 v;

	assert_int_equal(sqlite3_prepare_v2(db->h, sql, -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
db_open_repo_schema(void **state)
{
	struct config	 cfg;
	struct db	 db;
	char		 data[PATH_MAX], err[512] = "", txt[64];
	struct dbq	*st;
	int		 nmig;

	(void)state;
	make_cfg(&cfg, fresh_dir(data, "open"), repo_schema);
	if (db_open(&db, &cfg, 1, err, sizeof(err)) != 0)
		fail_msg("db_open: %s", err);
	pragma_text(&db, "PRAGMA journal_mode", txt, sizeof(txt));
	assert_string_equal(txt, "wal");
	assert_int_equal(one_int(&db, "PRAGMA foreign_keys"), 1);
	/* NORMAL: commits are made durable by the store (an fsync of the
	 * WAL outside the write lock) before anything is answered. */
	assert_int_equal(one_int(&db, "PRAGMA synchronous"), 1);
	/* The migrations were synced by db_open: nothing pending. */
	assert_int_equal(db_settle(&db), 0);
	nmig = count_migrations(repo_schema);
	assert_true(nmig >= 1);
	assert_int_equal(one_int(&db, "SELECT count(*) FROM schema_migrations"),
	    nmig);
	assert_int_equal(one_int(&db,
	    "SELECT count(DISTINCT version) FROM schema_migrations"), nmig);

	st = db_query(&db, "health");
	assert_non_null(st);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_col_int(st, 0), 1);
	db_reset(st);
	assert_null(db_query(&db, "nope"));
	assert_null(db_query(&db, ""));
	assert_null(db_query(&db, "HEALTH"));
	assert_non_null(db_query(&db, "meta_get"));
	assert_non_null(db_query(&db, "meta_set"));

	/* The store syncs what it writes: a write outside a transaction
	 * (db_run), a committed transaction, a rolled-back one (nothing to
	 * sync); a write stepped past the store is what db_settle finds. */
	st = db_query(&db, "meta_set");
	assert_int_equal(db_bind_text(st, ":key", "t1"), 0);
	assert_int_equal(db_bind_text(st, ":value", "v"), 0);
	assert_int_equal(db_run(&db, st), 0);
	assert_int_equal(db_settle(&db), 0);
	assert_int_equal(db_tx(&db, DB_BEGIN), DB_OK);
	st = db_query(&db, "meta_set");
	assert_int_equal(db_bind_text(st, ":key", "t2"), 0);
	assert_int_equal(db_bind_text(st, ":value", "v"), 0);
	assert_int_equal(db_run(&db, st), 0);
	assert_int_equal(db_tx(&db, DB_COMMIT), DB_OK);
	assert_int_equal(db_settle(&db), 0);
	assert_int_equal(db_tx(&db, DB_BEGIN), DB_OK);
	st = db_query(&db, "meta_set");
	assert_int_equal(db_bind_text(st, ":key", "t3"), 0);
	assert_int_equal(db_bind_text(st, ":value", "v"), 0);
	assert_int_equal(db_run(&db, st), 0);
	assert_int_equal(db_tx(&db, DB_ROLLBACK), DB_OK);
	assert_int_equal(db_settle(&db), 0);
	st = db_query(&db, "meta_set");
	assert_int_equal(db_bind_text(st, ":key", "t4"), 0);
	assert_int_equal(db_bind_text(st, ":value", "v"), 0);
	assert_int_equal(db_step(st), DB_DONE);
	db_reset(st);
	assert_int_equal(db_settle(&db), 1);
	assert_int_equal(db_settle(&db), 0);
	db_close(&db);
	assert_null(db.h);

	/* Second open: nothing applied twice. */
	if (db_open(&db, &cfg, 1, err, sizeof(err)) != 0)
		fail_msg("db_open again: %s", err);
	assert_int_equal(one_int(&db, "SELECT count(*) FROM schema_migrations"),
	    nmig);
	db_close(&db);
	/* And without create, now that it exists. */
	if (db_open(&db, &cfg, 0, err, sizeof(err)) != 0)
		fail_msg("db_open existing: %s", err);
	assert_int_equal(one_int(&db, "SELECT count(*) FROM schema_migrations"),
	    nmig);
	db_close(&db);
	cfg_free(&cfg);
}

/* Stores v under key with meta_set, reads it back with meta_get. */
static void
meta_round_trip(struct db *db, const char *key, long long v)
{
	struct dbq	*st;

	st = db_query(db, "meta_set");
	assert_non_null(st);
	assert_true(db_has_param(st, ":key"));
	assert_true(db_has_param(st, ":value"));
	assert_int_equal(db_bind_text(st, ":key", key), 0);
	assert_int_equal(db_bind_int64(st, ":value", v), 0);
	assert_int_equal(db_run(db, st), 0);

	st = db_query(db, "meta_get");
	assert_non_null(st);
	assert_int_equal(db_bind_text(st, ":key", key), 0);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_col_type(st, 0), DB_INTEGER);
	assert_true(db_col_int(st, 0) == v);
	assert_int_equal(db_step(st), DB_DONE);
	db_reset(st);
}

/* Fails unless iso_time(t) and utc_minute(t), as st computes them, equal
 * SQLite's strftime for t. */
static void
same_as_strftime(sqlite3_stmt *st, long long t)
{
	sqlite3_bind_int64(st, 1, t);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	if (sqlite3_column_int(st, 0) != 1 || sqlite3_column_int(st, 1) != 1)
		fail_msg("t=%lld: %s", t, sqlite3_column_text(st, 2));
	sqlite3_reset(st);
}

/* iso_time() and utc_minute() agree with SQLite's own strftime over many
 * instants (leap days, year ends, the epoch, before it), and keep NULL. */
static void
db_time_functions_match_strftime(void **state)
{
	struct config	 cfg;
	struct db	 db;
	char		 data[PATH_MAX], err[512] = "";
	sqlite3_stmt	*st;
	long long	 t;
	int		 i, n = 0;

	(void)state;
	make_cfg(&cfg, fresh_dir(data, "times"), repo_schema);
	if (db_open(&db, &cfg, 1, err, sizeof(err)) != 0)
		fail_msg("db_open: %s", err);
	assert_int_equal(sqlite3_prepare_v2(db.h,
	    "SELECT iso_time(?1) = strftime('%Y-%m-%dT%H:%M:%SZ', ?1, 'unixepoch'),"
	    " utc_minute(?1) = strftime('%Y-%m-%d %H:%M UTC', ?1, 'unixepoch'),"
	    " iso_time(?1)", -1, &st, NULL), SQLITE_OK);
	for (i = 0, t = -86400LL * 366 * 3; t < 253402300799LL;
	    t += 86400LL * 7 + 3607 + i++ * 131, n++)
		same_as_strftime(st, t);
	assert_true(n > 1000);
	sqlite3_bind_int64(st, 1, 951782400);	/* 2000-02-29 */
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 2),
	    "2000-02-29T00:00:00Z");
	sqlite3_reset(st);
	/* Every day of the 400-year cycle around 2000, at a changing time
	 * of day, and the ends of the range (outside it: NULL). */
	for (t = 946684800LL - 86400LL * 146097 / 2, i = 0;
	    t < 946684800LL + 86400LL * 146097 / 2; t += 86400 + 37, i++)
		same_as_strftime(st, t);
	assert_true(i > 140000);
	{
		static const struct { long long t; const char *want; } ends[] = {
			{ -62167219200LL, "0000-01-01T00:00:00Z" },
			{ -62162035201LL, "0000-02-29T23:59:59Z" },
			{ -1, "1969-12-31T23:59:59Z" },
			{ 0, "1970-01-01T00:00:00Z" },
			{ 253402300799LL, "9999-12-31T23:59:59Z" },
			{ -62167219201LL, NULL },
			{ 253402300800LL, NULL },
			{ -9223372036854775807LL - 1, NULL },
			{ 9223372036854775807LL, NULL },
		};
		for (i = 0; i < (int)(sizeof(ends) / sizeof(ends[0])); i++) {
			sqlite3_bind_int64(st, 1, ends[i].t);
			assert_int_equal(sqlite3_step(st), SQLITE_ROW);
			if (ends[i].want)
				assert_string_equal((const char *)
				    sqlite3_column_text(st, 2), ends[i].want);
			else
				assert_int_equal(sqlite3_column_type(st, 2),
				    SQLITE_NULL);
			sqlite3_reset(st);
		}
	}
	sqlite3_bind_null(st, 1);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_type(st, 2), SQLITE_NULL);
	sqlite3_finalize(st);
	db_close(&db);
	cfg_free(&cfg);
}

static void
db_int64_round_trip(void **state)
{
	struct config	 cfg;
	struct db	 db;
	char		 data[PATH_MAX], err[512] = "";
	struct dbq	*st;

	(void)state;
	make_cfg(&cfg, fresh_dir(data, "int64"), repo_schema);
	if (db_open(&db, &cfg, 1, err, sizeof(err)) != 0)
		fail_msg("db_open: %s", err);
	meta_round_trip(&db, "t_min", INT64_MIN);
	meta_round_trip(&db, "t_max", INT64_MAX);
	meta_round_trip(&db, "t_2p53p1", (1LL << 53) + 1);
	meta_round_trip(&db, "t_neg", -((1LL << 53) + 1));
	meta_round_trip(&db, "t_zero", 0);
	/* Overwrite through the upsert, then read again. */
	meta_round_trip(&db, "t_max", INT64_MAX - 1);

	/* db_query hands back a reset statement with no bindings left. */
	st = db_query(&db, "meta_get");
	assert_non_null(st);
	assert_int_equal(db_step(st), DB_DONE);	/* key NULL */
	db_reset(st);
	db_close(&db);

	/* Still exact after reopening (read from disk, not a cache). */
	if (db_open(&db, &cfg, 0, err, sizeof(err)) != 0)
		fail_msg("reopen: %s", err);
	st = db_query(&db, "meta_get");
	assert_non_null(st);
	assert_int_equal(db_bind_text(st, ":key", "t_min"), 0);
	assert_int_equal(db_step(st), DB_ROW);
	assert_true(db_col_int(st, 0) == INT64_MIN);
	db_reset(st);
	db_close(&db);
	cfg_free(&cfg);
}

static void
db_open_without_create(void **state)
{
	struct config	 cfg;
	struct db	 db;
	char		 data[PATH_MAX], err[512] = "", p[PATH_MAX + 32];

	(void)state;
	make_cfg(&cfg, fresh_dir(data, "nocreate"), repo_schema);
	assert_int_equal(db_open(&db, &cfg, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tessera init"));
	assert_null(db.h);
	snprintf(p, sizeof(p), "%s/%s", data, DB_FILE);
	assert_int_equal(access(p, F_OK), -1);	/* nothing created */
	cfg_free(&cfg);
}

/* Opens a database in a fresh data dir against schema; returns db_open's
 * result with err filled. The db is closed. */
static int
open_with_schema(const char *tag, const char *schema, char *err,
    size_t errlen)
{
	struct config	 cfg;
	struct db	 db;
	char		 data[PATH_MAX];
	int		 rc;

	make_cfg(&cfg, fresh_dir(data, tag), schema);
	err[0] = '\0';
	rc = db_open(&db, &cfg, 1, err, errlen);
	if (rc == 0)
		db_close(&db);
	cfg_free(&cfg);
	return rc;
}

static void
db_rejects_two_statements(void **state)
{
	char	 schema[PATH_MAX], err[512];

	(void)state;
	fresh_dir(schema, "schema_two");
	put(schema, "001_init.sql", "CREATE TABLE t (x INTEGER) STRICT;\n");
	put(schema, "queries.sql", "-- name: ok\nSELECT 1;\n"
	    "-- name: two\nSELECT 1; SELECT 2;\n");
	assert_int_equal(open_with_schema("data_two", schema, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "one statement"));
	/* A harmful second statement hidden after the first. */
	put(schema, "queries.sql", "-- name: sneaky\n"
	    "SELECT x FROM t; DELETE FROM t;\n");
	assert_int_equal(open_with_schema("data_two2", schema, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "one statement"));
	/* Trailing comments, semicolons and blank lines are fine. */
	put(schema, "queries.sql", "-- name: fine\nSELECT x FROM t;;\n"
	    "-- trailing comment\n\n");
	assert_int_equal(open_with_schema("data_two3", schema, err,
	    sizeof(err)), 0);
}

/* "Only white space and comments may follow the one statement"
 * (db_sqlite.c):
 * a block comment is a comment too. */
static void
db_allows_trailing_block_comment(void **state)
{
	char	 schema[PATH_MAX], err[512];

	(void)state;
	fresh_dir(schema, "schema_block");
	put(schema, "001_init.sql", "CREATE TABLE t (x INTEGER) STRICT;\n");
	put(schema, "queries.sql", "-- name: commented\n"
	    "SELECT x FROM t; /* rows of t */\n");
	if (open_with_schema("data_block", schema, err, sizeof(err)) != 0)
		fail_msg("db_open: %s", err);
}

static void
db_rejects_bad_queries(void **state)
{
	char	 schema[PATH_MAX], sub[PATH_MAX + 32], err[512];

	(void)state;
	fresh_dir(schema, "schema_dup");
	put(schema, "001_init.sql", "CREATE TABLE t (x INTEGER) STRICT;\n");
	put(schema, "queries.sql", "-- name: dup_q\nSELECT 1;\n"
	    "-- name: other\nSELECT 2;\n-- name: dup_q\nSELECT 3;\n");
	assert_int_equal(open_with_schema("data_dup", schema, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "dup_q"));

	/* A duplicate across queries.sql and queries.d/. */
	put(schema, "queries.sql", "-- name: dup_q\nSELECT 1;\n");
	snprintf(sub, sizeof(sub), "%s/queries.d", schema);
	assert_int_equal(mkdir(sub, 0700), 0);
	put(sub, "extra.sql", "-- name: dup_q\nSELECT 2;\n");
	assert_int_equal(open_with_schema("data_dup2", schema, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "dup_q"));

	/* SQL that does not compile. */
	put(sub, "extra.sql", "-- name: broken\nSELEC 2;\n");
	assert_int_equal(open_with_schema("data_dup3", schema, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "broken"));
	/* An empty body. */
	put(sub, "extra.sql", "-- name: empty\n\n-- name: next\nSELECT 1;\n");
	assert_int_equal(open_with_schema("data_dup4", schema, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "empty"));
	/* SQL before the first name in an operator file. */
	put(sub, "extra.sql", "SELECT 9;\n-- name: late\nSELECT 1;\n");
	assert_int_equal(open_with_schema("data_dup5", schema, err,
	    sizeof(err)), -1);
	/* ... with the file and the parser's reason (it was left out). */
	assert_non_null(strstr(err, "extra.sql: "));
	assert_non_null(strstr(err, "before the first"));
	/* No queries.sql at all. */
	put(sub, "extra.sql", "-- name: fine\nSELECT 1;\n");
	tu_path(sub, "schema_dup/queries.sql");
	assert_int_equal(unlink(sub), 0);
	assert_int_equal(open_with_schema("data_dup6", schema, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "queries.sql"));
}

/* Named queries from queries.sql and queries.d/ are all found by name,
 * whatever order the files list them in. */
static void
db_finds_every_query(void **state)
{
	static const char *const names[] = { "zeta", "alpha", "mid", "beta",
	    "omega", "d_one", "d_two" };
	struct config	 cfg;
	struct db	 db;
	char		 schema[PATH_MAX], data[PATH_MAX], sub[PATH_MAX + 32];
	char		 err[512] = "";
	size_t		 i;

	(void)state;
	fresh_dir(schema, "schema_order");
	put(schema, "001_init.sql", "CREATE TABLE t (x INTEGER) STRICT;\n");
	put(schema, "queries.sql", "-- name: zeta\nSELECT 1;\n"
	    "-- name: alpha\nSELECT 2;\n-- name: mid\nSELECT 3;\n"
	    "-- name: beta\nSELECT 4;\n-- name: omega\nSELECT 5;\n");
	snprintf(sub, sizeof(sub), "%s/queries.d", schema);
	assert_int_equal(mkdir(sub, 0700), 0);
	put(sub, "b.sql", "-- name: d_two\nSELECT 7;\n");
	put(sub, "a.sql", "-- name: d_one\nSELECT 6;\n");
	put(sub, "notes.txt", "-- name: ignored\nSELECT 0;\n");
	make_cfg(&cfg, fresh_dir(data, "data_order"), schema);
	if (db_open(&db, &cfg, 1, err, sizeof(err)) != 0)
		fail_msg("db_open: %s", err);
	assert_int_equal(db.nq, 7);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (db_query(&db, names[i]) == NULL)
			fail_msg("query %s not found", names[i]);
	assert_null(db_query(&db, "ignored"));
	db_close(&db);
	cfg_free(&cfg);
}

/* When queries.d exists but is not a readable directory, db_open must
 * either fail or still find every query of queries.sql. */
static void
db_queries_d_not_a_directory(void **state)
{
	static const char *const names[] = { "zeta", "alpha", "mid" };
	struct config	 cfg;
	struct db	 db;
	char		 schema[PATH_MAX], data[PATH_MAX], err[512] = "";
	size_t		 i;
	int		 rc;

	(void)state;
	fresh_dir(schema, "schema_notdir");
	put(schema, "001_init.sql", "CREATE TABLE t (x INTEGER) STRICT;\n");
	put(schema, "queries.sql", "-- name: zeta\nSELECT 1;\n"
	    "-- name: alpha\nSELECT 2;\n-- name: mid\nSELECT 3;\n");
	put(schema, "queries.d", "this is a file, not a directory\n");
	make_cfg(&cfg, fresh_dir(data, "data_notdir"), schema);
	rc = db_open(&db, &cfg, 1, err, sizeof(err));
	if (rc == 0) {
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (db_query(&db, names[i]) == NULL) {
				db_close(&db);
				cfg_free(&cfg);
				fail_msg("db_open succeeded but query %s is "
				    "not found", names[i]);
			}
		db_close(&db);
	}
	cfg_free(&cfg);
}

static void
db_migrations_order_and_rollback(void **state)
{
	struct config	 cfg;
	struct db	 db;
	char		 schema[PATH_MAX], data[PATH_MAX], err[512] = "";
	char		 dbpath[PATH_MAX + 32], txt[64];
	sqlite3		*h;
	sqlite3_stmt	*st;

	(void)state;
	fresh_dir(schema, "schema_mig");
	put(schema, "queries.sql", "-- name: n\nSELECT count(*) FROM b;\n");
	/* 002 depends on 001: they must run in number order. */
	put(schema, "002_b.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY, "
	    "a_id INTEGER REFERENCES a(id)) STRICT;\n"
	    "INSERT INTO b (a_id) SELECT id FROM a;\n");
	put(schema, "001_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY) "
	    "STRICT;\nINSERT INTO a (id) VALUES (7);\n");
	put(schema, "003_bad.sql", "CREATE TABLE c (;\n");
	put(schema, "README", "not a migration\n");
	put(schema, "01_short.sql", "not a migration either\n");
	make_cfg(&cfg, fresh_dir(data, "data_mig"), schema);
	err[0] = '\0';
	assert_int_equal(db_open(&db, &cfg, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "003_bad.sql"));

	/* All or nothing: the failed run left no tables behind. */
	snprintf(dbpath, sizeof(dbpath), "%s/%s", data, DB_FILE);
	assert_int_equal(sqlite3_open_v2(dbpath, &h, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM "
	    "sqlite_schema WHERE name IN ('a', 'b', 'schema_migrations')", -1,
	    &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	sqlite3_close(h);

	/* Fixed: all three apply, once each, in order. */
	put(schema, "003_bad.sql", "CREATE TABLE c (x TEXT) STRICT;\n");
	if (db_open(&db, &cfg, 1, err, sizeof(err)) != 0)
		fail_msg("db_open: %s", err);
	assert_int_equal(one_int(&db, "SELECT count(*) FROM schema_migrations"),
	    3);
	pragma_text(&db, "SELECT group_concat(version, ',') FROM "
	    "(SELECT version FROM schema_migrations ORDER BY version)", txt,
	    sizeof(txt));
	assert_string_equal(txt, "1,2,3");
	pragma_text(&db, "SELECT name FROM schema_migrations WHERE version = 2",
	    txt, sizeof(txt));
	assert_string_equal(txt, "002_b.sql");
	assert_int_equal(one_int(&db, "SELECT a_id FROM b"), 7);
	db_close(&db);

	/* A new migration later is applied on the next open, alone. */
	put(schema, "004_d.sql", "INSERT INTO a (id) VALUES (8);\n");
	if (db_open(&db, &cfg, 1, err, sizeof(err)) != 0)
		fail_msg("db_open: %s", err);
	assert_int_equal(one_int(&db, "SELECT count(*) FROM schema_migrations"),
	    4);
	assert_int_equal(one_int(&db, "SELECT count(*) FROM a"), 2);
	assert_int_equal(one_int(&db, "SELECT count(*) FROM b"), 1);
	db_close(&db);
	cfg_free(&cfg);
}

static void
db_exec_sql_reports_errors(void **state)
{
	struct config	 cfg;
	struct db	 db;
	char		 data[PATH_MAX], err[512] = "";

	(void)state;
	make_cfg(&cfg, fresh_dir(data, "exec"), repo_schema);
	if (db_open(&db, &cfg, 1, err, sizeof(err)) != 0)
		fail_msg("db_open: %s", err);
	assert_int_equal(db_exec_sql(&db, "CREATE TABLE z (x INTEGER);", err,
	    sizeof(err)), 0);
	err[0] = '\0';
	assert_int_equal(db_exec_sql(&db, "SELEC nonsense", err, sizeof(err)),
	    -1);
	assert_true(err[0] != '\0');
	/* Foreign keys are enforced. */
	assert_int_equal(db_exec_sql(&db, "CREATE TABLE p (id INTEGER PRIMARY "
	    "KEY); CREATE TABLE ch (p INTEGER NOT NULL REFERENCES p(id));",
	    err, sizeof(err)), 0);
	assert_int_equal(db_exec_sql(&db, "INSERT INTO ch (p) VALUES (42);",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "FOREIGN KEY"));
	db_close(&db);
	cfg_free(&cfg);
}

/* ------------------------------------------------------------------ data */

static void
read_file(const char *path, unsigned char *out, size_t n, size_t *got)
{
	int	 fd;
	ssize_t	 r;

	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	r = read(fd, out, n);
	close(fd);
	assert_true(r >= 0);
	*got = (size_t)r;
}

static void
data_init_creates_private_files(void **state)
{
	struct config	 cfg;
	struct stat	 st;
	char		 data[PATH_MAX], p[PATH_MAX + 32], err[512] = "";
	unsigned char	 a[64], b[64], pep[PEPPER_LEN], zero[PEPPER_LEN] = { 0 };
	size_t		 na, nb;
	mode_t		 old;

	(void)state;
	/* A nested directory that does not exist yet. */
	tu_path(data, "init/nested/data");
	make_cfg(&cfg, data, repo_schema);
	old = umask(022);
	if (data_init(&cfg, err, sizeof(err)) != 0) {
		umask(old);
		fail_msg("data_init: %s", err);
	}
	umask(old);
	assert_int_equal(stat(data, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);

	snprintf(p, sizeof(p), "%s/%s", data, PEPPER_FILE);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, PEPPER_LEN);
	read_file(p, a, sizeof(a), &na);
	assert_int_equal(na, PEPPER_LEN);
	assert_memory_not_equal(a, zero, PEPPER_LEN);

	snprintf(p, sizeof(p), "%s/%s", data, DB_FILE);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);	/* not readable by others */

	/* Idempotent: the pepper survives a second init. */
	if (data_init(&cfg, err, sizeof(err)) != 0)
		fail_msg("data_init again: %s", err);
	snprintf(p, sizeof(p), "%s/%s", data, PEPPER_FILE);
	read_file(p, b, sizeof(b), &nb);
	assert_int_equal(nb, PEPPER_LEN);
	assert_memory_equal(a, b, PEPPER_LEN);

	/* data_pepper reads the same bytes. */
	memset(pep, 0, sizeof(pep));
	if (data_pepper(&cfg, pep, err, sizeof(err)) != 0)
		fail_msg("data_pepper: %s", err);
	assert_memory_equal(pep, a, PEPPER_LEN);
	cfg_free(&cfg);
}

static void
data_init_fresh_peppers_differ(void **state)
{
	struct config	 c1, c2;
	char		 d1[PATH_MAX], d2[PATH_MAX], err[512] = "";
	unsigned char	 p1[PEPPER_LEN], p2[PEPPER_LEN];

	(void)state;
	make_cfg(&c1, tu_path(d1, "pep1"), repo_schema);
	make_cfg(&c2, tu_path(d2, "pep2"), repo_schema);
	assert_int_equal(data_init(&c1, err, sizeof(err)), 0);
	assert_int_equal(data_init(&c2, err, sizeof(err)), 0);
	assert_int_equal(data_pepper(&c1, p1, err, sizeof(err)), 0);
	assert_int_equal(data_pepper(&c2, p2, err, sizeof(err)), 0);
	assert_memory_not_equal(p1, p2, PEPPER_LEN);
	cfg_free(&c1);
	cfg_free(&c2);
}

static void
data_pepper_refuses_open_modes(void **state)
{
	struct config	 cfg;
	char		 data[PATH_MAX], p[PATH_MAX + 32], err[512] = "";
	unsigned char	 pep[PEPPER_LEN];
	static const mode_t bad[] = { 0644, 0640, 0604, 0660, 0606 };
	size_t		 i;

	(void)state;
	make_cfg(&cfg, tu_path(data, "pepmode"), repo_schema);
	if (data_init(&cfg, err, sizeof(err)) != 0)
		fail_msg("data_init: %s", err);
	snprintf(p, sizeof(p), "%s/%s", data, PEPPER_FILE);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(p, bad[i]), 0);
		err[0] = '\0';
		assert_int_equal(data_pepper(&cfg, pep, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(chmod(p, 0400), 0);
	assert_int_equal(data_pepper(&cfg, pep, err, sizeof(err)), 0);
	assert_int_equal(chmod(p, 0600), 0);
	assert_int_equal(data_pepper(&cfg, pep, err, sizeof(err)), 0);

	/* A short pepper file is refused. */
	assert_int_equal(tu_write(p, "short"), 0);
	assert_int_equal(chmod(p, 0600), 0);
	assert_int_equal(data_pepper(&cfg, pep, err, sizeof(err)), -1);
	/* A missing one too, pointing at tessera init. */
	assert_int_equal(unlink(p), 0);
	err[0] = '\0';
	assert_int_equal(data_pepper(&cfg, pep, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tessera init"));
	cfg_free(&cfg);
}

/* Milliseconds on the monotonic clock. */
static double
ms_now(void)
{
	struct timespec	 t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* A child process that takes the writers' turn of data and keeps it
 * until it is killed; returns once the child holds it. */
static pid_t
hold_turn(const char *data)
{
	char	 err[512], c;
	int	 p[2];
	pid_t	 pid;

	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		struct writer *cw = writer_open(data, err, sizeof(err));

		if (cw == NULL || writer_lock(cw, 1000) != 0)
			_exit(1);
		(void)write(p[1], "L", 1);
		for (;;)
			pause();
	}
	assert_true(pid > 0);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	close(p[1]);
	return pid;
}

/* A waiter for the writer's turn gives up after its timeout while another
 * process holds it, and takes it over when that process is killed. */
static void
writer_waits_times_out_and_survives_kill(void **state)
{
	char		 data[PATH_MAX], err[512] = "";
	struct writer	*w;
	pid_t		 pid;
	double		 t0, waited;

	(void)state;
	fresh_dir(data, "writer-kill");
	pid = hold_turn(data);
	if ((w = writer_open(data, err, sizeof(err))) == NULL)
		fail_msg("writer_open: %s", err);
	t0 = ms_now();
	assert_int_equal(writer_lock(w, 150), ETIMEDOUT);
	waited = ms_now() - t0;
	assert_true(waited >= 140 && waited < 2000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	t0 = ms_now();
	assert_int_equal(writer_lock(w, 1000), 0);	/* taken over */
	assert_true(ms_now() - t0 < 500);
	writer_unlock(w);
	assert_int_equal(writer_lock(w, 0), 0);		/* and free again */
	writer_unlock(w);
	writer_close(w);
}

/* db_tx takes the turn for BEGIN IMMEDIATE and gives it back when the
 * transaction ends (COMMIT or ROLLBACK); a BEGIN that cannot get it in
 * busy_timeout_ms answers SQLITE_BUSY and holds nothing.
 *
 * The child writes only once the parent's connection is open: db_open
 * applies migrations in a write transaction of its own, which would wait
 * busy_timeout_ms for the child's open one and fail with "database is
 * locked" whenever the child got there first (a busy machine). */
static void
writer_turn_follows_write_transactions(void **state)
{
	struct config	 cfg;
	struct db	 db;
	char		 data[PATH_MAX], err[512] = "", c;
	int		 go[2], ready[2];
	pid_t		 pid;
	double		 t0;
	int		 status;

	(void)state;
	make_cfg(&cfg, fresh_dir(data, "writer-tx"), repo_schema);
	if (db_open(&db, &cfg, 1, err, sizeof(err)) != 0)
		fail_msg("db_open: %s", err);
	db_close(&db);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	if ((pid = fork()) == 0) {
		struct db	 cdb;

		/* Only the parent's ends stay open: if the parent fails an
		 * assertion and goes on, the read below sees end of file
		 * instead of waiting for ever. */
		close(go[1]);
		close(ready[0]);
		if (read(go[0], &c, 1) != 1 || c != 'O')
			_exit(3);
		if (db_open(&cdb, &cfg, 0, err, sizeof(err)) != 0 ||
		    (cdb.wr = writer_open(data, err, sizeof(err))) == NULL ||
		    db_tx(&cdb, DB_BEGIN) != SQLITE_OK || !cdb.wr_held ||
		    sqlite3_exec(cdb.h, "CREATE TABLE t (x)", NULL, NULL,
		    NULL) != SQLITE_OK)
			_exit(1);
		(void)write(ready[1], "B", 1);
		if (read(go[0], &c, 1) != 1 ||
		    db_tx(&cdb, DB_COMMIT) != SQLITE_OK || cdb.wr_held)
			_exit(2);
		(void)write(ready[1], "C", 1);
		_exit(0);
	}
	if (db_open(&db, &cfg, 0, err, sizeof(err)) != 0 ||
	    (db.wr = writer_open(data, err, sizeof(err))) == NULL)
		fail_msg("open: %s", err);
	db.busy_timeout_ms = 150;
	assert_int_equal(write(go[1], "O", 1), 1);	/* opened: go on */
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, 'B');
	t0 = ms_now();
	assert_int_equal(db_tx(&db, DB_BEGIN), SQLITE_BUSY);
	assert_true(ms_now() - t0 >= 140);
	assert_int_equal(db.wr_held, 0);
	assert_int_equal(sqlite3_get_autocommit(db.h), 1);
	assert_int_equal(write(go[1], "G", 1), 1);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, 'C');
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Free now: BEGIN takes it, COMMIT gives it back; so does ROLLBACK. */
	assert_int_equal(db_tx(&db, DB_BEGIN), DB_OK);
	assert_int_equal(db.wr_held, 1);
	assert_int_equal(sqlite3_exec(db.h, "INSERT INTO t VALUES (1)", NULL,
	    NULL, NULL), SQLITE_OK);
	assert_int_equal(db_tx(&db, DB_COMMIT), DB_OK);
	assert_int_equal(db.wr_held, 0);
	assert_int_equal(db_tx(&db, DB_BEGIN), DB_OK);
	assert_int_equal(db_tx(&db, DB_ROLLBACK), DB_OK);
	assert_int_equal(db.wr_held, 0);
	assert_int_equal(writer_lock(db.wr, 0), 0);
	writer_unlock(db.wr);
	/* A read transaction does not take it. */
	assert_int_equal(db_tx(&db, DB_BEGIN_READ), SQLITE_OK);
	assert_int_equal(db.wr_held, 0);
	assert_int_equal(db_tx(&db, DB_COMMIT), DB_OK);
	assert_int_equal(one_int(&db, "SELECT count(*) FROM t"), 1);
	writer_close(db.wr);
	db.wr = NULL;
	db_close(&db);
	cfg_free(&cfg);
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
}

/* A map another version set up in this boot (another magic, the current
 * stamp) is refused; one stamped by another boot or another file (a map
 * copied while a worker held its mutex) is set up afresh. */
static void
writer_map_stamps(void **state)
{
	char		 data[PATH_MAX], data2[PATH_MAX], path[PATH_MAX + 16],
			 path2[PATH_MAX + 16], err[512] = "";
	struct writer	*w;
	uint64_t	 other = 0x7473727772743030ULL;	/* "tsrwrt00" */
	int		 fd;
	pid_t		 pid;

	(void)state;
	fresh_dir(data, "writer-stamps");
	snprintf(path, sizeof(path), "%s/writer.map", data);
	if ((w = writer_open(data, err, sizeof(err))) == NULL)
		fail_msg("writer_open: %s", err);
	writer_close(w);
	/* Another version's magic, stamped by this boot: refused. */
	assert_true((fd = open(path, O_RDWR)) >= 0);
	assert_int_equal(pwrite(fd, &other, sizeof(other), 0), sizeof(other));
	assert_null(writer_open(data, err, sizeof(err)));
	assert_non_null(strstr(err, "another version"));
	/* The same bytes with a stale stamp (another boot): set up again. */
	{
		char	 boot[64] = "", b[4096], *at;
		FILE	*f = fopen("/proc/sys/kernel/random/boot_id", "r");
		ssize_t	 n;

		assert_non_null(f);
		assert_non_null(fgets(boot, sizeof(boot), f));
		fclose(f);
		n = pread(fd, b, sizeof(b) - 1, 0);
		assert_true(n > 0);
		at = memmem(b, (size_t)n, boot, strlen(boot));
		assert_non_null(at);	/* the stamp holds this boot's id */
		assert_int_equal(pwrite(fd, at[0] == 'x' ? "y" : "x", 1,
		    at - b), 1);
	}
	close(fd);
	if ((w = writer_open(data, err, sizeof(err))) == NULL)
		fail_msg("writer_open after a reboot: %s", err);
	assert_int_equal(writer_lock(w, 0), 0);
	writer_unlock(w);
	/* A copy made while a live process holds the mutex: the copy is set
	 * up afresh and its turn is free, while the original's stays held. */
	pid = hold_turn(data);
	fresh_dir(data2, "writer-copy");
	snprintf(path2, sizeof(path2), "%s/writer.map", data2);
	{
		char	 b[4096];
		ssize_t	 n;
		int	 in = open(path, O_RDONLY), out = open(path2,
			    O_WRONLY | O_CREAT, 0600);

		assert_true(in >= 0 && out >= 0);
		while ((n = read(in, b, sizeof(b))) > 0)
			assert_int_equal(write(out, b, (size_t)n), n);
		close(in);
		close(out);
	}
	assert_int_equal(writer_lock(w, 50), ETIMEDOUT);	/* held */
	writer_close(w);
	if ((w = writer_open(data2, err, sizeof(err))) == NULL)
		fail_msg("writer_open of the copy: %s", err);
	assert_int_equal(writer_lock(w, 0), 0);
	writer_unlock(w);
	writer_close(w);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* A statement a Lua error left part-way keeps its snapshot after the
 * transaction ends, and the next BEGIN IMMEDIATE fails at once once
 * another connection has committed; db_reset_busy ends it. */
static void
db_reset_busy_frees_the_snapshot(void **state)
{
	struct config	 cfg;
	struct db	 db, other;
	char		 data[PATH_MAX], err[512] = "";
	sqlite3_stmt	*st;

	(void)state;
	make_cfg(&cfg, fresh_dir(data, "reset-busy"), repo_schema);
	if (db_open(&db, &cfg, 1, err, sizeof(err)) != 0 ||
	    db_open(&other, &cfg, 0, err, sizeof(err)) != 0)
		fail_msg("db_open: %s", err);
	assert_int_equal(sqlite3_exec(db.h, "CREATE TABLE t (x); INSERT INTO t "
	    "VALUES (1), (2)", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db.h, "SELECT x FROM t", -1, &st,
	    NULL), SQLITE_OK);
	assert_int_equal(db_tx(&db, DB_BEGIN), DB_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);	/* left part-way */
	assert_int_equal(db_tx(&db, DB_ROLLBACK), DB_OK);
	assert_int_equal(sqlite3_exec(other.h, "INSERT INTO t VALUES (3)",
	    NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(db_tx(&db, DB_BEGIN) & 0xff, SQLITE_BUSY);
	db_reset_busy(&db);
	assert_false(sqlite3_stmt_busy(st));
	assert_int_equal(db_tx(&db, DB_BEGIN), DB_OK);
	assert_int_equal(db_tx(&db, DB_COMMIT), DB_OK);
	sqlite3_finalize(st);
	db_close(&other);
	db_close(&db);
	cfg_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_queries_in_order),
		cmocka_unit_test(parse_queries_empty_and_comment_only),
		cmocka_unit_test(parse_queries_sql_before_first_name),
		cmocka_unit_test(parse_queries_bad_names),
		cmocka_unit_test(parse_queries_callback_failure),
		cmocka_unit_test(db_open_repo_schema),
		cmocka_unit_test(db_int64_round_trip),
		cmocka_unit_test(db_time_functions_match_strftime),
		cmocka_unit_test(db_open_without_create),
		cmocka_unit_test(db_rejects_two_statements),
		cmocka_unit_test(db_allows_trailing_block_comment),
		cmocka_unit_test(db_rejects_bad_queries),
		cmocka_unit_test(db_finds_every_query),
		cmocka_unit_test(db_queries_d_not_a_directory),
		cmocka_unit_test(db_migrations_order_and_rollback),
		cmocka_unit_test(db_exec_sql_reports_errors),
		cmocka_unit_test(data_init_creates_private_files),
		cmocka_unit_test(data_init_fresh_peppers_differ),
		cmocka_unit_test(data_pepper_refuses_open_modes),
		cmocka_unit_test(writer_waits_times_out_and_survives_kill),
		cmocka_unit_test(writer_turn_follows_write_transactions),
		cmocka_unit_test(writer_map_stamps),
		cmocka_unit_test(db_reset_busy_frees_the_snapshot),
	};
	int	 rc;

	if (sodium_init() < 0)
		return 99;
	tu_clean_env();
	tu_repo_schema(repo_schema);
	tu_tmp_init("test_db");
	rc = cmocka_run_group_tests_name("db", tests, NULL, NULL);
	tu_tmp_done();
	return rc;
}
