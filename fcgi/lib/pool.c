/*
 * pool.c -- a cache of freed small blocks in front of malloc.
 *
 * Every request makes and drops a few hundred small objects in Lua (tables,
 * strings, closures) and in SQLite (cursors, registers, records; Debian's
 * SQLite is built without its own lookaside cache). glibc keeps only seven
 * freed blocks per size in its fast per-thread cache; a garbage-collection
 * sweep or a statement reset frees more than that at once, and the next
 * request pays for the slow path (bins, consolidation). This cache keeps up
 * freed blocks per 16-byte size class up to POOL_MAX bytes (a rendered
 * table row, a 1 KiB webhook record included), so the steady state of a
 * worker allocates without entering malloc at all.
 *
 * Bounded: a class keeps at most POOL_KEEP blocks and at most 32 KiB
 * (under 4 MiB in all, if every size were freed in bulk at once); the
 * rest go back to malloc, so a request that
 * built a huge table still returns its memory. Workers are
 * single-threaded; no locks.
 *
 * Two front ends: pool_alloc/pool_free for callers that know a block's size
 * (Lua's allocator is told the old size), and pool_sqlite_install for
 * SQLite, which asks for a block's size back and so gets an 8-byte header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "tessera.h"

#define POOL_GRAIN	16
#define POOL_CLASSES	(POOL_MAX / POOL_GRAIN)
#ifdef __SANITIZE_ADDRESS__
#define POOL_ON		0	/* let AddressSanitizer see every free */
#else
#define POOL_ON		1
#endif
#define POOL_KEEP	128
#define POOL_CLASS_BYTES	32768	/* cached per class, at most */

/*
 * TESSERA_POOL=0 in the environment switches this file off, for measuring
 * it against malloc alone (tests/bench/bench.py --allocators): read once,
 * before main, every call then passes straight to malloc, free or realloc
 * and SQLite keeps its own allocator, as if this file were not there.
 */
static int	pool_off;

__attribute__((constructor)) static void
pool_switch(void)
{
	const char	*v = getenv("TESSERA_POOL");

	pool_off = v != NULL && strcmp(v, "0") == 0;
}

struct freeblk {
	struct freeblk	*next;
};

static struct {
	struct freeblk	*head[POOL_CLASSES];
	unsigned	 n[POOL_CLASSES];
} pool;

/* Class index of a small size (1..POOL_MAX): block size (i + 1) * 16. */
static inline size_t
cls(size_t n)
{
	return (n - 1) / POOL_GRAIN;
}

void *
pool_alloc(size_t n)
{
	struct freeblk	*b;
	size_t		 c;

	if (pool_off || n == 0 || n > POOL_MAX)
		return malloc(n ? n : 1);
	c = cls(n);
	if ((b = pool.head[c]) != NULL) {
		pool.head[c] = b->next;
		pool.n[c]--;
		return b;
	}
	return malloc((c + 1) * POOL_GRAIN);
}

/* p was returned by pool_alloc(n) (or pool_realloc to n). */
void
pool_free(void *p, size_t n)
{
	struct freeblk	*b = p;
	size_t		 c;

	if (p == NULL)
		return;
	if (pool_off || n == 0 || n > POOL_MAX) {
		free(p);
		return;
	}
	c = cls(n);
	if (!POOL_ON || pool.n[c] >= POOL_KEEP ||
	    (pool.n[c] + 1) * (c + 1) * POOL_GRAIN > POOL_CLASS_BYTES) {
		free(p);
		return;
	}
	b->next = pool.head[c];
	pool.head[c] = b;
	pool.n[c]++;
}

/* Resizes a block of osize bytes to n (> 0) bytes; NULL leaves p as is. */
void *
pool_realloc(void *p, size_t osize, size_t n)
{
	void	*q;

	if (p == NULL)
		return pool_alloc(n);
	if (pool_off || (osize > POOL_MAX && n > POOL_MAX))
		return realloc(p, n);
	if (osize != 0 && osize <= POOL_MAX && n <= POOL_MAX &&
	    cls(osize) == cls(n))
		return p;			/* same block size */
	if ((q = pool_alloc(n)) == NULL)
		return NULL;
	memcpy(q, p, osize < n ? osize : n);
	pool_free(p, osize);
	return q;
}

/* Gives every cached block back to malloc (after a greedy request). */
void
pool_trim(void)
{
	struct freeblk	*b;
	size_t		 c;

	for (c = 0; c < POOL_CLASSES; c++) {
		while ((b = pool.head[c]) != NULL) {
			pool.head[c] = b->next;
			free(b);
		}
		pool.n[c] = 0;
	}
}

/* SQLite: an 8-byte header before each block holds its usable size. */
#define HDR	8

static void *
sq_malloc(int n)
{
	size_t		 total = (size_t)n + HDR, usable;
	uint64_t	*h;

	if (n <= 0)
		return NULL;
	usable = total <= POOL_MAX ? (cls(total) + 1) * POOL_GRAIN - HDR :
	    (size_t)n;
	if ((h = pool_alloc(usable + HDR)) == NULL)
		return NULL;
	*h = usable;
	return h + 1;
}

static void
sq_free(void *p)
{
	uint64_t	*h = p;

	if (p != NULL)
		pool_free(h - 1, (size_t)h[-1] + HDR);
}

static int
sq_size(void *p)
{
	return p ? (int)((uint64_t *)p)[-1] : 0;
}

static void *
sq_realloc(void *p, int n)
{
	uint64_t	*h;
	size_t		 old;
	void		*q;

	if (p == NULL)
		return sq_malloc(n);
	old = (size_t)sq_size(p);
	if ((size_t)n <= old && old + HDR <= POOL_MAX)
		return p;
	if (old + HDR > POOL_MAX && (size_t)n + HDR > POOL_MAX) {
		h = realloc((uint64_t *)p - 1, (size_t)n + HDR);
		if (h == NULL)
			return NULL;
		*h = (uint64_t)n;
		return h + 1;
	}
	if ((q = sq_malloc(n)) == NULL)
		return NULL;
	memcpy(q, p, old < (size_t)n ? old : (size_t)n);
	sq_free(p);
	return q;
}

static int
sq_roundup(int n)
{
	size_t	 total = (size_t)n + HDR;

	if (total <= POOL_MAX)
		return (int)((cls(total) + 1) * POOL_GRAIN - HDR);
	return (n + 7) & ~7;
}

static int
sq_init(void *arg)
{
	(void)arg;
	return SQLITE_OK;
}

static void
sq_shutdown(void *arg)
{
	(void)arg;
}

/* Makes SQLite allocate through the pool; call before any other SQLite
 * call. Returns 0 or -1. */
int
pool_sqlite_install(void)
{
	static const sqlite3_mem_methods m = {
		sq_malloc, sq_free, sq_realloc, sq_size, sq_roundup,
		sq_init, sq_shutdown, NULL,
	};

	if (pool_off)
		return 0;
	return sqlite3_config(SQLITE_CONFIG_MALLOC, &m) == SQLITE_OK ? 0 : -1;
}
