/*
 * cidr.h -- a token's "allowed IPs": IPv4 and IPv6 networks parsed from
 * text, written back canonically, and matched against a REMOTE_ADDR
 * (cidr.c).
 *
 * Self-contained (system headers only, no tessera.h). Nothing here
 * allocates: a list is a fixed array inside the caller's struct, and
 * every text result goes into the caller's buffer. Text is untrusted;
 * the parsers refuse rather than guess and never read past the length
 * or NUL they are given.
 */
#ifndef CIDR_H
#define CIDR_H

#include <stddef.h>

#define CIDR_MAX	64	/* entries in one list */
#define CIDR_TEXT_MAX	64	/* canonical text of one entry, with NUL */

/* One network. IPv4 is kept as the IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) with bits = 96 + its prefix, so one compare serves
 * both families and a mapped REMOTE_ADDR matches an IPv4 entry. Bits
 * past the prefix are always zero. */
struct cidr {
	unsigned char	 addr[16];
	unsigned char	 bits;		/* 0..128 */
};

/* Up to CIDR_MAX distinct networks, in the order given. */
struct cidr_list {
	struct cidr	 v[CIDR_MAX];
	size_t		 n;
};

/* Parses one entry of len bytes: "203.0.113.7", "203.0.113.0/24",
 * "2001:db8::/32", "2001:db8::1", "::ffff:10.0.0.0/104" (a mapped
 * network: the same as 10.0.0.0/8). Host bits past the prefix are
 * cleared (203.0.113.5/24 -> 203.0.113.0/24). No zone ids (%eth0), no
 * leading zeros in IPv4 octets ("010.0.0.1" is refused: ambiguous), no
 * white space, prefix digits only without leading zeros ("/024" refused),
 * IPv4 prefix 0..32, IPv6 0..128. s need not be NUL-terminated; out is
 * the caller's and is written only on success. Returns 0, or -1. */
int	 cidr_parse(const char *s, size_t len, struct cidr *out);

/* Parses a list: entries separated by commas and/or white space
 * (spaces, tabs, CR, LF), empty pieces skipped; exact duplicates (after
 * clearing host bits) kept once; input order kept. "" or only separators
 * gives n = 0. The limit counts distinct entries. Returns 0, or -1 with
 * a message in err naming the first bad entry (quoted, cut to 60 bytes,
 * control and non-ASCII bytes shown as '?') or "more than 64 entries".
 * On -1, out->n is 0. err (errlen bytes, may be NULL) is the caller's;
 * it is "" on success. */
int	 cidr_parse_list(const char *s, struct cidr_list *out, char *err,
	    size_t errlen);

/* Canonical text of one entry into out: IPv4 "a.b.c.d/n", or "a.b.c.d"
 * for a single host (/32); IPv6 as inet_ntop writes it plus "/n", or no
 * suffix for /128. Mapped entries (::ffff:0:0/96 and inside it) are
 * written as IPv4. outlen >= CIDR_TEXT_MAX. Returns out. */
char	*cidr_format(const struct cidr *, char *out, size_t outlen);

/* The list as canonical entries joined by "," (no spaces) into out.
 * Returns 0, or -1 when out is too small (then out is "", when outlen
 * > 0). Empty list: "". */
int	 cidr_format_list(const struct cidr_list *, char *out, size_t outlen);

/* 1 when addr (a REMOTE_ADDR: IPv4 dotted quad, or IPv6 text, including
 * ::ffff:a.b.c.d) parses and lies inside one of l's entries; 0 when it
 * does not, or does not parse (never a crash; NULL is 0; a zone id such
 * as fe80::1%eth0 does not parse). An empty list matches nothing (0):
 * "empty means any" is the caller's rule. */
int	 cidr_match(const struct cidr_list *l, const char *addr);

/* The canonical text of one address of len bytes (no prefix: IPv4
 * dotted, IPv6 as inet_ntop writes it, a mapped one as IPv4) into out
 * (outlen >= CIDR_TEXT_MAX). Returns 0, or -1 (out "") when it is not one
 * address by cidr_parse's rules. */
int	 cidr_addr_text(const char *s, size_t len, char *out, size_t outlen);

/* The rate-limit bucket of a REMOTE_ADDR into out (outlen >=
 * CIDR_TEXT_MAX): an IPv4 address (or a mapped one) is its own bucket
 * ("203.0.113.7"); an IPv6 address is its /64 ("2001:db8:1:2::/64"), the
 * smallest network a subscriber is given, so one host cannot take fresh
 * buckets by walking its addresses. Returns 0, or -1 (out "") when addr
 * does not parse. */
int	 cidr_bucket(const char *addr, char *out, size_t outlen);

/* 1 when a lies inside b (a's prefix at least as long and equal on b's
 * bits). */
int	 cidr_contains(const struct cidr *b, const struct cidr *a);

/* The subset rule for a child token: 1 when every entry of child lies
 * inside some entry of parent. An empty parent means any address: 1. An
 * empty child (any address) under a non-empty parent: 0. */
int	 cidr_within(const struct cidr_list *child,
	    const struct cidr_list *parent);

/* The intersection of child and parent, for narrowing a child when its parent's list shrinks:
 * CIDR blocks are nested or disjoint, so the result is, for every pair
 * with one inside the other, the smaller one (deduplicated, child's
 * order first). An empty a or b means any: the result is then the other
 * list. The result may be empty when both are non-empty and disjoint:
 * the caller must treat that as "no address" (not "any"). out may be a
 * or b. Returns 0 normally; 1 when both lists were non-empty and the
 * result is empty; -1 (out->n = 0) when the result would need more than
 * CIDR_MAX entries (possible only when both lists hold blocks inside
 * blocks of the other): treat it as an error, never as "any". */
int	 cidr_intersect(const struct cidr_list *a, const struct cidr_list *b,
	    struct cidr_list *out);

#endif /* CIDR_H */
