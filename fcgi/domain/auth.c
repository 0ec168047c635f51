/*
 * auth.c -- the pure parts of authentication: password hashing, random
 * tokens, keyed hashes, constant-time comparison, the login throttle
 * window and the same-origin check. No database here (see session.c).
 */
#include <ctype.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

#include "domain.h"
#include "lib/lib.h"

/* A valid Argon2id hash (interactive limits) of a random password nobody
 * knows: verifying against it costs what verifying a real one costs, so an
 * unknown email takes as long as a wrong password. */
static const char dummy_hash[AUTH_HASH_MAX] =
    "$argon2id$v=19$m=65536,t=2,p=1$qG3CtkXEQhRY2LV2ethDfg$"
    "v34FgzrgzhWe+tVjTwzoHBKfa+/biFDZfj25Zd00z0Q";

int
auth_hash_password(const char *pw, size_t len, char out[AUTH_HASH_MAX])
{
	if (crypto_pwhash_str(out, pw, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return -1;	/* out of memory */
	return 0;
}

/* Returns 1 when pw matches hash. A NULL hash (an unknown user) or an
 * empty one (an invited user, no password yet) verifies against the dummy
 * (and always fails), doing the same work. */
int
auth_verify_password(const char *hash, const char *pw, size_t len)
{
	char	 h[AUTH_HASH_MAX];
	int	 ok, real = hash != NULL && hash[0] != '\0';

	/* libsodium reads a full crypto_pwhash_STRBYTES buffer. */
	memset(h, 0, sizeof(h));
	snprintf(h, sizeof(h), "%s", real ? hash : dummy_hash);
	ok = crypto_pwhash_str_verify(h, pw, len) == 0;
	return real && ok;
}

/* 1 when hash was made with other limits than today's. */
int
auth_needs_rehash(const char *hash)
{
	char	 h[AUTH_HASH_MAX];

	memset(h, 0, sizeof(h));
	snprintf(h, sizeof(h), "%s", hash);
	return crypto_pwhash_str_needs_rehash(h,
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0;
}

/* Fills out with 32 random bytes in unpadded base64url (43 characters and
 * a NUL; out must hold AUTH_TOKEN_LEN + 1). */
void
auth_random_token(char out[AUTH_TOKEN_LEN + 1])
{
	unsigned char	 raw[32];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, AUTH_TOKEN_LEN + 1, raw, sizeof(raw),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

/* The session's CSRF token, derived from its cookie value: the keyed
 * BLAKE2b (pepper) of "csrf" and the value, base64url. Nothing is stored:
 * a copy of the database gives neither the cookie nor the token, and
 * the token changes with every session. */
void
auth_csrf_of(const unsigned char pepper[PEPPER_LEN], const char *cookie,
    char out[AUTH_TOKEN_LEN + 1])
{
	crypto_generichash_state st;
	unsigned char	 h[32];

	crypto_generichash_init(&st, pepper, PEPPER_LEN, sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)"csrf", 5);
	crypto_generichash_update(&st, (const unsigned char *)cookie,
	    strlen(cookie));
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2base64(out, AUTH_TOKEN_LEN + 1, h, sizeof(h),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(h, sizeof(h));
	sodium_memzero(&st, sizeof(st));
}

/* A password for people to type: 20 characters of [A-Za-z0-9] (119 bits). */
void
auth_random_password(char out[21])
{
	static const char al[] =
	    "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
	size_t	 i;

	for (i = 0; i < 20; i++)
		out[i] = al[randombytes_uniform(sizeof(al) - 1)];
	out[20] = '\0';
}

/* BLAKE2b-256 of in, keyed with the pepper. */
void
auth_keyed_hash(const unsigned char pepper[PEPPER_LEN], const void *in,
    size_t len, unsigned char out[32])
{
	crypto_generichash(out, 32, in, len, pepper, PEPPER_LEN);
}

/* Constant-time equality of two strings; lengths are not secret. NULL
 * never equals anything. */
int
auth_str_eq(const char *a, const char *b)
{
	size_t	 n;

	if (a == NULL || b == NULL || (n = strlen(a)) != strlen(b) || n == 0)
		return 0;
	return sodium_memcmp(a, b, n) == 0;
}

/* The login throttle: with failures failed attempts in the window (the
 * oldest at time oldest), may another be tried at now? Returns 0 when
 * allowed, else the seconds until the oldest failure leaves the window
 * (at least 1): the Retry-After value. */
long long
auth_throttle(long long failures, long long oldest, long long now,
    long long max, long long window)
{
	long long	 wait;

	if (failures < max)
		return 0;
	wait = oldest + window - now;
	return wait < 1 ? 1 : wait;
}

/* The slow-down of one email's logins: past max failures in the window
 * (the newest at time newest), each further try waits 2, 4, 8 ... up to
 * 60 seconds after the last failure. Returns 0 when a try is allowed now,
 * else the seconds to wait. It only ever delays: the lock is per (email,
 * address), so nobody can lock the right password out from elsewhere. */
long long
auth_slowdown(long long failures, long long newest, long long now,
    long long max)
{
	long long	 k, delay, wait;

	if (failures < max)
		return 0;
	k = failures - max + 1;
	delay = k >= 6 ? 60 : 1LL << k;
	wait = newest + delay - now;
	return wait > 0 ? wait : 0;
}

/* Normalises an email for matching (trimmed, lower case) into out. Returns
 * 0, or -1 when it does not look like local@domain (one '@', no spaces or
 * controls, at most 254 bytes). */
int
auth_email_norm(const char *in, char *out, size_t outlen)
{
	const char	*s = in, *e;
	size_t		 n, i, at = 0, ats = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	n = (size_t)(e - s);
	if (n < 3 || n > 254 || n >= outlen)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == 0x7f || c == '<' || c == '>' ||
		    c == '"' || c == ',' || c == ';')
			return -1;
		if (c == '@') {
			ats++;
			at = i;
		}
		out[i] = (char)tolower(c);
	}
	out[n] = '\0';
	if (ats != 1 || at == 0 || at == n - 1 ||
	    !utf8_valid(out, n))
		return -1;
	return 0;
}

