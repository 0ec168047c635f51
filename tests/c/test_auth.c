/*
 * test_auth.c -- passwords, session ids and their keyed hashes, the CSRF
 * comparison and origin check, the login throttle window, emails.
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

static void
t_password(void **state)
{
	char	 h[AUTH_HASH_MAX], weak[AUTH_HASH_MAX];

	(void)state;
	assert_int_equal(auth_hash_password("s3cret pass", 11, h), 0);
	assert_true(strncmp(h, "$argon2id$", 10) == 0);
	assert_true(auth_verify_password(h, "s3cret pass", 11));
	assert_false(auth_verify_password(h, "s3cret pasS", 11));
	assert_false(auth_verify_password(h, "s3cret pas", 10));
	assert_false(auth_verify_password(h, "", 0));
	/* No hash (unknown user): the dummy is verified, never a match. */
	assert_false(auth_verify_password(NULL, "s3cret pass", 11));
	assert_false(auth_needs_rehash(h));
	/* A hash made with weaker limits asks to be rehashed. */
	assert_int_equal(crypto_pwhash_str(weak, "x", 1,
	    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN), 0);
	assert_true(auth_needs_rehash(weak));
	assert_true(auth_verify_password(weak, "x", 1));
}

static void
t_dummy_costs_the_same(void **state)
{
	char	 h[AUTH_HASH_MAX];
	double	 t0, real, dummy;

	(void)state;
	assert_int_equal(auth_hash_password("pw", 2, h), 0);
	t0 = mono_now();
	auth_verify_password(h, "other", 5);
	real = mono_now() - t0;
	t0 = mono_now();
	auth_verify_password(NULL, "other", 5);
	dummy = mono_now() - t0;
	/* Same Argon2 parameters: within a factor of three on a noisy box. */
	assert_true(dummy > real / 3 && dummy < real * 3);
}

/* An invited user's hash is "" (no password yet): refused after the same
 * Argon2 work as a wrong password, so a login's time does not tell that
 * the email is an invited person's. */
static void
t_empty_hash_costs_the_same(void **state)
{
	char	 h[AUTH_HASH_MAX];
	double	 t0, real, empty;

	(void)state;
	assert_int_equal(auth_hash_password("pw", 2, h), 0);
	t0 = mono_now();
	auth_verify_password(h, "other", 5);
	real = mono_now() - t0;
	t0 = mono_now();
	assert_false(auth_verify_password("", "other", 5));
	empty = mono_now() - t0;
	assert_false(auth_verify_password("", "", 0));
	assert_true(empty > real / 3 && empty < real * 3);
}

static int
b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
t_random_token(void **state)
{
	enum { N = 2000 };
	static char	 toks[N][AUTH_TOKEN_LEN + 1];
	size_t		 i, j;
	char		 pw[21];

	(void)state;
	for (i = 0; i < N; i++) {
		auth_random_token(toks[i]);
		assert_int_equal(strlen(toks[i]), AUTH_TOKEN_LEN);
		for (j = 0; j < AUTH_TOKEN_LEN; j++)
			assert_true(b64url(toks[i][j]));
	}
	qsort(toks, N, sizeof(toks[0]), cmpstr);
	for (i = 1; i < N; i++)
		assert_string_not_equal(toks[i - 1], toks[i]);
	auth_random_password(pw);
	assert_int_equal(strlen(pw), 20);
}

static void
t_keyed_hash(void **state)
{
	unsigned char	 p1[PEPPER_LEN], p2[PEPPER_LEN], a[32], b[32], c[32];
	char		 tok[AUTH_TOKEN_LEN + 1];

	(void)state;
	randombytes_buf(p1, sizeof(p1));
	memcpy(p2, p1, sizeof(p1));
	p2[0] ^= 1;
	auth_random_token(tok);
	auth_keyed_hash(p1, tok, strlen(tok), a);
	auth_keyed_hash(p1, tok, strlen(tok), b);
	auth_keyed_hash(p2, tok, strlen(tok), c);
	assert_memory_equal(a, b, 32);
	assert_memory_not_equal(a, c, 32);	/* the pepper matters */
	tok[0] = tok[0] == 'A' ? 'B' : 'A';
	auth_keyed_hash(p1, tok, strlen(tok), c);
	assert_memory_not_equal(a, c, 32);
}

static void
t_str_eq(void **state)
{
	(void)state;
	assert_true(auth_str_eq("abc", "abc"));
	assert_false(auth_str_eq("abc", "abd"));
	assert_false(auth_str_eq("abc", "abcd"));
	assert_false(auth_str_eq("", ""));
	assert_false(auth_str_eq(NULL, "abc"));
	assert_false(auth_str_eq("abc", NULL));
	assert_false(auth_str_eq(NULL, NULL));
}

static void
t_throttle(void **state)
{
	(void)state;
	/* Under the allowance: go ahead. */
	assert_int_equal(auth_throttle(0, 0, 1000, 5, 900), 0);
	assert_int_equal(auth_throttle(4, 500, 1000, 5, 900), 0);
	/* At it: wait until the oldest failure leaves the window. */
	assert_int_equal(auth_throttle(5, 500, 1000, 5, 900), 400);
	assert_int_equal(auth_throttle(9, 101, 1000, 5, 900), 1);
	/* Never less than a second. */
	assert_int_equal(auth_throttle(5, 100, 1000, 5, 900), 1);
	assert_int_equal(auth_throttle(5, 50, 1000, 5, 900), 1);
}

