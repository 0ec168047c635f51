/*
 * jsonscan.c -- checks that a text is JSON without building anything.
 *
 * A webhook body is stored as the bytes sent, so it only has to be proved
 * valid: this scanner does that in one pass with no allocation in the
 * common case, about a tenth of the work of parsing it into a jansson
 * tree. It accepts exactly what host.json.decode (jansson with duplicate
 * keys refused) accepts, within a nesting depth: RFC 8259 values, strict
 * UTF-8 in strings, no \u0000, surrogate escapes only in pairs, integers
 * within 64 bits, reals that do not overflow, no duplicate keys (compared
 * after unescaping). tests/fuzz/fuzz_json.c holds it to jansson.
 *
 * For a top-level array it also records where each element starts and
 * ends, and whether each is an object (host.json.records slices them).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "lib.h"

struct jkey {
	size_t		 off;		/* in the text, or in the arena */
	size_t		 len;
	int		 decoded;	/* off is in the arena */
};

struct scan {
	const char	*s;
	size_t		 len, pos;
	int		 max_depth;
	struct jscan	*out;
	struct jkey	*keys, one[32];
	size_t		 nkeys, capkeys;
	struct buf	 arena;		/* unescaped keys */
	const char	*err;
	int		 deep;
};

static int	value(struct scan *, int);

static int
fail(struct scan *sc, const char *why)
{
	if (sc->err == NULL) {
		sc->err = why;
		sc->out->err_pos = sc->pos;
	}
	return -1;
}

