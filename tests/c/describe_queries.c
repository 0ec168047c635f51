/*
 * describe_queries.c -- what each named query of a queries file takes
 * and answers, as one engine sees it. Not a unit test: the parity test
 * (tests/http/test_pg_queries.py) runs it once per engine and compares.
 *
 *	describe_queries sqlite DBFILE QUERIES.sql
 *	describe_queries pg URI QUERIES.sql
 *
 * For each query, in file order, one line of JSON:
 *
 *	{"name": "...", "params": ["id", ...], "columns": ["id", ...]}
 *
 * params in the order of their first appearance, without the ':'. The pg
 * lines also carry "param_types" and "column_types" (type names) and
 * "sql", the statement as prepared ($n for :name). A query the engine
 * refuses is printed as {"name": "...", "error": "..."}.
 *
 * SQLite: sqlite3_prepare_v2 on the database, opened read-only, with
 * iso_time() and utc_minute() defined as fcgi/store/db_sqlite.c defines them.
 * PostgreSQL: each :name becomes $n (the same name, the same n) outside
 * string literals, quoted identifiers, comments and :: casts, then
 * PQprepare and PQdescribePrepared on the unnamed statement.
 *
 * Exit status: 0 when every query was described, 1 when one was refused,
 * 2 when the engine, the database or the file could not be used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "tessera.h"

/* A growing string; the owner frees p. */
struct str {
	char	*p;
	size_t	 len, cap;
};

static void
str_addn(struct str *s, const char *p, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		size_t	 cap = s->cap ? s->cap : 256;
		char	*np;

		while (cap < s->len + n + 1)
			cap *= 2;
		if ((np = realloc(s->p, cap)) == NULL) {
			perror("describe_queries");
			exit(2);
		}
		s->p = np;
		s->cap = cap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static void
str_add(struct str *s, const char *p)
{
	str_addn(s, p, strlen(p));
}

/* Appends p as a JSON string (quoted, escaped; UTF-8 passes as is). */
static void
str_json(struct str *s, const char *p)
{
	char	 esc[8];

	str_add(s, "\"");
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			str_addn(s, esc, 2);
		} else if (c == '\n')
			str_add(s, "\\n");
		else if (c == '\t')
			str_add(s, "\\t");
		else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			str_add(s, esc);
		} else
			str_addn(s, p, 1);
	}
	str_add(s, "\"");
}

/* A list of strings; the owner frees each and v. */
struct list {
	char	**v;
	int	  n;
};

static int
list_find(const struct list *l, const char *p, size_t n)
{
	int	 i;

	for (i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == n && memcmp(l->v[i], p, n) == 0)
			return i;
	return -1;
}

static int
list_add(struct list *l, const char *p, size_t n)
{
	char	**nv;

	if ((nv = realloc(l->v, (size_t)(l->n + 1) * sizeof(*nv))) == NULL ||
	    (nv[l->n] = strndup(p, n)) == NULL) {
		perror("describe_queries");
		exit(2);
	}
	l->v = nv;
	return l->n++;
}

static void
list_free(struct list *l)
{
	while (l->n > 0)
		free(l->v[--l->n]);
	free(l->v);
	l->v = NULL;
}

static void
str_json_list(struct str *s, const char *key, const struct list *l)
{
	int	 i;

	str_add(s, ", ");
	str_json(s, key);
	str_add(s, ": [");
	for (i = 0; i < l->n; i++) {
		if (i > 0)
			str_add(s, ", ");
		str_json(s, l->v[i]);
	}
	str_add(s, "]");
}

/* The queries of the file, in its order: names and statements. */
struct queries {
	struct list	 names, sql;
};

static int
collect(void *arg, const char *name, const char *sql, size_t n)
{
	struct queries	*q = arg;

	list_add(&q->names, name, strlen(name));
	list_add(&q->sql, sql, n);
	return 0;
}

/* Reads the whole file; the caller frees it. NULL with errno. */
static char *
slurp(const char *path)
{
	FILE		*f;
	struct str	 s = { 0 };
	char		 chunk[8192];
	size_t		 n;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		str_addn(&s, chunk, n);
	if (ferror(f)) {
		fclose(f);
		free(s.p);
		return NULL;
	}
	fclose(f);
	if (s.p == NULL)
		str_add(&s, "");
	return s.p;
}

/* Prints one query's line: its error when err is set, else params and
 * columns (and their types and the statement as prepared, when given). */
