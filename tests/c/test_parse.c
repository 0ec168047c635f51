/*
 * test_parse.c -- the input parsers in fcgi/lib/parse.c: strict UTF-8,
 * percent-decoding, query strings / form bodies and Cookie headers, with
 * the hostile inputs a client may send.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tessera.h"

/* utf8_valid on a string literal, length given by sizeof - 1 so embedded
 * bytes are all counted. */
#define U8(lit)	utf8_valid((lit), sizeof(lit) - 1)

/* The first value for key; fails the test when there is none. */
static const char *
getv(const struct kvlist *l, const char *key)
{
	const struct kv	*kv = kv_get(l, key);

	assert_non_null(kv);
	return kv->val;
}

/* ------------------------------------------------------------ utf8_valid */

static void
utf8_accepts_valid_sequences(void **state)
{
	(void)state;
	assert_int_equal(U8(""), 1);
	assert_int_equal(U8("plain ASCII ~!@#$%^&*()"), 1);
	assert_int_equal(U8("\x7f"), 1);			/* DEL */
	assert_int_equal(U8("\xc2\x80"), 1);			/* U+0080 */
	assert_int_equal(U8("caf\xc3\xa9"), 1);			/* é */
	assert_int_equal(U8("\xdf\xbf"), 1);			/* U+07FF */
	assert_int_equal(U8("\xe0\xa0\x80"), 1);		/* U+0800 */
	assert_int_equal(U8("\xe2\x82\xac"), 1);		/* € */
	assert_int_equal(U8("\xed\x9f\xbf"), 1);		/* U+D7FF */
	assert_int_equal(U8("\xee\x80\x80"), 1);		/* U+E000 */
	assert_int_equal(U8("\xef\xbf\xbf"), 1);		/* U+FFFF */
	assert_int_equal(U8("\xf0\x90\x80\x80"), 1);		/* U+10000 */
	assert_int_equal(U8("\xf0\x9f\x98\x80"), 1);		/* 😀 */
	assert_int_equal(U8("\xf4\x8f\xbf\xbf"), 1);		/* U+10FFFF */
	assert_int_equal(U8("a\xc3\xa9" "b\xe2\x82\xac" "c\xf0\x9f\x98\x80"),
	    1);
}

static void
utf8_rejects_overlongs(void **state)
{
	(void)state;
	assert_int_equal(U8("\xc0\xaf"), 0);			/* '/' in 2 */
	assert_int_equal(U8("\xc0\x80"), 0);			/* NUL in 2 */
	assert_int_equal(U8("\xc1\xbf"), 0);
	assert_int_equal(U8("\xe0\x80\xaf"), 0);		/* '/' in 3 */
	assert_int_equal(U8("\xe0\x9f\xbf"), 0);		/* U+07FF in 3 */
	assert_int_equal(U8("\xf0\x80\x80\xaf"), 0);		/* '/' in 4 */
	assert_int_equal(U8("\xf0\x8f\xbf\xbf"), 0);		/* U+FFFF in 4 */
	/* Hidden after valid text. */
	assert_int_equal(U8("/etc\xc0\xafpasswd"), 0);
}

static void
utf8_rejects_surrogates_and_out_of_range(void **state)
{
	(void)state;
	assert_int_equal(U8("\xed\xa0\x80"), 0);		/* U+D800 */
	assert_int_equal(U8("\xed\xbf\xbf"), 0);		/* U+DFFF */
	assert_int_equal(U8("\xed\xa0\xbd\xed\xb8\x80"), 0);	/* CESU pair */
	assert_int_equal(U8("\xf4\x90\x80\x80"), 0);		/* U+110000 */
	assert_int_equal(U8("\xf5\x80\x80\x80"), 0);
	assert_int_equal(U8("\xf7\xbf\xbf\xbf"), 0);
	assert_int_equal(U8("\xf8\x88\x80\x80\x80"), 0);	/* 5-byte */
	assert_int_equal(U8("\xfc\x84\x80\x80\x80\x80"), 0);	/* 6-byte */
	assert_int_equal(U8("\xfe"), 0);
	assert_int_equal(U8("\xff"), 0);
}

