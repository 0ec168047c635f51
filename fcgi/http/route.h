/*
 * route.h -- the route table: which route a request is for, and what a
 * token must hold to reach it (route.c).
 *
 * The routes are declared in Lua (the modules of lua/routes, through
 * router.lua); the bridge hands each declaration to route_add() when it
 * loads the scripts, and the worker matches every request here, once,
 * before the credential gate and before any Lua runs. A route that a token path can
 * reach must declare the scope it needs, or the scripts do not load.
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define ROUTE_SEGS_MAX	16	/* segments in a pattern */
#define ROUTE_CAPS_MAX	8	/* captures in a pattern */
#define ROUTE_ALLOW_MAX	128	/* the Allow of a 405 */

/* One declared route. Strings are owned by the table. */
struct route {
	char		*method;
	char		*pattern;
	char		*seg[ROUTE_SEGS_MAX];	/* literal, or NULL: capture */
	char		*name[ROUTE_SEGS_MAX];	/* capture names */
	size_t		 nseg;
	int		 exact;		/* no capture: matched first */
	int		 token;		/* reachable from a token path */
	uint32_t	 scope;		/* bits a token needs (token routes) */
	int		 any_scope;	/* declared "any": every token */
	int		 public_route;	/* declared "public": a GET that
					 * needs no credentials */
	int		 metric;	/* its metrics label + 1 (the worker's
					 * cache); 0: not looked up yet */
};

struct route_table {
	struct route	*v;
	size_t		 n, cap;
};

/* A request's route: index into the table, or -1 with the methods the
 * path allows (Allow of a 405; "" when no route has the path). Capture
 * values point into the path given to route_match. */
struct route_match {
	int		 route;
	size_t		 ncap;
	struct {
		const char	*name;
		const char	*val;
		size_t		 len;
	}		 cap[ROUTE_CAPS_MAX];
	char		 allow[ROUTE_ALLOW_MAX];
};

/* Adds a route. scope is NULL (none declared), "any", "public" (a GET
 * route on a token path answered without credentials, such as the API
 * description), or a scope name (authority.c). token_prefixes is a NULL-terminated list of the path
 * prefixes that authenticate with tokens (the API mount, "/webhook"): a
 * pattern that can match a path under one of them must declare a scope;
 * one that cannot must not. Returns 0, or -1 with a message in err. */
int	 route_add(struct route_table *, const char *method,
	    const char *pattern, const char *scope,
	    const char *const *token_prefixes, char *err, size_t errlen);
/* Finds the route for method and path (len bytes, starting with '/'):
 * a route without captures first, then the first route in declaration
 * order whose segments match, then for HEAD the first such GET route.
 * Fills m; returns m->route. */
int	 route_match(const struct route_table *, const char *method,
	    const char *path, size_t len, struct route_match *m);
void	 route_free(struct route_table *);

#endif /* ROUTE_H */
