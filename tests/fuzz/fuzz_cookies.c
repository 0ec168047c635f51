/*
 * fuzz_cookies.c -- kv_parse_cookies over a NUL-terminated copy of the
 * input (the parser reads a C string, as FastCGI hands it over).
 *
 * Invariants: the result is PARSE_OK or PARSE_TOO_MANY (malformed pieces
 * are skipped, never an error); every kept name is 1..KV_KEY_MAX RFC 6265
 * token characters; every value is cookie-octets only, exactly vlen long;
 * the count never exceeds max. Any violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
is_token(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

static int
is_octet(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) ||
	    (c >= 0x2d && c <= 0x3a) || (c >= 0x3c && c <= 0x5b) ||
	    (c >= 0x5d && c <= 0x7e);
}

static void
parse(const char *s, size_t max)
{
	struct kvlist	 l = { 0 };
	enum parse_err	 e;
	size_t		 i, j, klen;

	e = kv_parse_cookies(&l, s, max);
	if (e != PARSE_OK && e != PARSE_TOO_MANY)
		abort();
	if (l.n > max || (e == PARSE_TOO_MANY && l.n != max))
		abort();
	for (i = 0; i < l.n; i++) {
		klen = strlen(l.v[i].key);
		if (klen == 0 || klen > KV_KEY_MAX)
			abort();
		for (j = 0; j < klen; j++)
			if (!is_token((unsigned char)l.v[i].key[j]))
				abort();
		if (strlen(l.v[i].val) != l.v[i].vlen)
			abort();
		for (j = 0; j < l.v[i].vlen; j++)
			if (!is_octet((unsigned char)l.v[i].val[j]))
				abort();
	}
	kv_free(&l);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t	 maxes[] = { 0, 1, 2, 50, 100000 };
	char			*s;
	size_t			 i;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++)
		parse(s, maxes[i]);
	free(s);
	return 0;
}
