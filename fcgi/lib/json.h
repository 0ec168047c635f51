/*
 * json.h -- JSON without building it: json_scan proves a text valid as
 * host.json.decode would read it and finds the elements of a top-level
 * array (jsonscan.c). The encoder and decoder scripts use are host.json,
 * in the bridge (lhost_json.c, over jansson).
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>

/* ------------------------------------------------------------- jsonscan */

/* What json_scan (jsonscan.c) found in a valid text. */
struct jscan {
	int		 top;		/* '{', '[', or 0 for a scalar */
	size_t		 n, cap;	/* elements of a top-level array, or
					 * 1 for a top-level object */
	size_t		*spans;		/* start, end offsets of each */
	size_t		 not_object;	/* first element (from 1) that is
					 * not an object; 0 when none */
	const char	*err;		/* why not, when invalid */
	size_t		 err_pos;
};

/* 0 when s is JSON as host.json.decode accepts it, nested at most
 * max_depth deep; -1 when not (js->err), -2 when nested deeper. The
 * caller frees with json_scan_free either way. */
int	 json_scan(const char *, size_t, int max_depth, struct jscan *);
void	 json_scan_free(struct jscan *);

#endif /* JSON_H */
