/*
 * test_ratelimit.c -- the host's rate limits (fcgi/domain/ratelimit.c): a bucket
 * allows its burst and then refuses, refills with time up to its burst
 * and no further, answers a Retry-After within a second of the true
 * wait, keys buckets by scope and key, restarts a bucket the clock went
 * far back on, forgets the stalest limit of a full set (and only that
 * one), and is one table for every process of a data directory.
 *
 * ratelimit.c reads CLOCK_REALTIME itself (not clock_now()'s test
 * clock), so this binary defines clock_gettime: while fake_clock is set,
 * CLOCK_REALTIME reads a clock the test moves; every other read, and
 * every read while it is not set, goes to the kernel. One test runs on
 * the real clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "tessera.h"
#include "testutil.h"

/* ------------------------------------------------------- the fake clock */

#define TICK_NS	10000ULL		/* ratelimit.c counts 10 us ticks */
#define SEC	100000ULL		/* ticks a second */
#define BASE_S	1900000000LL		/* 2030-03-17, after its epoch */

static int	 fake_clock;		/* CLOCK_REALTIME reads fake_ticks */
static uint64_t	 fake_ticks;		/* since BASE_S */

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	if (fake_clock && id == CLOCK_REALTIME) {
		ts->tv_sec = (time_t)(BASE_S + (long long)(fake_ticks / SEC));
		ts->tv_nsec = (long)((fake_ticks % SEC) * TICK_NS);
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, id, ts);
}

/* Freezes the clock, far enough after BASE_S to be set back 2000 s. */
static void
clock_freeze(void)
{
	fake_ticks = 10000 * SEC;
	fake_clock = 1;
}

static void
clock_add(long long ticks)
{
	fake_ticks = (uint64_t)((long long)fake_ticks + ticks);
}

/* --------------------------------------------------------------- helpers */

/* Maps DATA/ratelimit.map in a fresh directory tu_dir/name (its path in
 * dir, PATH_MAX bytes). */
static struct rl_map *
open_map(char *dir, const char *name)
{
	struct rl_map	*m;
	char		 err[512] = "";

	tu_path(dir, name);
	assert_int_equal(mkdir(dir, 0700), 0);
	if ((m = rl_open(dir, err, sizeof(err))) == NULL)
		fail_msg("rl_open %s: %s", dir, err);
	return m;
}

static long long
take(struct rl_map *m, const char *scope, const char *key, long long rate,
    long long burst, long long n)
{
	return rl_take(m, scope, key, strlen(key), rate, burst, n);
}

static long long
check(struct rl_map *m, const char *scope, const char *key, long long rate)
{
	return rl_check(m, scope, key, strlen(key), rate);
}

/* How many of tries rl_check calls for (scope, key) are allowed. */
static int
allowed_of(struct rl_map *m, const char *scope, const char *key,
    long long rate, int tries)
{
	int	 i, n = 0;

	for (i = 0; i < tries; i++)
		if (check(m, scope, key, rate) == 0)
			n++;
	return n;
}

/* ------------------------------------------------------------------ tests */

/* rl_open creates DATA/ratelimit.map 0600 and says why it cannot; no map
 * or a rate of 0 limits nothing. */
