/*
 * cli_backup.c -- "tessera backup --to FILE [--force]" and "tessera
 * restore --from FILE": the SQLite database copied out while the service
 * serves, and copied back in while it is stopped (store/backup.c does
 * the file work). A PostgreSQL store is backed up with pg_dump.
 *
 * The backup is the database alone. The pepper (DATA/pepper.key) is not
 * in it: it never changes, so it is kept apart once, and a restore
 * checks that the data directory has the pepper the backup's tokens were
 * made with (the database's pepper fingerprint) before it replaces
 * anything: without it no token and no session would authenticate.
 */
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain/domain.h"
#include "lib/lib.h"
#include "process.h"
#include "store/backup.h"
#include "store/schema_files.h"
#include "store/store.h"

/* 1 when the store is PostgreSQL (said on stderr, with what to use). */
static int
remote(const struct config *cfg, const char *cmd)
{
	if (strcmp(cfg->database, "sqlite") == 0)
		return 0;
	fprintf(stderr, "tessera %s: the store is PostgreSQL: use %s (e.g. "
	    "%s), and keep DATA/%s apart\n", cmd,
	    strcmp(cmd, "backup") == 0 ? "pg_dump" : "pg_restore",
	    strcmp(cmd, "backup") == 0 ? "pg_dump -Fc -f FILE DATABASE" :
	    "pg_restore --clean -d DATABASE FILE", PEPPER_FILE);
	return 1;
}

/* The highest migration number in the schema directory, or -1. */
static long long
known_version(const struct config *cfg)
{
	char		**files;
	int		 n, i, v;
	long long	 max = -1;

	if ((n = schema_list_migrations(cfg->schema_dir, &files)) <= 0)
		return -1;
	for (i = 0; i < n; i++)
		if ((v = schema_migration_version(files[i])) > max)
			max = v;
	schema_free_list(files, n);
	return max;
}

int
cli_backup(struct config *cfg, const char *to, int force)
{
	struct backup_info	 bi;
	char			 db[PATH_MAX], err[1024];

	umask(077);
	if (remote(cfg, "backup"))
		return 1;
	if (to == NULL || *to == '\0') {
		fprintf(stderr, "tessera backup: --to FILE is required\n");
		return 2;
	}
	snprintf(db, sizeof(db), "%s/%s", cfg->data_dir, DB_FILE);
	if (backup_copy(db, to, force, (int)cfg->busy_timeout_ms, err,
	    sizeof(err)) == -1 ||
	    backup_check(to, &bi, err, sizeof(err)) == -1) {
		fprintf(stderr, "tessera backup: %s\n", err);
		return 1;
	}
	printf("backed up %s to %s (schema version %lld, %lld tokens)\n"
	    "%s/%s is not in it: keep a copy of that file apart (mode 0600)\n",
	    db, to, bi.version, bi.tokens, cfg->data_dir, PEPPER_FILE);
	return 0;
}

int
cli_restore(struct config *cfg, const char *from)
{
	struct backup_info	 bi;
	struct db		 d;
	unsigned char		 pepper[PEPPER_LEN];
	char			 db[PATH_MAX], err[1024], mine[65];
	long long		 known;
	int			 used;

	umask(077);
	if (remote(cfg, "restore"))
		return 1;
	if (from == NULL || *from == '\0') {
		fprintf(stderr, "tessera restore: --from FILE is required\n");
		return 2;
	}
	if (backup_check(from, &bi, err, sizeof(err)) == -1) {
		fprintf(stderr, "tessera restore: %s\n", err);
		return 1;
	}
	if ((known = known_version(cfg)) < 0 || bi.version > known) {
		fprintf(stderr, "tessera restore: %s has schema version %lld, "
		    "newer than this tessera's %lld (%s): restore it with the "
		    "version that made it\n", from, bi.version, known,
		    cfg->schema_dir);
		return 1;
	}
	if (data_pepper(cfg, pepper, err, sizeof(err)) == -1) {
		fprintf(stderr, "tessera restore: %s\ncopy the %s of the "
		    "service the backup was made from into %s first (mode "
		    "0600)\n", err, PEPPER_FILE, cfg->data_dir);
		return 1;
	}
	data_pepper_fingerprint(pepper, mine);
	sodium_memzero(pepper, sizeof(pepper));
	if (bi.pepper_check[0] != '\0' && strcmp(bi.pepper_check, mine) != 0) {
		fprintf(stderr, "tessera restore: %s/%s is not the pepper the "
		    "backup's tokens were made with: copy the %s of the "
		    "service the backup was made from; nothing was changed\n",
		    cfg->data_dir, PEPPER_FILE, PEPPER_FILE);
		return 1;
	}
	snprintf(db, sizeof(db), "%s/%s", cfg->data_dir, DB_FILE);
	if ((used = backup_in_use(db)) != 0) {
		fprintf(stderr, "tessera restore: %s\n", used == 1 ?
		    "the database is open in another process (the service, "
		    "its runner, or a command): stop them first (systemctl "
		    "stop tessera tessera-runner); nothing was changed" :
		    "cannot tell whether the database is in use; nothing was "
		    "changed");
		return 1;
	}
	if (backup_install(from, db, err, sizeof(err)) == -1) {
		fprintf(stderr, "tessera restore: %s\n", err);
		return 1;
	}
	/* Opening it applies the migrations a backup of an older version
	 * lacks. */
	if (db_open(&d, cfg, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "tessera restore: restored, but: %s\n", err);
		return 1;
	}
	db_close(&d);
	printf("restored %s into %s (schema version %lld, %lld tokens)\n",
	    from, db, bi.version, bi.tokens);
	return 0;
}
