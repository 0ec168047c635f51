/*
 * cli_token.c -- "tessera token ...": tokens from the command line. The
 * key and the secret are printed once; only the secret's hash is kept.
 * Every change is written to the audit log as the command line's
 * (audit_write_cli: no user, ip "cli"), never with a secret.
 *
 *	tessera token add --email USER --description TEXT [--scopes LIST]
 *	    [--expires-in-days N] [--allowed-ips LIST]
 *	tessera token add-via --account NAME --destination NAME
 *	    [--email CREATOR] [--description TEXT] [--expires-in-days N]
 *	    [--allowed-ips LIST]
 *	tessera token rotate KEY [--grace-seconds N]
 *	tessera token activate KEY | deactivate KEY | show KEY
 *	tessera token enable KEY | disable KEY   (activate, deactivate)
 *	tessera token list ...                   (cli_token_list.c)
 *
 * A Via token is made for a destination (the API makes one with every
 * Via destination; this is for destinations made elsewhere). A token acts
 * with its creator's rights: --email, else the account's first admin.
 * The operator's expiry policy (token_default_expiry_days,
 * token_max_expiry_days) holds here as everywhere; --expires-in-days 0
 * asks for a token that never expires. Deactivating a token deactivates
 * the tokens made from it (lineage), as on the page and in the API.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "domain/authority.h"
#include "domain/domain.h"
#include "lib/lib.h"
#include "process.h"
#include "store/store.h"

#define GRACE_MAX	604800

/* Looks up one id with a named query bound to (name, text). */
static long long
lookup(struct db *db, const char *query, const char *p1, long long v1,
    const char *p2, const char *v2)
{
	struct dbq	*st = db_query(db, query);
	long long	 id = 0;

	if (st == NULL || (p1 && db_bind_int64(st, p1, v1)) ||
	    (p2 && db_bind_text(st, p2, v2)))
		return -1;
	if (db_step(st) == DB_ROW)
		id = db_col_int(st, 0);
	db_reset(st);
	return id;
}

/* A whole number from text in [lo, hi]. 0 or -1. */
static int
number(const char *s, long long lo, long long hi, long long *out)
{
	char	*end;

	if (s == NULL || *s == '\0')
		return -1;
	*out = strtoll(s, &end, 10);
	return *end == '\0' && *out >= lo && *out <= hi ? 0 : -1;
}

/* What the token may do, from --scopes (comma-separated names; user
 * tokens), --expires-in-days and --allowed-ips, under the operator's
 * policy. Returns 0, or -1 with the reason printed. */
static int
decide(const struct config *cfg, const struct cli_token_opts *o,
    const char *kind, struct grant *g, char *ips, size_t ipslen)
{
	struct authority_err	 e;
	struct expiry_ask	 ask = { 0, 0 };
	const char		*p, *comma;
	char			 err[200];
	long long		 days;
	uint32_t		 bit;
	size_t			 n;

	memset(g, 0, sizeof(*g));
	g->scopes = strcmp(kind, "via") == 0 ? SCOPE_VIA : SCOPE_USER_DEFAULT;
	if (o->scopes != NULL) {
		if (strcmp(kind, "via") == 0) {
			fprintf(stderr, "tessera token: a Via token has exactly "
			    "via:read; --scopes is for user tokens\n");
			return -1;
		}
		g->scopes = 0;
		for (p = o->scopes; *p; p = comma + (*comma != '\0')) {
			if ((comma = strchr(p, ',')) == NULL)
				comma = p + strlen(p);
			n = (size_t)(comma - p);
			if ((bit = scope_bit(p, n)) == 0 ||
			    (bit & ~SCOPE_USER_ALL)) {
				fprintf(stderr, "tessera token: unknown scope "
				    "\"%.*s\" (one of objects:read, "
				    "objects:write, pipelines:run, "
				    "webhook:write, records:read, tokens:read, "
				    "tokens:write)\n", (int)n, p);
				return -1;
			}
			g->scopes |= bit;
		}
		if (g->scopes == 0) {
			fprintf(stderr, "tessera token: --scopes names no "
			    "scope\n");
			return -1;
		}
	}
	if (o->expires_in_days != NULL) {
		if (number(o->expires_in_days, 0, EXPIRY_DAYS_MAX, &days) == -1) {
			fprintf(stderr, "tessera token: --expires-in-days is 0 "
			    "(never) to %d\n", EXPIRY_DAYS_MAX);
			return -1;
		}
		ask.given = 1;
		ask.at = days ? clock_now() + days * 86400 : 0;
	}
	if (authority_expiry(cfg, clock_now(), &ask, 0, &g->expires_at,
	    &e) == -1) {
		fprintf(stderr, "tessera token: %s\n", e.message);
		return -1;
	}
	if (cidr_parse_list(o->allowed_ips ? o->allowed_ips : "", &g->ips, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "tessera token: --allowed-ips: %s\n", err);
		return -1;
	}
	return cidr_format_list(&g->ips, ips, ipslen);
}