static void
utf8_rejects_truncated_and_stray_bytes(void **state)
{
	(void)state;
	assert_int_equal(U8("\xc3"), 0);
	assert_int_equal(U8("\xe2\x82"), 0);
	assert_int_equal(U8("\xe2"), 0);
	assert_int_equal(U8("\xf0\x9f\x98"), 0);
	assert_int_equal(U8("\xf0\x9f"), 0);
	assert_int_equal(U8("abc\xc3"), 0);			/* at the end */
	assert_int_equal(U8("\xe2\x82" "A"), 0);		/* ASCII inside */
	assert_int_equal(U8("\xc3" "A"), 0);
	assert_int_equal(U8("\xf0\x9f\x98" "A"), 0);
	assert_int_equal(U8("\x80"), 0);			/* lone cont. */
	assert_int_equal(U8("\xbf"), 0);
	assert_int_equal(U8("a\x80" "b"), 0);
	assert_int_equal(U8("\xc3\xa9\xa9"), 0);		/* extra cont. */
	/* A valid sequence cut by the length argument, not by the bytes. */
	assert_int_equal(utf8_valid("\xe2\x82\xac", 2), 0);
	assert_int_equal(utf8_valid("\xf0\x9f\x98\x80", 3), 0);
	assert_int_equal(utf8_valid("ok\xc3\xa9", 3), 0);
	assert_int_equal(utf8_valid("ok\xc3\xa9", 2), 1);
}

/* ------------------------------------------------------------ url_decode */

/* Decodes in (a copy) and returns the result code; the decoded text and
 * length go to out / *len. */
static enum parse_err
dec(const char *in, size_t inlen, int plus, char *out, size_t *len)
{
	memcpy(out, in, inlen);
	out[inlen] = '\0';
	*len = inlen;
	return url_decode(out, len, plus);
}

static void
url_decode_plus_and_hex(void **state)
{
	char	 b[64];
	size_t	 n;

	(void)state;
	assert_int_equal(dec("a+b+c", 5, 1, b, &n), PARSE_OK);
	assert_string_equal(b, "a b c");
	assert_int_equal(n, 5);
	assert_int_equal(dec("a+b+c", 5, 0, b, &n), PARSE_OK);
	assert_string_equal(b, "a+b+c");
	/* An encoded plus stays a plus even with plus decoding on. */
	assert_int_equal(dec("1%2B1", 5, 1, b, &n), PARSE_OK);
	assert_string_equal(b, "1+1");
	assert_int_equal(n, 3);
	/* Mixed-case hex digits. */
	assert_int_equal(dec("%c3%A9%C3%a9%2f", 15, 1, b, &n), PARSE_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(b, "\xc3\xa9\xc3\xa9/", 5);
	assert_int_equal(b[n], '\0');
	/* Escapes next to each other and at both ends. */
	assert_int_equal(dec("%41%42C%44", 10, 0, b, &n), PARSE_OK);
	assert_string_equal(b, "ABCD");
	/* Nothing to decode: unchanged. */
	assert_int_equal(dec("hello", 5, 1, b, &n), PARSE_OK);
	assert_string_equal(b, "hello");
	assert_int_equal(dec("", 0, 1, b, &n), PARSE_OK);
	assert_int_equal(n, 0);
	assert_string_equal(b, "");
}

static void
url_decode_rejects_bad_escapes(void **state)
{
	char	 b[64];
	size_t	 n;

	(void)state;
	assert_int_equal(dec("%4", 2, 1, b, &n), PARSE_BAD_ESCAPE);
	assert_int_equal(dec("%", 1, 1, b, &n), PARSE_BAD_ESCAPE);
	assert_int_equal(dec("abc%", 4, 0, b, &n), PARSE_BAD_ESCAPE);
	assert_int_equal(dec("abc%4", 5, 0, b, &n), PARSE_BAD_ESCAPE);
	assert_int_equal(dec("%zz", 3, 1, b, &n), PARSE_BAD_ESCAPE);
	assert_int_equal(dec("%4g", 3, 1, b, &n), PARSE_BAD_ESCAPE);
	assert_int_equal(dec("%g4", 3, 1, b, &n), PARSE_BAD_ESCAPE);
	assert_int_equal(dec("%%41", 4, 1, b, &n), PARSE_BAD_ESCAPE);
	assert_int_equal(dec("% 1", 3, 1, b, &n), PARSE_BAD_ESCAPE);
	assert_int_equal(dec("%+1", 3, 1, b, &n), PARSE_BAD_ESCAPE);
	/* The length bounds the escape, not the NUL after it. */
	memcpy(b, "%41", 4);
	n = 2;
	assert_int_equal(url_decode(b, &n, 0), PARSE_BAD_ESCAPE);
}

static void
url_decode_rejects_nul(void **state)
{
	char	 b[64];
	size_t	 n;

	(void)state;
	assert_int_equal(dec("%00", 3, 1, b, &n), PARSE_NUL);
	assert_int_equal(dec("a%00b", 5, 1, b, &n), PARSE_NUL);
	assert_int_equal(dec("ab%00", 5, 0, b, &n), PARSE_NUL);
	/* A raw NUL inside the given length. */
	assert_int_equal(dec("a\0b", 3, 1, b, &n), PARSE_NUL);
	assert_int_equal(dec("\0", 1, 0, b, &n), PARSE_NUL);
}

/* ------------------------------------------------------------ urlencoded */

static enum parse_err
kvs(struct kvlist *l, const char *s, size_t max)
{
	return kv_parse_urlencoded(l, s, strlen(s), max);
}

static void
kv_basic_and_empty_values(void **state)
{
	struct kvlist	 l = { 0 };

	(void)state;
	assert_int_equal(kvs(&l, "a=1&b=&c", 100), PARSE_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].key, "a");
	assert_string_equal(l.v[0].val, "1");
	assert_int_equal(l.v[0].vlen, 1);
	assert_string_equal(l.v[1].key, "b");
	assert_string_equal(l.v[1].val, "");
	assert_int_equal(l.v[1].vlen, 0);
	assert_string_equal(l.v[2].key, "c");
	assert_non_null(l.v[2].val);
	assert_string_equal(l.v[2].val, "");
	assert_int_equal(l.v[2].vlen, 0);
	assert_non_null(kv_get(&l, "c"));
	assert_null(kv_get(&l, "d"));
	assert_null(kv_get(&l, ""));
	kv_free(&l);
	assert_null(l.v);
	assert_int_equal(l.n, 0);
}