/* An email's slow-down: nothing under the allowance, then 2, 4, 8 ...
 * seconds after the newest failure, at most a minute; never a lock. */
static void
t_slowdown(void **state)
{
	(void)state;
	assert_int_equal(auth_slowdown(4, 1000, 1000, 5), 0);
	assert_int_equal(auth_slowdown(5, 1000, 1000, 5), 2);
	assert_int_equal(auth_slowdown(6, 1000, 1000, 5), 4);
	assert_int_equal(auth_slowdown(7, 1000, 1001, 5), 7);
	assert_int_equal(auth_slowdown(10, 1000, 1000, 5), 60);
	assert_int_equal(auth_slowdown(500, 1000, 1000, 5), 60);
	assert_int_equal(auth_slowdown(500, 1000, 1060, 5), 0);
	assert_int_equal(auth_slowdown(5, 1000, 1002, 5), 0);
}

static struct req
mkreq(const char *scheme, const char *host, const char *origin,
    const char *referer)
{
	struct req	 r;

	memset(&r, 0, sizeof(r));
	r.scheme = (char *)scheme;
	r.host = (char *)host;
	r.origin = (char *)origin;
	r.referer = (char *)referer;
	return r;
}

static void
t_same_origin(void **state)
{
	struct req	 r;

	(void)state;
	r = mkreq("http", "app.example", "http://app.example", NULL);
	assert_true(req_same_origin(&r));
	r = mkreq("http", "app.example", "HTTP://APP.EXAMPLE", NULL);
	assert_true(req_same_origin(&r));
	r = mkreq("https", "app.example", "http://app.example", NULL);
	assert_false(req_same_origin(&r));	/* scheme differs */
	r = mkreq("http", "app.example", "http://evil.example", NULL);
	assert_false(req_same_origin(&r));
	r = mkreq("http", "app.example", "http://app.example.evil", NULL);
	assert_false(req_same_origin(&r));
	r = mkreq("http", "app.example", "null", NULL);
	assert_false(req_same_origin(&r));
	r = mkreq("http", "app.example", NULL, "http://app.example/settings");
	assert_true(req_same_origin(&r));
	r = mkreq("http", "app.example", NULL, "http://app.example");
	assert_true(req_same_origin(&r));
	r = mkreq("http", "app.example", NULL, "http://app.example.evil/");
	assert_false(req_same_origin(&r));
	r = mkreq("http", "app.example", NULL, "http://evil.example/?http://app.example/");
	assert_false(req_same_origin(&r));
	r = mkreq("http", "app.example", NULL, NULL);
	assert_true(req_same_origin(&r));	/* the token still guards */
	r = mkreq("http", NULL, "http://app.example", NULL);
	assert_false(req_same_origin(&r));
}

static void
t_email_norm(void **state)
{
	char	 out[256];

	(void)state;
	assert_int_equal(auth_email_norm("  Alice@Example.COM ", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "alice@example.com");
	assert_int_equal(auth_email_norm("josé@exemplo.br", out, sizeof(out)),
	    0);
	assert_int_equal(auth_email_norm("no-at-sign", out, sizeof(out)), -1);
	assert_int_equal(auth_email_norm("a@b@c", out, sizeof(out)), -1);
	assert_int_equal(auth_email_norm("@b.c", out, sizeof(out)), -1);
	assert_int_equal(auth_email_norm("a@", out, sizeof(out)), -1);
	assert_int_equal(auth_email_norm("a b@c.d", out, sizeof(out)), -1);
	assert_int_equal(auth_email_norm("a<b@c.d", out, sizeof(out)), -1);
	assert_int_equal(auth_email_norm("a\r\n@c.d", out, sizeof(out)), -1);
	assert_int_equal(auth_email_norm("a@c.d\xff", out, sizeof(out)), -1);
	assert_int_equal(auth_email_norm("", out, sizeof(out)), -1);
	assert_int_equal(auth_email_norm("a@b.c", out, 4), -1);
}

static void
t_cookies(void **state)
{
	struct req	 r;
	char		 out[256];

	(void)state;
	r = mkreq("https", "app.example", NULL, NULL);
	assert_string_equal(session_cookie(&r), "__Host-tessera");
	session_set_cookie(&r, session_cookie(&r), "v", out, sizeof(out));
	assert_string_equal(out, "__Host-tessera=v; Path=/; HttpOnly; "
	    "SameSite=Lax; Secure");
	r = mkreq("http", "app.example", NULL, NULL);
	assert_string_equal(session_cookie(&r), "tessera");
	session_set_cookie(&r, session_cookie(&r), NULL, out, sizeof(out));
	assert_string_equal(out, "tessera=; Path=/; HttpOnly; SameSite=Lax; "
	    "Max-Age=0");
	assert_true(session_is_host_cookie("tessera_csrf"));
	assert_false(session_is_host_cookie("theme"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_password),
		cmocka_unit_test(t_dummy_costs_the_same),
		cmocka_unit_test(t_empty_hash_costs_the_same),
		cmocka_unit_test(t_random_token),
		cmocka_unit_test(t_keyed_hash),
		cmocka_unit_test(t_str_eq),
		cmocka_unit_test(t_throttle),
		cmocka_unit_test(t_slowdown),
		cmocka_unit_test(t_same_origin),
		cmocka_unit_test(t_email_norm),
		cmocka_unit_test(t_cookies),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