/* Audits a token's creation (its description, as the page's hook
 * does). 0 or -1. */
static int
audit_made(struct db *db, const struct token_new *t, const char *key)
{
	return audit_write_cli(db, t->account_id, "token.created", key,
	    t->description);
}

/* Prints the new token, once. */
static void
print_made(struct token_made *m)
{
	printf("Token Key: %s\nToken:     %s\n", m->key, m->secret);
	sodium_memzero(m->secret, sizeof(m->secret));
}

/* tessera token add: a user token. */
static int
add_user_token(struct config *cfg, struct db *db,
    const unsigned char *pepper, const struct cli_token_opts *o)
{
	struct token_new	 t = { 0 };
	struct token_made	 m;
	struct grant		 g;
	char			 norm[256], ips[TOKEN_IPS_MAX];
	struct dbq	*st;
	const char		*why = "it is required";

	if (o->email == NULL ||
	    auth_email_norm(o->email, norm, sizeof(norm)) == -1 ||
	    o->description == NULL || !text_plain(o->description, 200, &why)) {
		fprintf(stderr, "tessera token add: --email and --description "
		    "(1 to 200 characters of plain text) are required; the "
		    "description cannot be used: %s\n", why);
		return 2;
	}
	if (decide(cfg, o, "user", &g, ips, sizeof(ips)) == -1)
		return 2;
	if ((st = db_query(db, "user_by_email")) == NULL ||
	    db_bind_text(st, ":email_norm", norm))
		return 1;
	if (db_step(st) == DB_ROW && (int)db_col_int(st, 5) == 1) {
		t.user_id = db_col_int(st, 0);
		t.account_id = db_col_int(st, 1);
	}
	db_reset(st);
	if (t.user_id == 0) {
		fprintf(stderr, "tessera token add: no active user %s\n",
		    o->email);
		return 1;
	}
	t.kind = "user";
	t.description = o->description;
	t.scopes = g.scopes;
	t.expires_at = g.expires_at;
	t.allowed_ips = ips;
	if (token_create(db, pepper, &t, &m) == -1) {
		fprintf(stderr, "tessera token add: could not create the "
		    "token\n");
		return 1;
	}
	audit_made(db, &t, m.key);
	print_made(&m);
	return 0;
}

