/*
 * cidr.c -- the "allowed IPs" list of a token: IPv4 and IPv6 networks
 * parsed from text, written back canonically, compared with each other
 * and matched against the REMOTE_ADDR of every API request.
 *
 * Both families live in one 16-byte form: IPv4 a.b.c.d is the mapped
 * address ::ffff:a.b.c.d with 96 added to its prefix, so one bitwise
 * compare serves IPv4, IPv6 and mapped remotes alike. Every struct cidr
 * made here has its host bits (past the prefix) cleared, so "the same
 * network" is equal bytes.
 *
 * Nothing here allocates or keeps state; all memory is the caller's.
 * Text is hostile: readers take a length (or stop at a NUL and a small
 * bound) and refuse anything not in the documented forms instead of
 * guessing (no zone ids, no leading zeros, no white space). IPv4 text is
 * read by hand, including the tail of an IPv6 address, because libc
 * inet_pton differs on leading zeros; IPv6 text goes to inet_pton once
 * it is known to hold only hex digits, colons and dots.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "cidr.h"

/* Longest address text read: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
 * is 45 bytes. */
#define ADDR_MAX	45

/* What separates the entries of a list. */
#define SEPS		" \t\r\n,"

/* The first 12 bytes of an IPv4-mapped IPv6 address. */
static const unsigned char mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* 1 when c is an ASCII hex digit (no locale). */
static int
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* Reads an IPv4 dotted quad of exactly len bytes of s (not necessarily
 * NUL-terminated) into the caller's out[4]: four decimal octets 0..255
 * without leading zeros, nothing else. Returns 0, or -1 (out may then be
 * partly written). */
static int
parse_v4(const char *s, size_t len, unsigned char out[4])
{
	size_t		 i = 0, digits;
	unsigned int	 v;
	int		 k;

	for (k = 0; k < 4; k++) {
		if (k > 0) {
			if (i >= len || s[i] != '.')
				return -1;
			i++;
		}
		v = 0;
		digits = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (digits == 3 || (digits > 0 && v == 0))
				return -1;	/* too long, or a leading 0 */
			v = v * 10 + (unsigned int)(s[i] - '0');
			digits++;
			i++;
		}
		if (digits == 0 || v > 255)
			return -1;
		out[k] = (unsigned char)v;
	}
	return i == len ? 0 : -1;
}

/* Reads one address of exactly len bytes of s: an IPv4 dotted quad
 * (stored mapped; *v4 = 1) or IPv6 text (*v4 = 0), into the caller's
 * out[16]. Returns 0, or -1 (out may then be partly written). */
static int
parse_addr(const char *s, size_t len, unsigned char out[16], int *v4)
{
	char		 buf[ADDR_MAX + 1];
	unsigned char	 tail[4];
	size_t		 i, after = 0;
	int		 colons = 0, dots = 0;

	if (len == 0 || len > ADDR_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] == ':') {
			colons = 1;
			after = i + 1;
		} else if (s[i] == '.')
			dots = 1;
		else if (!is_hex(s[i]))
			return -1;	/* %zone, space, NUL, brackets... */
	}
	if (!colons) {
		*v4 = 1;
		memcpy(out, mapped, sizeof(mapped));
		return parse_v4(s, len, out + 12);
	}
	/* An IPv4 tail ("::ffff:10.0.0.1") obeys the IPv4 rules. */
	if (dots && parse_v4(s + after, len - after, tail) == -1)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET6, buf, out) != 1)
		return -1;
	*v4 = 0;
	return 0;
}

/* Reads a prefix length of exactly len bytes of s: decimal digits, no
 * leading zero, at most max, into *bits. Returns 0, or -1. */
static int
parse_prefix(const char *s, size_t len, unsigned int max,
    unsigned int *bits)
{
	unsigned int	 v = 0;
	size_t		 i;

	if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*bits = v;
	return 0;
}

/* Zeroes the bits of c's address past its prefix. */
static void
clear_host(struct cidr *c)
{
	size_t	 i = c->bits / 8;

	assert(c->bits <= 128);
	if (c->bits % 8 != 0) {
		c->addr[i] &= (unsigned char)(0xff << (8 - c->bits % 8));
		i++;
	}
	for (; i < sizeof(c->addr); i++)
		c->addr[i] = 0;
}

/* 1 when the 16-byte addresses x and y agree on their first bits bits. */
static int
prefix_eq(const unsigned char *x, const unsigned char *y, unsigned int bits)
{
	size_t		 n = bits / 8;
	unsigned int	 r = bits % 8;

	assert(bits <= 128);
	if (memcmp(x, y, n) != 0)
		return 0;
	if (r == 0)
		return 1;
	return ((x[n] ^ y[n]) & (0xff << (8 - r)) & 0xff) == 0;
}