static void
open_errors_and_no_limit(void **state)
{
	char		 dir[PATH_MAX], p[PATH_MAX + 32], err[512] = "";
	uint64_t	 other = 0x7473726c696d3030ULL;	/* "tsrlim00" */
	struct rl_map	*m;
	struct stat	 st;
	int		 fd, i;

	(void)state;
	clock_freeze();
	m = open_map(dir, "open");
	snprintf(p, sizeof(p), "%s/ratelimit.map", dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(st.st_size >= 65536 * 8);
	rl_close(m);

	/* A missing directory: NULL, and the path in err. */
	snprintf(p, sizeof(p), "%s/missing", tu_dir);
	assert_null(rl_open(p, err, sizeof(err)));
	assert_non_null(strstr(err, "missing/ratelimit.map"));

	/* A map another version set up in this boot is refused. */
	snprintf(p, sizeof(p), "%s/ratelimit.map", dir);
	assert_true((fd = open(p, O_RDWR)) >= 0);
	assert_int_equal(pwrite(fd, &other, sizeof(other), 0), sizeof(other));
	close(fd);
	err[0] = '\0';
	assert_null(rl_open(dir, err, sizeof(err)));
	assert_non_null(strstr(err, "another version"));

	/* No map, rate 0 (or less), n of 0 (or less): allowed, and nothing
	 * is counted. */
	m = open_map(dir, "nolimit");
	for (i = 0; i < 100; i++) {
		assert_int_equal(check(NULL, "s", "k", 1), 0);
		assert_int_equal(check(m, "s", "k", 0), 0);
		assert_int_equal(check(m, "s", "k", -5), 0);
		assert_int_equal(take(m, "s", "k", 0, 1, 5), 0);
		assert_int_equal(take(m, "s", "k", 1, 1, 0), 0);
		assert_int_equal(take(m, "s", "k", 1, 1, -3), 0);
	}
	assert_int_equal(allowed_of(m, "s", "k", 1, 5), 2);
	rl_close(m);
}

/* rl_check allows twice the rate at once, then refuses; a refusal takes
 * nothing. rl_take takes n of its burst, and n over the burst is never. */
static void
burst_then_refuse(void **state)
{
	char		 dir[PATH_MAX];
	struct rl_map	*m;

	(void)state;
	clock_freeze();
	m = open_map(dir, "burst");
	assert_int_equal(allowed_of(m, "s", "five", 5, 10), 10);
	assert_int_equal(check(m, "s", "five", 5), 1);	/* 0.2 s: 1 */
	assert_int_equal(check(m, "s", "five", 5), 1);
	clock_add(SEC / 5);			/* one token back */
	assert_int_equal(allowed_of(m, "s", "five", 5, 5), 1);

	assert_int_equal(allowed_of(m, "s", "one", 1, 10), 2);
	assert_int_equal(allowed_of(m, "s", "thousand", 1000, 3000), 2000);

	/* rl_take: 7 of 10, then 4 is too many, 3 is not, then nothing. */
	assert_int_equal(take(m, "s", "t", 4, 10, 7), 0);
	assert_true(take(m, "s", "t", 4, 10, 4) > 0);
	assert_int_equal(take(m, "s", "t", 4, 10, 3), 0);
	assert_true(take(m, "s", "t", 4, 10, 1) > 0);
	/* More than the bucket holds: -1, whatever is left, and nothing is
	 * taken (all 10 are still there afterwards). */
	assert_int_equal(take(m, "s", "u", 4, 10, 11), -1);
	assert_int_equal(take(m, "s", "t", 4, 10, 11), -1);
	assert_int_equal(take(m, "s", "u", 4, 10, 10), 0);
	assert_true(take(m, "s", "u", 4, 10, 1) > 0);
	/* A take so large that the bucket refills over more than 1,000 s
	 * still limits (it was once read as a clock set back, and let
	 * through again at once). */
	assert_int_equal(take(m, "s", "big", 1, 5000, 5000), 0);
	assert_int_equal(take(m, "s", "big", 1, 5000, 5000), 5000);
	assert_int_equal(take(m, "s", "big", 1, 5000, 1), 1);
	rl_close(m);
}

/* A scope of any length is safe (only its first 64 bytes count). */
static void
long_scope(void **state)
{
	char		 dir[PATH_MAX], scope[400];
	struct rl_map	*m;

	(void)state;
	clock_freeze();
	m = open_map(dir, "long_scope");
	memset(scope, 'x', sizeof(scope) - 1);
	scope[sizeof(scope) - 1] = '\0';
	assert_int_equal(allowed_of(m, scope, "k", 1, 5), 2);
	scope[100] = 'y';		/* past the 64 that count */
	assert_int_equal(check(m, scope, "k", 1), 1);
	rl_close(m);
}

/* Tokens come back at the rate, one by one, up to the burst and no
 * further however long the bucket rests. */
static void
refills_with_time(void **state)
{
	char		 dir[PATH_MAX];
	struct rl_map	*m;

	(void)state;
	clock_freeze();
	m = open_map(dir, "refill");
	assert_int_equal(allowed_of(m, "s", "k", 10, 20), 20);	/* 0.1 s each */
	assert_true(check(m, "s", "k", 10) > 0);
	clock_add(SEC / 10 - 1);
	assert_true(check(m, "s", "k", 10) > 0);	/* one tick short */
	clock_add(1);
	assert_int_equal(check(m, "s", "k", 10), 0);
	assert_true(check(m, "s", "k", 10) > 0);
	clock_add(SEC);					/* ten back */
	assert_int_equal(allowed_of(m, "s", "k", 10, 30), 10);
	clock_add(3600 * SEC);				/* an hour: twenty */
	assert_int_equal(allowed_of(m, "s", "k", 10, 30), 20);

	/* rl_take: an empty bucket of 10 at 4 a second holds 4 after 1 s. */
	assert_int_equal(take(m, "s", "n", 4, 10, 10), 0);
	clock_add(SEC);
	assert_true(take(m, "s", "n", 4, 10, 5) > 0);
	assert_int_equal(take(m, "s", "n", 4, 10, 4), 0);
	assert_true(take(m, "s", "n", 4, 10, 1) > 0);
	rl_close(m);
}

/* The refusal's Retry-After R: waiting R seconds is enough, and waiting
 * R - 1 seconds (less a tick) is not, so R is the wait rounded up, or
 * at most a second more. Where the wait is not whole it is exact. */
static void
retry_after_is_the_wait(void **state)
{
	static const struct {
		long long	 rate, burst, first, n;
		double		 wait;		/* seconds */
	} c[] = {
		{ 4, 10, 10, 10, 2.5 },		/* all of it again */
		{ 3, 6, 6, 1, 1.0 / 3 },	/* rl_check's bucket, one more */
		{ 1, 100, 100, 1, 1 },
		{ 1, 100, 100, 100, 100 },
		{ 2, 50, 50, 25, 12.5 },
		{ 7, 14, 14, 3, 3.0 / 7 },
		{ 1000, 500, 500, 500, 0.5 },
		{ 3, 900, 900, 600, 200 },
	};
	char		 dir[PATH_MAX], key[32];
	struct rl_map	*m;
	long long	 r, r2;
	size_t		 i;

	(void)state;
	clock_freeze();
	m = open_map(dir, "retry");
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		assert_int_equal(take(m, "s", key, c[i].rate, c[i].burst,
		    c[i].first), 0);
		r = take(m, "s", key, c[i].rate, c[i].burst, c[i].n);
		if (r < 1 || (double)r < c[i].wait - 1e-4 ||
		    (double)r > c[i].wait + 1)
			fail_msg("case %zu: Retry-After %lld for a wait of "
			    "%.5f s", i, r, c[i].wait);
		if (c[i].wait != (double)(long long)c[i].wait)
			assert_int_equal(r, (long long)c[i].wait + 1);
		/* A second refusal says the same and takes nothing. */
		assert_int_equal(take(m, "s", key, c[i].rate, c[i].burst,
		    c[i].n), r);
		if (r > 1) {
			clock_add((long long)(r - 1) * (long long)SEC - 1);
			r2 = take(m, "s", key, c[i].rate, c[i].burst, c[i].n);
			if (r2 <= 0)
				fail_msg("case %zu: allowed after %lld s less a "
				    "tick, told %lld", i, r - 1, r);
			clock_add(1);
		}
		clock_add((long long)SEC);	/* R seconds after the refusal */
		assert_int_equal(take(m, "s", key, c[i].rate, c[i].burst,
		    c[i].n), 0);
	}
	/* The wait is counted from the refusal's time, not the first take:
	 * 0.25 s later a bucket of 10 at 4 a second, emptied, waits 2.25. */
	assert_int_equal(take(m, "s", "late", 4, 10, 10), 0);
	clock_add(SEC / 4);
	assert_int_equal(take(m, "s", "late", 4, 10, 10), 3);
	clock_add(2 * SEC + SEC / 4 - 1);
	assert_int_equal(take(m, "s", "late", 4, 10, 10), 1);
	clock_add(1);
	assert_int_equal(take(m, "s", "late", 4, 10, 10), 0);
	rl_close(m);
}