static void
print_line(const char *name, const char *err, const struct list *params,
    const struct list *ptypes, const struct list *cols,
    const struct list *ctypes, const char *sql)
{
	struct str	 s = { 0 };

	str_add(&s, "{");
	str_json(&s, "name");
	str_add(&s, ": ");
	str_json(&s, name);
	if (err != NULL) {
		str_add(&s, ", ");
		str_json(&s, "error");
		str_add(&s, ": ");
		str_json(&s, err);
	} else {
		str_json_list(&s, "params", params);
		str_json_list(&s, "columns", cols);
		if (ptypes != NULL)
			str_json_list(&s, "param_types", ptypes);
		if (ctypes != NULL)
			str_json_list(&s, "column_types", ctypes);
		if (sql != NULL) {
			str_add(&s, ", ");
			str_json(&s, "sql");
			str_add(&s, ": ");
			str_json(&s, sql);
		}
	}
	str_add(&s, "}\n");
	fputs(s.p, stdout);
	free(s.p);
}

/* ------------------------------------------------------------- SQLite */

/* iso_time() and utc_minute() as fcgi/store/db_sqlite.c defines them: the text of
 * time_format() (style 0 or 1), NULL for NULL or a year past 0..9999. */
static void
sql_time(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	char	 out[32];

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	time_format(sqlite3_value_int64(argv[0]),
	    *(const int *)sqlite3_user_data(ctx), out, sizeof(out));
	if (out[0] != '\0')
		sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

/* Only white space, ';' and comments may follow the one statement. */
static int
only_comments(const char *p, const char *end)
{
	const char	*e;

	while (p < end) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
		    *p == ';')
			p++;
		else if (end - p >= 2 && strncmp(p, "--", 2) == 0) {
			while (p < end && *p != '\n')
				p++;
		} else if (end - p >= 2 && strncmp(p, "/*", 2) == 0 &&
		    (e = strstr(p + 2, "*/")) != NULL && e + 2 <= end)
			p = e + 2;
		else
			return 0;
	}
	return 1;
}

static int
describe_sqlite(const char *path, const struct queries *q)
{
	static const int iso = 0, human = 1;
	sqlite3		*h = NULL;
	sqlite3_stmt	*st;
	const char	*tail;
	int		 i, k, refused = 0;

	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "describe_queries: %s: %s\n", path,
		    h ? sqlite3_errmsg(h) : "out of memory");
		sqlite3_close(h);
		return 2;
	}
	if (sqlite3_create_function(h, "iso_time", 1, SQLITE_UTF8 |
	    SQLITE_DETERMINISTIC, (void *)&iso, sql_time, NULL, NULL) !=
	    SQLITE_OK || sqlite3_create_function(h, "utc_minute", 1,
	    SQLITE_UTF8 | SQLITE_DETERMINISTIC, (void *)&human, sql_time,
	    NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "describe_queries: %s\n", sqlite3_errmsg(h));
		sqlite3_close(h);
		return 2;
	}
	for (i = 0; i < q->names.n; i++) {
		const char	*sql = q->sql.v[i];
		struct list	 params = { 0 }, cols = { 0 };
		const char	*name;

		st = NULL;
		if (sqlite3_prepare_v2(h, sql, (int)strlen(sql), &st, &tail) !=
		    SQLITE_OK || st == NULL) {
			print_line(q->names.v[i], st == NULL &&
			    sqlite3_errcode(h) == SQLITE_OK ? "empty" :
			    sqlite3_errmsg(h), NULL, NULL, NULL, NULL, NULL);
			sqlite3_finalize(st);
			refused++;
			continue;
		}
		if (!only_comments(tail, sql + strlen(sql))) {
			print_line(q->names.v[i], "one statement per query",
			    NULL, NULL, NULL, NULL, NULL);
			sqlite3_finalize(st);
			refused++;
			continue;
		}
		for (k = 1; k <= sqlite3_bind_parameter_count(st); k++) {
			name = sqlite3_bind_parameter_name(st, k);
			if (name == NULL || name[0] != ':')
				break;
			list_add(&params, name + 1, strlen(name + 1));
		}
		if (k <= sqlite3_bind_parameter_count(st)) {
			print_line(q->names.v[i], "a parameter that is not "
			    ":named", NULL, NULL, NULL, NULL, NULL);
			refused++;
		} else {
			for (k = 0; k < sqlite3_column_count(st); k++) {
				name = sqlite3_column_name(st, k);
				list_add(&cols, name, strlen(name));
			}
			print_line(q->names.v[i], NULL, &params, NULL, &cols,
			    NULL, NULL);
		}
		list_free(&params);
		list_free(&cols);
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
	return refused ? 1 : 0;
}

