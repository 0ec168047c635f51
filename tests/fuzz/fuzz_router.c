/*
 * fuzz_router.c -- the host's route matcher (fcgi/http/route.c, route_match),
 * which picks every request's route before the credential gate, against
 * a reference matcher written here with the rules router.lua documents.
 *
 * The first input byte picks the method, the rest is the path (a '/' is
 * put in front when it does not start with one). Any difference from the
 * reference is a finding: the route chosen, the captures, or the Allow
 * list when only the method is wrong.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The application's routes (api_mount "/api"), in registration order. */
static const struct ref_route {
	const char	*method;
	const char	*pattern;
} routes[] = {
	{ "GET",	"/healthz" },
	{ "GET",	"/" },
	{ "GET",	"/login" },
	{ "POST",	"/login" },
	{ "POST",	"/logout" },
	{ "GET",	"/settings" },
	{ "GET",	"/settings/tokens" },
	{ "POST",	"/settings/tokens" },
	{ "POST",	"/settings/tokens/{key}/activate" },
	{ "POST",	"/settings/tokens/{key}/deactivate" },
	{ "GET",	"/api/me" },
	{ "GET",	"/api/tokens" },
	{ "POST",	"/api/tokens" },
	{ "POST",	"/api/tokens/{key}/activate" },
	{ "POST",	"/api/tokens/{key}/deactivate" },
	{ "GET",	"/api/sources" },
	{ "POST",	"/api/sources" },
	{ "GET",	"/api/sources/{id}" },
	{ "PUT",	"/api/sources/{id}" },
	{ "GET",	"/api/pipelines" },
	{ "POST",	"/api/pipelines" },
	{ "GET",	"/api/pipelines/{id}" },
	{ "PUT",	"/api/pipelines/{id}" },
	{ "POST",	"/api/pipelines/{id}/run" },
	{ "GET",	"/api/pipelines/{id}/status" },
	{ "GET",	"/api/pipelines/{id}/records" },
	/* Not the app's: a literal after a capture of the same shape, a
	 * HEAD route, a DELETE, two captures, an explicit trailing slash. */
	{ "GET",	"/api/sources/new" },
	{ "HEAD",	"/api/me" },
	{ "DELETE",	"/api/sources/{id}" },
	{ "GET",	"/a/{x}/b/{y}" },
	{ "GET",	"/files/" },
	{ "POST",	"/webhook" },
};
#define NROUTES	 (sizeof(routes) / sizeof(routes[0]))

static const char *const methods[] = {
	"GET", "POST", "PUT", "HEAD", "DELETE"
};

static struct route_table	 tb;
static int			 ready;

/* One path segment: bytes [p, p + n). */
struct seg {
	const char	*p;
	size_t		 n;
};

static struct seg	*parts;	/* the path's, one per '/' at most */

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_router: %s\n", what ? what : "(no message)");
	abort();
}

/* Splits a path that starts with '/' into segments: "/" has none, "/a/"
 * has "a" and "". Returns the count. */
static size_t
split(const char *path, size_t len, struct seg *out, size_t max)
{
	const char	*p = path + 1, *e = path + len, *slash;
	size_t		 n = 0;

	if (len == 1)
		return 0;
	for (;;) {
		if ((slash = memchr(p, '/', (size_t)(e - p))) == NULL)
			slash = e;
		if (n == max)
			fail("too many segments for the reference");
		out[n].p = p;
		out[n].n = (size_t)(slash - p);
		n++;
		if (slash == e)
			return n;
		p = slash + 1;
	}
}

static int
is_capture(const struct seg *s)
{
	return s->n >= 2 && s->p[0] == '{' && s->p[s->n - 1] == '}';
}

/* 1 when route i's pattern matches parts[0..np). */
static int
segs_match(size_t i, size_t np)
{
	struct seg	 rs[16];
	size_t		 nr, k;

	nr = split(routes[i].pattern, strlen(routes[i].pattern), rs, 16);
	if (nr != np)
		return 0;
	for (k = 0; k < nr; k++) {
		if (is_capture(&rs[k])) {
			if (parts[k].n == 0)
				return 0;
		} else if (rs[k].n != parts[k].n ||
		    memcmp(rs[k].p, parts[k].p, rs[k].n) != 0)
			return 0;
	}
	return 1;
}

