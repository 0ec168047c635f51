/*
 * api.c -- the gate in front of every token-authenticated path (the API
 * mount and /webhook): rate limit per IP, check the credentials, rate
 * limit per token, note the last use. One function for every route, in C,
 * before any Lua runs; a request that fails here never reaches a script.
 *
 * Credentials, any one of: "Authorization: Basic base64(key:token)"
 * (curl -u KEY:TOKEN), "Authorization: Bearer TOKEN", or the query
 * parameters key and token. Every failure (none given, malformed, unknown
 * key, wrong secret, inactive, expired, creator or account disabled, an
 * address outside the token's allowed_ips) gets the same 401
 * INVALID_TOKEN, after the same work: one indexed lookup, one keyed
 * BLAKE2b, two constant-time compares (the current secret and the one a
 * rotation left in its grace, present or not).
 *
 * Then the scope: the route the request is for (route.c) declares what a
 * token must hold; a token without it gets 403 INSUFFICIENT_SCOPE naming
 * the scope, before any script runs.
 */
#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "domain/authcache.h"
#include "domain/authority.h"
#include "domain/domain.h"
#include "http.h"
#include "lib/lib.h"
#include "lib/metrics.h"
#include "route.h"
#include "store/store.h"

/* Decodes standard base64 (libsodium's; padding optional but, when
 * present, exact; no white space) into out. Returns the length, or -1. */
static long
b64decode(const char *in, unsigned char *out, size_t outlen)
{
	size_t		 len = strlen(in), n;
	const char	*end;
	int		 variant = len > 0 && in[len - 1] == '=' ?
			    sodium_base64_VARIANT_ORIGINAL :
			    sodium_base64_VARIANT_ORIGINAL_NO_PADDING;

	if (sodium_base642bin(out, outlen, in, len, NULL, &n, &end,
	    variant) != 0 || end != in + len)
		return -1;
	return (long)n;
}

/* Pulls (key, secret) out of the request; key is "" for Bearer. Returns 0,
 * or -1 when there are no usable credentials. (Exported for the fuzzer as
 * api_credentials.) */
int
api_credentials(const struct req *r, char *key, size_t keylen, char *secret,
    size_t secretlen)
{
	const char	*a = r->authorization, *colon;
	const struct kv	*k, *t;
	unsigned char	 bin[512];
	size_t		 n;
	long		 binlen;
	int		 rc = -1;

	key[0] = secret[0] = '\0';
	if (a != NULL && *a == '\0')
		a = NULL;	/* nginx sends an empty HTTP_AUTHORIZATION */
	if (a != NULL && strncasecmp(a, "Basic ", 6) == 0) {
		a += 6;
		while (*a == ' ')
			a++;
		if ((binlen = b64decode(a, bin, sizeof(bin) - 1)) < 0)
			return -1;
		bin[binlen] = '\0';
		if ((colon = memchr(bin, ':', (size_t)binlen)) == NULL ||
		    strlen((char *)bin) != (size_t)binlen)
			goto out;
		n = (size_t)(colon - (char *)bin);
		if (n >= keylen || (size_t)binlen - n - 1 >= secretlen)
			goto out;
		memcpy(key, bin, n);
		key[n] = '\0';
		memcpy(secret, colon + 1, (size_t)binlen - n - 1);
		secret[binlen - n - 1] = '\0';
		rc = 0;
out:
		sodium_memzero(bin, sizeof(bin));
		return rc;
	}
	if (a != NULL && strncasecmp(a, "Bearer ", 7) == 0) {
		a += 7;
		while (*a == ' ')
			a++;
		if (strlen(a) >= secretlen)
			return -1;
		snprintf(secret, secretlen, "%s", a);
		return 0;
	}
	if (a != NULL)
		return -1;	/* another scheme */
	k = kv_get(&r->query, "key");
	t = kv_get(&r->query, "token");
	if (k == NULL || t == NULL || k->vlen >= keylen || t->vlen >= secretlen)
		return -1;
	memcpy(key, k->val, k->vlen + 1);
	memcpy(secret, t->val, t->vlen + 1);
	return 0;
}

static void
col(struct dbq *st, int i, char *out, size_t outlen)
{
	const char	*s = db_col_text(st, i);
	size_t		 n = s ? (size_t)db_col_bytes(st, i) : 0;

	if (n >= outlen)
		n = outlen - 1;	/* the schema keeps every one shorter */
	if (n)
		memcpy(out, s, n);
	out[n] = '\0';
}

/* Copies 32 bytes of blob column i into out (zeros when it is not a
 * 32-byte blob); 1 when it was one. */
