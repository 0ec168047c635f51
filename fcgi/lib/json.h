/*
 * json.h -- JSON for the whole host, in one place: writing it (json.c:
 * strings escaped as host.json.encode escapes them, the failure envelope
 * of every error answer) and proving a text valid without building it
 * (jsonscan.c: as host.json.decode would read it, with the elements of a
 * top-level array found). host.json, in the bridge (lhost_json.c),
 * encodes Lua values with json_put_string and decodes with jansson.
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>

struct buf;

/* ----------------------------------------------------------------- json */

/* Appends s (n bytes) as a JSON string: control characters, quote and
 * backslash escaped, UTF-8 kept. -1 (nothing added) when s is not valid
 * UTF-8. */
int	 json_put_string(struct buf *, const char *s, size_t n);
/* Appends the failure envelope {"error":code,"field":field,"message":
 * msg,"required":required,"success":false}, field and required only when
 * not NULL. -1 when a text is not valid UTF-8 (the envelope is then not
 * whole). */
int	 json_failure(struct buf *, const char *code, const char *msg,
	    const char *field, const char *required);

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
