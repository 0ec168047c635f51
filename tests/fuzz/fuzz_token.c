/*
 * fuzz_token.c -- token_secret_valid and token_key_valid over arbitrary
 * bytes, plus the checksum's promise.
 *
 * Invariants: a valid secret is exactly TOKEN_SECRET_LEN bytes of "tsr_"
 * and [0-9A-Za-z]; a valid key is a lower-case 8-4-4-4-12 UUID. With 32 or
 * more input bytes, a secret built from the first 32 bytes the way
 * token_new_secret builds it (base62 of the bytes, then the base62 CRC32)
 * must be valid, and changing any one of its bytes (position and new
 * value chosen by the input) must make it invalid: CRC32 catches every
 * single-byte change. A fresh token_new_secret / token_new_key must be
 * valid too. Any violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tessera.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int LLVMFuzzerInitialize(int *, char ***);

static const char b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* The big-endian number in[0..n) as exactly digits base62 characters,
 * most significant first (a second implementation, by long division). */
static void
to_base62(const unsigned char *in, size_t n, char *out, size_t digits)
{
	unsigned char	 num[32];
	size_t		 i, d;
	unsigned int	 rem, cur;

	memcpy(num, in, n);
	for (d = digits; d-- > 0;) {
		rem = 0;
		for (i = 0; i < n; i++) {
			cur = rem * 256 + num[i];
			num[i] = (unsigned char)(cur / 62);
			rem = cur % 62;
		}
		out[d] = b62[rem];
	}
	for (i = 0; i < n; i++)
		if (num[i] != 0)
			abort();	/* the number did not fit */
}

static void
build_secret(const unsigned char raw[32], char out[TOKEN_SECRET_LEN + 1])
{
	uint32_t	 c;
	unsigned char	 be[4];

	memcpy(out, TOKEN_PREFIX, 4);
	to_base62(raw, 32, out + 4, TOKEN_BODY_LEN);
	c = token_crc32(out, 4 + TOKEN_BODY_LEN);
	be[0] = (unsigned char)(c >> 24);
	be[1] = (unsigned char)(c >> 16);
	be[2] = (unsigned char)(c >> 8);
	be[3] = (unsigned char)c;
	to_base62(be, 4, out + 4 + TOKEN_BODY_LEN, TOKEN_CRC_LEN);
	out[TOKEN_SECRET_LEN] = '\0';
}

static int
shape_ok(const char *s, size_t n)
{
	size_t	 i;

	if (n != TOKEN_SECRET_LEN || memcmp(s, TOKEN_PREFIX, 4) != 0)
		return 0;
	for (i = 4; i < n; i++)
		if (strchr(b62, s[i]) == NULL || s[i] == '\0')
			return 0;
	return 1;
}

static int
key_shape_ok(const char *s)
{
	size_t	 i;

	if (strlen(s) != TOKEN_KEY_LEN)
		return 0;
	for (i = 0; i < TOKEN_KEY_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (strchr("0123456789abcdef", s[i]) == NULL ||
		    s[i] == '\0')
			return 0;
	}
	return 1;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s, secret[TOKEN_SECRET_LEN + 1], key[TOKEN_KEY_LEN + 1];
	size_t	 pos;
	char	 old, c;

	/* The raw input, exact length (heap, so overreads are caught). */
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	if (token_secret_valid(s, size) && !shape_ok(s, size))
		abort();
	s[size] = '\0';
	if (token_key_valid(s) != key_shape_ok(s))
		abort();
	free(s);

	if (size < 32)
		return 0;
	build_secret(data, secret);
	if (!token_secret_valid(secret, TOKEN_SECRET_LEN))
		abort();
	/* Byte 32 picks the position, byte 33 the new value. */
	pos = size > 32 ? data[32] % TOKEN_SECRET_LEN : 0;
	c = size > 33 ? (char)data[33] : 'x';
	old = secret[pos];
	if (c != old) {
		secret[pos] = c;
		if (token_secret_valid(secret, TOKEN_SECRET_LEN))
			abort();
		secret[pos] = old;
	}
	/* Every other value at that position, too. */
	for (c = '0'; c <= 'z'; c++) {
		if (c == old)
			continue;
		secret[pos] = c;
		if (token_secret_valid(secret, TOKEN_SECRET_LEN))
			abort();
	}
	secret[pos] = old;
	/* Shorter or longer is never valid. */
	if (token_secret_valid(secret, TOKEN_SECRET_LEN - 1))
		abort();

	token_new_secret(secret);
	if (!token_secret_valid(secret, TOKEN_SECRET_LEN) ||
	    strlen(secret) != TOKEN_SECRET_LEN)
		abort();
	token_new_key(key);
	if (!token_key_valid(key))
		abort();
	return 0;
}