static void
kv_repeated_keys_in_order(void **state)
{
	struct kvlist		 l = { 0 };
	const struct kv		*kv;

	(void)state;
	assert_int_equal(kvs(&l, "x=first&y=0&x=second&x=third", 100),
	    PARSE_OK);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].val, "first");
	assert_string_equal(l.v[2].key, "x");
	assert_string_equal(l.v[2].val, "second");
	assert_string_equal(l.v[3].val, "third");
	kv = kv_get(&l, "x");
	assert_non_null(kv);
	assert_ptr_equal(kv, &l.v[0]);
	assert_string_equal(kv->val, "first");
	kv_free(&l);
}

static void
kv_empty_pieces_and_nameless_pairs(void **state)
{
	struct kvlist	 l = { 0 };

	(void)state;
	assert_int_equal(kvs(&l, "&&a=1&", 100), PARSE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].key, "a");
	assert_string_equal(l.v[0].val, "1");
	kv_free(&l);

	assert_int_equal(kvs(&l, "=x&b=2&=&=y=z", 100), PARSE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].key, "b");
	assert_string_equal(l.v[0].val, "2");
	kv_free(&l);

	assert_int_equal(kvs(&l, "", 100), PARSE_OK);
	assert_int_equal(l.n, 0);
	assert_int_equal(kvs(&l, "&", 100), PARSE_OK);
	assert_int_equal(l.n, 0);
	kv_free(&l);
}

static void
kv_missing_equals_and_equals_in_value(void **state)
{
	struct kvlist	 l = { 0 };

	(void)state;
	assert_int_equal(kvs(&l, "flag&a=b=c&d==", 100), PARSE_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].key, "flag");
	assert_string_equal(l.v[0].val, "");
	assert_string_equal(l.v[1].key, "a");
	assert_string_equal(l.v[1].val, "b=c");
	assert_int_equal(l.v[1].vlen, 3);
	assert_string_equal(l.v[2].key, "d");
	assert_string_equal(l.v[2].val, "=");
	kv_free(&l);
}

