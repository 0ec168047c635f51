/*
 * notify.c -- the runner's delivery of host.notify's messages (the outbox,
 * schema/017_outbox.sql): at least once, signed, retried with backoff.
 *
 * Each due message is claimed with a lease (outbox_claim: one statement
 * that only one runner can win, counting the attempt), sent by
 * notify_send.c to the URL notify_targets names for it, then marked:
 * delivered on a 2xx; due again after notify_backoff_seconds * 2^(n-1)
 * (n: attempts so far, at most a day) otherwise; failed after
 * notify_max_attempts, with an audit row "notify.failed". A runner killed
 * mid-send leaves the lease to run out and the message is sent again, so
 * receivers should treat X-Tessera-Delivery as an idempotency key. A
 * message whose name lost its target in the config is failed at once.
 *
 * The signature: X-Tessera-Signature: sha256=<hex HMAC-SHA256(secret,
 * timestamp "." body)> with X-Tessera-Timestamp the Unix time of this
 * attempt, as GitHub and Stripe sign their webhooks. The secret is the
 * content of notify_secret_file (default DATA/notify.key, made here on
 * first use: 32 random bytes in hex, mode 0600; one readable by others is
 * refused), trailing white space trimmed. It is never logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "process.h"

#define BATCH		20
#define SECRET_MAX	1024
#define SECRET_MIN	16

static struct {
	int		 loaded;
	unsigned char	 key[SECRET_MAX];
	size_t		 len;
} secret;

/* Writes a fresh secret to path, unless the file exists. 0 or -1. */
static int
secret_create(const char *path)
{
	unsigned char	 raw[32];
	char		 hex[65];
	int		 fd;
	ssize_t		 n;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		return errno == EEXIST ? 0 : -1;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	hex[64] = '\n';
	n = write(fd, hex, sizeof(hex));
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(hex, sizeof(hex));
	if (n != (ssize_t)sizeof(hex) || fsync(fd) == -1) {
		close(fd);
		unlink(path);
		return -1;
	}
	log_info("notify: made the signing secret %s (give it to the "
	    "receivers)", path);
	return close(fd);
}

