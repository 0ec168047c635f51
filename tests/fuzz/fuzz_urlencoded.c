/*
 * fuzz_urlencoded.c -- kv_parse_urlencoded (query strings and form bodies)
 * and url_decode over arbitrary bytes.
 *
 * Invariants: every pair the parser keeps is a NUL-terminated key of at
 * most KV_KEY_MAX bytes and a value of exactly vlen bytes, both valid UTF-8
 * without NUL; the pair count never exceeds max; PARSE_TOO_MANY only when
 * max pairs were kept; url_decode never grows its input, and on success
 * leaves a NUL at the new length. Any violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_list(const struct kvlist *l, size_t max, enum parse_err e)
{
	size_t	 i, klen;

	if (l->n > max || l->n > l->cap)
		abort();
	if (e == PARSE_TOO_MANY && l->n != max)
		abort();
	for (i = 0; i < l->n; i++) {
		const struct kv *kv = &l->v[i];

		if (kv->key == NULL || kv->val == NULL)
			abort();
		klen = strlen(kv->key);
		if (klen == 0 || klen > KV_KEY_MAX)
			abort();
		if (strlen(kv->val) != kv->vlen)	/* no NUL inside */
			abort();
		if (!utf8_valid(kv->key, klen) ||
		    !utf8_valid(kv->val, kv->vlen))
			abort();
		/* kv_get finds the first pair with this key. */
		if (kv_get(l, kv->key) == NULL)
			abort();
	}
}

static void
parse(const uint8_t *data, size_t size, size_t max)
{
	struct kvlist	 l = { 0 };
	enum parse_err	 e;

	e = kv_parse_urlencoded(&l, (const char *)data, size, max);
	if (e > PARSE_NOMEM || parse_strerror(e) == NULL)
		abort();
	check_list(&l, max, e);
	/* Parsing appends: a second run may only add pairs. (Small inputs
	 * only: the 10,000-pair kind would halve the speed.) */
	if (e == PARSE_OK && size < 4096) {
		size_t n = l.n;

		e = kv_parse_urlencoded(&l, (const char *)data, size, max);
		if (l.n < n)
			abort();
		check_list(&l, max, e);
	}
	kv_free(&l);
	if (l.v != NULL || l.n != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t	 maxes[] = { 0, 3, 1000, 10000 };
	char			*copy;
	size_t			 i, len;
	enum parse_err		 e;

	for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++)
		parse(data, size, maxes[i]);

	/* url_decode works in place and writes a NUL at the new end, so the
	 * buffer holds one byte more than the input. */
	for (i = 0; i < 2; i++) {
		if ((copy = malloc(size + 1)) == NULL)
			return 0;
		memcpy(copy, data, size);
		copy[size] = 'X';
		len = size;
		e = url_decode(copy, &len, (int)i);
		if (e == PARSE_OK) {
			if (len > size || copy[len] != '\0' ||
			    memchr(copy, '\0', len) != NULL)
				abort();
			if (i == 1 && memchr(copy, '+', len) != NULL &&
			    memchr(data, '%', size) == NULL)
				abort();	/* '+' left undecoded */
		} else if (e != PARSE_BAD_ESCAPE && e != PARSE_NUL) {
			abort();
		}
		free(copy);
	}
	return 0;
}
