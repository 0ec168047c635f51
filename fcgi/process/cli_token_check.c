/*
 * cli_token_check.c -- "tessera token check": is a string a Tessera
 * token, and is it live? For a secret found in a log, a repository or a
 * scanner's report (conf/gitleaks.toml finds them).
 *
 *	printf '%s\n' "$SECRET" | tessera token check [--data DIR]
 *
 * The string comes from standard input (one line), so it is in no
 * process list; an operand works too, with a warning. Offline it checks
 * the prefix, the length, the alphabet and the checksum. With a data
 * directory or a configuration named (--data, --config, TESSERA_DATA,
 * TESSERA_CONFIG or TESSERA_DATABASE) it also looks the secret up by its
 * keyed hash, as the API does: live means the token exists, is switched
 * on, has not expired, and its user and account are active. Nothing it
 * prints quotes the string; a live token is named by its key (public).
 *
 * Exit status: 0 well-formed (offline) or live, 1 malformed, 2 usage
 * (nothing to check), 3 well-formed but not live, 4 the database could
 * not be read.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain/domain.h"
#include "lib/lib.h"
#include "process.h"
#include "store/store.h"

#define CHECK_MAX	1024	/* longer input is no token, unread */

/* One line of standard input into buf, without the line end and the
 * white space around it. Its length, or -1 when there was more than
 * buf holds. */
static long
read_line(char *buf, size_t buflen)
{
	size_t	 n = 0, start = 0;
	int	 c;

	while ((c = getchar()) != EOF && c != '\n') {
		if (n + 1 >= buflen)
			return -1;
		buf[n++] = (char)c;
	}
	while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
	    buf[n - 1] == '\t'))
		n--;
	while (start < n && (buf[start] == ' ' || buf[start] == '\t'))
		start++;
	memmove(buf, buf + start, n - start);
	n -= start;
	buf[n] = '\0';
	return (long)n;
}

/* Copies 32 bytes of blob column i into out, zeros when it is none. */
static void
hash_col(struct dbq *st, int i, unsigned char out[32])
{
	const void	*b = db_col_blob(st, i);

	if (b != NULL && db_col_bytes(st, i) == 32)
		memcpy(out, b, 32);
	else
		memset(out, 0, 32);
}

/* Looks the secret up; prints what it found. The exit status. */
static int
live(struct config *cfg, const char *secret, size_t n)
{
	struct db	 db;
	struct dbq	*st;
	unsigned char	 pepper[PEPPER_LEN], h[32], cur[32], prev[32];
	char		 err[1024], key[64], acct[256], when[32];
	long long	 now = clock_now(), expires, prev_expires;
	const char	*why = NULL, *v;
	int		 rc, found, is_prev = 0;

	if (data_pepper(cfg, pepper, err, sizeof(err)) == -1 ||
	    db_open(&db, cfg, 0, err, sizeof(err)) == -1) {
		sodium_memzero(pepper, sizeof(pepper));
		fprintf(stderr, "tessera token check: well-formed, but cannot "
		    "tell whether it is live: %s\n", err);
		return 4;
	}
	token_hash(pepper, secret, n, h);
	sodium_memzero(pepper, sizeof(pepper));
	if ((st = db_query(&db, "token_auth_by_hash")) == NULL ||
	    db_bind_blob(st, ":secret_hash", h, sizeof(h))) {
		fprintf(stderr, "tessera token check: %s\n", db_errmsg(&db));
		sodium_memzero(h, sizeof(h));
		db_close(&db);
		return 4;
	}
	rc = db_step(st);
	found = rc == DB_ROW;
	if (found) {
		hash_col(st, 1, cur);
		hash_col(st, 18, prev);
		is_prev = sodium_memcmp(h, cur, 32) != 0 &&
		    sodium_memcmp(h, prev, 32) == 0;
		expires = db_col_type(st, 3) == DB_NULL ? 0 : db_col_int(st, 3);
		prev_expires = db_col_int(st, 19);
		snprintf(key, sizeof(key), "%s", (v = db_col_text(st, 7)) ?
		    v : "");
		snprintf(acct, sizeof(acct), "%s", (v = db_col_text(st, 13)) ?
		    v : "");
		if (db_col_int(st, 2) != 1)
			why = "it is switched off";
		else if (expires && expires <= now)
			why = "it has expired";
		else if (is_prev && prev_expires <= now)
			why = "it is a secret replaced by a rotation, past its "
			    "grace";
		else if (db_col_int(st, 11) != 1)
			why = "its user is disabled";
		else if (db_col_int(st, 14) != 1)
			why = "its account is disabled";
		if (is_prev && !why)
			expires = prev_expires;
		sodium_memzero(cur, sizeof(cur));
		sodium_memzero(prev, sizeof(prev));
	}
	db_reset(st);
	sodium_memzero(h, sizeof(h));
	db_close(&db);
	if (rc != DB_ROW && rc != DB_DONE) {
		fprintf(stderr, "tessera token check: the database failed\n");
		return 4;
	}
	if (!found) {
		printf("not live: well-formed, but no token has this secret "
		    "(never made here, deleted, or rotated past its grace)\n");
		return 3;
	}
	if (why != NULL) {
		printf("not live: token %s (account %s): %s\n", key, acct, why);
		return 3;
	}
	if (expires)
		time_format(expires, 0, when, sizeof(when));
	printf("live: token %s (account %s)%s%s%s\n", key, acct,
	    is_prev ? ", its previous secret (rotated)" : "",
	    expires ? is_prev ? ", works until " : ", expires " : "",
	    expires ? when : "");
	return 0;
}

int
cli_token_check(struct config *cfg, const char *operand, int online)
{
	char		 buf[CHECK_MAX];
	const char	*why;
	long		 n;
	int		 rc;

	if (operand != NULL) {
		fprintf(stderr, "tessera token check: warning: a token on the "
		    "command line is in the process list and the shell's "
		    "history; pipe it in on standard input instead\n");
		n = (long)strlen(operand);
		if (n >= (long)sizeof(buf))
			n = -1;
		else
			memcpy(buf, operand, (size_t)n + 1);
	} else
		n = read_line(buf, sizeof(buf));
	if (n == 0) {
		fprintf(stderr, "tessera token check: nothing to check: give "
		    "the token on standard input\n");
		return 2;
	}
	why = n < 0 ? "it is far too long for a token" :
	    token_secret_problem(buf, (size_t)n);
	if (why != NULL) {
		printf("malformed: not a Tessera token: %s\n", why);
		rc = 1;
	} else if (!online) {
		printf("well-formed: a Tessera token (prefix, length, alphabet "
		    "and checksum); give --data DIR to tell whether it is "
		    "live\n");
		rc = 0;
	} else
		rc = live(cfg, buf, (size_t)n);
	sodium_memzero(buf, sizeof(buf));
	return rc;
}
