/*
 * cli_audit.c -- "tessera audit list": the audit log, newest first, as a
 * table or as CSV (RFC 4180, a header row, CRLF line ends).
 *
 *	tessera audit list [--account NAME] [--email E] [--action A]
 *	    [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--limit N] [--csv]
 *
 * Columns: time (ISO 8601, UTC), account, who, action, object, ip,
 * detail. Who is "user@x", "user@x via token KEY" when a token acted,
 * "command line" for what tessera user and tessera token did (ip "cli",
 * audit_write_cli), or "-" when nobody did (the runner, the gate).
 * --since and --until are whole days in UTC, both included.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domain/domain.h"
#include "lib/lib.h"
#include "process.h"
#include "store/store.h"

#define LIMIT_DEFAULT	100
#define LIMIT_MAX	100000

/* The start of day YYYY-MM-DD in Unix seconds (UTC): 0, or -1 when s is
 * not a real date of that form. */
static int
day(const char *s, long long *out)
{
	struct tm	 tm = { 0 }, back;
	time_t		 t;
	int		 i, mday;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31)
		return -1;
	mday = tm.tm_mday;	/* timegm() normalises tm */
	if ((t = timegm(&tm)) == (time_t)-1 || gmtime_r(&t, &back) == NULL ||
	    back.tm_mday != mday)	/* 2026-02-30 */
		return -1;
	*out = (long long)t;
	return 0;
}

/* Writes one CSV field: quoted when it holds a comma, a quote, CR or LF
 * (quotes doubled), as RFC 4180 says. */
static void
csv_field(const char *s, int last)
{
	const char	*p;

	if (strpbrk(s, ",\"\r\n") == NULL)
		fputs(s, stdout);
	else {
		putchar('"');
		for (p = s; *p; p++) {
			if (*p == '"')
				putchar('"');
			putchar(*p);
		}
		putchar('"');
	}
	fputs(last ? "\r\n" : ",", stdout);
}

/* Writes s for a terminal: control characters as '?'. */
static void
plain(const char *s)
{
	for (; *s; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7F ? '?' : *s);
}

/* Checks the options into the bound statement. 0, or the exit status (2:
 * a bad option, said on stderr; 1: the database). */
static int
bind(struct db *db, struct dbq *st, const struct cli_audit_opts *o)
{
	char		 norm[256] = "";
	const char	*why = "";
	long long	 since = 0, until = (long long)1 << 62, limit;
	char		*end;

	if (o->email && auth_email_norm(o->email, norm, sizeof(norm)) == -1) {
		fprintf(stderr, "tessera audit list: --email is not an email\n");
		return 2;
	}
	if ((o->account && !text_plain(o->account, 200, &why)) ||
	    (o->action && !text_plain(o->action, 100, &why))) {
		fprintf(stderr, "tessera audit list: --%s: %s\n",
		    o->account && !text_plain(o->account, 200, &why) ?
		    "account" : "action", why);
		return 2;
	}
	if ((o->since && day(o->since, &since) == -1) ||
	    (o->until && day(o->until, &until) == -1)) {
		fprintf(stderr, "tessera audit list: --since and --until are "
		    "dates, YYYY-MM-DD\n");
		return 2;
	}
	if (o->until)
		until += 86400;		/* the whole day */
	limit = LIMIT_DEFAULT;
	if (o->limit) {
		limit = strtoll(o->limit, &end, 10);
		if (*o->limit == '\0' || *end != '\0' || limit < 1 ||
		    limit > LIMIT_MAX) {
			fprintf(stderr, "tessera audit list: --limit is 1 to "
			    "%d\n", LIMIT_MAX);
			return 2;
		}
	}
	if (db_bind_text(st, ":account", o->account ? o->account : "") ||
	    db_bind_text(st, ":email_norm", norm) ||
	    db_bind_text(st, ":action", o->action ? o->action : "") ||
	    db_bind_int64(st, ":since", since) ||
	    db_bind_int64(st, ":until", until) ||
	    db_bind_int64(st, ":limit", limit)) {
		fprintf(stderr, "tessera audit list: %s\n", db_errmsg(db));
		return 1;
	}
	return 0;
}

/* Who acted, into buf: see the top of the file. */
static const char *
who(const char *email, const char *via, const char *ip, char *buf,
    size_t len)
{
	if (strcmp(ip, "cli") == 0)
		return "command line";
	if (*email == '\0')
		return "-";
	if (*via == '\0')
		return email;
	snprintf(buf, len, "%s via token %s", email, via);
	return buf;
}

/* Prints the rows of the bound statement. 0 or 1. */
static int
print(struct db *db, struct dbq *st, int csv)
{
	static const char *const head[] = { "time", "account", "who",
	    "action", "object", "ip", "detail" };
	const char	*f[7];
	char		 t[32], by[400];
	int		 rc, i;

	for (i = 0; i < 7; i++)
		if (csv)
			csv_field(head[i], i == 6);
	if (!csv)
		printf("%-20s %-16s %-32s %-20s %-36s %-15s %s\n", "TIME",
		    "ACCOUNT", "WHO", "ACTION", "OBJECT", "IP", "DETAIL");
	while ((rc = db_step(st)) == DB_ROW) {
		f[0] = iso8601(db_col_int(st, 0), t, sizeof(t));
		f[1] = db_col_text(st, 1) ? db_col_text(st, 1) : "";
		f[2] = who(db_col_text(st, 2) ? db_col_text(st, 2) : "",
		    db_col_text(st, 3) ? db_col_text(st, 3) : "",
		    db_col_text(st, 6) ? db_col_text(st, 6) : "", by,
		    sizeof(by));
		for (i = 3; i < 7; i++)
			f[i] = db_col_text(st, i + 1) ? db_col_text(st,
			    i + 1) : "";
		if (csv) {
			for (i = 0; i < 7; i++)
				csv_field(f[i], i == 6);
			continue;
		}
		for (i = 0; i < 7; i++) {
			static const int w[] = { 20, 16, 32, 20, 36, 15, 0 };

			plain(f[i]);
			if (i < 6)
				printf("%*s ", w[i] > (int)strlen(f[i]) ?
				    w[i] - (int)strlen(f[i]) : 0, "");
		}
		putchar('\n');
	}
	db_reset(st);
	if (rc != DB_DONE) {
		fprintf(stderr, "tessera audit list: %s\n", db_errmsg(db));
		return 1;
	}
	return 0;
}

int
cli_audit(struct config *cfg, const struct cli_audit_opts *o)
{
	struct db	 db;
	struct dbq	*st;
	char		 err[1024];
	int		 rc;

	if (db_open(&db, cfg, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "tessera audit: %s\n", err);
		return 1;
	}
	if ((st = db_query(&db, "cli_audit")) == NULL) {
		fprintf(stderr, "tessera audit: no query cli_audit\n");
		rc = 1;
	} else if ((rc = bind(&db, st, o)) == 0)
		rc = print(&db, st, o->csv);
	else
		db_reset(st);
	db_close(&db);
	return rc;
}
