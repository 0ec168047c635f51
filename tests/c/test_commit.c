/*
 * test_commit.c -- group commit (fcgi/store/commit.c): commit_sync really
 * fsyncs the WAL and commit_fsyncs counts it; commits that finish while
 * a sync is running wait for the next one and share it, across
 * processes; a failed sync is reported and covers nobody; a leader
 * killed in its sync does not wedge the others.
 *
 * SQLite fsyncs its files with fdatasync(), which this binary defines
 * (calls from libsqlite3 come here first): while in_commit is set (in
 * commit_sync, see csync), a sync of a file whose name ends in "-wal" is
 * counted in memory shared with the child processes, and can be made to
 * wait for the test (a leader held in its sync), to last longer (a slow
 * disk) or to fail (EIO) before it reaches the kernel.
 *
 * A process never keeps a SQLite connection across fork(): the parent
 * closes its own before it starts children that open theirs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "tessera.h"
#include "testutil.h"

/* ------------------------------------------------------ the fsync hook */

/* Shared with every child (an anonymous shared mapping made in main). */
struct counts {
	int	 wal_syncs;	/* fdatasync/fsync calls on a -wal file, in
				 * commit_sync, by any process */
};
static struct counts	*sh;

/* Per process. */
static int	 in_commit;		/* inside commit_sync (csync) */
static int	 hold_sig = -1;		/* the next sync writes 's' here... */
static int	 hold_go = -1;		/* ...and waits for a byte or EOF
					 * (10 s at most) */
static int	 fail_sync;		/* syncs fail with EIO */
static int	 delay_us;		/* syncs take this much longer */

static int
is_wal(int fd)
{
	char	 link[64], path[PATH_MAX];
	ssize_t	 n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) < 4)
		return 0;
	path[n] = '\0';
	return strcmp(path + n - 4, "-wal") == 0;
}

/* 1 when the sync is to fail. */
static int
hook(int fd)
{
	char	 c;

	if (!in_commit || !is_wal(fd))
		return 0;
	__atomic_add_fetch(&sh->wal_syncs, 1, __ATOMIC_SEQ_CST);
	if (hold_go >= 0) {
		struct pollfd	 p = { .fd = hold_go, .events = POLLIN };

		(void)write(hold_sig, "s", 1);
		if (poll(&p, 1, 10000) == 1)
			(void)read(hold_go, &c, 1);
		hold_go = -1;
	}
	if (delay_us)
		usleep((useconds_t)delay_us);
	return fail_sync;
}

