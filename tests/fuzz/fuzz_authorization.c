/*
 * fuzz_authorization.c -- api_credentials(): the Authorization header
 * (Basic, Bearer, anything else) or, when the first byte is odd, the key
 * and token query parameters parsed from the rest of the input.
 *
 * The key and secret buffers are heap blocks of exact size (so ASan sees a
 * one-byte overrun) prefilled with a non-NUL pattern. Invariants: the
 * result is 0 or -1; after either, key and secret are NUL-terminated
 * inside their buffers; on success from Bearer the key is empty, from
 * Basic the key holds no ':'. Any violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tessera.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(const struct req *r, size_t keylen, size_t secretlen)
{
	char	*key, *secret;
	int	 rc;

	key = malloc(keylen);
	secret = malloc(secretlen);
	if (key == NULL || secret == NULL)
		abort();
	memset(key, 0xa5, keylen);
	memset(secret, 0xa5, secretlen);
	rc = api_credentials(r, key, keylen, secret, secretlen);
	if (rc != 0 && rc != -1)
		abort();
	if (memchr(key, '\0', keylen) == NULL ||
	    memchr(secret, '\0', secretlen) == NULL)
		abort();
	if (rc == 0 && r->authorization != NULL) {
		if (strncasecmp(r->authorization, "Bearer ", 7) == 0 &&
		    key[0] != '\0')
			abort();
		if (strncasecmp(r->authorization, "Basic ", 6) == 0 &&
		    strchr(key, ':') != NULL)
			abort();
	}
	if (rc == 0 && r->authorization == NULL) {
		const struct kv *k = kv_get(&r->query, "key");
		const struct kv *t = kv_get(&r->query, "token");

		if (k == NULL || t == NULL || strcmp(k->val, key) != 0 ||
		    strcmp(t->val, secret) != 0)
			abort();
	}
	free(key);
	free(secret);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t	 sizes[][2] = {
		{ 64, 128 },	/* what api_gate uses */
		{ 1, 1 },
		{ TOKEN_KEY_LEN + 1, TOKEN_SECRET_LEN + 1 },
		{ 512, 512 },
	};
	struct req		 r;
	char			*a = NULL;
	size_t			 i;

	memset(&r, 0, sizeof(r));
	if (size > 0 && (data[0] & 1)) {
		/* On a parse error the pairs before it stay: the function
		 * must cope with any list. */
		(void)kv_parse_urlencoded(&r.query, (const char *)data + 1,
		    size - 1, 1000);
	} else {
		if ((a = malloc(size + 1)) == NULL)
			return 0;
		memcpy(a, data, size);
		a[size] = '\0';
		r.authorization = a;
	}
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check(&r, sizes[i][0], sizes[i][1]);
	kv_free(&r.query);
	free(a);
	return 0;
}
