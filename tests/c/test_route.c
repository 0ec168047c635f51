/*
 * test_route.c -- the route table (route.c): matching (literal routes
 * first, declaration order, captures, HEAD by GET, the Allow of a 405),
 * and the load-time rules for scopes (a route a token path can reach
 * declares one; a page route does not; the scope must exist).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "domain/authority.h"
#include "http/route.h"

static const char *const prefixes[] = { "/api", "/webhook", NULL };

/* The table of the old Lua router test, plus token routes. */
static void
table(struct route_table *tb)
{
	static const char *const r[][3] = {
		{ "GET",  "/", NULL },
		{ "GET",  "/healthz", NULL },
		{ "GET",  "/settings/tokens", NULL },
		{ "POST", "/settings/tokens", NULL },
		{ "POST", "/settings/tokens/{key}/activate", NULL },
		{ "GET",  "/a/{x}/b/{y}", NULL },
		{ "PUT",  "/a/{x}/b/{y}", NULL },
		{ "GET",  "/api/sources/{id}", "objects:read" },
		{ "GET",  "/api/sources/new", "objects:write" },
		{ "HEAD", "/api/me", "any" },
		{ "GET",  "/api/me", "any" },
		{ "POST", "/webhook", "webhook:write" },
	};
	char	 err[256];
	size_t	 i;

	memset(tb, 0, sizeof(*tb));
	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		assert_int_equal(route_add(tb, r[i][0], r[i][1], r[i][2],
		    prefixes, err, sizeof(err)), 0);
}

static int
match(const struct route_table *tb, const char *method, const char *path,
    struct route_match *m)
{
	return route_match(tb, method, path, strlen(path), m);
}

static void
t_match(void **state)
{
	struct route_table	 tb;
	struct route_match	 m;

	(void)state;
	table(&tb);
	assert_int_equal(match(&tb, "GET", "/", &m), 0);
	assert_int_equal(match(&tb, "GET", "/healthz", &m), 1);
	assert_int_equal(match(&tb, "POST", "/settings/tokens", &m), 3);
	assert_int_equal(match(&tb, "POST", "/settings/tokens/0b6f-uuid/"
	    "activate", &m), 4);
	assert_int_equal(m.ncap, 1);
	assert_string_equal(m.cap[0].name, "key");
	assert_int_equal(m.cap[0].len, 9);
	assert_memory_equal(m.cap[0].val, "0b6f-uuid", 9);
	assert_int_equal(match(&tb, "GET", "/a/1/b/two", &m), 5);
	assert_int_equal(m.ncap, 2);
	assert_string_equal(m.cap[1].name, "y");
	assert_memory_equal(m.cap[1].val, "two", 3);
	/* A literal route wins over an earlier capture of the same shape. */
	assert_int_equal(match(&tb, "GET", "/api/sources/new", &m), 8);
	assert_int_equal(m.ncap, 0);
	assert_int_equal(match(&tb, "GET", "/api/sources/7", &m), 7);
	route_free(&tb);
}

static void
t_allow(void **state)
{
	struct route_table	 tb;
	struct route_match	 m;

	(void)state;
	table(&tb);
	assert_int_equal(match(&tb, "DELETE", "/settings/tokens", &m), -1);
	assert_string_equal(m.allow, "GET, HEAD, POST");
	assert_int_equal(m.ncap, 0);
	assert_int_equal(match(&tb, "GET", "/settings/tokens/k/activate", &m),
	    -1);
	assert_string_equal(m.allow, "POST");
	assert_int_equal(match(&tb, "DELETE", "/a/1/b/2", &m), -1);
	assert_string_equal(m.allow, "GET, HEAD, PUT");
	assert_int_equal(match(&tb, "GET", "/nope", &m), -1);
	assert_string_equal(m.allow, "");
	route_free(&tb);
}

static void
t_head_and_shapes(void **state)
{
	struct route_table	 tb;
	struct route_match	 m;
	char			 longpath[200];
	size_t			 i;

	(void)state;
	table(&tb);
	assert_int_equal(match(&tb, "HEAD", "/healthz", &m), 1);
	assert_int_equal(match(&tb, "HEAD", "/a/1/b/2", &m), 5);
	assert_int_equal(m.ncap, 2);	/* the GET route's captures */
	/* A HEAD route of its own wins over the GET one. */
	assert_int_equal(match(&tb, "HEAD", "/api/me", &m), 9);
	/* Without one, HEAD gets what GET gets: the literal route first. */
	assert_int_equal(match(&tb, "HEAD", "/api/sources/new", &m), 8);
	assert_int_equal(m.ncap, 0);
	assert_int_equal(match(&tb, "HEAD", "/api/sources/7", &m), 7);
	assert_int_equal(m.ncap, 1);
	assert_int_equal(match(&tb, "GET", "/healthz/", &m), -1);
	assert_int_equal(match(&tb, "POST", "/settings/tokens//activate", &m),
	    -1);
	assert_int_equal(match(&tb, "GET", "/a/1/b", &m), -1);
	assert_int_equal(match(&tb, "GET", "/a/1/b/2/c", &m), -1);
	assert_int_equal(match(&tb, "GET", "/HEALTHZ", &m), -1);
	assert_int_equal(route_match(&tb, "GET", "", 0, &m), -1);
	assert_int_equal(match(&tb, "GET", "healthz", &m), -1);
	/* More segments than any pattern may have: no route, no crash. */
	for (i = 0; i < sizeof(longpath) - 1; i++)
		longpath[i] = i % 2 ? 'x' : '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(match(&tb, "GET", longpath, &m), -1);
	/* A NUL byte inside the path is just a byte. */
	assert_int_equal(route_match(&tb, "GET", "/healthz\0x", 10, &m), -1);
	route_free(&tb);
}