static void
kv_decodes_keys_and_values(void **state)
{
	struct kvlist	 l = { 0 };

	(void)state;
	assert_int_equal(kvs(&l, "first+name=J%C3%BCrgen+M&a%26b=c%3Dd", 100),
	    PARSE_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].key, "first name");
	assert_string_equal(l.v[0].val, "J\xc3\xbcrgen M");
	assert_int_equal(l.v[0].vlen, strlen("J\xc3\xbcrgen M"));
	/* Encoded separators are data, not structure. */
	assert_string_equal(l.v[1].key, "a&b");
	assert_string_equal(l.v[1].val, "c=d");
	kv_free(&l);
}

static void
kv_appends_to_existing_list(void **state)
{
	struct kvlist	 l = { 0 };

	(void)state;
	assert_int_equal(kvs(&l, "a=1", 100), PARSE_OK);
	assert_int_equal(kvs(&l, "b=2&a=3", 100), PARSE_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[1].key, "b");
	assert_string_equal(getv(&l, "a"), "1");
	kv_free(&l);
}

static void
kv_key_length_limit(void **state)
{
	struct kvlist	 l = { 0 };
	char		 s[4096];
	size_t		 i;

	(void)state;
	/* 300 plain characters. */
	memset(s, 'k', 300);
	memcpy(s + 300, "=v", 3);
	assert_int_equal(kvs(&l, s, 100), PARSE_TOO_LONG);
	assert_int_equal(l.n, 0);
	kv_free(&l);

	/* Exactly KV_KEY_MAX is fine, one more is not. */
	memset(s, 'k', KV_KEY_MAX);
	memcpy(s + KV_KEY_MAX, "=v", 3);
	assert_int_equal(kvs(&l, s, 100), PARSE_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(strlen(l.v[0].key), KV_KEY_MAX);
	kv_free(&l);
	memset(s, 'k', KV_KEY_MAX + 1);
	memcpy(s + KV_KEY_MAX + 1, "=v", 3);
	assert_int_equal(kvs(&l, s, 100), PARSE_TOO_LONG);
	kv_free(&l);

	/* The limit is on the decoded key: 256 escapes decode to 256 bytes. */
	for (i = 0; i < KV_KEY_MAX; i++)
		memcpy(s + 3 * i, "%6B", 3);
	memcpy(s + 3 * KV_KEY_MAX, "=v", 3);
	assert_int_equal(kvs(&l, s, 100), PARSE_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(strlen(l.v[0].key), KV_KEY_MAX);
	kv_free(&l);
	/* ... and 257 escapes to 257. */
	for (i = 0; i < KV_KEY_MAX + 1; i++)
		memcpy(s + 3 * i, "%6B", 3);
	memcpy(s + 3 * (KV_KEY_MAX + 1), "=v", 3);
	assert_int_equal(kvs(&l, s, 100), PARSE_TOO_LONG);
	kv_free(&l);

	/* A key without '=' counts too; the pair before it is kept. */
	memcpy(s, "ok=1&", 5);
	memset(s + 5, 'z', 300);
	s[305] = '\0';
	assert_int_equal(kvs(&l, s, 100), PARSE_TOO_LONG);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].key, "ok");
	kv_free(&l);
}

/* "k0=0&k1=1&...": n pairs into a malloc'd string the caller frees. */
static char *
many_pairs(size_t n, size_t *len)
{
	char	*s, *p;
	size_t	 i, cap = n * 24 + 1;

	s = malloc(cap);
	assert_non_null(s);
	p = s;
	for (i = 0; i < n; i++)
		p += snprintf(p, cap - (size_t)(p - s), "%sk%zu=%zu",
		    i ? "&" : "", i, i * 7);
	*len = (size_t)(p - s);
	return s;
}

