/*
 * test_credentials.c -- api_credentials: the three ways a program sends a
 * token (Basic key:secret, Bearer secret, ?key=&token=), and the Basic
 * header's base64 (libsodium's decoder): padding optional but exact when
 * present, nothing but the alphabet, the decoded text one "key:secret"
 * without a NUL, and what does not fit refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tessera.h"

/* api_credentials on a request with this Authorization header (NULL:
 * none) and this query string (NULL: none). */
static int
creds(const char *authorization, const char *query, char *key, size_t kl,
    char *secret, size_t sl)
{
	struct req	 r;
	int		 rc;

	memset(&r, 0, sizeof(r));
	r.authorization = (char *)authorization;
	if (query != NULL)
		assert_int_equal(kv_parse_urlencoded(&r.query, query,
		    strlen(query), 16), PARSE_OK);
	rc = api_credentials(&r, key, kl, secret, sl);
	kv_free(&r.query);
	return rc;
}

static int
basic(const char *value, char *key, char *secret)
{
	char	 h[600];

	snprintf(h, sizeof(h), "Basic %s", value);
	return creds(h, NULL, key, 64, secret, 128);
}

static void
basic_padding(void **state)
{
	char	 key[64], secret[128];

	(void)state;
	/* "k:secret1" is 9 bytes: base64 with one "=" of padding. */
	assert_int_equal(basic("azpzZWNyZXQx", key, secret), 0);
	assert_string_equal(key, "k");
	assert_string_equal(secret, "secret1");
	assert_int_equal(basic("azpzZWNyZXQx", key, secret), 0);
	/* "k:s" (3 bytes, no padding); "k:se" (4 bytes, "==") */
	assert_int_equal(basic("azpz", key, secret), 0);
	assert_string_equal(secret, "s");
	assert_int_equal(basic("azpzZQ==", key, secret), 0);
	assert_string_equal(secret, "se");
	assert_int_equal(basic("azpzZQ", key, secret), 0);	/* unpadded */
	assert_string_equal(secret, "se");
	/* Padding present must be exact. */
	assert_int_equal(basic("azpzZQ=", key, secret), -1);
	assert_int_equal(basic("azpzZQ===", key, secret), -1);
	assert_int_equal(basic("azpz=", key, secret), -1);
	assert_int_equal(basic("=", key, secret), -1);
	/* Only the alphabet: no white space, no URL-safe letters inside. */
	assert_int_equal(basic("azpz ZQ==", key, secret), -1);
	assert_int_equal(basic("azpz\nZQ==", key, secret), -1);
	assert_int_equal(basic("a-pzZQ==", key, secret), -1);
	assert_int_equal(basic("!!!notbase64!!!", key, secret), -1);
	/* Spaces after the scheme are skipped; the scheme is any case. */
	assert_int_equal(creds("basic    azpzZQ==", NULL, key, 64, secret,
	    128), 0);
	assert_string_equal(secret, "se");
}

static void
basic_content(void **state)
{
	char	 key[64], secret[128];

	(void)state;
	assert_int_equal(basic("bm9jb2xvbg==", key, secret), -1); /* nocolon */
	assert_int_equal(basic("azoAcw==", key, secret), -1);	/* "k:\0s" */
	assert_int_equal(basic("", key, secret), -1);
	/* What does not fit is refused, not cut. */
	assert_int_equal(creds("Basic azpzZQ==", NULL, key, 1, secret, 128),
	    -1);
	assert_int_equal(creds("Basic azpzZQ==", NULL, key, 64, secret, 2),
	    -1);
	assert_int_equal(creds("Basic azpzZQ==", NULL, key, 64, secret, 3),
	    0);
	assert_string_equal(key, "k");
	assert_string_equal(secret, "se");
}

static void
bearer_and_query(void **state)
{
	char	 key[64], secret[128];

	(void)state;
	assert_int_equal(creds("Bearer tsr_abc", NULL, key, 64, secret, 128),
	    0);
	assert_string_equal(key, "");
	assert_string_equal(secret, "tsr_abc");
	assert_int_equal(creds("Digest x", "key=k&token=t", key, 64, secret,
	    128), -1);		/* another scheme, query not looked at */
	assert_int_equal(creds(NULL, "key=k&token=t", key, 64, secret, 128),
	    0);
	assert_string_equal(key, "k");
	assert_string_equal(secret, "t");
	assert_int_equal(creds("", "key=k&token=t", key, 64, secret, 128), 0);
	assert_int_equal(creds(NULL, "key=k", key, 64, secret, 128), -1);
	assert_int_equal(creds(NULL, NULL, key, 64, secret, 128), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(basic_padding),
		cmocka_unit_test(basic_content),
		cmocka_unit_test(bearer_and_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
