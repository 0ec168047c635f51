/*
 * ratelimit.c -- request rate limits shared by every process on the host
 * that serves the same data directory, in a file-backed shared mapping
 * (DATA/ratelimit.map): the supervisor's workers, lighttpd's or mod_fcgid's
 * separate processes alike.
 *
 * Each limit is GCRA (a token bucket: rl_check takes one token of a bucket
 * of 2 x rate, rl_take n of a bucket of any size) whose whole
 * state is one 64-bit word per key: a 16-bit fingerprint of the key and the
 * 48-bit "theoretical arrival time" in units of 10 microseconds. Updates
 * are compare-and-swap loops, so there is no lock a crashed worker could
 * leave held. Keys hash into 4-way sets of a fixed table; an unrelated key
 * evicts the set's stalest entry, so a collision can only forget a limit,
 * never share one.
 */
#include <assert.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "domain.h"
#include "lib/lib.h"

#define RL_MAGIC	0x7473726c696d3031ULL	/* "tsrlim01" */
#define RL_SLOTS	65536
#define RL_WAYS		4
#define RL_FILE		"ratelimit.map"
#define TAT_BITS	48
#define TAT_MASK	((1ULL << TAT_BITS) - 1)
#define UNIT_US		10			/* one tick */
#define EPOCH_S		1735689600LL		/* 2025-01-01 */

struct rl_map {
	uint64_t	 magic;
	unsigned char	 key[crypto_shorthash_KEYBYTES];
	uint64_t	 slot[RL_SLOTS];
};

static uint64_t
now_ticks(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)((ts.tv_sec - EPOCH_S) * (1000000 / UNIT_US) +
	    ts.tv_nsec / (UNIT_US * 1000));
}

static void
rl_init(void *p)
{
	struct rl_map	*m = p;

	randombytes_buf(m->key, sizeof(m->key));
}

struct rl_map *
rl_open(const char *data_dir, char *err, size_t errlen)
{
	return shm_map_once(data_dir, RL_FILE, sizeof(struct rl_map),
	    RL_MAGIC, rl_init, err, errlen);
}

void
rl_close(struct rl_map *m)
{
	shm_unmap(m, sizeof(*m));
}

long long
rl_check(struct rl_map *m, const char *scope, const void *key, size_t keylen,
    long long rate)
{
	return rl_take(m, scope, key, keylen, rate, rate * 2, 1);
}

long long
rl_take(struct rl_map *m, const char *scope, const void *key, size_t keylen,
    long long rate, long long burst, long long n)
{
	return rl_take_info(m, scope, key, keylen, rate, burst, n, NULL);
}

/* Seconds in ticks, rounded up. */
static long long
ticks_seconds(uint64_t ticks)
{
	return (long long)((ticks * UNIT_US + 999999) / 1000000);
}

/* The bucket as a client sees it with tat (> now or not). */
static void
info_fill(struct rl_info *info, uint64_t tat, uint64_t now, uint64_t t,
    long long burst)
{
	uint64_t	 owed = tat > now ? tat - now : 0;
	long long	 used = (long long)((owed + t - 1) / t);

	info->limit = burst;
	info->remaining = used >= burst ? 0 : burst - used;
	info->reset = ticks_seconds(owed);
}

long long
rl_take_info(struct rl_map *m, const char *scope, const void *key,
    size_t keylen, long long rate, long long burst, long long n,
    struct rl_info *info)
{
	unsigned char	 h[crypto_shorthash_BYTES], buf[256];
	uint64_t	 hv, fp, base, now, t, tau, tat, old, nv, v, best;
	size_t		 sl = strlen(scope), i, idx = 0, victim;

	if (info != NULL)
		info->limit = info->remaining = info->reset = 0;
	if (m == NULL || rate <= 0 || n <= 0)
		return 0;
	if (n > burst)
		return -1;			/* never, at this rate */
	if (sl > 64)
		sl = 64;			/* scopes are short names */
	if (sl + 1 + keylen > sizeof(buf))
		keylen = sizeof(buf) - sl - 1;
	assert(sl + 1 + keylen <= sizeof(buf));
	memcpy(buf, scope, sl);
	buf[sl] = '\0';
	memcpy(buf + sl + 1, key, keylen);
	crypto_shorthash(h, buf, sl + 1 + keylen, m->key);
	memcpy(&hv, h, sizeof(hv));
	fp = (hv >> TAT_BITS) | 1;		/* never 0: 0 is "empty" */
	base = (hv % RL_SLOTS) & ~(uint64_t)(RL_WAYS - 1);
	t = (uint64_t)(1000000 / UNIT_US) / (uint64_t)rate;
	if (t == 0)
		t = 1;
	tau = t * (uint64_t)(burst - n);	/* what may be owed before */
	now = now_ticks();

	/* Our entry in the set, or the stalest one to take over. */
	victim = base;
	best = UINT64_MAX;
	for (i = 0; i < RL_WAYS; i++) {
		v = __atomic_load_n(&m->slot[base + i], __ATOMIC_RELAXED);
		if ((v >> TAT_BITS) == fp) {
			victim = base + i;
			break;
		}
		if ((v & TAT_MASK) < best) {
			best = v & TAT_MASK;
			victim = base + i;
		}
	}
	idx = victim;
	old = __atomic_load_n(&m->slot[idx], __ATOMIC_RELAXED);
	for (;;) {
		tat = (old >> TAT_BITS) == fp ? old & TAT_MASK : 0;
		/* A stale state restarts; so does one dated further ahead
		 * than a full bucket can be (the clock was set back). */
		if (tat < now || tat > now + t * (uint64_t)burst +
		    (uint64_t)100000000)
			tat = now;
		if (tat - now > tau) {		/* whole seconds, rounded up */
			if (info != NULL) {
				info_fill(info, tat, now, t, burst);
				info->remaining = 0;
			}
			return ticks_seconds(tat - now - tau);
		}
		nv = fp << TAT_BITS | ((tat + t * (uint64_t)n) & TAT_MASK);
		if (__atomic_compare_exchange_n(&m->slot[idx], &old, nv, 0,
		    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			if (info != NULL)
				info_fill(info, tat + t * (uint64_t)n, now, t,
				    burst);
			return 0;
		}
	}
}
