/*
 * authcache.h -- the gate's per-worker cache of verified tokens, for a
 * store whose lookup is a round trip (PostgreSQL).
 *
 * An entry is the token's row as the gate read it, kept under the keyed
 * hash of the secret that was verified against it, for at most ttl
 * seconds. The store reports tokens changed anywhere (LISTEN/NOTIFY on
 * the worker's own connection; every entry after a reconnection), and
 * the gate drops those entries before it looks one up.
 */
#ifndef TESSERA_AUTHCACHE_H
#define TESSERA_AUTHCACHE_H

#include "domain.h"

/* What the gate reads for a token, before the time checks. */
struct authrow {
	struct principal p;		/* p.active: the three flags only */
	unsigned char	 stored[32];	/* the secret's hash */
	unsigned char	 prev[32];	/* a rotated one's, or zeros */
	int		 has_prev;
	long long	 prev_expires;
};

/* The entry for hash h made no more than ttl seconds ago (at now), copied
 * into out; 0 when there is none. */
int	 authcache_get(const unsigned char h[32], double now, double ttl,
	    struct authrow *out);
/* Keeps row under h, made at now. */
void	 authcache_put(const unsigned char h[32], double now,
	    const struct authrow *);
/* Drops the entries of token id; id 0 drops every entry. */
void	 authcache_drop(long long id);
/* The token's last use was recorded at t (no need to record it again). */
void	 authcache_touched(long long id, long long t);
/* Entries held (for tests and the log). */
int	 authcache_count(void);

#endif