/* tessera token add-via: a Via token for a destination (made if new). */
static int
add_via_token(struct config *cfg, struct db *db,
    const unsigned char *pepper, const struct cli_token_opts *o)
{
	struct token_new	 t = { 0 };
	struct token_made	 m;
	struct grant		 g;
	char			 norm[256], desc[1024];
	char			 ips[TOKEN_IPS_MAX];
	struct dbq	*st;
	long long		 acct, uid, dest;

	const char		*why = "it is required";

	if (o->account == NULL || o->destination == NULL ||
	    !text_plain(o->destination, 200, &why) ||
	    (o->description && !text_plain(o->description, 200, &why))) {
		fprintf(stderr, "tessera token add-via: --account and "
		    "--destination (1 to 200 characters of plain text) are "
		    "required; --destination or --description cannot be used: "
		    "%s\n", why);
		return 2;
	}
	if (decide(cfg, o, "via", &g, ips, sizeof(ips)) == -1)
		return 2;
	snprintf(desc, sizeof(desc), "%s", o->description ? o->description :
	    "");
	if (desc[0] == '\0')
		snprintf(desc, sizeof(desc), "%s", o->destination);
	if ((acct = lookup(db, "account_by_name", NULL, 0, ":name",
	    o->account)) <= 0) {
		fprintf(stderr, "tessera token add-via: no account \"%s\"\n",
		    o->account);
		return 1;
	}
	if (o->email != NULL) {
		if (auth_email_norm(o->email, norm, sizeof(norm)) == -1 ||
		    (st = db_query(db, "user_by_email")) == NULL ||
		    db_bind_text(st, ":email_norm", norm)) {
			fprintf(stderr, "tessera token add-via: bad --email\n");
			return 2;
		}
		uid = 0;
		if (db_step(st) == DB_ROW &&
		    db_col_int(st, 1) == acct &&
		    (int)db_col_int(st, 5) == 1)
			uid = db_col_int(st, 0);
		db_reset(st);
	} else
		uid = lookup(db, "account_first_admin", ":account_id", acct,
		    NULL, NULL);
	if (uid <= 0) {
		fprintf(stderr, "tessera token add-via: no active %s in "
		    "account \"%s\" to own the token\n",
		    o->email ? "user with that email" : "admin", o->account);
		return 1;
	}
	if (db_tx(db, DB_BEGIN) != DB_OK) {
		fprintf(stderr, "tessera token add-via: %s\n", db_errmsg(db));
		return 1;
	}
	dest = lookup(db, "destination_by_name", ":account_id", acct,
	    ":name", o->destination);
	if (dest == 0 && ((st = db_query(db, "destination_add")) == NULL ||
	    db_bind_int64(st, ":account_id", acct) ||
	    db_bind_text(st, ":name", o->destination) ||
	    db_bind_text(st, ":type", "via") ||
	    db_bind_text(st, ":config", "{}") ||
	    db_bind_int64(st, ":created_by", uid) ||
	    db_bind_int64(st, ":now", clock_now()) ||
	    db_run(db, st) != 0 ||
	    (dest = db_last_id(db)) <= 0))
		dest = -1;
	t.kind = "via";
	t.description = desc;
	t.account_id = acct;
	t.user_id = uid;
	t.destination_id = dest;
	t.scopes = g.scopes;
	t.expires_at = g.expires_at;
	t.allowed_ips = ips;
	if (dest <= 0 || token_create(db, pepper, &t, &m) == -1 ||
	    audit_made(db, &t, m.key) == -1 ||
	    db_tx(db, DB_COMMIT) != DB_OK) {
		sodium_memzero(m.secret, sizeof(m.secret));
		if (db_in_tx(db))
			db_tx(db, DB_ROLLBACK);
		fprintf(stderr, "tessera token add-via: could not create the "
		    "token\n");
		return 1;
	}
	printf("Via token for destination \"%s\" (account \"%s\")\n",
	    o->destination, o->account);
	print_made(&m);
	printf("The token is shown only now; store it in the destination's "
	    "settings.\n");
	return 0;
}