static void
kv_pair_count_limit(void **state)
{
	struct kvlist	 l = { 0 };
	char		*s, want[32];
	size_t		 len;

	(void)state;
	s = many_pairs(10000, &len);
	assert_int_equal(kv_parse_urlencoded(&l, s, len, 1000),
	    PARSE_TOO_MANY);
	assert_int_equal(l.n, 1000);	/* what came before is kept */
	assert_string_equal(l.v[999].key, "k999");
	kv_free(&l);

	assert_int_equal(kv_parse_urlencoded(&l, s, len, 20000), PARSE_OK);
	assert_int_equal(l.n, 10000);
	assert_string_equal(l.v[0].key, "k0");
	assert_string_equal(l.v[9999].key, "k9999");
	snprintf(want, sizeof(want), "%d", 9999 * 7);
	assert_string_equal(l.v[9999].val, want);
	assert_string_equal(getv(&l, "k5000"), "35000");
	kv_free(&l);

	/* Exactly at the limit is fine. */
	assert_int_equal(kv_parse_urlencoded(&l, s, len, 10000), PARSE_OK);
	assert_int_equal(l.n, 10000);
	kv_free(&l);
	free(s);

	/* Skipped pieces do not count against the limit. */
	assert_int_equal(kvs(&l, "&&=x&&a=1&&", 1), PARSE_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(kvs(&l, "b=2", 1), PARSE_TOO_MANY);
	kv_free(&l);
}

static void
kv_rejects_bad_utf8_after_decoding(void **state)
{
	struct kvlist	 l = { 0 };

	(void)state;
	assert_int_equal(kvs(&l, "a=%FF", 100), PARSE_BAD_UTF8);
	kv_free(&l);
	assert_int_equal(kvs(&l, "a=%C0%AF", 100), PARSE_BAD_UTF8);
	kv_free(&l);
	assert_int_equal(kvs(&l, "a=%ED%A0%80", 100), PARSE_BAD_UTF8);
	kv_free(&l);
	assert_int_equal(kvs(&l, "%E2%82=1", 100), PARSE_BAD_UTF8);
	kv_free(&l);
	/* Raw invalid bytes too. */
	assert_int_equal(kvs(&l, "ok=1&a=\xc3", 100), PARSE_BAD_UTF8);
	assert_int_equal(l.n, 1);
	kv_free(&l);
	/* Valid encoded UTF-8 passes. */
	assert_int_equal(kvs(&l, "a=%F0%9F%98%80", 100), PARSE_OK);
	assert_string_equal(l.v[0].val, "\xf0\x9f\x98\x80");
	kv_free(&l);
}

static void
kv_rejects_nul_and_bad_escapes(void **state)
{
	struct kvlist	 l = { 0 };

	(void)state;
	assert_int_equal(kvs(&l, "a=%00", 100), PARSE_NUL);
	assert_int_equal(l.n, 0);
	kv_free(&l);
	assert_int_equal(kvs(&l, "ok=1&x%00y=1", 100), PARSE_NUL);
	assert_int_equal(l.n, 1);
	kv_free(&l);
	/* A raw NUL inside the given length (a form body may hold one). */
	assert_int_equal(kv_parse_urlencoded(&l, "a=x\0y", 5, 100),
	    PARSE_NUL);
	kv_free(&l);
	assert_int_equal(kvs(&l, "a=%4", 100), PARSE_BAD_ESCAPE);
	kv_free(&l);
	assert_int_equal(kvs(&l, "a=%zz&b=1", 100), PARSE_BAD_ESCAPE);
	assert_int_equal(l.n, 0);
	kv_free(&l);
	assert_int_equal(kvs(&l, "a=1&b=%", 100), PARSE_BAD_ESCAPE);
	assert_int_equal(l.n, 1);
	kv_free(&l);
}

static void
kv_respects_length_argument(void **state)
{
	struct kvlist	 l = { 0 };
	const char	*s = "a=1&b=2&c=3";

	(void)state;
	assert_int_equal(kv_parse_urlencoded(&l, s, 5, 100), PARSE_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[1].key, "b");
	assert_string_equal(l.v[1].val, "");
	kv_free(&l);
	assert_int_equal(kv_parse_urlencoded(&l, s, 0, 100), PARSE_OK);
	assert_int_equal(l.n, 0);
	kv_free(&l);
}

/* --------------------------------------------------------------- cookies */

static void
cookies_normal_and_spaces(void **state)
{
	struct kvlist	 l = { 0 };

	(void)state;
	assert_int_equal(kv_parse_cookies(&l, "sid=abc123; theme=dark", 50),
	    PARSE_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].key, "sid");
	assert_string_equal(l.v[0].val, "abc123");
	assert_string_equal(l.v[1].key, "theme");
	assert_string_equal(l.v[1].val, "dark");
	kv_free(&l);

	assert_int_equal(kv_parse_cookies(&l, "  a = 1 ;\tb=2;c=3  ;  ", 50),
	    PARSE_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].key, "a");
	assert_string_equal(l.v[0].val, "1");
	assert_string_equal(l.v[1].key, "b");
	assert_string_equal(l.v[1].val, "2");
	assert_string_equal(l.v[2].key, "c");
	assert_string_equal(l.v[2].val, "3");
	assert_int_equal(l.v[2].vlen, 1);
	kv_free(&l);

	/* Base64-ish values with '=' padding and the __Host- prefix. */
	assert_int_equal(kv_parse_cookies(&l, "__Host-sid=YWJj=; x=a=b", 50),
	    PARSE_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(getv(&l, "__Host-sid"), "YWJj=");
	assert_string_equal(getv(&l, "x"), "a=b");
	kv_free(&l);
}

