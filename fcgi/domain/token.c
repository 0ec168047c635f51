/*
 * token.c -- API token crypto: keys, secrets, their checksum and hash.
 *
 * key:    a random UUIDv4 ("username"), public.
 * secret: "tsr_" + 32 random bytes in base62 (43 characters, zero-padded)
 *         + CRC32 of the preceding characters in base62 (6 characters):
 *         53 characters of [A-Za-z0-9_], no hyphens, so a leaked secret
 *         is recognisable by secret scanners and a typo is caught before
 *         any lookup. Shown once.
 * stored: BLAKE2b-256 of the secret keyed with the pepper; compared with
 *         sodium_memcmp.
 */
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "domain.h"
#include "lib/lib.h"
#include "store/store.h"

static const char b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32), table-driven. */
uint32_t
token_crc32(const void *p, size_t n)
{
	static uint32_t		 table[256];
	static int		 ready;
	const unsigned char	*s = p;
	uint32_t		 c;
	int			 i, k;

	if (!ready) {
		for (i = 0; i < 256; i++) {
			c = (uint32_t)i;
			for (k = 0; k < 8; k++)
				c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
			table[i] = c;
		}
		ready = 1;
	}
	c = 0xffffffffu;
	while (n--)
		c = table[(c ^ *s++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

/* Writes the big-endian number in[0..inlen) as exactly digits base62
 * characters (zero-padded) into out. The number must fit. */
static void
base62(const unsigned char *in, size_t inlen, char *out, size_t digits)
{
	unsigned char	 num[64];
	size_t		 i, d;
	unsigned int	 rem;

	memcpy(num, in, inlen);
	for (d = digits; d > 0; d--) {
		rem = 0;
		for (i = 0; i < inlen; i++) {
			unsigned int cur = rem * 256 + num[i];

			num[i] = (unsigned char)(cur / 62);
			rem = cur % 62;
		}
		out[d - 1] = b62[rem];
	}
	sodium_memzero(num, sizeof(num));
}

static void
checksum(const char *s, size_t n, char out[TOKEN_CRC_LEN])
{
	uint32_t	 c = token_crc32(s, n);
	unsigned char	 be[4] = { c >> 24, c >> 16, c >> 8, c };

	base62(be, 4, out, TOKEN_CRC_LEN);
}

void
token_new_secret(char out[TOKEN_SECRET_LEN + 1])
{
	unsigned char	 raw[32];
	size_t		 p = sizeof(TOKEN_PREFIX) - 1;

	randombytes_buf(raw, sizeof(raw));
	memcpy(out, TOKEN_PREFIX, p);
	base62(raw, sizeof(raw), out + p, TOKEN_BODY_LEN);
	sodium_memzero(raw, sizeof(raw));
	checksum(out, p + TOKEN_BODY_LEN, out + p + TOKEN_BODY_LEN);
	out[TOKEN_SECRET_LEN] = '\0';
}

int
token_secret_valid(const char *s, size_t n)
{
	size_t	 p = sizeof(TOKEN_PREFIX) - 1, i;
	char	 sum[TOKEN_CRC_LEN];

	if (n != TOKEN_SECRET_LEN || memcmp(s, TOKEN_PREFIX, p) != 0)
		return 0;
	for (i = p; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
			return 0;
	checksum(s, p + TOKEN_BODY_LEN, sum);
	return memcmp(sum, s + p + TOKEN_BODY_LEN, TOKEN_CRC_LEN) == 0;
}

const char *
token_secret_problem(const char *s, size_t n)
{
	size_t	 p = sizeof(TOKEN_PREFIX) - 1, i;
	char	 sum[TOKEN_CRC_LEN];

	if (n < p || memcmp(s, TOKEN_PREFIX, p) != 0)
		return "it does not start with " TOKEN_PREFIX;
	if (n != TOKEN_SECRET_LEN)
		return n < TOKEN_SECRET_LEN ? "it is too short for a token" :
		    "it is too long for a token";
	for (i = p; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
			return "it has a character a token never has (only "
			    "A-Z, a-z and 0-9 follow the prefix)";
	checksum(s, p + TOKEN_BODY_LEN, sum);
	if (sodium_memcmp(sum, s + p + TOKEN_BODY_LEN, TOKEN_CRC_LEN) != 0)
		return "its checksum does not match (a character is wrong, "
		    "missing or swapped)";
	return NULL;
}

void
token_new_key(char out[TOKEN_KEY_LEN + 1])
{
	unsigned char	 u[16];
	static const char hex[] = "0123456789abcdef";
	size_t		 i, o = 0;

	randombytes_buf(u, sizeof(u));
	u[6] = (u[6] & 0x0f) | 0x40;	/* version 4 */
	u[8] = (u[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[u[i] >> 4];
		out[o++] = hex[u[i] & 15];
	}
	out[o] = '\0';
}

int
token_key_valid(const char *s)
{
	size_t	 i;

	if (strlen(s) != TOKEN_KEY_LEN)
		return 0;
	for (i = 0; i < TOKEN_KEY_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

void
token_hash(const unsigned char pepper[PEPPER_LEN], const char *secret,
    size_t n, unsigned char out[32])
{
	auth_keyed_hash(pepper, secret, n, out);
}

int
token_create(struct db *db, const unsigned char pepper[PEPPER_LEN],
    const struct token_new *t, struct token_made *out)
{
	struct dbq	*st;
	unsigned char	 h[32];
	long long	 now = clock_now();
	int		 tries;

	for (tries = 0; tries < 3; tries++) {
		token_new_key(out->key);
		token_new_secret(out->secret);
		token_hash(pepper, out->secret, TOKEN_SECRET_LEN, h);
		if ((st = db_query(db, "token_add")) == NULL)
			return -1;
		if (db_bind_text(st, ":key", out->key) ||
		    db_bind_blob(st, ":secret_hash", h, sizeof(h)) ||
		    db_bind_text(st, ":kind", t->kind) ||
		    db_bind_text(st, ":description", t->description) ||
		    db_bind_int64(st, ":account_id", t->account_id) ||
		    db_bind_int64(st, ":user_id", t->user_id) ||
		    db_bind_int64(st, ":now", now) ||
		    db_bind_int64(st, ":scopes", t->scopes) ||
		    db_bind_text(st, ":allowed_ips",
		    t->allowed_ips ? t->allowed_ips : ""))
			return -1;
		if ((t->destination_id > 0 &&
		    db_bind_int64(st, ":destination_id", t->destination_id)) ||
		    (t->parent_id > 0 &&
		    db_bind_int64(st, ":parent_id", t->parent_id)) ||
		    (t->expires_at > 0 &&
		    db_bind_int64(st, ":expires_at", t->expires_at)))
			return -1;
		out->rc = db_run(db, st);
		if (out->rc == 0) {
			out->id = db_last_id(db);
			out->created_at = now;
			return 0;
		}
		/* A UUID or secret collision is astronomically unlikely;
		 * anything else is a real error. */
		if (out->rc != DB_UNIQUE)
			break;
	}
	sodium_memzero(out->secret, sizeof(out->secret));
	return -1;
}

int
token_rotate(struct db *db, const unsigned char pepper[PEPPER_LEN],
    long long id, long long grace, long long actor,
    char secret[TOKEN_SECRET_LEN + 1], long long *prev_expires, int *rc)
{
	struct dbq	*st;
	unsigned char	 h[32];
	long long	 now = clock_now();
	int		 tries;

	*prev_expires = grace > 0 ? now + grace : 0;
	for (tries = 0; tries < 3; tries++) {
		token_new_secret(secret);
		token_hash(pepper, secret, TOKEN_SECRET_LEN, h);
		if ((st = db_query(db, "token_rotate")) == NULL ||
		    db_bind_blob(st, ":secret_hash", h, sizeof(h)) ||
		    db_bind_int64(st, ":now", now) ||
		    db_bind_int64(st, ":actor", actor) ||
		    db_bind_int64(st, ":id", id) ||
		    (grace > 0 && db_bind_int64(st, ":prev_expires_at",
		    *prev_expires))) {
			*rc = DB_ERROR;
			break;
		}
		if ((*rc = db_run(db, st)) == 0) {
			sodium_memzero(h, sizeof(h));
			return 0;
		}
		if (*rc != DB_UNIQUE)
			break;
	}
	sodium_memzero(h, sizeof(h));
	sodium_memzero(secret, TOKEN_SECRET_LEN + 1);
	return -1;
}

int
token_switch(struct db *db, long long id, int active, long long actor,
    long long by_token)
{
	struct dbq	*st;

	if ((st = db_query(db, active ? "token_activate" :
	    "token_deactivate_tree")) == NULL ||
	    db_bind_int64(st, ":now", clock_now()) ||
	    db_bind_int64(st, ":actor", actor) ||
	    db_bind_int64(st, ":id", id) ||
	    (active && by_token > 0 &&
	    db_bind_int64(st, ":by_token", by_token)))
		return -1;
	if (db_run(db, st) != 0)
		return -1;
	return db_changes(db) > 0 ? 0 : 1;
}