static int
hash_col(struct dbq *st, int i, unsigned char out[32])
{
	const void	*blob = db_col_blob(st, i);

	if (blob && db_col_bytes(st, i) == 32) {
		memcpy(out, blob, 32);
		return 1;
	}
	memset(out, 0, 32);
	return 0;
}

/* Reads the token's row for the credential into row (found: 1, none: 0,
 * the database failed: -1). */
static int
read_row(const struct gate *g, const char *key, const unsigned char h[32],
    struct authrow *row)
{
	struct principal	*p = &row->p;
	struct dbq		*st;
	int			 rc, found = 0;

	if (key[0] != '\0') {
		if ((st = db_query(g->db, "token_auth_by_key")) == NULL ||
		    db_bind_text(st, ":key", key))
			return -1;
	} else if ((st = db_query(g->db, "token_auth_by_hash")) == NULL ||
	    db_bind_blob(st, ":secret_hash", h, 32))
		return -1;
	rc = db_step(st);
	if (rc == DB_ROW) {
		found = hash_col(st, 1, row->stored);
		p->token_id = db_col_int(st, 0);
		p->active = (int)db_col_int(st, 2) == 1 &&
		    (int)db_col_int(st, 11) == 1 &&
		    (int)db_col_int(st, 14) == 1;
		p->expires_at = db_col_type(st, 3) == DB_NULL ? 0 :
		    db_col_int(st, 3);
		p->last_used_at = db_col_type(st, 4) == DB_NULL ?
		    0 : db_col_int(st, 4);
		col(st, 5, p->kind, sizeof(p->kind));
		col(st, 6, p->description, sizeof(p->description));
		col(st, 7, p->key, sizeof(p->key));
		p->user_id = db_col_int(st, 8);
		col(st, 9, p->email, sizeof(p->email));
		col(st, 10, p->role, sizeof(p->role));
		p->account_id = db_col_int(st, 12);
		col(st, 13, p->account_name, sizeof(p->account_name));
		p->first_use = db_col_type(st, 15) == DB_NULL;
		p->scopes = (uint32_t)db_col_int(st, 16);
		col(st, 17, p->allowed_ips, sizeof(p->allowed_ips));
		row->has_prev = hash_col(st, 18, row->prev);
		row->prev_expires = db_col_int(st, 19);
		p->parent_id = db_col_int(st, 20);
		p->destination_id = db_col_int(st, 21);
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return -1;
	return found;
}

/* A token changed somewhere: its cached row goes ("*": every row). */
static void
changed(void *arg, const char *what)
{
	(void)arg;
	authcache_drop(strcmp(what, "*") == 0 ? 0 : strtoll(what, NULL, 10));
}

/* Checks the credentials; fills p. Returns 0 (good), -1 (refused) or -2
 * (the database failed). A token rotated within its grace has two live
 * secrets; both are compared every time, one of them against zeros when
 * there is no second, so the work is the same either way. On a store
 * that is a round trip away (PostgreSQL) a verified row is kept for
 * token_cache_seconds (authcache.h), dropped when the store reports the
 * token changed anywhere. */
static int
authenticate(const struct gate *g, const struct req *r, struct principal *p,
    enum metric_ev *outcome)
{
	char		 key[64], secret[128];
	unsigned char	 h[32];
	struct authrow	 row;
	long long	 now = clock_now();
	int		 rc, found, good, good_prev, has_prev, cached = 0;
	int		 remote = db_remote(g->db);
	double		 ttl = (double)g->cfg->token_cache_seconds;