/* --------------------------------------------------------- PostgreSQL */

static int
ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int
ident_char(char c)
{
	return ident_start(c) || (c >= '0' && c <= '9') ||
	    (unsigned char)c >= 0x80;
}

/* Copies sql[*i] up to and including the end of the quoted run that
 * starts there: '...' ('' inside; backslash escapes when esc), "..." or
 * a $tag$...$tag$ body. */
static void
copy_quoted(struct str *out, const char *sql, size_t n, size_t *i, int esc)
{
	size_t	 j = *i + 1;
	char	 q = sql[*i];

	if (q == '$') {
		size_t	 taglen, k;

		while (sql[j] != '$')
			j++;
		taglen = j - *i + 1;
		for (k = j + 1; k + taglen <= n; k++)
			if (memcmp(sql + k, sql + *i, taglen) == 0)
				break;
		j = k + taglen <= n ? k + taglen : n;
	} else {
		while (j < n) {
			if (esc && sql[j] == '\\' && j + 1 < n)
				j += 2;
			else if (sql[j] == q && j + 1 < n && sql[j + 1] == q)
				j += 2;
			else if (sql[j++] == q)
				break;
		}
	}
	str_addn(out, sql + *i, j - *i);
	*i = j;
}

/* Is sql[i] the '$' that opens a dollar-quoted body ($$ or $tag$)? */
static int
dollar_quote(const char *sql, size_t n, size_t i)
{
	size_t	 j = i + 1;

	if (i > 0 && ident_char(sql[i - 1]))
		return 0;		/* part of an identifier */
	if (j < n && sql[j] == '$')
		return 1;
	if (j >= n || !ident_start(sql[j]))
		return 0;
	while (j < n && ident_char(sql[j]) && sql[j] != '$')
		j++;
	return j < n && sql[j] == '$';
}

/* Rewrites sql's :name parameters as $1, $2 ... in first-appearance
 * order (a name seen again gets its number again), adding the names to
 * params. Literals, quoted identifiers, comments and :: casts are copied
 * as they are. The caller frees the returned string. */
static char *
pg_rewrite(const char *sql, struct list *params)
{
	struct str	 out = { 0 };
	size_t		 n = strlen(sql), i = 0, j;
	char		 num[16];
	int		 k;

	str_add(&out, "");
	while (i < n) {
		char c = sql[i];

		if (c == '\'') {
			int esc = i > 0 && (sql[i - 1] == 'E' ||
			    sql[i - 1] == 'e') && (i < 2 ||
			    !ident_char(sql[i - 2]));

			copy_quoted(&out, sql, n, &i, esc);
		} else if (c == '"')
			copy_quoted(&out, sql, n, &i, 0);
		else if (c == '$' && dollar_quote(sql, n, i))
			copy_quoted(&out, sql, n, &i, 0);
		else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
			for (j = i; j < n && sql[j] != '\n'; j++)
				;
			str_addn(&out, sql + i, j - i);
			i = j;
		} else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
			int depth = 1;	/* PostgreSQL's comments nest */

			for (j = i + 2; j < n && depth > 0; j++) {
				if (sql[j] == '/' && j + 1 < n &&
				    sql[j + 1] == '*') {
					depth++;
					j++;
				} else if (sql[j] == '*' && j + 1 < n &&
				    sql[j + 1] == '/') {
					depth--;
					j++;
				}
			}
			str_addn(&out, sql + i, j - i);
			i = j;
		} else if (c == ':' && i + 1 < n && sql[i + 1] == ':') {
			str_addn(&out, "::", 2);
			i += 2;
		} else if (c == ':' && i + 1 < n && ident_start(sql[i + 1])) {
			for (j = i + 1; j < n && ident_char(sql[j]); j++)
				;
			if ((k = list_find(params, sql + i + 1, j - i - 1)) < 0)
				k = list_add(params, sql + i + 1, j - i - 1);
			snprintf(num, sizeof(num), "$%d", k + 1);
			str_add(&out, num);
			i = j;
		} else if (ident_char(c)) {
			/* A whole word, so "x:y" inside one is not split. */
			for (j = i; j < n && (ident_char(sql[j]) ||
			    sql[j] == '$'); j++)
				;
			str_addn(&out, sql + i, j - i);
			i = j;
		} else {
			str_addn(&out, &c, 1);
			i++;
		}
	}
	return out.p;
}

