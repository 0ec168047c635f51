/*
 * authcache.c -- the gate's per-worker cache of verified tokens
 * (authcache.h): a small table indexed by the first bytes of the keyed
 * hash, one entry per slot, a newer entry replacing an older one.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "authcache.h"

#define SLOTS	256

struct slot {
	int		 used;
	double		 made;
	unsigned char	 h[32];
	struct authrow	 row;
};

static struct slot	*slots;	/* allocated at the first put */

static unsigned
index_of(const unsigned char h[32])
{
	/* h is a keyed hash: its bytes are already uniform. */
	return ((unsigned)h[0] | (unsigned)h[1] << 8) % SLOTS;
}

int
authcache_get(const unsigned char h[32], double now, double ttl,
    struct authrow *out)
{
	struct slot	*s;

	if (slots == NULL)
		return 0;
	s = &slots[index_of(h)];
	if (!s->used || sodium_memcmp(s->h, h, 32) != 0)
		return 0;
	if (now - s->made > ttl || now < s->made) {
		s->used = 0;
		return 0;
	}
	memcpy(out, &s->row, sizeof(*out));
	return 1;
}

void
authcache_put(const unsigned char h[32], double now,
    const struct authrow *row)
{
	struct slot	*s;

	if (slots == NULL && (slots = calloc(SLOTS, sizeof(*slots))) == NULL)
		return;		/* no cache: every lookup asks the store */
	s = &slots[index_of(h)];
	memcpy(s->h, h, 32);
	memcpy(&s->row, row, sizeof(*row));
	s->made = now;
	s->used = 1;
}

void
authcache_drop(long long id)
{
	int	 i;

	if (slots == NULL)
		return;
	for (i = 0; i < SLOTS; i++)
		if (slots[i].used && (id == 0 || slots[i].row.p.token_id == id))
			slots[i].used = 0;
}

void
authcache_touched(long long id, long long t)
{
	int	 i;

	if (slots == NULL)
		return;
	for (i = 0; i < SLOTS; i++)
		if (slots[i].used && slots[i].row.p.token_id == id) {
			slots[i].row.p.last_used_at = t;
			slots[i].row.p.first_use = 0;
		}
}

int
authcache_count(void)
{
	int	 i, n = 0;

	if (slots == NULL)
		return 0;
	for (i = 0; i < SLOTS; i++)
		n += slots[i].used;
	return n;
}