static void
ws(struct scan *sc)
{
	while (sc->pos < sc->len) {
		char c = sc->s[sc->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return;
		sc->pos++;
	}
}

static int
hex4(const char *p)
{
	int	 v = 0, i, d;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static void
put_utf8(struct buf *b, unsigned long cp)
{
	char	 u[4];
	size_t	 n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_add(b, u, n);
}

/*
 * A string at pos (on its opening quote). With key set, the key is
 * remembered for the duplicate check (unescaped into the arena when it
 * holds escapes).
 */
static int
string(struct scan *sc, int key)
{
	const char	*s = sc->s;
	size_t		 start = ++sc->pos, astart = sc->arena.len;
	int		 escaped = 0, cp, lo;

	for (;;) {
		unsigned char c;

		if (sc->pos >= sc->len)
			return fail(sc, "unterminated string");
		c = (unsigned char)s[sc->pos];
		if (c == '"')
			break;
		if (c < 0x20)
			return fail(sc, "control character in a string");
		if (c != '\\') {
			if (key && escaped)
				buf_addc(&sc->arena, (char)c);
			sc->pos++;
			continue;
		}
		if (key && !escaped) {
			escaped = 1;
			buf_add(&sc->arena, s + start, sc->pos - start);
		}
		if (sc->pos + 1 >= sc->len)
			return fail(sc, "unterminated string");
		c = (unsigned char)s[sc->pos + 1];
		if (c != 'u') {
			const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
			const char *k = c ? strchr(from, c) : NULL;

			if (k == NULL)
				return fail(sc, "invalid escape");
			if (key)
				buf_addc(&sc->arena, to[k - from]);
			sc->pos += 2;
			continue;
		}
		if (sc->pos + 6 > sc->len || (cp = hex4(s + sc->pos + 2)) < 0)
			return fail(sc, "invalid \\u escape");
		if (cp == 0)
			return fail(sc, "\\u0000 is not allowed");
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return fail(sc, "invalid Unicode escape");
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (sc->pos + 12 > sc->len || s[sc->pos + 6] != '\\' ||
			    s[sc->pos + 7] != 'u' ||
			    (lo = hex4(s + sc->pos + 8)) < 0xdc00 ||
			    lo > 0xdfff)
				return fail(sc, "invalid Unicode escape");
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			sc->pos += 6;
		}
		if (key)
			put_utf8(&sc->arena, (unsigned long)cp);
		sc->pos += 6;
	}
	if (!utf8_valid(s + start, sc->pos - start))
		return fail(sc, "invalid UTF-8 in a string");
	if (key) {
		struct jkey *k;

		if (sc->nkeys == sc->capkeys) {
			size_t	 cap = sc->capkeys * 2;
			struct jkey *nk = sc->keys == sc->one ?
			    malloc(cap * sizeof(*nk)) :
			    reallocarray(sc->keys, cap, sizeof(*nk));

			if (nk == NULL)
				return fail(sc, "out of memory");
			if (sc->keys == sc->one)
				memcpy(nk, sc->one, sizeof(sc->one));
			sc->keys = nk;
			sc->capkeys = cap;
		}
		k = &sc->keys[sc->nkeys++];
		k->decoded = escaped;
		k->off = escaped ? astart : start;
		k->len = escaped ? sc->arena.len - astart : sc->pos - start;
	}
	sc->pos++;				/* the closing quote */
	return 0;
}

static const char *
key_bytes(const struct scan *sc, const struct jkey *k)
{
	return k->decoded ? sc->arena.p + k->off : sc->s + k->off;
}

static const struct scan *sort_sc;	/* qsort has no context argument */

static int
keycmp(const void *a, const void *b)
{
	const struct jkey *x = a, *y = b;
	int	 c = memcmp(key_bytes(sort_sc, x), key_bytes(sort_sc, y),
		    x->len < y->len ? x->len : y->len);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Refuses an object whose keys from..nkeys repeat one. */
static int
no_duplicates(struct scan *sc, size_t from)
{
	struct jkey	*k = sc->keys + from;
	size_t		 n = sc->nkeys - from, i, j;

	if (n <= 16) {
		for (i = 0; i < n; i++)
			for (j = i + 1; j < n; j++)
				if (k[i].len == k[j].len &&
				    memcmp(key_bytes(sc, &k[i]),
				    key_bytes(sc, &k[j]), k[i].len) == 0)
					return fail(sc, "duplicate object key");
		return 0;
	}
	sort_sc = sc;
	qsort(k, n, sizeof(*k), keycmp);
	for (i = 1; i < n; i++)
		if (keycmp(&k[i - 1], &k[i]) == 0)
			return fail(sc, "duplicate object key");
	return 0;
}

static int
object(struct scan *sc, int depth)
{
	size_t	 from = sc->nkeys, arena = sc->arena.len;

	sc->pos++;
	ws(sc);
	if (sc->pos < sc->len && sc->s[sc->pos] == '}') {
		sc->pos++;
		return 0;
	}
	for (;;) {
		ws(sc);
		if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
			return fail(sc, "string expected as an object key");
		if (string(sc, 1) != 0)
			return -1;
		ws(sc);
		if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
			return fail(sc, "':' expected");
		sc->pos++;
		if (value(sc, depth + 1) != 0)
			return -1;
		ws(sc);
		if (sc->pos < sc->len && sc->s[sc->pos] == ',') {
			sc->pos++;
			continue;
		}
		if (sc->pos < sc->len && sc->s[sc->pos] == '}')
			break;
		return fail(sc, "',' or '}' expected");
	}
	if (no_duplicates(sc, from) != 0)
		return -1;
	sc->pos++;
	sc->nkeys = from;
	sc->arena.len = arena;
	return 0;
}

/* Records element n of the top-level array (start..pos). */
static int
element(struct scan *sc, size_t start)
{
	struct jscan	*o = sc->out;
	size_t		*ns;

	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 16;
		if ((ns = reallocarray(o->spans, o->cap, 2 * sizeof(*ns))) ==
		    NULL)
			return fail(sc, "out of memory");
		o->spans = ns;
	}
	o->spans[2 * o->n] = start;
	o->spans[2 * o->n + 1] = sc->pos;
	o->n++;
	if (sc->s[start] != '{' && o->not_object == 0)
		o->not_object = o->n;
	return 0;
}

static int
array(struct scan *sc, int depth)
{
	size_t	 start;

	sc->pos++;
	ws(sc);
	if (sc->pos < sc->len && sc->s[sc->pos] == ']') {
		sc->pos++;
		return 0;
	}
	for (;;) {
		ws(sc);
		start = sc->pos;
		if (value(sc, depth + 1) != 0)
			return -1;
		if (depth == 0 && element(sc, start) != 0)
			return -1;
		ws(sc);
		if (sc->pos < sc->len && sc->s[sc->pos] == ',') {
			sc->pos++;
			continue;
		}
		if (sc->pos < sc->len && sc->s[sc->pos] == ']')
			break;
		return fail(sc, "',' or ']' expected");
	}
	sc->pos++;
	return 0;
}

static int
digit(const struct scan *sc, size_t i)
{
	return i < sc->len && sc->s[i] >= '0' && sc->s[i] <= '9';
}

static int
number(struct scan *sc)
{
	const char		*s = sc->s;
	size_t			 start = sc->pos, i = sc->pos;
	unsigned long long	 v = 0, lim;
	int			 neg = 0, real = 0;
	char			 tmp[512], *end;
	double			 d;

	if (s[i] == '-') {
		neg = 1;
		i++;
	}
	if (!digit(sc, i))
		return fail(sc, "invalid number");
	if (s[i] == '0') {
		i++;
		if (digit(sc, i))
			return fail(sc, "invalid number (leading zero)");
	} else {
		lim = neg ? 9223372036854775808ULL : 9223372036854775807ULL;
		while (digit(sc, i)) {
			unsigned d1 = (unsigned)(s[i] - '0');

			if (v > (lim - d1) / 10)
				v = lim + 1;	/* stays over the limit */
			else
				v = v * 10 + d1;
			i++;
		}
		if (v > lim) {
			/* an integer, unless a fraction or exponent follows */
			if (i >= sc->len || (s[i] != '.' && s[i] != 'e' &&
			    s[i] != 'E')) {
				sc->pos = start;
				return fail(sc, "integer too big for 64 bits");
			}
		}
	}
	if (i < sc->len && s[i] == '.') {
		real = 1;
		if (!digit(sc, ++i))
			return fail(sc, "invalid number");
		while (digit(sc, i))
			i++;
	}
	if (i < sc->len && (s[i] == 'e' || s[i] == 'E')) {
		real = 1;
		i++;
		if (i < sc->len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (!digit(sc, i))
			return fail(sc, "invalid number");
		while (digit(sc, i))
			i++;
	}
	sc->pos = i;
	if (!real)
		return 0;
	/* A real must not overflow a double (decode would refuse it). */
	if (i - start >= sizeof(tmp)) {
		char *big = malloc(i - start + 1);

		if (big == NULL)
			return fail(sc, "out of memory");
		memcpy(big, s + start, i - start);
		big[i - start] = '\0';
		errno = 0;
		d = strtod(big, &end);
		free(big);
	} else {
		memcpy(tmp, s + start, i - start);
		tmp[i - start] = '\0';
		errno = 0;
		d = strtod(tmp, &end);
	}
	if (errno == ERANGE && isinf(d)) {
		sc->pos = start;
		return fail(sc, "real number overflow");
	}
	return 0;
}

static int
literal(struct scan *sc, const char *word, size_t n)
{
	if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n) != 0)
		return fail(sc, "invalid token");
	sc->pos += n;
	return 0;
}