/* A bucket is (scope, key): other keys, other scopes, keys that differ
 * only past a NUL, and a scope/key split elsewhere are all separate. */
static void
keys_and_scopes_are_separate(void **state)
{
	char		 dir[PATH_MAX];
	struct rl_map	*m;
	uint64_t	 id1 = 1, id2 = 2;
	int		 i;

	(void)state;
	clock_freeze();
	m = open_map(dir, "keys");
	assert_int_equal(allowed_of(m, "api_ip", "10.0.0.1", 1, 5), 2);
	assert_true(check(m, "api_ip", "10.0.0.1", 1) > 0);
	assert_int_equal(allowed_of(m, "api_ip", "10.0.0.2", 1, 5), 2);
	assert_int_equal(allowed_of(m, "api_key", "10.0.0.1", 1, 5), 2);
	assert_int_equal(allowed_of(m, "api_i", "p10.0.0.1", 1, 5), 2);
	assert_int_equal(allowed_of(m, "", "api_ip10.0.0.1", 1, 5), 2);
	/* Binary keys, as the gate passes token ids. */
	for (i = 0; i < 2; i++)
		assert_int_equal(rl_check(m, "k", &id1, sizeof(id1), 1), 0);
	assert_true(rl_check(m, "k", &id1, sizeof(id1), 1) > 0);
	assert_int_equal(rl_check(m, "k", &id2, sizeof(id2), 1), 0);
	assert_int_equal(rl_check(m, "b", "x\0y", 3, 1), 0);
	assert_int_equal(rl_check(m, "b", "x\0y", 3, 1), 0);
	assert_true(rl_check(m, "b", "x\0y", 3, 1) > 0);
	assert_int_equal(rl_check(m, "b", "x\0z", 3, 1), 0);
	assert_int_equal(rl_check(m, "b", "x", 1, 1), 0);
	/* The first ones are still refused: nothing above touched them. */
	assert_true(check(m, "api_ip", "10.0.0.1", 1) > 0);
	assert_true(rl_check(m, "b", "x\0y", 3, 1) > 0);
	rl_close(m);
}

