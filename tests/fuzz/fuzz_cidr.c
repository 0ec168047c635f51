/*
 * fuzz_cidr.c -- the allowed-IPs lists (cidr.c) over arbitrary bytes.
 *
 * The input is read twice.
 *
 * As text: cidr_parse on the exact bytes and cidr_parse_list on them
 * NUL-terminated must not crash. An accepted entry or list has no bits
 * past any prefix, no duplicates and at most CIDR_MAX entries, and its
 * canonical text (cidr_format, cidr_format_list) parses back to the
 * identical entries; a refused list has n = 0 and a printable message.
 * cidr_match with the text as REMOTE_ADDR is 1 exactly when the text is
 * a single address (no '/') inside an entry. cidr_addr_text and
 * cidr_bucket take exactly the single addresses; a bucket is the address
 * (IPv4) or its /64 (IPv6) and holds it.
 *
 * As numbers: a base address, a remote address and two lists are built
 * from the bytes, every entry a small change of the base, so entries
 * nest, overlap and repeat. cidr_match, cidr_contains and cidr_within
 * must agree with reference versions written here bit by bit;
 * cidr_within(x, x) is 1; every entry of cidr_intersect(a, b) lies
 * within a and within b, an address is in the intersection exactly when
 * it is in both lists, and -1 comes only when the result cannot fit.
 * Any violation aborts.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define LIST_TEXT_MAX	(CIDR_MAX * CIDR_TEXT_MAX)

static const unsigned char v4pre[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* The input bytes, consumed from the front; zeros once they run out. */
struct rd {
	const uint8_t	*p;
	size_t		 n;
};

static unsigned int
take(struct rd *r)
{
	if (r->n == 0)
		return 0;
	r->n--;
	return *r->p++;
}

/* Bit i (0 = most significant) of a 16-byte address. */
static int
bit(const unsigned char *a, unsigned int i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1;
}

/* 1 when x and y agree on their first bits bits, one bit at a time. */
static int
ref_eq(const unsigned char *x, const unsigned char *y, unsigned int bits)
{
	unsigned int	 i;

	for (i = 0; i < bits; i++)
		if (bit(x, i) != bit(y, i))
			return 0;
	return 1;
}

static int
ref_contains(const struct cidr *b, const struct cidr *a)
{
	return a->bits >= b->bits && ref_eq(a->addr, b->addr, b->bits);
}

/* 1 when the address lies in an entry of l (an empty l: 0). */
static int
ref_match(const struct cidr_list *l, const unsigned char *addr)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		if (ref_eq(l->v[i].addr, addr, l->v[i].bits))
			return 1;
	return 0;
}

/* The address allowed by l, where empty means any. */
static int
ref_allows(const struct cidr_list *l, const unsigned char *addr)
{
	return l->n == 0 || ref_match(l, addr);
}

static int
ref_within(const struct cidr_list *c, const struct cidr_list *p)
{
	size_t	 i, j;
	int	 in;

	if (p->n == 0)
		return 1;
	if (c->n == 0)
		return 0;
	for (i = 0; i < c->n; i++) {
		for (in = 0, j = 0; j < p->n && !in; j++)
			in = ref_contains(&p->v[j], &c->v[i]);
		if (!in)
			return 0;
	}
	return 1;
}

static int
same(const struct cidr *a, const struct cidr *b)
{
	return a->bits == b->bits && memcmp(a->addr, b->addr, 16) == 0;
}