static void
t_scope_rules(void **state)
{
	struct route_table	 tb;
	char			 err[256];

	(void)state;
	memset(&tb, 0, sizeof(tb));
	/* A token route without a scope is refused, and says why. */
	assert_int_equal(route_add(&tb, "GET", "/api/x", NULL, prefixes, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "must declare the scope"));
	assert_int_equal(route_add(&tb, "POST", "/webhook", NULL, prefixes,
	    err, sizeof(err)), -1);
	assert_int_equal(route_add(&tb, "GET", "/api", NULL, prefixes, err,
	    sizeof(err)), -1);
	/* A capture that can stand for /api or /webhook makes it a token
	 * route too. */
	assert_int_equal(route_add(&tb, "GET", "/{page}", NULL, prefixes, err,
	    sizeof(err)), -1);
	assert_int_equal(route_add(&tb, "GET", "/{page}/x", NULL, prefixes, err,
	    sizeof(err)), -1);
	/* Unknown scope names are refused. */
	assert_int_equal(route_add(&tb, "GET", "/api/x", "objects:rea",
	    prefixes, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown scope"));
	/* Pages declare none. */
	assert_int_equal(route_add(&tb, "GET", "/settings", "objects:read",
	    prefixes, err, sizeof(err)), -1);
	/* "/apiary" is not under "/api". */
	assert_int_equal(route_add(&tb, "GET", "/apiary", NULL, prefixes, err,
	    sizeof(err)), 0);
	assert_false(tb.v[0].token);
	assert_int_equal(route_add(&tb, "GET", "/api/x", "records:read",
	    prefixes, err, sizeof(err)), 0);
	assert_true(tb.v[1].token);
	assert_int_equal(tb.v[1].scope, SCOPE_RECORDS_READ);
	assert_int_equal(route_add(&tb, "GET", "/api/me", "any", prefixes, err,
	    sizeof(err)), 0);
	assert_true(tb.v[2].any_scope);
	assert_false(tb.v[2].public_route);
	/* "public": a GET on a token path that needs no credentials; any
	 * other method is refused, and so is a page declaring it. */
	assert_int_equal(route_add(&tb, "GET", "/api/openapi.json", "public",
	    prefixes, err, sizeof(err)), 0);
	assert_true(tb.v[3].token);
	assert_true(tb.v[3].public_route);
	assert_false(tb.v[3].any_scope);
	assert_int_equal(tb.v[3].scope, 0);
	assert_int_equal(route_add(&tb, "POST", "/api/openapi.json", "public",
	    prefixes, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "only a GET route"));
	assert_int_equal(route_add(&tb, "GET", "/settings", "public",
	    prefixes, err, sizeof(err)), -1);
	assert_int_equal(tb.n, 4);
	/* Bad shapes. */
	assert_int_equal(route_add(&tb, "get", "/x", NULL, prefixes, err,
	    sizeof(err)), -1);
	assert_int_equal(route_add(&tb, "GET", "x", NULL, prefixes, err,
	    sizeof(err)), -1);
	assert_int_equal(route_add(&tb, "GET", "/x{y}", NULL, prefixes, err,
	    sizeof(err)), -1);
	assert_int_equal(route_add(&tb, "GET", "/{1x}", NULL, prefixes, err,
	    sizeof(err)), -1);
	assert_int_equal(tb.n, 4);
	route_free(&tb);
}

static void
t_scope_table(void **state)
{
	char	 names[200];

	(void)state;
	assert_int_equal(scope_bit("tokens:write", 12), SCOPE_TOKENS_WRITE);
	assert_int_equal(scope_bit("tokens:writ", 11), 0);
	assert_int_equal(scope_bit("", 0), 0);
	assert_string_equal(scope_names(SCOPE_USER_DEFAULT, " ", names,
	    sizeof(names)), "objects:read objects:write pipelines:run "
	    "webhook:write records:read tokens:read");
	assert_string_equal(scope_missing(SCOPE_USER_DEFAULT,
	    SCOPE_TOKENS_WRITE), "tokens:write");
	assert_null(scope_missing(SCOPE_USER_ALL, SCOPE_USER_DEFAULT));
	assert_string_equal(scope_missing(SCOPE_VIA, SCOPE_OBJECTS_READ),
	    "objects:read");
	/* Cut at a whole name when the buffer is short. */
	assert_string_equal(scope_names(SCOPE_USER_DEFAULT, ",", names, 26),
	    "objects:read");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_match),
		cmocka_unit_test(t_allow),
		cmocka_unit_test(t_head_and_shapes),
		cmocka_unit_test(t_scope_rules),
		cmocka_unit_test(t_scope_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
