/*
 * test_pg_rewrite.c -- the PostgreSQL engine's ":name" to "$n" rewriting
 * (db_pg.c): the same name is the same number, and strings, quoted names,
 * comments and "::" casts are left alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "store/db_pg.h"

static char *
rw(const char *sql, char ***names, int *n)
{
	char	*out = pg_rewrite(sql, strlen(sql), names, n);

	assert_non_null(out);
	return out;
}

static void
free_names(char **names, int n)
{
	while (n-- > 0)
		free(names[n]);
	free(names);
}

static void
numbers_by_first_use(void **state)
{
	char	**names, *out;
	int	 n;

	(void)state;
	out = rw("SELECT * FROM t WHERE a = :a AND b = :b OR a > :a", &names,
	    &n);
	assert_string_equal(out, "SELECT * FROM t WHERE a = $1 AND b = $2 OR "
	    "a > $1");
	assert_int_equal(n, 2);
	assert_string_equal(names[0], ":a");
	assert_string_equal(names[1], ":b");
	free(out);
	free_names(names, n);
}

static void
leaves_strings_comments_casts(void **state)
{
	char	**names, *out;
	int	 n;

	(void)state;
	out = rw("SELECT ':x', \"col:y\", :now::bigint, a::text -- :c\n"
	    "/* :d */ FROM t WHERE z = :z_1", &names, &n);
	assert_string_equal(out, "SELECT ':x', \"col:y\", $1::bigint, "
	    "a::text -- :c\n/* :d */ FROM t WHERE z = $2");
	assert_int_equal(n, 2);
	assert_string_equal(names[0], ":now");
	assert_string_equal(names[1], ":z_1");
	free(out);
	free_names(names, n);
}

static void
no_parameters(void **state)
{
	char	**names, *out;
	int	 n;

	(void)state;
	out = rw("SELECT 1", &names, &n);
	assert_string_equal(out, "SELECT 1");
	assert_int_equal(n, 0);
	assert_null(names);
	free(out);
	/* An unterminated string or comment runs to the end, unchanged. */
	out = rw("SELECT ':a", &names, &n);
	assert_string_equal(out, "SELECT ':a");
	assert_int_equal(n, 0);
	free(out);
	out = rw("SELECT 1 /* :a", &names, &n);
	assert_string_equal(out, "SELECT 1 /* :a");
	free(out);
	/* A colon before a digit or space is no parameter. */
	out = rw("SELECT '12:30', x[1:2], : a", &names, &n);
	assert_string_equal(out, "SELECT '12:30', x[1:2], : a");
	assert_int_equal(n, 0);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(numbers_by_first_use),
		cmocka_unit_test(leaves_strings_comments_casts),
		cmocka_unit_test(no_parameters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
