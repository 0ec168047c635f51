/*
 * test_token.c -- token keys and secrets: format, checksum, keyed hash,
 * no collisions in 100,000.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "tessera.h"

static const char alphabet[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void
t_crc32(void **state)
{
	(void)state;
	/* The standard check value of CRC-32/ISO-HDLC. */
	assert_int_equal(token_crc32("123456789", 9), 0xcbf43926u);
	assert_int_equal(token_crc32("", 0), 0);
}

static void
t_secret_format(void **state)
{
	char	 s[TOKEN_SECRET_LEN + 1];
	size_t	 i;
	int	 round;

	(void)state;
	for (round = 0; round < 200; round++) {
		token_new_secret(s);
		assert_int_equal(strlen(s), 53);
		assert_memory_equal(s, "tsr_", 4);
		for (i = 4; i < strlen(s); i++)
			assert_non_null(strchr(alphabet, s[i]));
		assert_null(strchr(s, '-'));
		assert_true(token_secret_valid(s, strlen(s)));
	}
}

static void
t_checksum_catches_one_change(void **state)
{
	char	 s[TOKEN_SECRET_LEN + 1], m[TOKEN_SECRET_LEN + 1];
	size_t	 i;

	(void)state;
	token_new_secret(s);
	for (i = 0; i < TOKEN_SECRET_LEN; i++) {
		memcpy(m, s, sizeof(m));
		/* The next character of the alphabet (or another prefix). */
		m[i] = i < 4 ? (char)(m[i] == 'x' ? 'y' : 'x') :
		    alphabet[(strchr(alphabet, m[i]) - alphabet + 1) % 62];
		assert_false(token_secret_valid(m, strlen(m)));
	}
	/* Two neighbours swapped. */
	memcpy(m, s, sizeof(m));
	for (i = 4; i + 1 < TOKEN_SECRET_LEN && m[i] == m[i + 1]; i++)
		;
	m[i] = s[i + 1];
	m[i + 1] = s[i];
	assert_false(token_secret_valid(m, strlen(m)));
	/* Wrong lengths, foreign characters, no prefix. */
	assert_false(token_secret_valid(s, TOKEN_SECRET_LEN - 1));
	memcpy(m, s, sizeof(m));
	m[10] = '-';
	assert_false(token_secret_valid(m, strlen(m)));
	memcpy(m, s, sizeof(m));
	m[10] = '\0';
	assert_false(token_secret_valid(m, TOKEN_SECRET_LEN));
	assert_false(token_secret_valid("", 0));
	assert_false(token_secret_valid(s + 4, strlen(s + 4)));
}

static void
t_key_format(void **state)
{
	char	 k[TOKEN_KEY_LEN + 1];

	(void)state;
	token_new_key(k);
	assert_int_equal(strlen(k), 36);
	assert_int_equal(k[14], '4');			/* version */
	assert_non_null(strchr("89ab", k[19]));		/* variant */
	assert_true(token_key_valid(k));
	assert_false(token_key_valid("not-a-key"));
	k[0] = 'G';
	assert_false(token_key_valid(k));
	assert_false(token_key_valid("00000000-0000-4000-8000-00000000000"));
	assert_true(token_key_valid("00000000-0000-4000-8000-000000000000"));
	assert_false(token_key_valid("00000000-0000-4000-8000-00000000000A"));
}

static void
t_hash_is_keyed(void **state)
{
	unsigned char	 p1[PEPPER_LEN], p2[PEPPER_LEN], a[32], b[32], c[32];
	char		 s[TOKEN_SECRET_LEN + 1];

	(void)state;
	randombytes_buf(p1, sizeof(p1));
	randombytes_buf(p2, sizeof(p2));
	token_new_secret(s);
	token_hash(p1, s, strlen(s), a);
	token_hash(p1, s, strlen(s), b);
	token_hash(p2, s, strlen(s), c);
	assert_memory_equal(a, b, 32);
	assert_memory_not_equal(a, c, 32);
	/* Not the unkeyed BLAKE2b either. */
	crypto_generichash(c, 32, (unsigned char *)s, strlen(s), NULL, 0);
	assert_memory_not_equal(a, c, 32);
}

static int
cmp53(const void *a, const void *b)
{
	return memcmp(a, b, TOKEN_SECRET_LEN);
}

static int
cmp36(const void *a, const void *b)
{
	return memcmp(a, b, TOKEN_KEY_LEN);
}

static void
t_no_collisions(void **state)
{
	enum { N = 100000 };
	char	*keys, *secs;
	size_t	 i;

	(void)state;
	keys = malloc((size_t)N * (TOKEN_KEY_LEN + 1));
	secs = malloc((size_t)N * (TOKEN_SECRET_LEN + 1));
	assert_non_null(keys);
	assert_non_null(secs);
	for (i = 0; i < N; i++) {
		token_new_key(keys + i * (TOKEN_KEY_LEN + 1));
		token_new_secret(secs + i * (TOKEN_SECRET_LEN + 1));
	}
	qsort(keys, N, TOKEN_KEY_LEN + 1, cmp36);
	qsort(secs, N, TOKEN_SECRET_LEN + 1, cmp53);
	for (i = 1; i < N; i++) {
		assert_int_not_equal(cmp36(keys + (i - 1) * (TOKEN_KEY_LEN + 1),
		    keys + i * (TOKEN_KEY_LEN + 1)), 0);
		assert_int_not_equal(cmp53(secs + (i - 1) * (TOKEN_SECRET_LEN + 1),
		    secs + i * (TOKEN_SECRET_LEN + 1)), 0);
	}
	free(keys);
	free(secs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_crc32),
		cmocka_unit_test(t_secret_format),
		cmocka_unit_test(t_checksum_catches_one_change),
		cmocka_unit_test(t_key_format),
		cmocka_unit_test(t_hash_is_keyed),
		cmocka_unit_test(t_no_collisions),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
