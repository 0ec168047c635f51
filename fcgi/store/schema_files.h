/*
 * schema_files.h -- the files of the schema directory, for the store's
 * engines: numbered migrations listed in order, named-query files listed,
 * a whole file read. It knows nothing of either engine.
 */
#ifndef TESSERA_SCHEMA_FILES_H
#define TESSERA_SCHEMA_FILES_H

#include <stddef.h>

/* The migration files of dir ("NNN_name.sql"), sorted by name, and
 * their count; 0 when dir does not exist, -1 with errno set when it
 * cannot be read. Free the list with schema_free_list. */
int	 schema_list_migrations(const char *dir, char ***files);
/* The query files of dir ("name.sql", not hidden), likewise. */
int	 schema_list_queries(const char *dir, char ***files);
void	 schema_free_list(char **, int);
/* A migration file's number NNN, or -1 when name is no migration. */
int	 schema_migration_version(const char *name);
/* The whole file at path as a NUL-terminated string the caller frees;
 * NULL with err set. */
char	*schema_read_file(const char *path, char *err, size_t errlen);

#endif
