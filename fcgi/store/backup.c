/*
 * backup.c -- the SQLite file operations of "tessera backup" and
 * "tessera restore" (fcgi/process/cli_backup.c): a consistent online copy,
 * the check that a file is a sound Tessera database, whether any process
 * has the live database open, and the atomic swap of a copy into place.
 * SQLite only: a PostgreSQL store is backed up with pg_dump.
 *
 * The copy is VACUUM INTO from a read transaction: in WAL mode it sees
 * one committed state and blocks no writer, so the service goes on
 * serving while it runs. It is written to a private temporary file (mode
 * 0600) beside the target, synced, and only then linked or renamed to its
 * name, so a half-written backup never has the name.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/backup.h"

/* fsync of a file or a directory by path; 0 or -1. */
static int
sync_path(const char *path, int dir)
{
	int	 fd, rc;

	if ((fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) |
	    O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* The directory part of path into out ("." when none). */
static void
dir_of(const char *path, char *out, size_t outlen)
{
	const char	*slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(out, outlen, ".");
	else if (slash == path)
		snprintf(out, outlen, "/");
	else
		snprintf(out, outlen, "%.*s", (int)(slash - path), path);
}

/* A new empty file, mode 0600, named like "DIR/.NAME.XXXXXX" beside
 * path; its name in tmp. 0 or -1 (err set). */
static int
temp_beside(const char *path, char *tmp, size_t tmplen, char *err,
    size_t errlen)
{
	char		 dir[PATH_MAX];
	const char	*base = strrchr(path, '/');
	int		 fd;

	dir_of(path, dir, sizeof(dir));
	base = base ? base + 1 : path;
	if ((size_t)snprintf(tmp, tmplen, "%s/.%s.XXXXXX", dir, base) >=
	    tmplen) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0600) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	return 0;
}

/* 1 when to names the database at dbpath, or its -wal or -shm, by its
 * path or another (a symbolic link to the directory, ".."): --force would
 * rename a copy over the live file, and the service's WAL would then be
 * replayed onto pages it does not describe. A symbolic link named to is
 * not followed: rename replaces the link. */
static int
same_file(const char *dbpath, const char *to)
{
	static const char *const side[] = { "", "-wal", "-shm" };
	char		 p[PATH_MAX + 8];
	struct stat	 a, b;
	size_t		 i;

	if (lstat(to, &b) == -1)
		return 0;
	for (i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", dbpath, side[i]);
		if (stat(p, &a) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino)
			return 1;
	}
	return 0;
}

static int
exec1(sqlite3 *h, const char *sql, char *err, size_t errlen)
{
	char	*msg = NULL;

	if (sqlite3_exec(h, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(h));
	sqlite3_free(msg);
	return -1;
}

int
backup_copy(const char *dbpath, const char *to, int force, int busy_ms,
    char *err, size_t errlen)
{
	sqlite3		*h = NULL;
	sqlite3_stmt	*st = NULL;
	char		 tmp[PATH_MAX], dir[PATH_MAX];
	int		 rc = -1;

	if (access(dbpath, R_OK) == -1) {
		snprintf(err, errlen, "%s: %s", dbpath, strerror(errno));
		return -1;
	}
	if (!force && access(to, F_OK) == 0) {
		snprintf(err, errlen, "%s exists; --force replaces it", to);
		return -1;
	}
	if (same_file(dbpath, to)) {
		snprintf(err, errlen, "%s is the live database or its WAL: "
		    "back up to another file", to);
		return -1;
	}
	if (temp_beside(to, tmp, sizeof(tmp), err, errlen) == -1)
		return -1;
	/* Read-write, though it writes nothing: a read-only connection
	 * cannot recover the WAL index should it need rebuilding. */
	if (sqlite3_open_v2(dbpath, &h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", dbpath,
		    h ? sqlite3_errmsg(h) : "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(h, busy_ms);
	if (exec1(h, "PRAGMA trusted_schema = OFF", err, errlen) == -1)
		goto out;
	if (sqlite3_prepare_v2(h, "VACUUM INTO ?1", -1, &st, NULL) !=
	    SQLITE_OK || sqlite3_bind_text(st, 1, tmp, -1, SQLITE_STATIC) !=
	    SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
		snprintf(err, errlen, "copying %s: %s", dbpath,
		    sqlite3_errmsg(h));
		goto out;
	}
	if (sync_path(tmp, 0) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	/* link() never replaces: a file made at "to" meanwhile stays. */
	if (force ? rename(tmp, to) == -1 : link(tmp, to) == -1) {
		snprintf(err, errlen, "%s: %s%s", to, strerror(errno),
		    errno == EEXIST ? "; --force replaces it" : "");
		goto out;
	}
	dir_of(to, dir, sizeof(dir));
	sync_path(dir, 1);
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(h);
	unlink(tmp);	/* after link(), the copy's second name */
	return rc;
}

/* The first column of the first row of sql as text into out (""
 * when there is none); 0 or -1. */
static int
text1(sqlite3 *h, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt		*st;
	const unsigned char	*v;
	int			 rc;

	out[0] = '\0';
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && (v = sqlite3_column_text(st, 0)) != NULL)
		snprintf(out, outlen, "%s", (const char *)v);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* The URI "file:PATH?QUERY" with the characters a URI filename gives a
 * meaning (?, #, %) percent-encoded, so any file name opens as itself.
 * -1 when it does not fit in out. */
static int
file_uri(const char *path, const char *query, char *out, size_t outlen)
{
	size_t	 o = 5, q = strlen(query);

	if (outlen < o + q + 2)
		return -1;
	memcpy(out, "file:", o);
	for (; *path != '\0'; path++) {
		if (o + 3 + 1 + q + 1 > outlen)
			return -1;
		if (*path == '?' || *path == '#' || *path == '%') {
			snprintf(out + o, 4, "%%%02X", (unsigned char)*path);
			o += 3;
		} else
			out[o++] = *path;
	}
	out[o++] = '?';
	memcpy(out + o, query, q + 1);
	return 0;
}

int
backup_check(const char *path, struct backup_info *bi, char *err,
    size_t errlen)
{
	sqlite3		*h = NULL;
	char		 v[256], uri[3 * PATH_MAX + 32];
	struct stat	 st;
	int		 rc = -1;

	memset(bi, 0, sizeof(*bi));
	errno = 0;
	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s", path, errno ? strerror(errno) :
		    "not a file");
		return -1;
	}
	/* Read-only and immutable: the check changes nothing, not even a
	 * WAL beside the file. */
	if (file_uri(path, "mode=ro&immutable=1", uri, sizeof(uri)) == -1) {
		snprintf(err, errlen, "%s: name too long", path);
		return -1;
	}
	if (sqlite3_open_v2(uri, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
		    h ? sqlite3_errmsg(h) : "cannot open");
		goto out;
	}
	if (exec1(h, "PRAGMA trusted_schema = OFF", err, errlen) == -1)
		goto out;
	if (text1(h, "PRAGMA integrity_check(1)", v, sizeof(v)) == -1) {
		snprintf(err, errlen, "%s: not an SQLite database (%s)", path,
		    sqlite3_errmsg(h));
		goto out;
	}
	if (strcmp(v, "ok") != 0) {
		snprintf(err, errlen, "%s: integrity_check failed: %s", path, v);
		goto out;
	}
	if (text1(h, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
	    "AND name IN ('schema_migrations', 'meta', 'accounts', 'users', "
	    "'tokens')", v, sizeof(v)) == -1 || strcmp(v, "5") != 0 ||
	    text1(h, "SELECT coalesce(max(version), 0) FROM "
	    "schema_migrations", v, sizeof(v)) == -1) {
		snprintf(err, errlen, "%s: not a Tessera database (no "
		    "schema_migrations, meta, accounts, users and tokens)", path);
		goto out;
	}
	bi->version = strtoll(v, NULL, 10);
	if (text1(h, "SELECT value FROM meta WHERE key = 'pepper_check'",
	    bi->pepper_check, sizeof(bi->pepper_check)) == -1 ||
	    text1(h, "SELECT count(*) FROM tokens", v, sizeof(v)) == -1) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(h));
		goto out;
	}
	bi->tokens = strtoll(v, NULL, 10);
	rc = 0;
out:
	sqlite3_close(h);
	return rc;
}

/*
 * Whether a process has the database open. Every SQLite connection to a
 * WAL database holds a shared lock on one byte of its "-shm" file (the
 * "DMS" byte, offset 128 in SQLite's unix VFS) for as long as it is open,
 * idle or not; F_GETLK asks whether a write lock there would conflict
 * without taking one. 1 open, 0 not, -1 cannot tell.
 */
int
backup_in_use(const char *dbpath)
{
	char		 shm[PATH_MAX + 8];
	struct flock	 fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = 128, .l_len = 1 };
	int		 fd, rc;

	snprintf(shm, sizeof(shm), "%s-shm", dbpath);
	if ((fd = open(shm, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	rc = fcntl(fd, F_GETLK, &fl);
	close(fd);
	if (rc == -1)
		return -1;
	return fl.l_type != F_UNLCK;
}

int
backup_install(const char *from, const char *dbpath, char *err,
    size_t errlen)
{
	sqlite3		*h = NULL, *live = NULL;
	sqlite3_backup	*b = NULL;
	char		 tmp[PATH_MAX], side[PATH_MAX + 8], dir[PATH_MAX];
	char		 uri[3 * PATH_MAX + 32];
	struct stat	 st;
	int		 rc = -1;

	if (temp_beside(dbpath, tmp, sizeof(tmp), err, errlen) == -1)
		return -1;
	/* Run as root, the copy gets the owner of the database it replaces
	 * (else of the data directory): the service must write it. */
	dir_of(dbpath, dir, sizeof(dir));
	if (geteuid() == 0 && (stat(dbpath, &st) == 0 || stat(dir, &st) == 0) &&
	    chown(tmp, st.st_uid, st.st_gid) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (file_uri(from, "mode=ro&immutable=1", uri, sizeof(uri)) == -1) {
		snprintf(err, errlen, "%s: name too long", from);
		unlink(tmp);
		return -1;
	}
	/* The copy, page by page, into the private file beside the live
	 * one, in WAL mode as the service keeps it. */
	if (sqlite3_open_v2(uri, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_open_v2(tmp, &live, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", h == NULL || live == NULL ?
		    "out of memory" : sqlite3_errmsg(live ? live : h));
		goto out;
	}
	if ((b = sqlite3_backup_init(live, "main", h, "main")) == NULL ||
	    sqlite3_backup_step(b, -1) != SQLITE_DONE) {
		snprintf(err, errlen, "copying %s: %s", from,
		    sqlite3_errmsg(live));
		goto out;
	}
	sqlite3_backup_finish(b);
	b = NULL;
	if (exec1(live, "PRAGMA journal_mode = WAL", err, errlen) == -1)
		goto out;
	sqlite3_close(live);
	live = NULL;
	if (sync_path(tmp, 0) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	/* The live database's WAL belongs to it: fold it in (the last
	 * connection to close removes it), so none is left for SQLite to
	 * replay onto the restored file. */
	if (access(dbpath, F_OK) == 0) {
		if (sqlite3_open_v2(dbpath, &live, SQLITE_OPEN_READWRITE |
		    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
		    exec1(live, "PRAGMA wal_checkpoint(TRUNCATE)", err,
		    errlen) == -1) {
			if (live && err[0] == '\0')
				snprintf(err, errlen, "%s", sqlite3_errmsg(live));
			goto out;
		}
		sqlite3_close(live);
		live = NULL;
	}
	snprintf(side, sizeof(side), "%s-wal", dbpath);
	if (unlink(side) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", side, strerror(errno));
		goto out;
	}
	snprintf(side, sizeof(side), "%s-shm", dbpath);
	if (unlink(side) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", side, strerror(errno));
		goto out;
	}
	if (rename(tmp, dbpath) == -1) {
		snprintf(err, errlen, "%s: %s", dbpath, strerror(errno));
		goto out;
	}
	sync_path(dir, 1);
	rc = 0;
out:
	if (b != NULL)
		sqlite3_backup_finish(b);
	sqlite3_close(live);
	sqlite3_close(h);
	if (rc == -1)
		unlink(tmp);
	return rc;
}