/* A clock set back a little keeps the limit (and the wait grows by as
 * much); one set back by more than the bucket could owe restarts it. */
static void
clock_set_back(void **state)
{
	char		 dir[PATH_MAX];
	struct rl_map	*m;
	long long	 r;

	(void)state;
	clock_freeze();
	m = open_map(dir, "back");
	assert_int_equal(allowed_of(m, "s", "k", 1, 2), 2);
	r = check(m, "s", "k", 1);
	assert_true(r >= 1 && r <= 2);
	clock_add(-10 * (long long)SEC);
	r = check(m, "s", "k", 1);
	assert_true(r >= 11 && r <= 12);
	clock_add(-2000 * (long long)SEC);
	assert_int_equal(allowed_of(m, "s", "k", 1, 5), 2);
	rl_close(m);
}

/*
 * Five keys of one 4-way set, found by behaviour alone (the table's hash
 * key is random): "A" is limited for 500 s, then new keys are limited
 * for 1000 s one by one until A is forgotten, which only a key of A's set
 * can have done; A is then limited again for 1 s (the stalest) and the
 * search goes on. Returns the candidates whose first take was refused
 * (they share a 16-bit fingerprint with an entry of their set), or -1.
 */
static long
find_set_mates(struct rl_map *m, char keys[5][16])
{
	long	 i, shared = 0;
	int	 found = 1;

	snprintf(keys[0], 16, "A");
	assert_int_equal(take(m, "ev", "A", 1, 500, 500), 0);
	for (i = 0; i < 4000000 && found < 5; i++) {
		snprintf(keys[found], 16, "c%ld", i);
		if (take(m, "ev", keys[found], 1, 1000, 1000) != 0)
			shared++;
		if (take(m, "ev", "A", 1, 1, 1) == 0)
			found++;
	}
	return found == 5 ? shared : -1;
}

