/*
 * sqlbox.h -- a private, in-memory SQLite database in which a model's
 * SQL (text an account's user wrote) runs over copies of that account's
 * own Via tables, and nothing else.
 *
 * The host makes the tables and fills them; the user's text then runs
 * under an authorizer that lets through one read-only SELECT over those
 * tables and a list of pure functions: no schema tables (sqlite_master),
 * no ATTACH, no PRAGMA, no writes, no extension loading. A step budget
 * (the progress handler), a length limit and a page limit bound what it
 * may cost. Another account's tables are not in the database at all.
 */
#ifndef TESSERA_SQLBOX_H
#define TESSERA_SQLBOX_H

#include <stddef.h>

struct sqlbox;

enum sqlbox_type { SQLBOX_NULL, SQLBOX_INT, SQLBOX_REAL, SQLBOX_TEXT };

struct sqlbox_value {
	enum sqlbox_type type;
	long long	 i;
	double		 d;
	const char	*s;	/* SQLBOX_TEXT: n bytes, not NUL-terminated */
	size_t		 n;
};

/* Opens a new box: at most max_bytes of database pages; a SELECT may run
 * max_steps virtual-machine steps (in thousands). NULL with err. */
struct sqlbox	*sqlbox_open(long long max_bytes, long long max_ksteps,
		    char *err, size_t errlen);
void		 sqlbox_close(struct sqlbox *);
/* Makes table name with the columns (names quoted, so any text is safe;
 * types are SQL type names: INTEGER, REAL, TEXT). 0 or -1 with err. */
int		 sqlbox_create(struct sqlbox *, const char *name,
		    const char *const *cols, const char *const *types, int n,
		    char *err, size_t errlen);
/* Adds a row of n values (in the columns' order) to the table made last
 * by sqlbox_create. 0 or -1 with err. */
int		 sqlbox_insert(struct sqlbox *, const struct sqlbox_value *,
		    int n, char *err, size_t errlen);
/* Calls row(ud, ncols, names, NULL) once with the column names, then
 * row(ud, ncols, names, values) for each row the user's SELECT gives
 * (row returns 0 to go on, -1 to stop: err is then "stopped"). 0, or -1
 * with err: the database's message, or why the text was refused. */
int		 sqlbox_select(struct sqlbox *, const char *sql,
		    int (*row)(void *, int, const char *const *,
		    const struct sqlbox_value *), void *ud, char *err,
		    size_t errlen);

#endif /* TESSERA_SQLBOX_H */
