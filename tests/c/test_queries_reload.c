/*
 * test_queries_reload.c -- the named queries picked up again after an edit
 * (fcgi/store/queries_reload.c), on SQLite: nothing happens while the
 * files are unchanged; a query added to queries.sql, or a new file in
 * queries.d/, is usable after db_queries_refresh; a broken file keeps the
 * last good set (every query of it still runs) and is tried once, not
 * again until it changes; the fixed file loads; a refresh inside a
 * transaction waits for its end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <time.h>

#include "tessera.h"
#include "testutil.h"

/* Writes dir/name with text, with an mtime a second past the last one
 * written, so that an edit within one clock tick is still seen. */
static void
put(const char *dir, const char *name, const char *text)
{
	static time_t	 stamp;
	char		 p[PATH_MAX + 256];
	struct timespec	 ts[2];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(tu_write(p, text), 0);
	if (stamp == 0)
		stamp = time(NULL) - 1000;
	ts[0].tv_sec = ts[1].tv_sec = ++stamp;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

/* The integer the named query name answers (it takes no parameter). */
static long long
value_of(struct db *db, const char *name)
{
	struct dbq	*q = db_query(db, name);
	long long	 v;

	assert_non_null(q);
	assert_int_equal(db_step(q), DB_ROW);
	v = db_col_int(q, 0);
	db_finish(db, q);
	return v;
}

static void
reload_keeps_the_last_good_set(void **state)
{
	struct config	 cfg;
	struct db	 db;
	char		 data[PATH_MAX], schema[PATH_MAX], sub[PATH_MAX + 32];
	char		 err[512] = "";

	(void)state;
	tu_path(schema, "schema");
	assert_int_equal(mkdir(schema, 0700), 0);
	tu_path(data, "data");
	assert_int_equal(mkdir(data, 0700), 0);
	put(schema, "001_init.sql", "CREATE TABLE t (x INTEGER) STRICT;\n");
	put(schema, "queries.sql", "-- name: one\nSELECT 1 AS v;\n");
	tu_clean_env();
	if (cfg_load(&cfg, NULL, data, err, sizeof(err)) == -1 ||
	    cfg_set(&cfg, "schema_dir", schema, err, sizeof(err)) == -1)
		fail_msg("config: %s", err);
	if (db_open(&db, &cfg, 1, err, sizeof(err)) == -1)
		fail_msg("db_open: %s", err);

	assert_int_equal(db_queries_refresh(&db), 0);
	assert_null(db_query(&db, "two"));

	/* A query added to queries.sql. */
	put(schema, "queries.sql", "-- name: one\nSELECT 1 AS v;\n"
	    "-- name: two\nSELECT 2 AS v;\n");
	assert_int_equal(db_queries_refresh(&db), 1);
	assert_int_equal(value_of(&db, "one"), 1);
	assert_int_equal(value_of(&db, "two"), 2);
	assert_int_equal(db_queries_refresh(&db), 0);

	/* A new file in queries.d/. */
	snprintf(sub, sizeof(sub), "%s/queries.d", schema);
	assert_int_equal(mkdir(sub, 0700), 0);
	put(sub, "extra.sql", "-- name: three\nSELECT 3 AS v;\n");
	assert_int_equal(db_queries_refresh(&db), 1);
	assert_int_equal(value_of(&db, "three"), 3);

	/* A broken file: the last good set stays, tried once. */
	put(sub, "extra.sql", "-- name: three\nSELECT 3 AS v;\n"
	    "-- name: broken\nSELEC 4;\n");
	assert_int_equal(db_queries_refresh(&db), -1);
	assert_int_equal(db_queries_refresh(&db), 0);
	assert_null(db_query(&db, "broken"));
	assert_int_equal(value_of(&db, "one"), 1);
	assert_int_equal(value_of(&db, "three"), 3);
	/* A name defined twice is broken too. */
	put(sub, "extra.sql", "-- name: two\nSELECT 22 AS v;\n");
	assert_int_equal(db_queries_refresh(&db), -1);
	assert_int_equal(value_of(&db, "two"), 2);

	/* Fixed. */
	put(sub, "extra.sql", "-- name: four\nSELECT 4 AS v;\n");
	assert_int_equal(db_queries_refresh(&db), 1);
	assert_int_equal(value_of(&db, "four"), 4);
	assert_null(db_query(&db, "three"));

	/* Inside a transaction: not now, at the next call outside it. */
	put(schema, "queries.sql", "-- name: one\nSELECT 11 AS v;\n");
	assert_int_equal(db_tx(&db, DB_BEGIN), DB_OK);
	assert_int_equal(db_queries_refresh(&db), 0);
	assert_int_equal(value_of(&db, "one"), 1);
	assert_int_equal(db_tx(&db, DB_COMMIT), DB_OK);
	assert_int_equal(db_queries_refresh(&db), 1);
	assert_int_equal(value_of(&db, "one"), 11);

	db_close(&db);
	cfg_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reload_keeps_the_last_good_set),
	};
	int	 rc;

	tu_clean_env();
	tu_tmp_init("test_queries_reload");
	rc = cmocka_run_group_tests_name("queries_reload", tests, NULL,
	    NULL);
	tu_tmp_done();
	return rc;
}