	memset(&row, 0, sizeof(row));
	if (api_credentials(r, key, sizeof(key), secret, sizeof(secret)) == -1 ||
	    !token_secret_valid(secret, strlen(secret)) ||
	    (key[0] != '\0' && !token_key_valid(key))) {
		*outcome = (r->authorization == NULL ||
		    r->authorization[0] == '\0') &&
		    kv_get(&r->query, "token") == NULL ? M_TOK_MISSING :
		    M_TOK_MALFORMED;
		rc = -1;
		goto out;
	}
	token_hash(g->pepper, secret, strlen(secret), h);
	if (remote && ttl > 0) {
		db_auth_changes(g->db, changed, NULL);
		cached = authcache_get(h, mono_now(), ttl, &row) &&
		    (key[0] == '\0' || strcmp(key, row.p.key) == 0);
	}
	if (cached)
		found = 1;
	else if ((found = read_row(g, key, h, &row)) == -1) {
		sodium_memzero(secret, sizeof(secret));
		sodium_memzero(h, sizeof(h));
		memset(p, 0, sizeof(*p));
		*outcome = M_TOK_ERROR;
		return -2;
	}
	has_prev = row.has_prev && row.prev_expires > now;
	if (row.p.expires_at && row.p.expires_at <= now)
		row.p.active = 0;
	/* Always two compares, found or not, rotated or not. */
	good = sodium_memcmp(h, row.stored, sizeof(h)) == 0;
	good_prev = sodium_memcmp(h, row.prev, sizeof(h)) == 0;
	rc = found && (good | (good_prev & has_prev)) && row.p.active ? 0 : -1;
	/* For the metrics only, after the same work either way. */
	*outcome = !found ? M_TOK_UNKNOWN : !(good | (good_prev & has_prev)) ?
	    M_TOK_BAD_SECRET : row.p.expires_at && row.p.expires_at <= now ?
	    M_TOK_EXPIRED : !row.p.active ? M_TOK_INACTIVE : M_TOK_OK;
	if (rc == 0) {
		memcpy(p, &row.p, sizeof(*p));
		if (remote && ttl > 0 && !cached)
			authcache_put(h, mono_now(), &row);
	}
out:
	/* What is secret: the secret and the hashes (the principal is not). */
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(row.stored, sizeof(row.stored));
	sodium_memzero(row.prev, sizeof(row.prev));
	if (rc != 0) {
		memset(p, 0, sizeof(*p));
		return -1;
	}
	return 0;
}

/* 1 when the request's address may use the token: it has no allowed_ips,
 * or REMOTE_ADDR (as the web server passed it; never a header a client
 * sets) lies inside one of them. */
static int
address_allowed(const struct req *r, const struct principal *p)
{
	struct cidr_list	 l;
	char			 err[128];

	if (p->allowed_ips[0] == '\0')
		return 1;
	if (cidr_parse_list(p->allowed_ips, &l, err, sizeof(err)) == -1) {
		log_err("token %s: stored allowed_ips unreadable: %s", p->key,
		    err);
		return 0;	/* closed, not open */
	}
	return cidr_match(&l, r->remote_addr ? r->remote_addr : "");
}

/* One audit row for a refused address, at most once a minute for each
 * token and address; the writes are also bounded per token (5 a second,
 * bursts of 10), so a caller rotating through addresses cannot make every
 * request a synced write. A failing write does not change the answer. */
static void
audit_denied(const struct gate *g, const struct req *r, const struct principal *p)
{
	const char	*ip = r->remote_addr ? r->remote_addr : "";
	struct dbq	*st;
	long long	 n = 1;

	if ((st = db_query(g->db, "audit_ip_denied_recent")) == NULL ||
	    db_bind_int64(st, ":account_id", p->account_id) ||
	    db_bind_int64(st, ":since", clock_now() - 60) ||
	    db_bind_text(st, ":key", p->key) || db_bind_text(st, ":ip", ip))
		return;
	if (db_step(st) == DB_ROW)
		n = db_col_int(st, 0);
	db_reset(st);
	if (n == 0 && rl_check(g->rl, "ip_denied", &p->token_id,
	    sizeof(p->token_id), 5) == 0)
		audit_write(g->db, p->account_id, p->user_id,
		    "token.ip_denied", p->key, ip, "address not in allowed_ips",
		    p->key);	/* the token tried: "user via token KEY" */
}

/* 403 INSUFFICIENT_SCOPE naming the scope route t needs, or 0 when the
 * principal holds it (or t is not a token route). */
static int
scope_refused(const struct route *t, const struct principal *p,
    struct resp *resp)
{
	const char	*miss;
	char		 msg[160];