/* Checks the captures of m against route i's. */
static void
check_params(const struct route_match *m, size_t i, size_t np, int exact)
{
	struct seg	 rs[16];
	size_t		 nr, k, want = 0;

	nr = exact ? 0 : split(routes[i].pattern, strlen(routes[i].pattern),
	    rs, 16);
	for (k = 0; k < nr && k < np; k++) {
		if (!is_capture(&rs[k]))
			continue;
		if (want >= m->ncap)
			fail("a capture is missing");
		if (strlen(m->cap[want].name) != rs[k].n - 2 ||
		    strncmp(m->cap[want].name, rs[k].p + 1, rs[k].n - 2) != 0)
			fail("a capture has the wrong name");
		if (m->cap[want].len != parts[k].n ||
		    memcmp(m->cap[want].val, parts[k].p, parts[k].n) != 0)
			fail("a capture has the wrong value");
		if (m->cap[want].len == 0 ||
		    memchr(m->cap[want].val, '/', m->cap[want].len) != NULL)
			fail("a capture is empty or holds '/'");
		want++;
	}
	if (m->ncap != want)
		fail("extra captures");
}

/* The harness's routes in a host route table; the token paths' routes
 * declare "any" (the matcher does not look at scopes). */
static void
setup(void)
{
	static const char *const prefixes[] = { "/api", "/webhook", NULL };
	char	 err[256];
	size_t	 i;

	for (i = 0; i < NROUTES; i++) {
		if (route_add(&tb, routes[i].method, routes[i].pattern, NULL,
		    prefixes, err, sizeof(err)) == 0)
			continue;
		if (route_add(&tb, routes[i].method, routes[i].pattern, "any",
		    prefixes, err, sizeof(err)) == -1)
			fail(err);
	}
	ready = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*method;
	char		*path, allow[64] = "", *a;
	size_t		 len, np, i, want = NROUTES, fallback = NROUTES, got;
	int		 allowed[5] = { 0 }, k, exact = 0;
	struct route_match m;

	if (!ready)
		setup();
	if (size == 0)
		return 0;
	method = methods[data[0] % 5];
	if ((path = malloc(size + 1)) == NULL)
		return 0;
	len = 0;
	if (size == 1 || data[1] != '/')
		path[len++] = '/';
	memcpy(path + len, data + 1, size - 1);
	len += size - 1;

	/* The reference: an exact literal route first, then the first route
	 * in order whose segments match with this method, then (HEAD) what
	 * GET gets; else the methods that would match. */
	for (i = 0; i < NROUTES && want == NROUTES; i++)
		if (strcmp(routes[i].method, method) == 0 &&
		    strchr(routes[i].pattern, '{') == NULL &&
		    strlen(routes[i].pattern) == len &&
		    memcmp(routes[i].pattern, path, len) == 0)
			want = i, exact = 1;
	if ((parts = malloc(len * sizeof(*parts))) == NULL) {
		free(path);
		return 0;
	}
	np = split(path, len, parts, len);
	for (i = 0; i < NROUTES && want == NROUTES; i++) {
		if (!segs_match(i, np))
			continue;
		if (strcmp(routes[i].method, method) == 0)
			want = i;
		else if (strcmp(method, "HEAD") == 0 &&
		    strcmp(routes[i].method, "GET") == 0 && fallback == NROUTES)
			fallback = i;
		for (k = 0; k < 5; k++)
			if (strcmp(routes[i].method, methods[k]) == 0)
				allowed[k] = 1;
	}
	/* HEAD without a HEAD route: what GET would get, a literal GET
	 * route first. */
	for (i = 0; i < NROUTES && want == NROUTES && fallback != NROUTES; i++)
		if (strcmp(routes[i].method, "GET") == 0 &&
		    strchr(routes[i].pattern, '{') == NULL &&
		    strlen(routes[i].pattern) == len &&
		    memcmp(routes[i].pattern, path, len) == 0)
			want = i, exact = 1;
	if (want == NROUTES)
		want = fallback;
	if (allowed[0])
		allowed[3] = 1;	/* GET implies HEAD */
	/* Sorted: DELETE, GET, HEAD, POST, PUT. */
	a = allow;
	for (k = 0; k < 5; k++) {
		static const int order[] = { 4, 0, 3, 1, 2 };

		if (allowed[order[k]])
			a += sprintf(a, "%s%s", a == allow ? "" : ", ",
			    methods[order[k]]);
	}

	got = (size_t)route_match(&tb, method, path, len, &m);
	if (want != NROUTES) {
		if (got != want) {
			fprintf(stderr, "%s %.*s: got route %d, want %zu (%s "
			    "%s)\n", method, (int)len, path, m.route, want,
			    routes[want].method, routes[want].pattern);
			fail("wrong route");
		}
		check_params(&m, want, np, exact);
	} else if (m.route != -1) {
		fprintf(stderr, "%s %.*s: got route %d, want none\n", method,
		    (int)len, path, m.route);
		fail("a route for a path no route matches");
	} else if (strcmp(m.allow, allow) != 0) {
		fprintf(stderr, "%s %.*s: Allow \"%s\", want \"%s\"\n",
		    method, (int)len, path, m.allow, allow);
		fail("wrong Allow list");
	}
	free(parts);
	parts = NULL;
	free(path);
	return 0;
}