/* The token named by key: id, account and owner. 1, 0 (none) or -1. */
static int
find(struct db *db, const char *key, long long *id, long long *acct,
    long long *uid)
{
	struct dbq	*st = db_query(db, "token_by_key");
	int		 rc;

	if (!token_key_valid(key))
		return 0;
	if (st == NULL || db_bind_text(st, ":key", key))
		return -1;
	if ((rc = db_step(st)) == DB_ROW) {
		*id = db_col_int(st, 0);
		*acct = db_col_int(st, 4);
		*uid = db_col_int(st, 5);
	}
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/* tessera token show KEY: what the token may do, never a secret. */
static int
show(struct db *db, const char *key)
{
	struct dbq	*st = db_query(db, "token_by_key");
	char		 names[160], t[32];
	int		 rc, i;

	if (!token_key_valid(key) || st == NULL || db_bind_text(st, ":key",
	    key))
		goto none;
	if ((rc = db_step(st)) != DB_ROW) {
		db_reset(st);
		goto none;
	}
	for (i = 0; i < db_col_count(st); i++) {
		const char *name = db_col_name(st, i);
		const char *v = db_col_text(st, i);

		if (strcmp(name, "scopes") == 0)
			v = scope_names((uint32_t)db_col_int(st, i),
			    " ", names, sizeof(names));
		else if (strstr(name, "_at") != NULL &&
		    db_col_type(st, i) == DB_INTEGER)
			v = iso8601(db_col_int(st, i), t, sizeof(t));
		else if (strcmp(name, "id") == 0 ||
		    strcmp(name, "account_id") == 0 ||
		    strcmp(name, "user_id") == 0 ||
		    strcmp(name, "parent_id") == 0 ||
		    strcmp(name, "destination_id") == 0)
			continue;
		printf("%-14s %s\n", name, v ? v : "-");
	}
	db_reset(st);
	return 0;
none:
	fprintf(stderr, "tessera token show: no token %s\n", key);
	return 1;
}

/* tessera token rotate|activate|deactivate|enable|disable KEY: the
 * switch is token_switch's, the page's and the API's rules (lineage). */
static int
change(struct config *cfg, struct db *db, const unsigned char *pepper,
    const struct cli_token_opts *o)
{
	char		 secret[TOKEN_SECRET_LEN + 1], detail[64], until[32];
	long long	 id = 0, acct = 0, uid = 0, grace = 86400, prev;
	int		 rc, sqlrc, on;

	(void)cfg;
	if (o->grace_seconds != NULL && number(o->grace_seconds, 0,
	    GRACE_MAX, &grace) == -1) {
		fprintf(stderr, "tessera token rotate: --grace-seconds is 0 to "
		    "%d\n", GRACE_MAX);
		return 2;
	}
	if ((rc = find(db, o->key ? o->key : "", &id, &acct, &uid)) != 1) {
		fprintf(stderr, "tessera token %s: no token %s\n", o->sub,
		    o->key ? o->key : "");
		return 1;
	}
	if (strcmp(o->sub, "rotate") == 0) {
		if (token_rotate(db, pepper, id, grace, uid, secret, &prev,
		    &sqlrc) == -1) {
			fprintf(stderr, "tessera token rotate: failed\n");
			return 1;
		}
		printf("Token Key: %s\nToken:     %s\n", o->key, secret);
		sodium_memzero(secret, sizeof(secret));
		if (prev)
			printf("The previous token works until %s.\n",
			    iso8601(prev, until, sizeof(until)));
		else
			printf("The previous token no longer works.\n");
		snprintf(detail, sizeof(detail), "grace %llds", grace);
		audit_write_cli(db, acct, "token.rotated", o->key, detail);
		return 0;
	}
	on = strcmp(o->sub, "activate") == 0 || strcmp(o->sub, "enable") == 0;
	if ((rc = token_switch(db, id, on, uid, 0)) != 0) {
		fprintf(stderr, "tessera token %s: %s\n", o->sub, rc == 1 ?
		    "the token it was made from is switched off: activate "
		    "that one first" : "failed");
		return 1;
	}
	rc = (int)db_changes(db);
	if (!on && rc > 1)
		snprintf(detail, sizeof(detail), "with %d token%s made from "
		    "it", rc - 1, rc == 2 ? "" : "s");
	else
		detail[0] = '\0';
	audit_write_cli(db, acct, on ? "token.activated" : "token.deactivated",
	    o->key, detail);
	printf("%s %s%s%s\n", on ? "activated" : "deactivated", o->key,
	    detail[0] ? ", " : "", detail);
	return 0;
}

int
cli_token(struct config *cfg, const struct cli_token_opts *o)
{
	struct db		 db;
	unsigned char		 pepper[PEPPER_LEN];
	char			 err[1024];
	int			 rc;

	static const char *const subs[] = { "activate", "add", "add-via",
	    "deactivate", "disable", "enable", "list", "rotate", "show" };
	size_t			 i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(o->sub, subs[i]) == 0)
			break;
	if (i == sizeof(subs) / sizeof(subs[0])) {
		fprintf(stderr, "tessera token: unknown command %s\n", o->sub);
		return 2;
	}
	if (data_pepper(cfg, pepper, err, sizeof(err)) == -1 ||
	    db_open(&db, cfg, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "tessera token: %s\n", err);
		sodium_memzero(pepper, sizeof(pepper));
		return 1;
	}
	if (strcmp(o->sub, "add") == 0)
		rc = add_user_token(cfg, &db, pepper, o);
	else if (strcmp(o->sub, "add-via") == 0)
		rc = add_via_token(cfg, &db, pepper, o);
	else if (strcmp(o->sub, "show") == 0)
		rc = show(&db, o->key ? o->key : "");
	else if (strcmp(o->sub, "list") == 0)
		rc = cli_token_list(&db, o);
	else
		rc = change(cfg, &db, pepper, o);
	sodium_memzero(pepper, sizeof(pepper));
	db_close(&db);
	return rc;
}