	if (!t->token || t->any_scope ||
	    (miss = scope_missing(p->scopes, t->scope)) == NULL)
		return 0;
	snprintf(msg, sizeof(msg), "this token lacks the scope %s, which "
	    "%s %s needs", miss, t->method, t->pattern);
	resp_error_json(resp, 403, "INSUFFICIENT_SCOPE", msg, NULL,
	    miss);
	return 1;
}

/* Records the last use, at most once a minute per token, so the common
 * request writes nothing. A failing write does not fail the request. */
static void
touch(const struct gate *g, const struct req *r, struct principal *p)
{
	long long	 now = clock_now();
	struct dbq	*st;

	if (p->last_used_at != 0 && now - p->last_used_at < 60) {
		p->first_use = 0;
		return;
	}
	if ((st = db_query(g->db, "token_touch")) == NULL ||
	    db_bind_int64(st, ":now", now) ||
	    db_bind_text(st, ":ip", r->remote_addr ? r->remote_addr : "") ||
	    db_bind_int64(st, ":id", p->token_id) || db_run(g->db, st) != 0) {
		p->first_use = 0;	/* not recorded: do not announce it */
		return;
	}
	/* Announced only by the request whose write set it. */
	if (p->first_use && ((st = db_query(g->db, "token_first_use")) ==
	    NULL || db_bind_int64(st, ":now", now) ||
	    db_bind_int64(st, ":id", p->token_id) || db_run(g->db, st) != 0 ||
	    db_changes(g->db) != 1))
		p->first_use = 0;
	authcache_touched(p->token_id, now);
}

static void
too_many(struct resp *resp, long long wait, enum metric_ev which)
{
	char	 s[32];

	metrics_add(which, 1);
	resp_error(resp, 429, "RATE_LIMIT_EXCEEDED",
	    "too many requests; retry after the number of seconds in "
	    "Retry-After", 1);
	snprintf(s, sizeof(s), "%lld", wait);
	resp_header(resp, "Retry-After", s);
}

/* A limit of rate a second, bursts of twice that: 0 or the seconds to
 * wait; r->rl keeps the tighter bucket for the RateLimit-* headers. */
static long long
limit(const struct gate *g, struct req *r, const char *scope,
    const void *key, size_t keylen, long long rate)
{
	struct rl_info	 info;
	long long	 wait;

	wait = rl_take_info(g->rl, scope, key, keylen, rate, rate * 2, 1,
	    &info);
	if (info.limit > 0 && (r->rl.limit == 0 || wait ||
	    info.remaining < r->rl.remaining))
		r->rl = info;
	return wait;
}

int
api_gate(const struct gate *g, struct req *r, const struct route *route,
    struct resp *resp)
{
	const struct config	*cfg = g->cfg;
	int			 kind = r->path_kind, rc;
	char			 ip[64];
	long long		 wait;
	enum metric_ev		 outcome = M_TOK_ERROR;

	if (kind == 0)
		return 0;
	req_addr_bucket(r, ip, sizeof(ip));	/* an IPv6 /64 is one */
	wait = limit(g, r, kind == REQ_WEBHOOK ? "webhook_ip" : "api_ip",
	    ip, strlen(ip), kind == REQ_WEBHOOK ? cfg->rate_limit_webhook_ip :
	    cfg->rate_limit_api_ip);
	if (wait) {
		too_many(resp, wait, kind == REQ_WEBHOOK ? M_RL_WEBHOOK_IP :
		    M_RL_API_IP);
		return -1;
	}
	/* A public route (the API description) needs no credentials, and
	 * any sent are not looked at: the script gets no req.auth. */
	if (route != NULL && route->public_route)
		return 0;
	rc = authenticate(g, r, &r->auth, &outcome);
	if (rc == -2) {
		metrics_add(M_TOK_ERROR, 1);
		resp_error(resp, 503, "UNAVAILABLE",
		    "service temporarily unavailable", 1);
		return -1;
	}
	if (rc == 0 && !address_allowed(r, &r->auth)) {
		/* The same 401 as any bad credential, and an audit row. */
		audit_denied(g, r, &r->auth);
		memset(&r->auth, 0, sizeof(r->auth));
		outcome = M_TOK_IP_REFUSED;
		rc = -1;
	}
	if (rc == -1) {
		metrics_add(outcome, 1);
		resp_error(resp, 401, "INVALID_TOKEN",
		    "missing, invalid or inactive credentials", 1);
		resp_header(resp, "WWW-Authenticate",
		    "Basic realm=\"Tessera API\", charset=\"UTF-8\"");
		return -1;
	}
	wait = limit(g, r, kind == REQ_WEBHOOK ? "webhook_key" : "api_key",
	    &r->auth.token_id, sizeof(r->auth.token_id),
	    kind == REQ_WEBHOOK ? cfg->rate_limit_webhook_key :
	    cfg->rate_limit_api_key);
	if (wait) {
		memset(&r->auth, 0, sizeof(r->auth));
		metrics_add(M_TOK_RATE_LIMITED, 1);
		too_many(resp, wait, kind == REQ_WEBHOOK ? M_RL_WEBHOOK_KEY :
		    M_RL_API_KEY);
		return -1;
	}
	if (route != NULL && scope_refused(route, &r->auth, resp)) {
		memset(&r->auth, 0, sizeof(r->auth));
		metrics_add(M_TOK_SCOPE_REFUSED, 1);
		return -1;
	}
	metrics_add(M_TOK_OK, 1);
	touch(g, r, &r->auth);
	r->authed = 1;
	return 0;
}