static void
cookies_quoted_values(void **state)
{
	struct kvlist	 l = { 0 };

	(void)state;
	assert_int_equal(kv_parse_cookies(&l,
	    "q=\"hello\"; e=\"\"; half=\"open; bad=\"a\"b\"", 50), PARSE_OK);
	assert_string_equal(getv(&l, "q"), "hello");
	assert_int_equal(kv_get(&l, "q")->vlen, 5);
	assert_string_equal(getv(&l, "e"), "");
	/* An unbalanced quote or a quote inside is not a cookie-octet. */
	assert_null(kv_get(&l, "half"));
	assert_null(kv_get(&l, "bad"));
	assert_int_equal(l.n, 2);
	kv_free(&l);
}

static void
cookies_skip_junk_keep_good(void **state)
{
	struct kvlist	 l = { 0 };

	(void)state;
	assert_int_equal(kv_parse_cookies(&l,
	    "junk; a=1; ;; =nameless; b c=2; d=has space; e=x,y; "
	    "f=back\\slash; g=sem\"i; h=caf\xc3\xa9; i(j)=3; k=ok", 50),
	    PARSE_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].key, "a");
	assert_string_equal(l.v[0].val, "1");
	assert_string_equal(l.v[1].key, "k");
	assert_string_equal(l.v[1].val, "ok");
	kv_free(&l);

	/* A control character in a value, and an over-long name. */
	{
		char	 s[512];

		snprintf(s, sizeof(s), "a=x\x01y; %0300d=1; z=9", 0);
		assert_int_equal(kv_parse_cookies(&l, s, 50), PARSE_OK);
		assert_int_equal(l.n, 1);
		assert_string_equal(l.v[0].key, "z");
		kv_free(&l);
	}
}

static void
cookies_max_and_empty(void **state)
{
	struct kvlist	 l = { 0 };

	(void)state;
	assert_int_equal(kv_parse_cookies(&l, "a=1; b=2; c=3", 2),
	    PARSE_TOO_MANY);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[1].key, "b");
	kv_free(&l);
	/* Skipped junk does not use up the allowance. */
	assert_int_equal(kv_parse_cookies(&l, "x; y; =z; a=1; b=2", 2),
	    PARSE_OK);
	assert_int_equal(l.n, 2);
	kv_free(&l);
	assert_int_equal(kv_parse_cookies(&l, "", 2), PARSE_OK);
	assert_int_equal(l.n, 0);
	assert_int_equal(kv_parse_cookies(&l, ";;; ; ", 2), PARSE_OK);
	assert_int_equal(l.n, 0);
	kv_free(&l);
}

static void
kv_add_and_strerror(void **state)
{
	struct kvlist	 l = { 0 };
	int		 i;

	(void)state;
	/* kv_add copies exactly the given lengths. */
	assert_int_equal(kv_add(&l, "keyXX", 3, "valueYY", 5), 0);
	assert_string_equal(l.v[0].key, "key");
	assert_string_equal(l.v[0].val, "value");
	assert_int_equal(l.v[0].vlen, 5);
	for (i = 0; i < 100; i++)	/* grows past the first capacity */
		assert_int_equal(kv_add(&l, "k", 1, "v", 1), 0);
	assert_int_equal(l.n, 101);
	assert_true(l.cap >= l.n);
	kv_free(&l);
	for (i = PARSE_OK; i <= PARSE_NOMEM; i++) {
		assert_non_null(parse_strerror((enum parse_err)i));
		assert_true(strlen(parse_strerror((enum parse_err)i)) > 0);
	}
	assert_string_not_equal(parse_strerror(PARSE_NUL),
	    parse_strerror(PARSE_BAD_UTF8));
}