/* 1 when a and b are the same network. */
static int
same(const struct cidr *a, const struct cidr *b)
{
	return a->bits == b->bits && memcmp(a->addr, b->addr, 16) == 0;
}

/* 1 when c is in the IPv4 part of the space (::ffff:0:0/96). */
static int
is_mapped(const struct cidr *c)
{
	return c->bits >= 96 && memcmp(c->addr, mapped, sizeof(mapped)) == 0;
}

/* Appends a copy of c to the caller's l unless l holds it already.
 * Returns 0, or -1 when l is full and c is new (l unchanged). */
static int
list_add(struct cidr_list *l, const struct cidr *c)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		if (same(&l->v[i], c))
			return 0;
	if (l->n == CIDR_MAX)
		return -1;
	l->v[l->n++] = *c;
	return 0;
}

/* Copies the entries of src into dst (both the caller's). */
static void
list_copy(struct cidr_list *dst, const struct cidr_list *src)
{
	assert(src->n <= CIDR_MAX);
	if (dst != src)
		memcpy(dst->v, src->v, src->n * sizeof(src->v[0]));
	dst->n = src->n;
}

/* Writes the message for the bad entry s (len bytes) into the caller's
 * err: at most 60 bytes of it, printable ASCII only, quoted. */
static void
bad_entry(char *err, size_t errlen, const char *s, size_t len)
{
	char		 shown[61];
	size_t		 i, n = len > 60 ? 57 : len;
	unsigned char	 ch;

	for (i = 0; i < n; i++) {
		ch = (unsigned char)s[i];
		shown[i] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
	}
	if (len > 60) {
		memcpy(shown + n, "...", 3);
		n += 3;
	}
	shown[n] = '\0';
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "not an IP address or network: \"%s\"",
		    shown);
}

/* One entry of len bytes of the caller's s into the caller's *out,
 * written only on success (cidr.h lists the forms). Returns 0, or -1. */
int
cidr_parse(const char *s, size_t len, struct cidr *out)
{
	struct cidr	 c;
	const char	*slash;
	size_t		 alen;
	unsigned int	 max, p;
	int		 v4;

	if (s == NULL)
		return -1;
	slash = memchr(s, '/', len);
	alen = slash != NULL ? (size_t)(slash - s) : len;
	if (parse_addr(s, alen, c.addr, &v4) == -1)
		return -1;
	p = max = v4 ? 32 : 128;
	if (slash != NULL &&
	    parse_prefix(slash + 1, len - alen - 1, max, &p) == -1)
		return -1;
	c.bits = (unsigned char)(v4 ? 96 + p : p);
	clear_host(&c);
	*out = c;
	return 0;
}

/* A separated list from the caller's NUL-terminated s into the caller's
 * *out; on -1 out->n is 0 and err (the caller's, may be NULL) says why.
 * The 65th distinct entry is the overflow, so a long list of duplicates
 * still parses. */
int
cidr_parse_list(const char *s, struct cidr_list *out, char *err,
    size_t errlen)
{
	struct cidr	 c;
	size_t		 len;
	int		 rc = -1;

	out->n = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (s == NULL) {
		rc = 0;
		goto out;
	}
	for (;;) {
		s += strspn(s, SEPS);
		if (*s == '\0')
			break;
		len = strcspn(s, SEPS);
		if (cidr_parse(s, len, &c) == -1) {
			bad_entry(err, errlen, s, len);
			goto out;
		}
		if (list_add(out, &c) == -1) {
			if (err != NULL && errlen > 0)
				snprintf(err, errlen, "more than %d entries",
				    CIDR_MAX);
			goto out;
		}
		s += len;
	}
	rc = 0;
out:
	if (rc == -1)
		out->n = 0;
	return rc;
}

/* Canonical text of the caller's c into the caller's out (at least
 * CIDR_TEXT_MAX bytes); returns out. */
char *
cidr_format(const struct cidr *c, char *out, size_t outlen)
{
	char			 a[INET6_ADDRSTRLEN];
	const unsigned char	*q = c->addr + 12;

	assert(c->bits <= 128);
	assert(outlen >= CIDR_TEXT_MAX);
	if (outlen == 0)
		return out;
	if (is_mapped(c)) {
		if (c->bits == 128)
			snprintf(out, outlen, "%u.%u.%u.%u", q[0], q[1],
			    q[2], q[3]);
		else
			snprintf(out, outlen, "%u.%u.%u.%u/%u", q[0], q[1],
			    q[2], q[3], c->bits - 96u);
	} else if (inet_ntop(AF_INET6, c->addr, a, sizeof(a)) == NULL)
		out[0] = '\0';
	else if (c->bits == 128)
		snprintf(out, outlen, "%s", a);
	else
		snprintf(out, outlen, "%s/%u", a, (unsigned int)c->bits);
	return out;
}