static int
value(struct scan *sc, int depth)
{
	ws(sc);
	if (depth > sc->max_depth) {
		sc->deep = 1;
		return fail(sc, "nested too deeply");
	}
	if (sc->pos >= sc->len)
		return fail(sc, "unexpected end of input");
	switch (sc->s[sc->pos]) {
	case '{':
		return object(sc, depth);
	case '[':
		return array(sc, depth);
	case '"':
		return string(sc, 0);
	case 't':
		return literal(sc, "true", 4);
	case 'f':
		return literal(sc, "false", 5);
	case 'n':
		return literal(sc, "null", 4);
	default:
		if (sc->s[sc->pos] == '-' ||
		    (sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9'))
			return number(sc);
		return fail(sc, "invalid token");
	}
}

int
json_scan(const char *s, size_t len, int max_depth, struct jscan *out)
{
	struct scan	 sc;
	size_t		 start, end;
	int		 rc;

	memset(out, 0, sizeof(*out));
	memset(&sc, 0, sizeof(sc));
	sc.s = s;
	sc.len = len;
	sc.max_depth = max_depth;
	sc.out = out;
	sc.keys = sc.one;
	sc.capkeys = sizeof(sc.one) / sizeof(sc.one[0]);
	ws(&sc);
	start = sc.pos;
	rc = value(&sc, 0);
	end = sc.pos;
	if (rc == 0) {
		ws(&sc);
		if (sc.pos != len)
			rc = fail(&sc, "end of input expected");
	}
	if (rc == 0) {
		out->top = s[start] == '{' || s[start] == '[' ? s[start] : 0;
		if (out->top == '{') {
			sc.pos = end;		/* the object is the one record */
			rc = element(&sc, start);
		}
	}
	if (sc.keys != sc.one)
		free(sc.keys);
	buf_free(&sc.arena);
	if (rc != 0) {
		out->err = sc.err ? sc.err : "invalid JSON";
		return sc.deep ? -2 : -1;
	}
	return 0;
}

void
json_scan_free(struct jscan *js)
{
	free(js->spans);
	js->spans = NULL;
	js->n = js->cap = 0;
}