/* The one parser for ids and counts. */
static void
int_parse_strict(void **state)
{
	static const char *const bad[] = {
		"", "0x1", "1e0", "1.0", "+1", "-1", " 1", "1 ", "01", "00",
		"1a", "\xef\xbc\x91", "9223372036854775808",
		"99999999999999999999",
	};
	long long	 v;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(int_parse(bad[i], strlen(bad[i]), 0,
		    9223372036854775807LL, &v), -1);
	assert_int_equal(int_parse("0", 1, 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(int_parse("0", 1, 1, 10, &v), -1);	/* below min */
	assert_int_equal(int_parse("10", 2, 1, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(int_parse("11", 2, 1, 10, &v), -1);	/* above max */
	assert_int_equal(int_parse("7", 1, 0, 5, &v), -1);	/* max < digit */
	assert_int_equal(int_parse("9223372036854775807", 19, 0,
	    9223372036854775807LL, &v), 0);
	assert_true(v == 9223372036854775807LL);
	assert_int_equal(int_parse("12x", 2, 0, 100, &v), 0);	/* len bounds */
	assert_int_equal(v, 12);
}

/* Text that shows as it is: no controls, no hiding or reordering. */
static void
utf8_plain_rules(void **state)
{
	static const char *const bad[] = {
		"a\x01" "b", "a\x7f" "b", "a\xc2\x85" "b",	/* C0, DEL, C1 (U+0085) */
		"a\xe2\x80\xae" "b",			/* U+202E RLO */
		"a\xe2\x81\xa6" "b",			/* U+2066 LRI */
		"a\xe2\x80\x8b" "b",			/* U+200B ZWSP */
		"a\xe2\x80\x8f" "b",			/* U+200F RLM */
		"\xef\xbb\xbf" "a",			/* U+FEFF */
		"a\xe2\x80\xa8" "b",			/* U+2028 */
		"a\xe2\x81\xa0" "b",			/* U+2060 WJ */
		"\xff",				/* not UTF-8 */
	};
	const char	*why;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(utf8_plain(bad[i], strlen(bad[i]), &why), 0);
		assert_non_null(why);
	}
	assert_int_equal(utf8_plain("caf\xc3\xa9 \xe6\x97\xa5", 9, &why), 1);
	/* ZWNJ and ZWJ stay: Persian, emoji. */
	assert_int_equal(utf8_plain("a\xe2\x80\x8c" "b\xe2\x80\x8d" "c", 9, &why),
	    1);
	assert_int_equal(utf8_plain("\xf0\x9f\x91\xa8", 4, &why), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(utf8_accepts_valid_sequences),
		cmocka_unit_test(utf8_rejects_overlongs),
		cmocka_unit_test(utf8_rejects_surrogates_and_out_of_range),
		cmocka_unit_test(utf8_rejects_truncated_and_stray_bytes),
		cmocka_unit_test(url_decode_plus_and_hex),
		cmocka_unit_test(url_decode_rejects_bad_escapes),
		cmocka_unit_test(url_decode_rejects_nul),
		cmocka_unit_test(kv_basic_and_empty_values),
		cmocka_unit_test(kv_repeated_keys_in_order),
		cmocka_unit_test(kv_empty_pieces_and_nameless_pairs),
		cmocka_unit_test(kv_missing_equals_and_equals_in_value),
		cmocka_unit_test(kv_decodes_keys_and_values),
		cmocka_unit_test(kv_appends_to_existing_list),
		cmocka_unit_test(kv_key_length_limit),
		cmocka_unit_test(kv_pair_count_limit),
		cmocka_unit_test(kv_rejects_bad_utf8_after_decoding),
		cmocka_unit_test(kv_rejects_nul_and_bad_escapes),
		cmocka_unit_test(kv_respects_length_argument),
		cmocka_unit_test(cookies_normal_and_spaces),
		cmocka_unit_test(cookies_quoted_values),
		cmocka_unit_test(cookies_skip_junk_keep_good),
		cmocka_unit_test(cookies_max_and_empty),
		cmocka_unit_test(kv_add_and_strerror),
		cmocka_unit_test(int_parse_strict),
		cmocka_unit_test(utf8_plain_rules),
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