/* The caller's l as comma-joined canonical text into the caller's out.
 * Returns 0, or -1 (out "") when it does not fit. */
int
cidr_format_list(const struct cidr_list *l, char *out, size_t outlen)
{
	char	 one[CIDR_TEXT_MAX];
	size_t	 i, n, used = 0;
	int	 rc = -1;

	assert(l->n <= CIDR_MAX);
	if (outlen == 0)
		return -1;
	out[0] = '\0';
	for (i = 0; i < l->n; i++) {
		cidr_format(&l->v[i], one, sizeof(one));
		n = strlen(one);
		if (used + (i > 0) + n >= outlen)
			goto out;
		if (i > 0)
			out[used++] = ',';
		memcpy(out + used, one, n + 1);
		used += n;
	}
	rc = 0;
out:
	if (rc == -1)
		out[0] = '\0';
	return rc;
}

/* 1 when the caller's REMOTE_ADDR text addr lies in one of l's entries.
 * Reads at most ADDR_MAX + 1 bytes of addr; anything unparsable, too
 * long or NULL is 0. Called on every request: one parse, then at most
 * CIDR_MAX prefix compares. */
int
cidr_match(const struct cidr_list *l, const char *addr)
{
	unsigned char	 a[16];
	size_t		 i;
	int		 v4;

	if (l == NULL || addr == NULL || l->n == 0)
		return 0;
	assert(l->n <= CIDR_MAX);
	if (parse_addr(addr, strnlen(addr, ADDR_MAX + 1), a, &v4) == -1)
		return 0;
	for (i = 0; i < l->n; i++)
		if (prefix_eq(l->v[i].addr, a, l->v[i].bits))
			return 1;
	return 0;
}

/* One address (no prefix) of len bytes into the caller's c as a /128;
 * 0 or -1. */
static int
addr_host(const char *s, size_t len, struct cidr *c)
{
	int	 v4;

	if (s == NULL || parse_addr(s, len, c->addr, &v4) == -1)
		return -1;
	c->bits = 128;
	return 0;
}

int
cidr_addr_text(const char *s, size_t len, char *out, size_t outlen)
{
	struct cidr	 c;

	if (addr_host(s, len, &c) == -1) {
		if (outlen > 0)
			out[0] = '\0';
		return -1;
	}
	cidr_format(&c, out, outlen);
	return 0;
}

int
cidr_bucket(const char *addr, char *out, size_t outlen)
{
	struct cidr	 c;

	if (addr == NULL ||
	    addr_host(addr, strnlen(addr, ADDR_MAX + 1), &c) == -1) {
		if (outlen > 0)
			out[0] = '\0';
		return -1;
	}
	if (!is_mapped(&c)) {
		c.bits = 64;
		clear_host(&c);
	}
	cidr_format(&c, out, outlen);
	return 0;
}

/* 1 when network a (the caller's) lies inside network b. */
int
cidr_contains(const struct cidr *b, const struct cidr *a)
{
	return a->bits >= b->bits && prefix_eq(a->addr, b->addr, b->bits);
}

/* 1 when each entry of the caller's child lies in some entry of parent;
 * empty lists mean "any" (cidr.h). */
int
cidr_within(const struct cidr_list *child, const struct cidr_list *parent)
{
	size_t	 i, j;

	if (parent->n == 0)
		return 1;
	if (child->n == 0)
		return 0;
	for (i = 0; i < child->n; i++) {
		for (j = 0; j < parent->n; j++)
			if (cidr_contains(&parent->v[j], &child->v[i]))
				break;
		if (j == parent->n)
			return 0;
	}
	return 1;
}

/* The intersection of child (a) and parent (b), into the caller's out, built in a local copy so
 * out may alias a or b. Returns 0, 1 (both non-empty, disjoint: "no
 * address"), or -1 (more than CIDR_MAX entries; out->n = 0). */
int
cidr_intersect(const struct cidr_list *a, const struct cidr_list *b,
    struct cidr_list *out)
{
	struct cidr_list	 r;
	const struct cidr	*x, *y;
	size_t			 i, j;
	int			 rc = -1;

	r.n = 0;
	if (a->n == 0 || b->n == 0) {
		list_copy(&r, a->n == 0 ? b : a);
		rc = 0;
		goto out;
	}
	for (i = 0; i < a->n; i++) {
		x = &a->v[i];
		for (j = 0; j < b->n; j++) {
			y = &b->v[j];
			if (cidr_contains(y, x)) {
				if (list_add(&r, x) == -1)
					goto out;
			} else if (cidr_contains(x, y)) {
				if (list_add(&r, y) == -1)
					goto out;
			}
		}
	}
	rc = r.n == 0 ? 1 : 0;
out:
	if (rc == -1)
		r.n = 0;
	list_copy(out, &r);
	return rc;
}