/* Loads the signing secret once. 0 or -1 (logged). */
static int
secret_load(const struct config *cfg)
{
	const char	*path = cfg->notify_secret_file;
	struct stat	 sb;
	ssize_t		 n;
	int		 fd;

	if (secret.loaded)
		return 0;
	if (secret_create(path) == -1 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		log_err("notify: %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || (sb.st_mode & 077) != 0) {
		log_err("notify: %s must be readable by its owner only "
		    "(chmod 600): nothing is sent until it is", path);
		close(fd);
		return -1;
	}
	n = read(fd, secret.key, sizeof(secret.key));
	close(fd);
	while (n > 0 && (secret.key[n - 1] == '\n' ||
	    secret.key[n - 1] == '\r' || secret.key[n - 1] == ' ' ||
	    secret.key[n - 1] == '\t'))
		n--;
	if (n < SECRET_MIN || n >= (ssize_t)sizeof(secret.key)) {
		log_err("notify: %s must hold %d to %d bytes: nothing is "
		    "sent until it does", path, SECRET_MIN, SECRET_MAX - 1);
		sodium_memzero(secret.key, sizeof(secret.key));
		return -1;
	}
	secret.len = (size_t)n;
	secret.loaded = 1;
	return 0;
}

/* "sha256=" and the hex HMAC-SHA256 of ts "." body into out (72 bytes). */
static void
sign(const char *ts, const char *body, size_t len, char out[72])
{
	crypto_auth_hmacsha256_state st;
	unsigned char	 mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_init(&st, secret.key, secret.len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts,
	    strlen(ts));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	memcpy(out, "sha256=", 7);
	sodium_bin2hex(out + 7, 65, mac, sizeof(mac));
	sodium_memzero(&st, sizeof(st));
}

/* Runs query name with :id and the given integer parameters (NULL-ended
 * name/value pairs after id). 0 or -1 (logged). */
static int
mark(struct db *db, const char *name, long long id, const char *p1,
    long long v1, const char *p2, long long v2)
{
	struct dbq	*st;

	if ((st = db_query(db, name)) == NULL ||
	    db_bind_int64(st, ":id", id) ||
	    (p1 && db_bind_int64(st, p1, v1)) ||
	    (p2 && db_bind_int64(st, p2, v2)) || db_run(db, st) != 0) {
		log_err("notify: %s of message %lld failed: %s", name, id,
		    db_errmsg(db));
		return -1;
	}
	return 0;
}

/* The audit row of a message given up (no account or user: NULL). */
static void
audit_failed(struct db *db, long long now, const char *name, long long id,
    long long attempts, long status)
{
	struct dbq	*st;
	char		 detail[200];
	int		 i, n;
	const char	*pn;

	snprintf(detail, sizeof(detail), "delivery %lld of %s failed after "
	    "%lld attempt%s; last answer: %s%ld", id, name, attempts,
	    attempts == 1 ? "" : "s", status ? "HTTP " : "none ", status);
	if ((st = db_query(db, "audit_add")) == NULL)
		return;
	n = db_param_count(st);
	for (i = 1; i <= n; i++) {
		pn = db_param_name(st, i);
		if (pn && (!strcmp(pn, ":account_id") ||
		    !strcmp(pn, ":user_id")))
			db_bind_index_null(st, i);
	}
	if (db_bind_int64(st, ":now", now) ||
	    db_bind_text(st, ":action", "notify.failed") ||
	    db_bind_text(st, ":object", name) ||
	    db_bind_text(st, ":ip", "") ||
	    db_bind_text(st, ":detail", detail) ||
	    db_bind_text(st, ":via_token", "") || db_run(db, st) != 0)
		log_err("notify: the audit row of message %lld failed: %s",
		    id, db_errmsg(db));
}

/* Sends the claimed message id and records the outcome. 0 or -1. */
static int
deliver_one(struct worker *w, long long id, long long now)
{
	const struct config *cfg = w->cfg;
	struct dbq	*st;
	struct notify_msg m = { .id = id };
	char		 name[NOTIFY_NAME_MAX + 1], url[NOTIFY_URL_MAX + 1];
	char		 ts[24], sig[72], err[256];
	char		*body = NULL;
	long long	 attempts, delay;
	long		 status = 0;
	int		 rc, k;

	now = clock_now();	/* the send's own time, for the signature */
	if ((st = db_query(&w->db, "outbox_get")) == NULL ||
	    db_bind_int64(st, ":id", id) || db_step(st) != DB_ROW) {
		if (st)
			db_reset(st);
		return -1;
	}
	snprintf(name, sizeof(name), "%s", db_col_text(st, 1));
	body = strdup(db_col_text(st, 2) ? db_col_text(st, 2) : "null");
	attempts = db_col_int(st, 4);
	db_reset(st);
	if (body == NULL)
		return -1;
	if (!notify_target(cfg->notify_targets, name, url, sizeof(url))) {
		log_warn("notify: message %lld: notify_targets no longer "
		    "names \"%s\": given up", id, name);
		rc = mark(&w->db, "outbox_failed", id, ":now", now,
		    ":last_status", 0);
		audit_failed(&w->db, now, name, id, attempts, 0);
		free(body);
		return rc;
	}
	snprintf(ts, sizeof(ts), "%lld", now);
	sign(ts, body, strlen(body), sig);
	m.event = name;
	m.url = url;
	m.body = body;
	m.len = strlen(body);
	m.timestamp = ts;
	m.signature = sig;
	m.connect_timeout = (long)cfg->notify_connect_timeout;
	m.timeout = (long)cfg->notify_timeout;
	if (notify_send(&m, &status, err, sizeof(err)) == -1)
		log_warn("notify: message %lld (%s), attempt %lld: no "
		    "answer: %s", id, name, attempts, err);
	free(body);
	if (status >= 200 && status <= 299)
		return mark(&w->db, "outbox_delivered", id, ":now", now,
		    ":last_status", status);
	if (status)
		log_warn("notify: message %lld (%s), attempt %lld: HTTP %ld",
		    id, name, attempts, status);
	if (attempts >= cfg->notify_max_attempts) {
		log_err("notify: message %lld (%s) failed after %lld "
		    "attempts", id, name, attempts);
		rc = mark(&w->db, "outbox_failed", id, ":now", now,
		    ":last_status", status);
		audit_failed(&w->db, now, name, id, attempts, status);
		return rc;
	}
	delay = cfg->notify_backoff_seconds;
	for (k = 1; k < attempts && delay < 86400; k++)
		delay *= 2;
	if (delay > 86400)
		delay = 86400;
	return mark(&w->db, "outbox_retry", id, ":next_at", now + delay,
	    ":last_status", status);
}

int
notify_deliver(struct worker *w, long long now)
{
	const struct config *cfg = w->cfg;
	struct dbq	*st;
	long long	 ids[BATCH], lease;
	double		 until = mono_now() + (double)cfg->notify_timeout;
	size_t		 n = 0, i;
	int		 sent = 0;

	if ((st = db_query(&w->db, "outbox_due")) == NULL ||
	    db_bind_int64(st, ":now", now) ||
	    db_bind_int64(st, ":limit", BATCH)) {
		log_err("notify: outbox_due: %s", db_errmsg(&w->db));
		return -1;
	}
	while (n < BATCH && db_step(st) == DB_ROW)
		ids[n++] = db_col_int(st, 0);
	db_reset(st);
	if (n == 0)
		return 0;
	if (secret_load(cfg) == -1)
		return -1;
	lease = now + cfg->notify_connect_timeout + cfg->notify_timeout + 60;
	for (i = 0; i < n && mono_now() < until; i++) {
		if ((st = db_query(&w->db, "outbox_claim")) == NULL ||
		    db_bind_int64(st, ":id", ids[i]) ||
		    db_bind_int64(st, ":now", now) ||
		    db_bind_int64(st, ":lease_until", lease) ||
		    db_run(&w->db, st) != 0)
			return -1;
		if (db_changes(&w->db) != 1)
			continue;	/* another runner has it */
		if (deliver_one(w, ids[i], now) == 0)
			sent++;
	}
	return sent;
}