/* The table is 65536 entries in 4-way sets: a new key in a full set is
 * allowed, and forgets the set's stalest limit, the others stay. */
static void
full_set_forgets_the_stalest(void **state)
{
	char		 dir[PATH_MAX], name[32], keys[5][16];
	struct rl_map	*m = NULL;
	long		 shared = -1;
	long long	 r, want;
	int		 attempt, i, j, ok = 0, k, nc, st;

	(void)state;
	clock_freeze();
	/* Two of the five may share a fingerprint (1 in 3000): try again
	 * with another table (another hash key). */
	for (attempt = 0; attempt < 3 && !ok; attempt++) {
		snprintf(name, sizeof(name), "evict%d", attempt);
		m = open_map(dir, name);
		shared = find_set_mates(m, keys);
		assert_true(shared >= 0);
		clock_add(1000000 * (long long)SEC);	/* all of it stale */
		ok = 1;
		for (i = 0; i < 5; i++)
			if (take(m, "ev", keys[i], 1, 100 * (i + 1),
			    100 * (i + 1)) != 0)
				ok = 0;
		if (!ok)
			rl_close(m);
	}
	assert_true(ok);
	print_message("set of %s %s %s %s %s; %ld new keys refused at once "
	    "(a shared fingerprint)\n", keys[0], keys[1], keys[2], keys[3],
	    keys[4], shared);

	/* Each key in turn is the newcomer, and the next one the stalest. */
	for (i = 0; i < 5; i++) {
		clock_add(1000000 * (long long)SEC);
		nc = i;
		st = (i + 1) % 5;
		assert_int_equal(take(m, "ev", keys[st], 1, 100, 100), 0);
		for (j = 0; j < 3; j++) {
			k = (i + 2 + j) % 5;
			assert_int_equal(take(m, "ev", keys[k], 1, 200 + 100 * j,
			    200 + 100 * j), 0);
		}
		/* The set is full of limited keys: the newcomer is allowed. */
		assert_int_equal(take(m, "ev", keys[nc], 1, 50, 50), 0);
		for (j = 0; j < 3; j++) {
			k = (i + 2 + j) % 5;
			want = 200 + 100 * j;
			r = take(m, "ev", keys[k], 1, 1, 1);
			if (r < want || r > want + 1)
				fail_msg("round %d: %s was limited for %lld s, "
				    "now %lld", i, keys[k], want, r);
		}
		r = take(m, "ev", keys[nc], 1, 1, 1);
		assert_true(r >= 50 && r <= 51);
		/* The stalest was forgotten. */
		assert_int_equal(take(m, "ev", keys[st], 1, 100, 100), 0);
	}
	rl_close(m);
}

/* Another process, with its own mapping of the same file, counts in the
 * same buckets both ways, and the map keeps them across rl_close. */
