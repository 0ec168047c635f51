/*
 * route.c -- the route table (route.h): patterns of literal segments and
 * {name} captures, compiled once per Lua state, matched once per request.
 *
 * A capture matches one non-empty segment; "/" has no segments and "/a/"
 * has two ("a" and ""), so a trailing slash is a different path. Among
 * the routes of the request's method, one without captures wins when its
 * pattern is the path itself; else the first declared whose segments
 * match. HEAD, when no HEAD route matches, is answered by the GET route
 * that GET would get (the same rules). When only the method is wrong,
 * m->allow lists the methods that would match (sorted, HEAD with GET),
 * for the 405.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/authority.h"
#include "route.h"

/* Splits path[0..len) (which starts with '/') into segments. Returns the
 * count, or -1 when there are more than max. */
static int
split(const char *path, size_t len, const char **seg, size_t *slen,
    size_t max)
{
	const char	*p = path + 1, *e = path + len, *slash;
	size_t		 n = 0;

	if (len <= 1)
		return 0;
	for (;;) {
		if ((slash = memchr(p, '/', (size_t)(e - p))) == NULL)
			slash = e;
		if (n == max)
			return -1;
		seg[n] = p;
		slen[n] = (size_t)(slash - p);
		n++;
		if (slash == e)
			return (int)n;
		p = slash + 1;
	}
}

