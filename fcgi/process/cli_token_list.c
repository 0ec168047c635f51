/*
 * cli_token_list.c -- "tessera token list": the tokens as a table, newest
 * first, never a secret or a hash (the cli_tokens named query reads
 * neither).
 *
 *	tessera token list [--email E | --account NAME] [--kind user|via]
 *	    [--all]
 *
 * Columns: key, kind, active, description (cut to fit), expires, last
 * used, scopes (last: the one column of no fixed width). By default the tokens of active users of active accounts;
 * --all adds the others'.
 */
#include <stdlib.h>
#include <string.h>

#include "domain/authority.h"
#include "domain/domain.h"
#include "lib/lib.h"
#include "process.h"
#include "store/store.h"

#define DESC_COLS	32	/* the description's column, in characters */

/* Copies at most cols characters of UTF-8 s into out (size outlen),
 * control characters as '?', and "..." in place of the rest when it is
 * cut (it stops before a character's first byte: out holds 4 bytes a
 * character). */
static void
fit(const char *s, size_t cols, char *out, size_t outlen)
{
	size_t		 n = 0, chars = 0, total = 0;
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xC0) != 0x80)
			total++;
	for (p = (const unsigned char *)s; *p && n + 5 < outlen; p++) {
		if ((*p & 0xC0) != 0x80) {
			if (chars == (total > cols ? cols - 3 : cols))
				break;
			chars++;
		}
		out[n++] = *p < 0x20 || *p == 0x7F ? '?' : (char)*p;
	}
	if (total > cols) {
		memcpy(out + n, "...", 3);
		n += 3;
		chars += 3;
	}
	while (chars < cols && n + 1 < outlen) {
		out[n++] = ' ';
		chars++;
	}
	out[n] = '\0';
}

/* "2026-11-30 02:14" (UTC), or what says there is none. */
static const char *
when(long long t, const char *none, char *buf, size_t len)
{
	char	 iso[32];

	if (t <= 0)
		return none;
	iso8601(t, iso, sizeof(iso));	/* 2026-11-30T02:14:04Z */
	snprintf(buf, len, "%.10s %.5s", iso, iso + 11);
	return buf;
}

int
cli_token_list(struct db *db, const struct cli_token_opts *o)
{
	struct dbq	*st;
	char		 norm[256] = "", desc[4 * DESC_COLS + 8], scopes[160];
	char		 exp[32], used[32];
	const char	*why = "";
	int		 rc;

	if (o->email && o->account) {
		fprintf(stderr, "tessera token list: --email or --account, not "
		    "both\n");
		return 2;
	}
	if (o->email && auth_email_norm(o->email, norm, sizeof(norm)) == -1) {
		fprintf(stderr, "tessera token list: --email is not an "
		    "email\n");
		return 2;
	}
	if (o->account && !text_plain(o->account, 200, &why)) {
		fprintf(stderr, "tessera token list: --account: %s\n", why);
		return 2;
	}
	if (o->kind && strcmp(o->kind, "user") && strcmp(o->kind, "via")) {
		fprintf(stderr, "tessera token list: --kind is user or via\n");
		return 2;
	}
	if ((st = db_query(db, "cli_tokens")) == NULL ||
	    db_bind_text(st, ":account", o->account ? o->account : "") ||
	    db_bind_text(st, ":email_norm", norm) ||
	    db_bind_text(st, ":kind", o->kind ? o->kind : "") ||
	    db_bind_int64(st, ":all", o->all ? 1 : 0)) {
		fprintf(stderr, "tessera token list: %s\n", db_errmsg(db));
		return 1;
	}
	printf("%-36s %-4s %-6s %-*s %-16s %-16s %s\n", "KEY", "KIND",
	    "ACTIVE", DESC_COLS, "DESCRIPTION", "EXPIRES", "LAST USED",
	    "SCOPES");
	while ((rc = db_step(st)) == DB_ROW) {
		fit(db_col_text(st, 3) ? db_col_text(st, 3) : "", DESC_COLS,
		    desc, sizeof(desc));
		scope_names((uint32_t)db_col_int(st, 4), ",", scopes,
		    sizeof(scopes));
		printf("%-36s %-4s %-6s %s %-16s %-16s %s\n",
		    db_col_text(st, 0), db_col_text(st, 1),
		    db_col_int(st, 2) ? "yes" : "no", desc,
		    when(db_col_int(st, 5), "never", exp, sizeof(exp)),
		    when(db_col_int(st, 6), "never", used, sizeof(used)),
		    scopes[0] ? scopes : "-");
	}
	db_reset(st);
	if (rc != DB_DONE) {
		fprintf(stderr, "tessera token list: %s\n", db_errmsg(db));
		return 1;
	}
	return 0;
}
