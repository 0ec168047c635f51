/*
 * authority.h -- what a token may do (authority.c): its scopes, when it
 * expires, the addresses it may come from, and the rule that a token made
 * or changed by a token never holds more than that token ("within").
 *
 * Scopes are bits, stored as one integer per token; the table below is
 * their only declaration (names, what each grants), shared by the gate,
 * the Lua bridge, the page and the command line.
 */
#ifndef AUTHORITY_H
#define AUTHORITY_H

#include <stddef.h>
#include <stdint.h>

#include "lib/cidr.h"

#define SCOPE_OBJECTS_READ	0x01u
#define SCOPE_OBJECTS_WRITE	0x02u
#define SCOPE_PIPELINES_RUN	0x04u
#define SCOPE_WEBHOOK_WRITE	0x08u
#define SCOPE_RECORDS_READ	0x10u
#define SCOPE_TOKENS_READ	0x20u
#define SCOPE_TOKENS_WRITE	0x40u
#define SCOPE_VIA_READ		0x80u

/* What a user token gets when nobody names its scopes: what a platform
 * token always could do, but not making tokens. */
#define SCOPE_USER_DEFAULT	0x3fu
/* Every scope a user token may hold (via:read is the Via tokens'). */
#define SCOPE_USER_ALL		0x7fu
#define SCOPE_VIA		SCOPE_VIA_READ

struct scope_def {
	const char	*name;
	uint32_t	 bit;
	const char	*grants;	/* one line, for the page and docs */
};

/* In bit order; scope_ndefs of them. */
extern const struct scope_def	scope_defs[];
extern const size_t		scope_ndefs;

/* The bit of the scope named s[0..len), or 0 when there is none. */
uint32_t	 scope_bit(const char *s, size_t len);
/* The name of the lowest bit of need that have lacks, or NULL. */
const char	*scope_missing(uint32_t have, uint32_t need);
/* The names of mask joined by sep into out ("" for none). Returns out. */
char		*scope_names(uint32_t mask, const char *sep, char *out,
		    size_t outlen);

/* Why an authority rule refused: the HTTP status and error code to
 * answer, the field at fault, the scope missing (INSUFFICIENT_SCOPE), and
 * words for a person. */
struct authority_err {
	int		 status;	/* 400 or 403 */
	const char	*code;		/* INVALID_REQUEST, INSUFFICIENT_SCOPE */
	const char	*field;		/* scopes, expires_at, allowed_ips */
	char		 required[32];
	char		 message[256];
};

/* What a token may do. */
struct grant {
	uint32_t		 scopes;
	long long		 expires_at;	/* 0: never */
	struct cidr_list	 ips;		/* none: any address */
};

/* An expiry someone asked for: none (given 0: the operator's default
 * applies), never (given, at 0), or a time. */
struct expiry_ask {
	int		 given;
	long long	 at;
};

#define EXPIRY_DAYS_MAX	3660	/* ten years and a bit */

struct config;

/* Decides a new token's expiry from what was asked, the operator's policy
 * (token_default_expiry_days, token_max_expiry_days) and cap, the expiry
 * of the token making it (0: none, or a person makes it). Not asking
 * gives the default, lowered to cap; asking past cap is refused
 * (INSUFFICIENT_SCOPE); past the policy or in the past is a bad request.
 * Returns 0 with *out set (0: never), or -1 with e. */
int	 authority_expiry(const struct config *, long long now,
	    const struct expiry_ask *, long long cap, long long *out,
	    struct authority_err *e);
/* The subset rule: 0 when child holds nothing parent does not (scopes a
 * subset, expiry no later, addresses inside); else -1 with e (403
 * INSUFFICIENT_SCOPE naming what grew). */
int	 authority_within(const struct grant *child,
	    const struct grant *parent, struct authority_err *e);
/* Fills e as a 400 INVALID_REQUEST about field. Returns -1. */
int	 authority_bad(struct authority_err *e, const char *field,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* AUTHORITY_H */