/* 1 for [A-Za-z_][A-Za-z0-9_]*, the capture names router.lua allows. */
static int
valid_name(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* 1 when route t can match some path equal to prefix or below it: each
 * of the prefix's segments is met by the same literal or by a capture. */
static int
reaches(const struct route *t, const char *prefix)
{
	const char	*seg[ROUTE_SEGS_MAX];
	size_t		 slen[ROUTE_SEGS_MAX], i;
	int		 n;

	n = split(prefix, strlen(prefix), seg, slen, ROUTE_SEGS_MAX);
	if (n <= 0 || (size_t)n > t->nseg)
		return n == 0;	/* a prefix of "/" reaches everything */
	for (i = 0; i < (size_t)n; i++)
		if (t->seg[i] != NULL && (strlen(t->seg[i]) != slen[i] ||
		    memcmp(t->seg[i], seg[i], slen[i]) != 0))
			return 0;
	return 1;
}

static void
route_clear(struct route *t)
{
	size_t	 i;

	free(t->method);
	free(t->pattern);
	for (i = 0; i < t->nseg; i++) {
		free(t->seg[i]);
		free(t->name[i]);
	}
	memset(t, 0, sizeof(*t));
}

int
route_add(struct route_table *tb, const char *method, const char *pattern,
    const char *scope, const char *const *token_prefixes, char *err,
    size_t errlen)
{
	struct route	 t;
	const char	*seg[ROUTE_SEGS_MAX];
	size_t		 slen[ROUTE_SEGS_MAX], i, ncap = 0;
	struct route	*nv;
	int		 n;

	memset(&t, 0, sizeof(t));
	for (i = 0; method[i]; i++)
		if (method[i] < 'A' || method[i] > 'Z')
			break;
	if (i == 0 || method[i] != '\0' || i > 16) {
		snprintf(err, errlen, "route %s %s: the method must be upper "
		    "case", method, pattern);
		return -1;
	}
	if (pattern[0] != '/' || (n = split(pattern, strlen(pattern), seg,
	    slen, ROUTE_SEGS_MAX)) < 0) {
		snprintf(err, errlen, "route %s %s: a pattern starts with / "
		    "and has at most %d segments", method, pattern,
		    ROUTE_SEGS_MAX);
		return -1;
	}
	if ((t.method = strdup(method)) == NULL ||
	    (t.pattern = strdup(pattern)) == NULL)
		goto nomem;
	t.nseg = (size_t)n;
	t.exact = 1;
	for (i = 0; i < t.nseg; i++) {
		if (slen[i] >= 2 && seg[i][0] == '{' &&
		    seg[i][slen[i] - 1] == '}') {
			if (!valid_name(seg[i] + 1, slen[i] - 2) ||
			    ++ncap > ROUTE_CAPS_MAX) {
				snprintf(err, errlen, "route %s %s: bad capture "
				    "(a name of letters, digits and _; at most "
				    "%d)", method, pattern, ROUTE_CAPS_MAX);
				goto fail;
			}
			if ((t.name[i] = strndup(seg[i] + 1, slen[i] - 2)) ==
			    NULL)
				goto nomem;
			t.exact = 0;
		} else if (memchr(seg[i], '{', slen[i]) != NULL ||
		    memchr(seg[i], '}', slen[i]) != NULL) {
			snprintf(err, errlen, "route %s %s: bad route segment",
			    method, pattern);
			goto fail;
		} else if ((t.seg[i] = strndup(seg[i], slen[i])) == NULL)
			goto nomem;
	}
	for (i = 0; token_prefixes && token_prefixes[i]; i++)
		t.token |= reaches(&t, token_prefixes[i]);
	if (t.token && scope == NULL) {
		snprintf(err, errlen, "route %s %s: a route on a token path "
		    "must declare the scope it needs (a scope name, or "
		    "\"any\")", method, pattern);
		goto fail;
	}
	if (!t.token && scope != NULL) {
		snprintf(err, errlen, "route %s %s: only routes on token paths "
		    "(%s) declare a scope", method, pattern,
		    token_prefixes && token_prefixes[0] ? token_prefixes[0] :
		    "none");
		goto fail;
	}
	if (scope != NULL && strcmp(scope, "any") == 0)
		t.any_scope = 1;
	else if (scope != NULL && strcmp(scope, "public") == 0) {
		/* Only a read: a public route changes nothing, and a token
		 * path has no CSRF check to stand in for the credentials. */
		if (strcmp(method, "GET") != 0) {
			snprintf(err, errlen, "route %s %s: only a GET route "
			    "may be \"public\"", method, pattern);
			goto fail;
		}
		t.public_route = 1;
	} else if (scope != NULL &&
	    (t.scope = scope_bit(scope, strlen(scope))) == 0) {
		snprintf(err, errlen, "route %s %s: unknown scope \"%s\"",
		    method, pattern, scope);
		goto fail;
	}
	if (tb->n == tb->cap) {
		if ((nv = reallocarray(tb->v, tb->cap ? tb->cap * 2 : 32,
		    sizeof(*nv))) == NULL)
			goto nomem;
		tb->v = nv;
		tb->cap = tb->cap ? tb->cap * 2 : 32;
	}
	tb->v[tb->n++] = t;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	route_clear(&t);
	return -1;
}

/* 1 when t's segments match the path's; captures go into m. */
static int
segs_match(const struct route *t, const char **seg, const size_t *slen,
    size_t n, struct route_match *m)
{
	size_t	 i;

	if (t->nseg != n)
		return 0;
	for (i = 0; i < n; i++) {
		if (t->seg[i] == NULL) {
			if (slen[i] == 0)
				return 0;
		} else if (strlen(t->seg[i]) != slen[i] ||
		    memcmp(t->seg[i], seg[i], slen[i]) != 0)
			return 0;
	}
	m->ncap = 0;
	for (i = 0; i < n; i++) {
		if (t->seg[i] != NULL)
			continue;
		/* route_add refused a pattern with more captures. */
		assert(m->ncap < ROUTE_CAPS_MAX);
		m->cap[m->ncap].name = t->name[i];
		m->cap[m->ncap].val = seg[i];
		m->cap[m->ncap].len = slen[i];
		m->ncap++;
	}
	return 1;
}

/* Adds method to the set ms (n of them, at most max), once. */
static void
add_method(const char **ms, size_t *n, size_t max, const char *method)
{
	size_t	 i;

	for (i = 0; i < *n; i++)
		if (strcmp(ms[i], method) == 0)
			return;
	if (*n < max)
		ms[(*n)++] = method;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
route_match(const struct route_table *tb, const char *method,
    const char *path, size_t len, struct route_match *m)
{
	const char	*seg[ROUTE_SEGS_MAX], *ms[16];
	size_t		 slen[ROUTE_SEGS_MAX], i, o, nm = 0;
	int		 n, fallback = -1, get = 0, is_get;
	int		 head = strcmp(method, "HEAD") == 0;

	m->route = -1;
	m->ncap = 0;
	m->allow[0] = '\0';
	for (i = 0; i < tb->n; i++)
		if (tb->v[i].exact && strcmp(tb->v[i].method, method) == 0 &&
		    strlen(tb->v[i].pattern) == len &&
		    memcmp(tb->v[i].pattern, path, len) == 0)
			return m->route = (int)i;
	if (len == 0 || path[0] != '/' ||
	    (n = split(path, len, seg, slen, ROUTE_SEGS_MAX)) < 0)
		return -1;	/* longer than any pattern: no route */
	for (i = 0; i < tb->n; i++) {
		if (!segs_match(&tb->v[i], seg, slen, (size_t)n, m))
			continue;
		if (strcmp(tb->v[i].method, method) == 0)
			return m->route = (int)i;
		is_get = strcmp(tb->v[i].method, "GET") == 0;
		get |= is_get;
		if (head && fallback == -1 && is_get)
			fallback = (int)i;
		add_method(ms, &nm, 16, tb->v[i].method);
	}
	if (fallback != -1) {
		/* HEAD as GET: a literal GET route first, as for GET. */
		for (i = 0; i < tb->n; i++)
			if (tb->v[i].exact &&
			    strcmp(tb->v[i].method, "GET") == 0 &&
			    strlen(tb->v[i].pattern) == len &&
			    memcmp(tb->v[i].pattern, path, len) == 0) {
				m->ncap = 0;
				return m->route = (int)i;
			}
		segs_match(&tb->v[fallback], seg, slen, (size_t)n, m);
		return m->route = fallback;
	}
	m->ncap = 0;
	if (nm == 0)
		return -1;
	if (get)
		add_method(ms, &nm, 16, "HEAD");	/* GET answers HEAD */
	qsort(ms, nm, sizeof(ms[0]), cmp_str);
	for (i = 0, o = 0; i < nm; i++) {
		if (o + strlen(ms[i]) + 3 >= sizeof(m->allow))
			break;	/* never with real methods */
		o += (size_t)snprintf(m->allow + o, sizeof(m->allow) - o,
		    "%s%s", o ? ", " : "", ms[i]);
	}
	return -1;
}

void
route_free(struct route_table *tb)
{
	size_t	 i;

	for (i = 0; i < tb->n; i++)
		route_clear(&tb->v[i]);
	free(tb->v);
	memset(tb, 0, sizeof(*tb));
}
