/*
 * parse.c -- the declared, bounded input parsers: UTF-8 validation,
 * percent-decoding, query strings and form bodies, Cookie headers.
 * Every parser works on untrusted bytes with explicit lengths and limits,
 * and each has a fuzz harness in tests/fuzz/.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sodium.h>

#include "lib.h"

const char *
parse_strerror(enum parse_err e)
{
	switch (e) {
	case PARSE_OK:		return "ok";
	case PARSE_BAD_ESCAPE:	return "malformed percent-escape";
	case PARSE_NUL:		return "NUL byte in input";
	case PARSE_BAD_UTF8:	return "invalid UTF-8";
	case PARSE_TOO_MANY:	return "too many parameters";
	case PARSE_TOO_LONG:	return "parameter name too long";
	case PARSE_NOMEM:	return "out of memory";
	}
	return "unknown error";
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing over U+10FFFF.
 * Returns 1 when valid. */
int
utf8_valid(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	const unsigned char	*e = p + len;
	unsigned int		 c;

	while (p < e) {
		c = *p;
		if (c < 0x80) {
			p++;
		} else if (c >= 0xc2 && c <= 0xdf) {
			if (e - p < 2 || (p[1] & 0xc0) != 0x80)
				return 0;
			p += 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			if (e - p < 3 || (p[1] & 0xc0) != 0x80 ||
			    (p[2] & 0xc0) != 0x80)
				return 0;
			if (c == 0xe0 && p[1] < 0xa0)
				return 0;	/* overlong */
			if (c == 0xed && p[1] > 0x9f)
				return 0;	/* surrogate */
			p += 3;
		} else if (c >= 0xf0 && c <= 0xf4) {
			if (e - p < 4 || (p[1] & 0xc0) != 0x80 ||
			    (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
				return 0;
			if (c == 0xf0 && p[1] < 0x90)
				return 0;	/* overlong */
			if (c == 0xf4 && p[1] > 0x8f)
				return 0;	/* over U+10FFFF */
			p += 4;
		} else
			return 0;
	}
	return 1;
}

/* 1 for the code points that hide or reorder text without showing:
 * bidirectional embeddings, overrides and isolates (U+202A-202E,
 * U+2066-2069), the directional marks (U+200E, U+200F, U+061C), zero-width
 * space and its kin (U+200B, U+2060-2064, U+FEFF, U+180E), and the line
 * and paragraph separators (U+2028, U+2029). Zero-width (non-)joiners
 * (U+200C, U+200D) stay allowed: Persian, Indic scripts and emoji need
 * them. */
static int
hidden(unsigned int cp)
{
	return (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069) ||
	    cp == 0x200e || cp == 0x200f || cp == 0x061c || cp == 0x200b ||
	    (cp >= 0x2060 && cp <= 0x2064) || cp == 0xfeff || cp == 0x180e ||
	    cp == 0x2028 || cp == 0x2029;
}

int
utf8_plain(const char *s, size_t len, const char **why)
{
	const unsigned char	*p = (const unsigned char *)s;
	const unsigned char	*e = p + len;
	unsigned int		 cp;

	if (!utf8_valid(s, len)) {
		*why = "it is not valid UTF-8";
		return 0;
	}
	while (p < e) {
		if (*p < 0x80) {
			cp = *p++;
		} else if (*p < 0xe0) {
			cp = (unsigned int)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
			p += 2;
		} else if (*p < 0xf0) {
			cp = (unsigned int)(p[0] & 0x0f) << 12 |
			    (unsigned int)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
			p += 3;
		} else {
			cp = (unsigned int)(p[0] & 0x07) << 18 |
			    (unsigned int)(p[1] & 0x3f) << 12 |
			    (unsigned int)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
			p += 4;
		}
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
			*why = "it contains a control character";
			return 0;
		}
		if (hidden(cp)) {
			*why = "it contains an invisible or text-direction "
			    "character";
			return 0;
		}
	}
	return 1;
}

int
text_plain(const char *s, size_t max, const char **why)
{
	size_t	 len = strlen(s), n = 0, i;

	*why = NULL;
	if (len == 0) {
		*why = "it is empty";
		return 0;
	}
	if (!utf8_plain(s, len, why))
		return 0;
	for (i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	if (n > max) {
		*why = "it is too long";
		return 0;
	}
	return 1;
}

int
int_parse(const char *s, size_t len, long long min, long long max,
    long long *out)
{
	long long	 v = 0;
	size_t		 i;
	int		 d;

	if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = s[i] - '0';
		if (max - d < 0 || v > (max - d) / 10)
			return -1;	/* past max: never an overflow */
		v = v * 10 + d;
	}
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

enum parse_err
url_decode(char *s, size_t *len, int plus)
{
	size_t	 i, o;
	int	 hi, lo;

	for (i = o = 0; i < *len; i++) {
		if (s[i] == '%') {
			if (*len - i < 3)
				return PARSE_BAD_ESCAPE;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return PARSE_BAD_ESCAPE;
			s[o] = (char)(hi << 4 | lo);
			if (s[o] == '\0')
				return PARSE_NUL;
			o++;
			i += 2;
		} else if (s[i] == '\0') {
			return PARSE_NUL;
		} else if (plus && s[i] == '+') {
			s[o++] = ' ';
		} else
			s[o++] = s[i];
	}
	s[o] = '\0';
	*len = o;
	return PARSE_OK;
}

/* Appends a copy of (k, v); both get a NUL terminator. Returns 0 or -1. */
int
kv_add(struct kvlist *l, const char *k, size_t klen, const char *v,
    size_t vlen)
{
	struct kv	*nv;
	size_t		 cap;

	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 8;
		if ((nv = reallocarray(l->v, cap, sizeof(*nv))) == NULL)
			return -1;
		l->v = nv;
		l->cap = cap;
	}
	nv = &l->v[l->n];
	if ((nv->key = malloc(klen + 1)) == NULL)
		return -1;
	if ((nv->val = malloc(vlen + 1)) == NULL) {
		free(nv->key);
		return -1;
	}
	memcpy(nv->key, k, klen);
	nv->key[klen] = '\0';
	memcpy(nv->val, v, vlen);
	nv->val[vlen] = '\0';
	nv->vlen = vlen;
	l->n++;
	return 0;
}

/* Decodes one "key=value" piece of length n and appends it. */
static enum parse_err
kv_piece(struct kvlist *out, const char *p, size_t n, size_t max)
{
	const char	*eq;
	char		*key, *val;
	size_t		 klen, vlen;
	enum parse_err	 e;

	eq = memchr(p, '=', n);
	klen = eq ? (size_t)(eq - p) : n;
	vlen = eq ? n - klen - 1 : 0;
	if (klen == 0)
		return PARSE_OK;	/* "=x": nothing to name it by */
	if (klen > KV_KEY_MAX * 3)
		return PARSE_TOO_LONG;	/* too long even when encoded */
	if (out->n >= max)
		return PARSE_TOO_MANY;
	/* One allocation: "key\0value\0", decoded in place. */
	if ((key = malloc(n + 2)) == NULL)
		return PARSE_NOMEM;
	val = key + klen + 1;
	memcpy(key, p, klen);
	key[klen] = '\0';
	if (vlen)
		memcpy(val, eq + 1, vlen);
	val[vlen] = '\0';
	if ((e = url_decode(key, &klen, 1)) != PARSE_OK ||
	    (e = url_decode(val, &vlen, 1)) != PARSE_OK)
		goto out;
	if (klen > KV_KEY_MAX)
		e = PARSE_TOO_LONG;
	else if (!utf8_valid(key, klen) || !utf8_valid(val, vlen))
		e = PARSE_BAD_UTF8;
	else if (kv_add(out, key, klen, val, vlen) == -1)
		e = PARSE_NOMEM;
out:
	sodium_memzero(key, n + 2);	/* a password or token, decoded */
	free(key);
	return e;
}

enum parse_err
kv_parse_urlencoded(struct kvlist *out, const char *s, size_t len,
    size_t max)
{
	const char	*p = s, *e = s + len, *amp;
	enum parse_err	 err;

	while (p < e) {
		if ((amp = memchr(p, '&', (size_t)(e - p))) == NULL)
			amp = e;
		if (amp > p &&
		    (err = kv_piece(out, p, (size_t)(amp - p), max)) != PARSE_OK)
			return err;
		p = amp + 1;
	}
	return PARSE_OK;
}

/* RFC 6265 token characters for cookie names. */
static int
tokenchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

/* RFC 6265 cookie-octet. */
static int
cookiechar(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) ||
	    (c >= 0x2d && c <= 0x3a) || (c >= 0x3c && c <= 0x5b) ||
	    (c >= 0x5d && c <= 0x7e);
}