static void
shared_between_processes(void **state)
{
	char		 dir[PATH_MAX], err[512];
	struct rl_map	*m;
	pid_t		 pid;
	int		 status;

	(void)state;
	clock_freeze();
	m = open_map(dir, "fork");
	assert_int_equal(allowed_of(m, "s", "parent", 1, 1), 1);
	if ((pid = fork()) == 0) {
		struct rl_map	*cm = rl_open(dir, err, sizeof(err));
		int		 n = 0, i;

		if (cm == NULL)
			_exit(100);
		for (i = 0; i < 10; i++)
			n += check(cm, "s", "child", 3) == 0;
		/* The parent's key has one token left. */
		n += 10 * (check(cm, "s", "parent", 1) == 0);
		n += 20 * (check(cm, "s", "parent", 1) == 0);
		rl_close(cm);
		_exit(n);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 6 + 10);
	assert_true(check(m, "s", "child", 3) > 0);
	assert_true(check(m, "s", "parent", 1) > 0);
	assert_int_equal(allowed_of(m, "s", "other", 3, 10), 6);
	rl_close(m);

	/* Mapped again: the same buckets. */
	if ((m = rl_open(dir, err, sizeof(err))) == NULL)
		fail_msg("rl_open again: %s", err);
	assert_true(check(m, "s", "child", 3) > 0);
	assert_true(check(m, "s", "other", 3) > 0);
	assert_int_equal(allowed_of(m, "s", "new", 3, 10), 6);
	rl_close(m);
}

/* Processes taking from one bucket at the same moment (the clock stands
 * still) are allowed exactly the burst between them: no update is lost
 * to another's, none is counted twice. */
static void
concurrent_takes_are_exact(void **state)
{
	enum { NPROC = 4, TRIES = 50000, BURST = 150000 };
	char		 dir[PATH_MAX], err[512];
	struct rl_map	*m;
	pid_t		 pid[NPROC];
	int		*got, go[2], i, status, total = 0;

	(void)state;
	clock_freeze();
	m = open_map(dir, "race");
	got = mmap(NULL, sizeof(int) * NPROC, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(got != MAP_FAILED);
	assert_int_equal(pipe(go), 0);
	for (i = 0; i < NPROC; i++) {
		if ((pid[i] = fork()) == 0) {
			struct rl_map	*cm;
			char		 c;
			int		 n = 0, j;

			close(go[1]);
			if ((cm = rl_open(dir, err, sizeof(err))) == NULL)
				_exit(1);
			(void)read(go[0], &c, 1);	/* EOF: go */
			for (j = 0; j < TRIES; j++)
				n += take(cm, "s", "hot", 1, BURST, 1) == 0;
			got[i] = n;
			_exit(0);
		}
		assert_true(pid[i] > 0);
	}
	close(go[0]);
	close(go[1]);
	for (i = 0; i < NPROC; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_true(got[i] <= TRIES);
		total += got[i];
	}
	munmap(got, sizeof(int) * NPROC);
	assert_int_equal(total, BURST);
	assert_true(take(m, "s", "hot", 1, BURST, 1) > 0);
	rl_close(m);
}

static double
mono_ms(void)
{
	struct timespec	 t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* On the real clock: 10 a second, a bucket of 1, refilled 0.1 s later. */
static void
real_clock_refills(void **state)
{
	char		 dir[PATH_MAX];
	struct rl_map	*m;
	double		 t0;
	long long	 r;

	(void)state;
	fake_clock = 0;
	m = open_map(dir, "real");
	t0 = mono_ms();
	assert_int_equal(take(m, "s", "k", 10, 1, 1), 0);
	r = take(m, "s", "k", 10, 1, 1);
	if (mono_ms() - t0 < 90)	/* not descheduled for a token */
		assert_int_equal(r, 1);
	usleep(120000);
	assert_int_equal(take(m, "s", "k", 10, 1, 1), 0);
	rl_close(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(open_errors_and_no_limit),
		cmocka_unit_test(burst_then_refuse),
		cmocka_unit_test(long_scope),
		cmocka_unit_test(refills_with_time),
		cmocka_unit_test(retry_after_is_the_wait),
		cmocka_unit_test(keys_and_scopes_are_separate),
		cmocka_unit_test(clock_set_back),
		cmocka_unit_test(full_set_forgets_the_stalest),
		cmocka_unit_test(shared_between_processes),
		cmocka_unit_test(concurrent_takes_are_exact),
		cmocka_unit_test(real_clock_refills),
	};
	int	 rc;

	if (sodium_init() < 0)
		return 99;
	tu_clean_env();
	tu_tmp_init("test_ratelimit");
	rc = cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
	tu_tmp_done();
	return rc;
}