/* Zeroes the bits past c's prefix, one bit at a time. */
static void
ref_clear(struct cidr *c)
{
	unsigned int	 i;

	for (i = c->bits; i < 128; i++)
		c->addr[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
}

static int
host_bits_clear(const struct cidr *c)
{
	unsigned int	 i;

	if (c->bits > 128)
		return 0;
	for (i = c->bits; i < 128; i++)
		if (bit(c->addr, i))
			return 0;
	return 1;
}

/* One entry's canonical text must parse back to it. */
static void
check_entry(const struct cidr *c)
{
	struct cidr	 back;
	char		 text[CIDR_TEXT_MAX];
	int		 v4;

	if (!host_bits_clear(c))
		abort();
	cidr_format(c, text, sizeof(text));
	if (strlen(text) >= CIDR_TEXT_MAX || text[0] == '\0')
		abort();
	v4 = c->bits >= 96 && memcmp(c->addr, v4pre, 12) == 0;
	if (v4 != (strchr(text, ':') == NULL))
		abort();
	if (cidr_parse(text, strlen(text), &back) != 0 || !same(&back, c))
		abort();
}

/* A list (from cidr_parse_list, or built here) must be well formed and
 * survive cidr_format_list and cidr_parse_list unchanged. */
static void
check_list(const struct cidr_list *l)
{
	static char		 text[LIST_TEXT_MAX], small[LIST_TEXT_MAX];
	struct cidr_list	 back;
	char			 err[128];
	size_t			 i, j, n;

	if (l->n > CIDR_MAX)
		abort();
	for (i = 0; i < l->n; i++) {
		check_entry(&l->v[i]);
		for (j = 0; j < i; j++)
			if (same(&l->v[i], &l->v[j]))
				abort();
	}
	if (cidr_format_list(l, text, sizeof(text)) != 0)
		abort();
	if (cidr_parse_list(text, &back, err, sizeof(err)) != 0 ||
	    back.n != l->n || err[0] != '\0')
		abort();
	for (i = 0; i < l->n; i++)
		if (!same(&back.v[i], &l->v[i]))
			abort();
	/* Exactly enough room, and one byte short. */
	n = strlen(text);
	if (cidr_format_list(l, small, n + 1) != 0 || strcmp(small, text))
		abort();
	small[0] = 'x';
	if (cidr_format_list(l, small, n) != -1 || (n > 0 && small[0]))
		abort();
	if (cidr_within(l, l) != 1)
		abort();
}

/* The address from 3 bytes: the base with one byte changed, mapped when
 * flags say so. */
static void
make_addr(struct rd *r, const unsigned char base[16], unsigned char a[16],
    unsigned int *flags)
{
	unsigned int	 pos = take(r), x = take(r);

	*flags = take(r);
	memcpy(a, base, 16);
	if (*flags & 1)
		memcpy(a, v4pre, 12);
	a[pos % 16] ^= (unsigned char)x;
}

/* A list of up to want entries, 4 bytes each, around base; built here
 * (not parsed) and deduplicated. */
static void
make_list(struct rd *r, const unsigned char base[16], size_t want,
    struct cidr_list *l)
{
	struct cidr	 c;
	unsigned int	 k, flags;
	size_t		 i, j;

	l->n = 0;
	for (i = 0; i < want && r->n >= 4; i++) {
		k = take(r);
		make_addr(r, base, c.addr, &flags);
		c.bits = (unsigned char)(flags & 1 ? 96 + k % 33 : k % 129);
		ref_clear(&c);
		for (j = 0; j < l->n && !same(&l->v[j], &c); j++)
			;
		if (j == l->n)
			l->v[l->n++] = c;
	}
}

/* The distinct "smaller of a nested pair" blocks of a and b, counted up
 * to 2 * CIDR_MAX (they are entries of a or b, so never more). */
static size_t
ref_pairs(const struct cidr_list *a, const struct cidr_list *b)
{
	struct cidr	 seen[2 * CIDR_MAX];
	const struct cidr *s;
	size_t		 n = 0, i, j, k;

	for (i = 0; i < a->n; i++)
		for (j = 0; j < b->n; j++) {
			if (ref_contains(&b->v[j], &a->v[i]))
				s = &a->v[i];
			else if (ref_contains(&a->v[i], &b->v[j]))
				s = &b->v[j];
			else
				continue;
			for (k = 0; k < n && !same(&seen[k], s); k++)
				;
			if (k == n)
				seen[n++] = *s;
		}
	return n;
}

/* Everything that relates two lists, probed at addr (whose text is
 * text) and at the first entries' own addresses. */
static void
check_pair(const struct cidr_list *a, const struct cidr_list *b,
    const unsigned char addr[16], const char *text)
{
	struct cidr_list	 r, alias, one;
	const unsigned char	*probe[1 + 16];
	size_t			 i, j, np = 0, pairs;
	int			 rc, in;

	if (cidr_match(a, text) != ref_match(a, addr) ||
	    cidr_match(b, text) != ref_match(b, addr))
		abort();
	for (i = 0; i < a->n; i++)
		for (j = 0; j < b->n; j++)
			if (cidr_contains(&a->v[i], &b->v[j]) !=
			    ref_contains(&a->v[i], &b->v[j]) ||
			    cidr_contains(&b->v[j], &a->v[i]) !=
			    ref_contains(&b->v[j], &a->v[i]))
				abort();
	if (cidr_within(a, b) != ref_within(a, b) ||
	    cidr_within(b, a) != ref_within(b, a))
		abort();

	memset(&r, 0xa5, sizeof(r));
	rc = cidr_intersect(a, b, &r);
	pairs = a->n > 0 && b->n > 0 ? ref_pairs(a, b) : 0;
	if (rc == -1) {
		if (r.n != 0 || pairs <= CIDR_MAX)
			abort();
		return;
	}
	if (rc != (a->n > 0 && b->n > 0 && r.n == 0))
		abort();
	if (a->n > 0 && b->n > 0 && r.n != pairs)
		abort();
	check_list(&r);
	/* Each entry lies within a and within b. */
	for (i = 0; i < r.n; i++) {
		one.v[0] = r.v[i];
		one.n = 1;
		if (!ref_within(&one, a) || !ref_within(&one, b))
			abort();
	}
	/* In the intersection exactly when in both ("none" when rc 1). */
	probe[np++] = addr;
	for (i = 0; i < a->n && i < 8; i++)
		probe[np++] = a->v[i].addr;
	for (i = 0; i < b->n && i < 8; i++)
		probe[np++] = b->v[i].addr;
	for (i = 0; i < np; i++) {
		in = rc == 1 ? 0 : ref_allows(&r, probe[i]);
		if (in != (ref_allows(a, probe[i]) && ref_allows(b, probe[i])))
			abort();
	}
	/* The same result into a copy of a (out may alias an input). */
	alias = *a;
	if (cidr_intersect(&alias, b, &alias) != rc || alias.n != r.n)
		abort();
	for (i = 0; i < r.n; i++)
		if (!same(&alias.v[i], &r.v[i]))
			abort();
}

/* cidr_addr_text takes exactly the single addresses cidr_parse takes (no
 * '/'), and writes the entry's canonical text. */
static void
check_addr_text(const char *p, size_t n)
{
	struct cidr	 c;
	char		 out[CIDR_TEXT_MAX], want[CIDR_TEXT_MAX];
	int		 one = memchr(p, '/', n) == NULL && cidr_parse(p, n, &c) == 0;

	if ((cidr_addr_text(p, n, out, sizeof(out)) == 0) != one)
		abort();
	if (!one) {
		if (out[0] != '\0')
			abort();
		return;
	}
	if (c.bits != 128 || strcmp(out, cidr_format(&c, want, sizeof(want))))
		abort();
}

/* cidr_bucket of a REMOTE_ADDR: the address itself for IPv4 (and mapped),
 * its /64 for IPv6, and the bucket holds the address. */
static void
check_bucket(const char *s)
{
	struct cidr	 c, bk;
	struct cidr_list l;
	char		 out[CIDR_TEXT_MAX];
	int		 one = strchr(s, '/') == NULL &&
			    cidr_parse(s, strlen(s), &c) == 0;

	if ((cidr_bucket(s, out, sizeof(out)) == 0) != one)
		abort();
	if (!one)
		return;
	if (cidr_parse(out, strlen(out), &bk) != 0)
		abort();
	if (bk.bits != (memcmp(c.addr, v4pre, 12) == 0 ? 128 : 64))
		abort();
	l.n = 1;
	l.v[0] = bk;
	if (cidr_match(&l, s) != 1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cidr_list	 tl, a, b;
	struct cidr		 c;
	struct rd		 rd = { data, size };
	unsigned char		 base[16], addr[16];
	char			*raw, *s, err[128], text[INET6_ADDRSTRLEN];
	unsigned int		 flags;
	size_t			 i, na, nb;
	int			 tl_ok, m;

	/* Text: the exact bytes (heap, so overreads are caught). */
	if ((raw = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(raw, data, size);
	if (cidr_parse(raw, size, &c) == 0)
		check_entry(&c);
	check_addr_text(raw, size);
	free(raw);
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&tl, 0x5a, sizeof(tl));
	tl_ok = cidr_parse_list(s, &tl, err, sizeof(err)) == 0;
	if (tl_ok)
		check_list(&tl);
	else {
		if (tl.n != 0 || err[0] == '\0' || strlen(err) >= sizeof(err))
			abort();
		for (i = 0; err[i] != '\0'; i++)
			if ((unsigned char)err[i] < 0x20 ||
			    (unsigned char)err[i] > 0x7e)
				abort();
	}

	/* Numbers: counts, base, remote, then the entries of a and b. */
	na = take(&rd) % (CIDR_MAX + 1);
	nb = take(&rd) % (CIDR_MAX + 1);
	for (i = 0; i < 16; i++)
		base[i] = (unsigned char)take(&rd);
	make_addr(&rd, base, addr, &flags);
	if ((flags & 2) && memcmp(addr, v4pre, 12) == 0)
		snprintf(text, sizeof(text), "%u.%u.%u.%u", addr[12], addr[13],
		    addr[14], addr[15]);
	else if (inet_ntop(AF_INET6, addr, text, sizeof(text)) == NULL)
		abort();
	if (flags & 4)
		for (i = 0; text[i] != '\0'; i++)
			text[i] = (char)toupper((unsigned char)text[i]);
	make_list(&rd, base, na, &a);
	make_list(&rd, base, nb, &b);
	check_list(&a);
	check_list(&b);
	check_pair(&a, &b, addr, text);
	if (tl_ok) {
		check_pair(&tl, &a, addr, text);
		check_pair(&a, &tl, addr, text);
	}

	/* The raw text as a REMOTE_ADDR: a match is a single address. */
	if (!tl_ok)
		tl = a;
	m = cidr_match(&tl, s);
	if (strchr(s, '/') == NULL && cidr_parse(s, strlen(s), &c) == 0) {
		if (c.bits != 128 || m != ref_match(&tl, c.addr))
			abort();
	} else if (m != 0)
		abort();
	check_bucket(s);
	free(s);
	return 0;
}