enum parse_err
kv_parse_cookies(struct kvlist *out, const char *s, size_t max)
{
	const char	*p = s, *end, *eq, *k, *v, *ke, *ve;
	size_t		 i;
	int		 ok;

	while (*p) {
		if ((end = strchr(p, ';')) == NULL)
			end = p + strlen(p);
		k = p;
		while (k < end && (*k == ' ' || *k == '\t'))
			k++;
		eq = memchr(k, '=', (size_t)(end - k));
		if (eq == NULL)
			goto next;
		ke = eq;
		while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
			ke--;
		v = eq + 1;
		ve = end;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
			v++;
			ve--;
		}
		ok = ke > k && (size_t)(ke - k) <= KV_KEY_MAX;
		for (i = 0; ok && k + i < ke; i++)
			ok = tokenchar((unsigned char)k[i]);
		for (i = 0; ok && v + i < ve; i++)
			ok = cookiechar((unsigned char)v[i]);
		if (ok) {
			if (out->n >= max)
				return PARSE_TOO_MANY;
			if (kv_add(out, k, (size_t)(ke - k), v,
			    (size_t)(ve - v)) == -1)
				return PARSE_NOMEM;
		}
next:
		p = *end ? end + 1 : end;
	}
	return PARSE_OK;
}

const struct kv *
kv_get(const struct kvlist *l, const char *key)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0)
			return &l->v[i];
	return NULL;
}

void
kv_free(struct kvlist *l)
{
	size_t	 i;

	/* Values may be passwords or tokens: wipe them. */
	for (i = 0; i < l->n; i++) {
		free(l->v[i].key);
		sodium_memzero(l->v[i].val, l->v[i].vlen);
		free(l->v[i].val);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int
credential_name(const char *name, size_t len)
{
	static const char *const names[] = {
		"token", "password", "csrf", "secret", "session",
	};
	static const char suffix[] = "_password";	/* current_password */
	size_t	 i, sl = sizeof(suffix) - 1;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len &&
		    strncasecmp(names[i], name, len) == 0)
			return 1;
	return len > sl && strncasecmp(name + len - sl, suffix, sl) == 0;
}

int
credential_field(const char *name, size_t len)
{
	char	 tmp[64];
	size_t	 n = len;

	if (len >= sizeof(tmp))
		return 0;	/* longer than any such name, even encoded */
	memcpy(tmp, name, len);
	tmp[len] = '\0';
	if (url_decode(tmp, &n, 1) != PARSE_OK)
		return 1;
	return credential_name(tmp, n);
}
