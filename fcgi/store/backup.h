/*
 * backup.h -- SQLite file operations for "tessera backup" and "tessera
 * restore" (backup.c). Paths are the database files themselves.
 */
#ifndef TESSERA_BACKUP_H
#define TESSERA_BACKUP_H

#include <stddef.h>

/* A consistent copy of the database at dbpath, made while it is in use,
 * at path to (mode 0600; an existing file is replaced only with force).
 * 0 or -1 with err set. */
int	 backup_copy(const char *dbpath, const char *to, int force,
	    int busy_ms, char *err, size_t errlen);

/* What backup_check learns of a file. */
struct backup_info {
	long long	 version;		/* its schema version */
	long long	 tokens;		/* how many tokens it has */
	char		 pepper_check[80];	/* meta pepper_check, or "" */
};

/* Checks that path is a sound Tessera database: SQLite's
 * integrity_check passes and the schema's tables are there. Changes
 * nothing. 0 (bi filled) or -1 with err set. */
int	 backup_check(const char *path, struct backup_info *bi, char *err,
	    size_t errlen);

/* 1 when some process has the database at dbpath open, 0 when none
 * has, -1 when it cannot tell. */
int	 backup_in_use(const char *dbpath);

/* Copies the database at from into place at dbpath atomically: a
 * private copy beside it, then rename over it; the old database's WAL
 * is folded in and removed first. Only when no process has dbpath
 * open. 0 or -1 with err set. */
int	 backup_install(const char *from, const char *dbpath, char *err,
	    size_t errlen);

#endif