/* The name of a type oid (the few the queries use), else its number. */
static void
type_name(Oid oid, struct list *l)
{
	static const struct { Oid oid; const char *name; } types[] = {
		{ 16, "boolean" }, { 17, "bytea" }, { 20, "bigint" },
		{ 21, "smallint" }, { 23, "integer" }, { 25, "text" },
		{ 700, "real" }, { 701, "double precision" },
		{ 705, "unknown" }, { 1043, "varchar" }, { 1700, "numeric" },
		{ 0, "unspecified" },
	};
	char	 num[32];
	size_t	 i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].oid == oid) {
			list_add(l, types[i].name, strlen(types[i].name));
			return;
		}
	snprintf(num, sizeof(num), "oid %u", (unsigned)oid);
	list_add(l, num, strlen(num));
}

/* The message of a failed result, without its last newline. */
static void
print_pg_error(const char *name, const char *msg)
{
	char	*m = strdup(msg ? msg : "unknown error");
	size_t	 n;

	if (m == NULL) {
		perror("describe_queries");
		exit(2);
	}
	n = strlen(m);
	while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
		m[--n] = '\0';
	print_line(name, m, NULL, NULL, NULL, NULL, NULL);
	free(m);
}

static int
describe_pg(const char *uri, const struct queries *q)
{
	PGconn		*conn;
	PGresult	*res;
	int		 i, k, refused = 0;

	conn = PQconnectdb(uri);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "describe_queries: %s: %s", uri,
		    conn ? PQerrorMessage(conn) : "out of memory\n");
		PQfinish(conn);
		return 2;
	}
	for (i = 0; i < q->names.n; i++) {
		struct list	 params = { 0 }, ptypes = { 0 }, cols = { 0 },
				 ctypes = { 0 };
		char		*sql = pg_rewrite(q->sql.v[i], &params);

		res = PQprepare(conn, "", sql, 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			print_pg_error(q->names.v[i],
			    PQresultErrorMessage(res));
			PQclear(res);
			list_free(&params);
			free(sql);
			refused++;
			continue;
		}
		PQclear(res);
		res = PQdescribePrepared(conn, "");
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			print_pg_error(q->names.v[i],
			    PQresultErrorMessage(res));
			refused++;
		} else if (PQnparams(res) != params.n) {
			print_line(q->names.v[i], "the server counts another "
			    "number of parameters", NULL, NULL, NULL, NULL, NULL);
			refused++;
		} else {
			for (k = 0; k < PQnparams(res); k++)
				type_name(PQparamtype(res, k), &ptypes);
			for (k = 0; k < PQnfields(res); k++) {
				list_add(&cols, PQfname(res, k),
				    strlen(PQfname(res, k)));
				type_name(PQftype(res, k), &ctypes);
			}
			print_line(q->names.v[i], NULL, &params, &ptypes,
			    &cols, &ctypes, sql);
		}
		free(sql);
		PQclear(res);
		list_free(&params);
		list_free(&ptypes);
		list_free(&cols);
		list_free(&ctypes);
	}
	PQfinish(conn);
	return refused ? 1 : 0;
}

int
main(int argc, char **argv)
{
	struct queries	 q = { 0 };
	char		*text, err[256];
	int		 rc;

	if (argc != 4 || (strcmp(argv[1], "sqlite") != 0 &&
	    strcmp(argv[1], "pg") != 0)) {
		fputs("usage: describe_queries sqlite DBFILE QUERIES.sql\n"
		    "       describe_queries pg URI QUERIES.sql\n", stderr);
		return 2;
	}
	if ((text = slurp(argv[3])) == NULL) {
		fprintf(stderr, "describe_queries: %s: %s\n", argv[3],
		    strerror(errno));
		return 2;
	}
	if (db_parse_queries(text, collect, &q, err, sizeof(err)) == -1) {
		fprintf(stderr, "describe_queries: %s: %s\n", argv[3], err);
		rc = 2;
	} else if (strcmp(argv[1], "sqlite") == 0)
		rc = describe_sqlite(argv[2], &q);
	else
		rc = describe_pg(argv[2], &q);
	fflush(stdout);
	list_free(&q.names);
	list_free(&q.sql);
	free(text);
	return rc;
}