int
fdatasync(int fd)
{
	if (hook(fd)) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

int
fsync(int fd)
{
	if (hook(fd)) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

static int
csync(struct group_commit *g, struct db *db)
{
	int	 rc;

	in_commit = 1;
	rc = commit_sync(g, db);
	in_commit = 0;
	return rc;
}

static int
wal_syncs(void)
{
	return __atomic_load_n(&sh->wal_syncs, __ATOMIC_SEQ_CST);
}

/* --------------------------------------------------------------- helpers */

/* The repository's schema/ directory (absolute). */
static char	 repo_schema[PATH_MAX];

/* Opens the database of cfg; SQLite's own checkpoints (which sync the
 * WAL too) are left out. 0 or -1. */
static int
open_db(struct db *db, const struct config *cfg, int create)
{
	char	 err[512] = "";

	if (db_open(db, cfg, create, err, sizeof(err)) != 0) {
		fprintf(stderr, "db_open: %s\n", err);
		return -1;
	}
	if (db_exec_sql(db, "PRAGMA wal_autocheckpoint = 0", err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "autocheckpoint: %s\n", err);
		db_close(db);
		return -1;
	}
	return 0;
}

/* A fresh data directory tu_dir/name (its path in dir) with a database
 * holding table c, whose config is in *cfg; the database is left open in
 * *db when db is not NULL. */
static void
setup(struct config *cfg, char *dir, const char *name, struct db *db)
{
	struct db	 own;
	char		 err[512] = "";

	tu_path(dir, name);
	assert_int_equal(mkdir(dir, 0700), 0);
	tu_clean_env();
	if (cfg_load(cfg, NULL, dir, err, sizeof(err)) == -1 ||
	    cfg_set(cfg, "schema_dir", repo_schema, err, sizeof(err)) == -1 ||
	    cfg_set(cfg, "busy_timeout_ms", "3000", err, sizeof(err)) == -1)
		fail_msg("config: %s", err);
	if (db == NULL)
		db = &own;
	assert_int_equal(open_db(db, cfg, 1), 0);
	assert_int_equal(db_exec_sql(db, "CREATE TABLE c (who INTEGER NOT NULL,"
	    " n INTEGER NOT NULL, UNIQUE (who, n))", err, sizeof(err)), 0);
	if (db == &own)
		db_close(db);
}

/* One committed row (autocommit: synchronous = NORMAL leaves it unsynced). */
static int
insert(struct db *db, int who, int n)
{
	char	 sql[128];

	snprintf(sql, sizeof(sql), "INSERT INTO c (who, n) VALUES (%d, %d)",
	    who, n);
	return sqlite3_exec(db->h, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* SELECT count(*) FROM c WHERE <where>, or -1. */
static long long
count_rows(struct db *db, const char *where)
{
	char		 sql[256];
	sqlite3_stmt	*st;
	long long	 n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM c WHERE %s", where);
	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static struct group_commit *
open_gc(const char *dir)
{
	struct group_commit	*g;
	char			 err[512] = "";

	if ((g = commit_open(dir, err, sizeof(err))) == NULL)
		fail_msg("commit_open %s: %s", dir, err);
	return g;
}

/* In a child: dies with the parent (a failed test leaves none behind). */
static void
child_init(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(99);
}

/* The pipes of a test: children write to sig[1], wait on go[0]. */
static int	 sig[2] = { -1, -1 }, go[2] = { -1, -1 };

/* Closes the test's pipes (also those a failed test left open). */
static void
pipes_close(void)
{
	int	*fds[] = { &sig[0], &sig[1], &go[0], &go[1] };
	size_t	 i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static void
pipes_open(void)
{
	pipes_close();
	assert_int_equal(pipe(sig), 0);
	assert_int_equal(pipe(go), 0);
}

/*
 * A child that commits one row (who, 0) with its own connection and
 * commit map, then commit_sync: with hold, its sync writes 's' to sig and
 * waits for go; else it writes 'w' to sig just before commit_sync. Exits
 * 0 (synced), 20 (commit_sync failed) or 10-12 (no db, map or row).
 */
static pid_t
committer(const struct config *cfg, int who, int hold, int fail)
{
	struct group_commit	*g;
	struct db		 db;
	char			 err[512];
	pid_t			 pid;

	if ((pid = fork()) != 0) {
		assert_true(pid > 0);
		return pid;
	}
	child_init();
	close(sig[0]);
	close(go[1]);
	if (open_db(&db, cfg, 0) != 0)
		_exit(10);
	if ((g = commit_open(cfg->data_dir, err, sizeof(err))) == NULL)
		_exit(11);
	if (insert(&db, who, 0) != 0)
		_exit(12);
	if (hold) {
		hold_sig = sig[1];
		hold_go = go[0];
	} else
		(void)write(sig[1], "w", 1);
	fail_sync = fail;
	_exit(csync(g, &db) == 0 ? 0 : 20);
}

/* The exit status of pid (-1: killed). */
static int
status_of(pid_t pid)
{
	int	 st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
read_n(int fd, int n, char want)
{
	char	 c;

	while (n-- > 0) {
		assert_int_equal(read(fd, &c, 1), 1);
		assert_int_equal(c, want);
	}
}

static double
ms_now(void)
{
	struct timespec	 t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ tests */

/* commit_open maps DATA/commit.map 0600 (or says why not); without a
 * map commit_sync fsyncs the WAL alone, and there is nothing to count. */
static void
open_and_plain_sync(void **state)
{
	struct config		 cfg;
	struct db		 db;
	struct group_commit	*g;
	char			 dir[PATH_MAX], p[PATH_MAX + 32], err[512] = "";
	struct stat		 st;
	int			 w0;

	(void)state;
	setup(&cfg, dir, "plain", &db);
	g = open_gc(dir);
	snprintf(p, sizeof(p), "%s/commit.map", dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	commit_close(g);
	snprintf(p, sizeof(p), "%s/missing", dir);
	assert_null(commit_open(p, err, sizeof(err)));
	assert_non_null(strstr(err, "missing/commit.map"));

	assert_int_equal(commit_fsyncs(NULL), 0);
	assert_int_equal(insert(&db, 1, 1), 0);
	w0 = wal_syncs();
	assert_int_equal(csync(NULL, &db), 0);
	assert_int_equal(wal_syncs(), w0 + 1);
	db_close(&db);
	cfg_free(&cfg);
}

/* One process: every commit_sync after a commit fsyncs the WAL once and
 * counts it; the count lives in the data directory's map, the same
 * through another handle and after commit_close. */
static void
sync_is_real_and_counted(void **state)
{
	struct config		 cfg;
	struct db		 db;
	struct group_commit	*g, *g2;
	char			 dir[PATH_MAX];
	uint64_t		 f0;
	int			 w0, i;

	(void)state;
	setup(&cfg, dir, "counted", &db);
	g = open_gc(dir);
	g2 = open_gc(dir);
	f0 = commit_fsyncs(g);
	w0 = wal_syncs();
	for (i = 0; i < 5; i++) {
		assert_int_equal(insert(&db, 1, i), 0);
		assert_int_equal(csync(g, &db), 0);
		assert_int_equal(wal_syncs(), w0 + i + 1);
		assert_int_equal(commit_fsyncs(g), f0 + (uint64_t)i + 1);
	}
	assert_int_equal(commit_fsyncs(g2), f0 + 5);
	assert_int_equal(insert(&db, 2, 0), 0);
	assert_int_equal(csync(g2, &db), 0);
	assert_int_equal(commit_fsyncs(g), f0 + 6);
	assert_int_equal(wal_syncs(), w0 + 6);
	commit_close(g2);
	commit_close(g);
	g = open_gc(dir);
	assert_int_equal(commit_fsyncs(g), f0 + 6);
	commit_close(g);
	assert_int_equal(count_rows(&db, "1"), 6);
	db_close(&db);
	cfg_free(&cfg);
}

/*
 * Three processes: X's sync is held while B and C commit. B and C wait
 * (neither returns before a sync that covers it), then one sync serves
 * both: three commits, two fsyncs.
 */
static void
waiters_share_the_next_sync(void **state)
{
	struct config		 cfg;
	struct db		 db;
	struct group_commit	*g;
	char			 dir[PATH_MAX];
	int			 w0, st;
	uint64_t		 f0;
	pid_t			 x, b, c;

	(void)state;
	setup(&cfg, dir, "share", NULL);
	g = open_gc(dir);
	f0 = commit_fsyncs(g);
	w0 = wal_syncs();
	pipes_open();
	x = committer(&cfg, 1, 1, 0);
	read_n(sig[0], 1, 's');			/* X is in its sync */
	b = committer(&cfg, 2, 0, 0);
	c = committer(&cfg, 3, 0, 0);
	read_n(sig[0], 2, 'w');
	usleep(200000);
	assert_int_equal(waitpid(b, &st, WNOHANG), 0);	/* still waiting */
	assert_int_equal(waitpid(c, &st, WNOHANG), 0);
	assert_int_equal(wal_syncs(), w0 + 1);
	assert_int_equal(commit_fsyncs(g), f0);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(status_of(x), 0);
	assert_int_equal(status_of(b), 0);
	assert_int_equal(status_of(c), 0);
	assert_int_equal(commit_fsyncs(g), f0 + 2);
	assert_int_equal(wal_syncs(), w0 + 2);
	pipes_close();
	assert_int_equal(open_db(&db, &cfg, 0), 0);
	assert_int_equal(count_rows(&db, "who IN (1, 2, 3) AND n = 0"), 3);
	db_close(&db);
	commit_close(g);
	cfg_free(&cfg);
}

/*
 * NPROC processes commit NCOMMIT rows each as fast as they can, on a disk
 * whose sync takes 2 ms: every commit_sync succeeds, fewer fsyncs than
 * commits are done, each one counted is a real fsync of the WAL, and
 * every row is there.
 */
static void
many_processes_share_syncs(void **state)
{
	enum { NPROC = 8, NCOMMIT = 25 };
	struct config		 cfg;
	struct db		 db;
	struct group_commit	*g;
	char			 dir[PATH_MAX], who[64];
	int			 w0, i;
	uint64_t		 f0, fs;
	pid_t			 pid[NPROC];

	(void)state;
	setup(&cfg, dir, "many", NULL);
	g = open_gc(dir);
	f0 = commit_fsyncs(g);
	w0 = wal_syncs();
	pipes_open();
	for (i = 0; i < NPROC; i++) {
		if ((pid[i] = fork()) == 0) {
			struct group_commit	*cg;
			struct db		 cdb;
			char			 err[512], c;
			int			 j;

			child_init();
			close(sig[0]);
			close(go[1]);
			if (open_db(&cdb, &cfg, 0) != 0)
				_exit(10);
			if ((cg = commit_open(dir, err, sizeof(err))) == NULL)
				_exit(11);
			(void)write(sig[1], "r", 1);
			(void)read(go[0], &c, 1);	/* EOF: go */
			delay_us = 2000;
			for (j = 0; j < NCOMMIT; j++) {
				if (insert(&cdb, i, j) != 0)
					_exit(12);
				if (csync(cg, &cdb) != 0)
					_exit(20);
			}
			_exit(0);
		}
		assert_true(pid[i] > 0);
	}
	read_n(sig[0], NPROC, 'r');
	close(go[1]);				/* go */
	go[1] = -1;
	for (i = 0; i < NPROC; i++)
		assert_int_equal(status_of(pid[i]), 0);
	fs = commit_fsyncs(g) - f0;
	print_message("%d commits, %llu fsyncs\n", NPROC * NCOMMIT,
	    (unsigned long long)fs);
	assert_true(fs >= 1);
	assert_true(fs < (uint64_t)(NPROC * NCOMMIT));
	assert_int_equal(wal_syncs() - w0, fs);
	pipes_close();
	assert_int_equal(open_db(&db, &cfg, 0), 0);
	assert_int_equal(count_rows(&db, "1"), NPROC * NCOMMIT);
	for (i = 0; i < NPROC; i++) {
		snprintf(who, sizeof(who), "who = %d AND n BETWEEN 0 AND %d", i,
		    NCOMMIT - 1);
		assert_int_equal(count_rows(&db, who), NCOMMIT);
	}
	db_close(&db);
	commit_close(g);
	cfg_free(&cfg);
}

/* A sync that fails is -1 and is not counted, with or without the map,
 * and the next commit syncs again; so is a database with no WAL to sync
 * (rollback-journal mode). */
static void
failed_sync_is_reported(void **state)
{
	struct config		 cfg;
	struct db		 db, plain;
	struct group_commit	*g;
	char			 dir[PATH_MAX], p[PATH_MAX + 32];
	uint64_t		 f0;
	int			 w0;

	(void)state;
	setup(&cfg, dir, "fail", &db);
	g = open_gc(dir);
	f0 = commit_fsyncs(g);
	w0 = wal_syncs();
	assert_int_equal(insert(&db, 1, 1), 0);
	fail_sync = 1;
	assert_int_equal(csync(g, &db), -1);
	assert_int_equal(csync(NULL, &db), -1);
	fail_sync = 0;
	assert_int_equal(wal_syncs(), w0 + 2);		/* tried */
	assert_int_equal(commit_fsyncs(g), f0);		/* not counted */
	assert_int_equal(csync(g, &db), 0);
	assert_int_equal(wal_syncs(), w0 + 3);
	assert_int_equal(commit_fsyncs(g), f0 + 1);

	/* journal_mode = DELETE: no WAL, nothing open to sync. */
	memset(&plain, 0, sizeof(plain));
	plain.busy_timeout_ms = 1000;
	snprintf(p, sizeof(p), "%s/plain.db", dir);
	assert_int_equal(sqlite3_open(p, &plain.h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(plain.h, "PRAGMA journal_mode = DELETE;"
	    " CREATE TABLE t (x); INSERT INTO t VALUES (1)", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(csync(NULL, &plain), -1);
	assert_int_equal(csync(g, &plain), -1);
	assert_int_equal(commit_fsyncs(g), f0 + 1);
	sqlite3_close(plain.h);

	assert_int_equal(insert(&db, 1, 2), 0);
	assert_int_equal(csync(g, &db), 0);
	assert_int_equal(commit_fsyncs(g), f0 + 2);
	db_close(&db);
	commit_close(g);
	cfg_free(&cfg);
}

/*
 * A sync that fails covers nobody: X's sync is held while F (whose sync
 * fails) and then B commit and wait. If F leads, its sync was meant for
 * B too, fails, and B must sync itself; if B leads, F is covered by B's
 * sync and never syncs. Either way every commit ends up under a counted
 * fsync, and there are two of them (X's and B's).
 */
static void
failed_sync_covers_nobody(void **state)
{
	struct config		 cfg;
	struct db		 db;
	struct group_commit	*g;
	char			 dir[PATH_MAX];
	int			 w0, sf;
	uint64_t		 f0;
	pid_t			 x, f, b;

	(void)state;
	setup(&cfg, dir, "fail-share", NULL);
	g = open_gc(dir);
	f0 = commit_fsyncs(g);
	w0 = wal_syncs();
	pipes_open();
	x = committer(&cfg, 1, 1, 0);
	read_n(sig[0], 1, 's');
	f = committer(&cfg, 2, 0, 1);
	read_n(sig[0], 1, 'w');
	usleep(100000);				/* F waits first */
	b = committer(&cfg, 3, 0, 0);
	read_n(sig[0], 1, 'w');
	usleep(100000);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(status_of(x), 0);
	sf = status_of(f);
	assert_int_equal(status_of(b), 0);
	assert_int_equal(commit_fsyncs(g), f0 + 2);
	if (sf == 20)		/* F led and failed: X, F, then B */
		assert_int_equal(wal_syncs(), w0 + 3);
	else {			/* B led, F was covered */
		assert_int_equal(sf, 0);
		assert_int_equal(wal_syncs(), w0 + 2);
	}
	print_message("%s led after X\n", sf == 20 ? "F (failing)" : "B");
	pipes_close();
	assert_int_equal(open_db(&db, &cfg, 0), 0);
	assert_int_equal(count_rows(&db, "n = 0"), 3);
	db_close(&db);
	commit_close(g);
	cfg_free(&cfg);
}

/* A leader killed in its sync (holding the lock) does not wedge the
 * others: the next commit_sync takes the lock over at once and syncs
 * (a counted fsync, not the lone one after the busy timeout of 3 s). */
static void
dead_leader_is_taken_over(void **state)
{
	struct config		 cfg;
	struct db		 db;
	struct group_commit	*g;
	char			 dir[PATH_MAX];
	int			 w0;
	uint64_t		 f0;
	double			 t0, took;
	pid_t			 x;

	(void)state;
	setup(&cfg, dir, "dead", NULL);
	g = open_gc(dir);
	f0 = commit_fsyncs(g);
	w0 = wal_syncs();
	pipes_open();
	x = committer(&cfg, 1, 1, 0);
	read_n(sig[0], 1, 's');
	assert_int_equal(kill(x, SIGKILL), 0);
	assert_int_equal(status_of(x), -1);
	assert_int_equal(commit_fsyncs(g), f0);

	assert_int_equal(open_db(&db, &cfg, 0), 0);
	assert_int_equal(insert(&db, 2, 0), 0);
	t0 = ms_now();
	assert_int_equal(csync(g, &db), 0);
	took = ms_now() - t0;
	if (took >= 1500)
		fail_msg("commit_sync took %.0f ms", took);
	assert_int_equal(commit_fsyncs(g), f0 + 1);
	assert_int_equal(wal_syncs(), w0 + 2);
	/* X's row was committed before it died; the sync covered it. */
	assert_int_equal(count_rows(&db, "n = 0"), 2);
	pipes_close();
	db_close(&db);
	commit_close(g);
	cfg_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(open_and_plain_sync),
		cmocka_unit_test(sync_is_real_and_counted),
		cmocka_unit_test(waiters_share_the_next_sync),
		cmocka_unit_test(many_processes_share_syncs),
		cmocka_unit_test(failed_sync_is_reported),
		cmocka_unit_test(failed_sync_covers_nobody),
		cmocka_unit_test(dead_leader_is_taken_over),
	};
	int	 rc;

	if (sodium_init() < 0)
		return 99;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 99;
	tu_clean_env();
	tu_repo_schema(repo_schema);
	tu_tmp_init("test_commit");
	rc = cmocka_run_group_tests_name("commit", tests, NULL, NULL);
	tu_tmp_done();
	return rc;
}
