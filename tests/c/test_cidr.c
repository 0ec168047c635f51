/*
 * test_cidr.c -- the allowed-IPs lists (cidr.c): accepted and refused
 * entries with their canonical text, lists (separators, duplicates, the
 * 64-entry limit, error messages), matching a REMOTE_ADDR, and the
 * subset and intersection rules for child tokens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/cidr.h"

/* Parses the NUL-terminated s as one entry into *c; fails the test when
 * it is refused. */
static void
parse1(const char *s, struct cidr *c)
{
	if (cidr_parse(s, strlen(s), c) != 0)
		fail_msg("refused: \"%s\"", s);
}

/* Parses the list s into the caller's *l; fails the test on an error. */
static void
parsel(const char *s, struct cidr_list *l)
{
	char	 err[128];

	if (cidr_parse_list(s, l, err, sizeof(err)) != 0)
		fail_msg("list \"%s\" refused: %s", s, err);
	assert_string_equal(err, "");
}

/* The canonical text of the list s, into the caller's out (1024 bytes). */
static char *
canon(const char *s, char *out)
{
	struct cidr_list	 l;

	parsel(s, &l);
	assert_int_equal(cidr_format_list(&l, out, 1024), 0);
	return out;
}

/* 1 when no bit of c's address past its prefix is set. */
static int
host_bits_clear(const struct cidr *c)
{
	int	 i;

	for (i = c->bits; i < 128; i++)
		if (c->addr[i / 8] & (0x80 >> (i % 8)))
			return 0;
	return 1;
}

static void
t_accepted(void **state)
{
	static const struct {
		const char	*in, *want;
		int		 bits;
	} cases[] = {
		{ "203.0.113.7", "203.0.113.7", 128 },
		{ "203.0.113.7/32", "203.0.113.7", 128 },
		{ "203.0.113.0/24", "203.0.113.0/24", 120 },
		{ "203.0.113.5/24", "203.0.113.0/24", 120 },
		{ "203.0.113.255/25", "203.0.113.128/25", 121 },
		{ "10.1.2.3/8", "10.0.0.0/8", 104 },
		{ "10.255.2.3/9", "10.128.0.0/9", 105 },
		{ "1.2.3.4/0", "0.0.0.0/0", 96 },
		{ "0.0.0.0/0", "0.0.0.0/0", 96 },
		{ "0.0.0.0", "0.0.0.0", 128 },
		{ "255.255.255.255", "255.255.255.255", 128 },
		{ "100.64.0.0/10", "100.64.0.0/10", 106 },
		{ "2001:db8::/32", "2001:db8::/32", 32 },
		{ "2001:db8::1", "2001:db8::1", 128 },
		{ "2001:db8::1/128", "2001:db8::1", 128 },
		{ "2001:DB8::AbC/128", "2001:db8::abc", 128 },
		{ "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1", 128 },
		{ "2001:db8:1:2:3:4:5:6/64", "2001:db8:1:2::/64", 64 },
		{ "2001:db8::ff/121", "2001:db8::80/121", 121 },
		{ "fe80::1/10", "fe80::/10", 10 },
		{ "fe80::1/9", "fe80::/9", 9 },
		{ "::/0", "::/0", 0 },
		{ "2001:db8::1/0", "::/0", 0 },
		{ "::", "::", 128 },
		{ "::1", "::1", 128 },
		{ "::1/127", "::/127", 127 },
		/* Mapped: the IPv4 part of the space, written as IPv4. */
		{ "::ffff:10.0.0.0/104", "10.0.0.0/8", 104 },
		{ "::ffff:10.9.8.7/104", "10.0.0.0/8", 104 },
		{ "::ffff:10.1.2.3", "10.1.2.3", 128 },
		{ "::FFFF:10.1.2.3/128", "10.1.2.3", 128 },
		{ "::ffff:a01:203", "10.1.2.3", 128 },
		{ "0:0:0:0:0:ffff:a01:203/120", "10.1.2.0/24", 120 },
		{ "::ffff:0:0/96", "0.0.0.0/0", 96 },
		{ "::ffff:0.0.0.0/96", "0.0.0.0/0", 96 },
		/* Shorter than /96 leaves the IPv4 part: plain IPv6. */
		{ "::ffff:10.0.0.0/80", "::/80", 80 },
		{ "::ffff:10.0.0.0/95", "::fffe:0:0/95", 95 },
		/* IPv4-compatible (deprecated) stays IPv6. */
		{ "::1.2.3.4", "::1.2.3.4", 128 },
		{ "64:ff9b::192.0.2.33", "64:ff9b::c000:221", 128 },
	};
	struct cidr	 c, again;
	char		 text[CIDR_TEXT_MAX];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&c, 0xaa, sizeof(c));
		parse1(cases[i].in, &c);
		if (c.bits != cases[i].bits)
			fail_msg("%s: bits %d, want %d", cases[i].in, c.bits,
			    cases[i].bits);
		assert_true(host_bits_clear(&c));
		assert_ptr_equal(cidr_format(&c, text, sizeof(text)), text);
		if (strcmp(text, cases[i].want) != 0)
			fail_msg("%s: \"%s\", want \"%s\"", cases[i].in, text,
			    cases[i].want);
		/* The canonical text reads back as the same network. */
		parse1(text, &again);
		assert_memory_equal(&again, &c, sizeof(c));
	}
}

static void
t_mapped_bytes(void **state)
{
	static const unsigned char want[16] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 0
	};
	struct cidr	 a, b;

	(void)state;
	parse1("203.0.113.9/24", &a);
	assert_memory_equal(a.addr, want, 16);
	assert_int_equal(a.bits, 120);
	parse1("::ffff:203.0.113.0/120", &b);
	assert_memory_equal(&a, &b, sizeof(a));
	parse1("10.0.0.0/8", &a);
	parse1("::ffff:10.0.0.0/104", &b);
	assert_memory_equal(&a, &b, sizeof(a));
}

static void
t_refused(void **state)
{
	static const char *const bad[] = {
		"", "010.0.0.1", "1.02.3.4", "1.2.3.00", "00.1.2.3",
		"1.2.3.4/024", "1.2.3.4/08", "1.2.3.4/00", "::/0128",
		"::/00", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.256",
		"1.2.3.1000", "1.2.3.4/33", "1.2.3.4/1000", "::/129",
		"::/999", "::/1280", "1.2.3.4/", "::1/", "/8", "/", "1.2.3.4/-1",
		"1.2.3.4/+8", "1.2.3.4//8", "1.2.3.4/8/8", "1.2.3.4/ 8",
		"1.2.3.4/8 ", "1.2.3.4/0x8", "fe80::1%eth0", "fe80::1%1",
		"fe80::1%eth0/64", "1.2.3.4 /8", " 1.2.3.4", "1.2.3.4 ",
		"1.2.3.4\t", "1.2.3.4\n", "1.2.3.4,", "1..2.3", ".1.2.3.4",
		"1.2.3.4.", "0x1.2.3.4", "1.2.3.a", "-1.2.3.4", "+1.2.3.4",
		"localhost", "a", "[::1]", "[::1]/128", "1.2.3.4:80",
		"::ffff:010.0.0.1", "::ffff:1.2.3", "::ffff:1.2.3.4.5",
		"::ffff:256.0.0.1", "1.2::3.4.5.6", "2001:db8::g", ":::",
		"::1::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::",
		"2001:db8:::1", "2001:db8::/32/32", "::/", "::/-0",
		"1.2.3.4/32\r", "\xc2\xa0" "1.2.3.4",
		"11111111111111111111111111111111111111111111111111",
		"1111:1111:1111:1111:1111:1111:1111:1111:1111:1111",
	};
	struct cidr	 c;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cidr_parse(bad[i], strlen(bad[i]), &c) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
}

static void
t_length_and_nul(void **state)
{
	struct cidr	 c, keep;

	(void)state;
	/* NUL bytes inside len. */
	assert_int_equal(cidr_parse("1.2.3.4\0", 8, &c), -1);
	assert_int_equal(cidr_parse("1.2\0.3.4", 8, &c), -1);
	assert_int_equal(cidr_parse("\0" "1.2.3.4", 8, &c), -1);
	assert_int_equal(cidr_parse("1.2.3.4/8\0", 10, &c), -1);
	assert_int_equal(cidr_parse("::1\0", 4, &c), -1);
	assert_int_equal(cidr_parse("::1/1\0" "28", 8, &c), -1);
	/* Only len bytes are read: a prefix of a longer buffer. */
	assert_int_equal(cidr_parse("10.0.0.1/8 junk", 10, &c), 0);
	assert_int_equal(c.bits, 104);
	assert_int_equal(cidr_parse("10.0.0.1/8 junk", 7, &c), -1);
	assert_int_equal(cidr_parse("10.0.0.1/8", 8, &c), 0);
	assert_int_equal(c.bits, 128);
	assert_int_equal(cidr_parse("10.0.0.1", 0, &c), -1);
	assert_int_equal(cidr_parse(NULL, 0, &c), -1);
	/* A refused entry leaves out alone. */
	parse1("192.0.2.1", &keep);
	c = keep;
	assert_int_equal(cidr_parse("192.0.2.300", 11, &c), -1);
	assert_memory_equal(&c, &keep, sizeof(c));
}

static void
t_list_separators(void **state)
{
	struct cidr_list	 l;
	char			 out[1024], err[128];

	(void)state;
	parsel("", &l);
	assert_int_equal(l.n, 0);
	parsel(" , ,\t\r\n,,", &l);
	assert_int_equal(l.n, 0);
	assert_string_equal(canon("", out), "");
	assert_string_equal(canon("10.0.0.0/8", out), "10.0.0.0/8");
	assert_string_equal(canon(",10.0.0.0/8,", out), "10.0.0.0/8");
	assert_string_equal(canon(
	    "10.0.0.0/8, 192.168.1.1\n2001:db8::/32\t,,  \r\n 10.0.0.5/8",
	    out), "10.0.0.0/8,192.168.1.1,2001:db8::/32");
	assert_string_equal(canon("2001:db8::/32 10.0.0.0/8", out),
	    "2001:db8::/32,10.0.0.0/8");	/* input order kept */
	assert_string_equal(canon("1.1.1.1\t2.2.2.2\r3.3.3.3\n4.4.4.4",
	    out), "1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4");
	/* Exact duplicates, after clearing host bits, kept once. */
	assert_string_equal(canon(
	    "1.2.3.4, 1.2.3.4/32 ::ffff:1.2.3.4,::ffff:102:304/128", out),
	    "1.2.3.4");
	assert_string_equal(canon("10.1.0.0/16 10.1.2.3/16 10.0.0.0/8",
	    out), "10.1.0.0/16,10.0.0.0/8");	/* nested: both kept */
	assert_string_equal(canon("::/0 0.0.0.0/0 ::/0", out),
	    "::/0,0.0.0.0/0");
	/* NULL is an empty list; err may be NULL. */
	assert_int_equal(cidr_parse_list(NULL, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(cidr_parse_list("1.2.3.4", &l, NULL, 0), 0);
	assert_int_equal(l.n, 1);
	/* Other white space is not a separator. */
	assert_int_equal(cidr_parse_list("1.2.3.4\v5.6.7.8", &l, err,
	    sizeof(err)), -1);
	assert_int_equal(cidr_parse_list("1.2.3.4;5.6.7.8", &l, err,
	    sizeof(err)), -1);
}

/* n distinct hosts (10.0.0.1, 10.0.0.2, ...), joined by sep, into the
 * caller's out. */
static void
hosts(char *out, size_t outlen, int n, const char *sep)
{
	size_t	 used = 0;
	int	 i;

	out[0] = '\0';
	for (i = 0; i < n; i++)
		used += (size_t)snprintf(out + used, outlen - used, "%s10.0.%d.%d",
		    i ? sep : "", i / 200, i % 200 + 1);
	assert_true(used < outlen);
}

static void
t_list_limit(void **state)
{
	struct cidr_list	 l;
	char			 s[4096], out[4096], err[128];

	(void)state;
	hosts(s, sizeof(s), 64, ", ");
	assert_int_equal(cidr_parse_list(s, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 64);
	assert_string_equal(err, "");
	assert_int_equal(cidr_format_list(&l, out, sizeof(out)), 0);
	hosts(s, sizeof(s), 64, ",");
	assert_string_equal(out, s);

	hosts(s, sizeof(s), 65, " ");
	memset(&l, 0, sizeof(l));
	l.n = 7;
	assert_int_equal(cidr_parse_list(s, &l, err, sizeof(err)), -1);
	assert_int_equal(l.n, 0);
	assert_string_equal(err, "more than 64 entries");

	/* 64 distinct plus duplicates: the limit counts distinct entries. */
	hosts(s, sizeof(s), 64, ",");
	strcat(s, ",10.0.0.1,10.0.0.1/32,::ffff:10.0.0.2");
	assert_int_equal(cidr_parse_list(s, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 64);
}

static void
t_list_errors(void **state)
{
	struct cidr_list	 l;
	char			 err[128], s[2048], small[16];
	int			 i;

	(void)state;
	l.n = 3;
	assert_int_equal(cidr_parse_list("10.0.0.0/8, 1.2.3, 5.6.7.8", &l,
	    err, sizeof(err)), -1);
	assert_int_equal(l.n, 0);
	assert_non_null(strstr(err, "\"1.2.3\""));
	/* The first bad entry is named. */
	assert_int_equal(cidr_parse_list("bad1 10.0.0.1 bad2", &l, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "\"bad1\""));
	assert_null(strstr(err, "bad2"));
	/* A bad entry before the 65th is named, not the limit. */
	hosts(s, sizeof(s), 64, ",");
	strcat(s, ",300.0.0.1,10.9.9.9");
	assert_int_equal(cidr_parse_list(s, &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "\"300.0.0.1\""));
	/* Each refused form from the brief, inside a list. */
	assert_int_equal(cidr_parse_list("fe80::1%eth0", &l, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "\"fe80::1%eth0\""));
	assert_int_equal(cidr_parse_list("1.2.3.4/024", &l, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "\"1.2.3.4/024\""));
	/* "1.2.3.4 /8": the second piece is bad. */
	assert_int_equal(cidr_parse_list("1.2.3.4 /8", &l, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "\"/8\""));
	/* Control and non-ASCII bytes shown as '?'. */
	assert_int_equal(cidr_parse_list("1.2.3.4,ab\x01\x7f" "cd\xc3\xa9",
	    &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "\"ab??cd??\""));
	/* Cut to 60 bytes. */
	for (i = 0; i < 200; i++)
		s[i] = (char)('a' + i % 26);
	s[200] = '\0';
	assert_int_equal(cidr_parse_list(s, &l, err, sizeof(err)), -1);
	{
		char	*q = strchr(err, '"'), *e;

		assert_non_null(q);
		e = strchr(q + 1, '"');
		assert_non_null(e);
		assert_int_equal(e - q - 1, 60);
		assert_memory_equal(q + 1, s, 57);
		assert_memory_equal(e - 3, "...", 3);
		assert_string_equal(e, "\"");
	}
	/* Exactly 60 bytes: shown whole. */
	s[60] = '\0';
	assert_int_equal(cidr_parse_list(s, &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, s));
	/* A small err is cut, NUL-terminated. */
	memset(small, 'x', sizeof(small));
	assert_int_equal(cidr_parse_list("nope", &l, small, sizeof(small)),
	    -1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(cidr_parse_list("nope", &l, NULL, 0), -1);
	assert_int_equal(cidr_parse_list("nope", &l, small, 0), -1);
	/* Success clears err. */
	assert_int_equal(cidr_parse_list("1.2.3.4", &l, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static void
t_format_list(void **state)
{
	struct cidr_list	 l, back;
	char			 out[1024], err[128];
	const char		*text = "10.0.0.0/8,203.0.113.7,2001:db8::/32,"
				    "::1,0.0.0.0/0,::/0,fe80::/10";
	size_t			 n = strlen(text);

	(void)state;
	parsel(text, &l);
	assert_int_equal(l.n, 7);
	assert_int_equal(cidr_format_list(&l, out, sizeof(out)), 0);
	assert_string_equal(out, text);
	assert_int_equal(cidr_parse_list(out, &back, err, sizeof(err)), 0);
	assert_int_equal(back.n, l.n);
	assert_memory_equal(back.v, l.v, l.n * sizeof(l.v[0]));
	/* Exactly enough room, one byte short. */
	assert_int_equal(cidr_format_list(&l, out, n + 1), 0);
	assert_string_equal(out, text);
	memset(out, 'x', sizeof(out));
	assert_int_equal(cidr_format_list(&l, out, n), -1);
	assert_string_equal(out, "");
	memset(out, 'x', sizeof(out));
	assert_int_equal(cidr_format_list(&l, out, 12), -1);
	assert_string_equal(out, "");
	/* Empty list. */
	l.n = 0;
	memset(out, 'x', sizeof(out));
	assert_int_equal(cidr_format_list(&l, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(cidr_format_list(&l, out, 1), 0);
	assert_int_equal(cidr_format_list(&l, out, 0), -1);
}

static void
t_format_longest(void **state)
{
	struct cidr	 c;
	char		 out[CIDR_TEXT_MAX];

	(void)state;
	parse1("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &c);
	assert_string_equal(cidr_format(&c, out, sizeof(out)),
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	parse1("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127", &c);
	assert_string_equal(cidr_format(&c, out, sizeof(out)),
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
	parse1("255.255.255.254/31", &c);
	assert_string_equal(cidr_format(&c, out, sizeof(out)),
	    "255.255.255.254/31");
}

static void
t_match(void **state)
{
	static const struct {
		const char	*list, *addr;
		int		 want;
	} cases[] = {
		{ "203.0.113.0/24", "203.0.113.9", 1 },
		{ "203.0.113.0/24", "203.0.113.0", 1 },
		{ "203.0.113.0/24", "203.0.113.255", 1 },
		{ "203.0.113.0/24", "203.0.114.0", 0 },
		{ "203.0.113.0/24", "203.0.112.255", 0 },
		{ "203.0.113.7", "203.0.113.7", 1 },
		{ "203.0.113.7", "203.0.113.8", 0 },
		{ "10.0.0.0/8, 192.168.0.0/16", "192.168.44.1", 1 },
		{ "10.0.0.0/8, 192.168.0.0/16", "172.16.0.1", 0 },
		{ "10.128.0.0/9", "10.127.255.255", 0 },
		{ "10.128.0.0/9", "10.128.0.0", 1 },
		{ "2001:db8::/32", "2001:db8:ffff::1", 1 },
		{ "2001:db8::/32", "2001:DB8::1", 1 },
		{ "2001:db8::/32", "2001:db9::1", 0 },
		{ "2001:db8::1", "2001:db8::1", 1 },
		{ "2001:db8::1", "2001:db8:0:0:0:0:0:1", 1 },
		{ "2001:db8::1", "2001:db8::2", 0 },
		{ "fe80::/10", "febf::1", 1 },
		{ "fe80::/10", "fec0::1", 0 },
		/* A mapped remote against an IPv4 entry, and back. */
		{ "203.0.113.0/24", "::ffff:203.0.113.9", 1 },
		{ "203.0.113.0/24", "::FFFF:203.0.113.9", 1 },
		{ "203.0.113.0/24", "::ffff:cb00:7109", 1 },
		{ "203.0.113.0/24", "::ffff:203.0.114.9", 0 },
		{ "::ffff:203.0.113.0/120", "203.0.113.9", 1 },
		{ "::ffff:0:0/96", "203.0.113.9", 1 },
		{ "::ffff:0:0/96", "0.0.0.0", 1 },
		{ "::ffff:0:0/96", "2001:db8::1", 0 },
		/* IPv4 is not IPv4-compatible or NAT64. */
		{ "203.0.113.0/24", "::203.0.113.9", 0 },
		{ "203.0.113.0/24", "64:ff9b::203.0.113.9", 0 },
		/* /0 entries. */
		{ "0.0.0.0/0", "1.2.3.4", 1 },
		{ "0.0.0.0/0", "255.255.255.255", 1 },
		{ "0.0.0.0/0", "::ffff:1.2.3.4", 1 },
		{ "0.0.0.0/0", "2001:db8::1", 0 },
		{ "0.0.0.0/0", "::1", 0 },
		{ "::/0", "2001:db8::1", 1 },
		{ "::/0", "1.2.3.4", 1 },
		{ "::/0", "::", 1 },
		/* Garbage addresses never match, even under ::/0. */
		{ "::/0", "", 0 },
		{ "::/0", "localhost", 0 },
		{ "::/0", "1.2.3.4:80", 0 },
		{ "::/0", "[::1]", 0 },
		{ "::/0", "[::1]:80", 0 },
		{ "::/0", "1.2.3.4/32", 0 },
		{ "::/0", "::/0", 0 },
		{ "::/0", " 1.2.3.4", 0 },
		{ "::/0", "1.2.3.4 ", 0 },
		{ "::/0", "1.2.3.4\n", 0 },
		{ "::/0", "01.2.3.4", 0 },
		{ "::/0", "1.2.3", 0 },
		{ "::/0", "fe80::1%eth0", 0 },
		{ "::/0", "unknown", 0 },
		{ "::/0", "1111:1111:1111:1111:1111:1111:1111:1111:1111", 0 },
		{ "0.0.0.0/0", "1.2.3.4.5", 0 },
		/* An empty list matches nothing. */
		{ "", "1.2.3.4", 0 },
		{ "", "::1", 0 },
	};
	struct cidr_list	 l;
	char			 big[8192];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parsel(cases[i].list, &l);
		if (cidr_match(&l, cases[i].addr) != cases[i].want)
			fail_msg("match(\"%s\", \"%s\") != %d", cases[i].list,
			    cases[i].addr, cases[i].want);
	}
	parsel("::/0", &l);
	assert_int_equal(cidr_match(&l, NULL), 0);
	assert_int_equal(cidr_match(NULL, "1.2.3.4"), 0);
	/* A long address is not read to its end. */
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(cidr_match(&l, big), 0);
	/* The last of 64 entries. */
	hosts(big, sizeof(big), 64, ",");
	parsel(big, &l);
	assert_int_equal(cidr_match(&l, "10.0.0.64"), 1);
	assert_int_equal(cidr_match(&l, "10.0.0.65"), 0);
}

static void
t_contains(void **state)
{
	static const struct {
		const char	*b, *a;
		int		 want;
	} cases[] = {
		{ "10.0.0.0/8", "10.1.0.0/16", 1 },
		{ "10.0.0.0/8", "10.0.0.0/8", 1 },
		{ "10.0.0.0/8", "10.255.255.255", 1 },
		{ "10.1.0.0/16", "10.0.0.0/8", 0 },
		{ "10.0.0.0/8", "11.0.0.0/8", 0 },
		{ "0.0.0.0/0", "203.0.113.0/24", 1 },
		{ "0.0.0.0/0", "2001:db8::/32", 0 },
		{ "::/0", "0.0.0.0/0", 1 },
		{ "::/0", "2001:db8::/32", 1 },
		{ "::ffff:0:0/96", "1.2.3.4", 1 },
		{ "2001:db8::/32", "2001:db8:1::/48", 1 },
		{ "2001:db8:1::/48", "2001:db8::/32", 0 },
		{ "2001:db8::/32", "2001:db9::/32", 0 },
		{ "1.2.3.4", "1.2.3.4", 1 },
		{ "1.2.3.4", "1.2.3.5", 0 },
	};
	struct cidr	 a, b;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse1(cases[i].b, &b);
		parse1(cases[i].a, &a);
		if (cidr_contains(&b, &a) != cases[i].want)
			fail_msg("contains(%s, %s) != %d", cases[i].b,
			    cases[i].a, cases[i].want);
	}
}

static void
t_within(void **state)
{
	static const struct {
		const char	*child, *parent;
		int		 want;
	} cases[] = {
		{ "", "", 1 },
		{ "10.0.0.0/8", "", 1 },		/* any parent */
		{ "", "10.0.0.0/8", 0 },		/* any child: wider */
		{ "10.1.0.0/16", "10.0.0.0/8", 1 },
		{ "10.1.0.0/16, 192.168.1.1", "10.0.0.0/8, 192.168.0.0/16",
		    1 },
		{ "10.1.0.0/16, 172.16.0.1", "10.0.0.0/8, 192.168.0.0/16",
		    0 },
		{ "10.0.0.0/8", "10.1.0.0/16", 0 },
		{ "10.0.0.0/8", "10.0.0.0/9, 10.128.0.0/9", 0 },
		{ "2001:db8:1::/48", "2001:db8::/32", 1 },
		{ "2001:db8::/32", "0.0.0.0/0", 0 },
		{ "203.0.113.7", "0.0.0.0/0", 1 },
		{ "203.0.113.7, 2001:db8::1", "::/0", 1 },
		{ "::/0", "0.0.0.0/0", 0 },
		{ "10.0.0.0/8", "10.0.0.0/8", 1 },
	};
	struct cidr_list	 c, p;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parsel(cases[i].child, &c);
		parsel(cases[i].parent, &p);
		if (cidr_within(&c, &p) != cases[i].want)
			fail_msg("within(\"%s\", \"%s\") != %d",
			    cases[i].child, cases[i].parent, cases[i].want);
		assert_int_equal(cidr_within(&c, &c), 1);
	}
}

static void
t_intersect(void **state)
{
	static const struct {
		const char	*a, *b, *want;
		int		 rc;
	} cases[] = {
		{ "", "", "", 0 },
		{ "10.0.0.0/8, 2001:db8::/32", "", "10.0.0.0/8,2001:db8::/32",
		    0 },
		{ "", "10.0.0.0/8, 2001:db8::/32", "10.0.0.0/8,2001:db8::/32",
		    0 },
		{ "10.0.0.0/8", "10.1.0.0/16", "10.1.0.0/16", 0 },
		{ "10.1.0.0/16", "10.0.0.0/8", "10.1.0.0/16", 0 },
		{ "10.0.0.0/8", "10.0.0.0/8", "10.0.0.0/8", 0 },
		/* Disjoint: nothing left, which is not "any". */
		{ "10.0.0.0/8", "192.168.0.0/16", "", 1 },
		{ "2001:db8::/32", "0.0.0.0/0", "", 1 },
		/* Child's order first, then the parent's pieces. */
		{ "192.168.1.1, 10.0.0.0/8, 172.16.0.0/12",
		    "10.1.0.0/16, 10.2.0.0/16, 0.0.0.0/1",
		    "10.1.0.0/16,10.2.0.0/16,10.0.0.0/8", 0 },
		{ "0.0.0.0/0", "203.0.113.7, 2001:db8::1, 198.51.100.0/24",
		    "203.0.113.7,198.51.100.0/24", 0 },
		{ "::/0", "203.0.113.7, 2001:db8::1",
		    "203.0.113.7,2001:db8::1", 0 },
		/* Deduplicated. */
		{ "10.0.0.1, 10.0.0.2", "10.0.0.0/24, 10.0.0.0/16",
		    "10.0.0.1,10.0.0.2", 0 },
		{ "10.0.0.0/24, 10.0.0.0/16", "10.0.0.0/8, 10.0.0.0/24",
		    "10.0.0.0/24,10.0.0.0/16", 0 },
	};
	struct cidr_list	 a, b, r;
	char			 out[1024];
	size_t			 i;
	int			 rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parsel(cases[i].a, &a);
		parsel(cases[i].b, &b);
		memset(&r, 0x55, sizeof(r));
		rc = cidr_intersect(&a, &b, &r);
		assert_int_equal(cidr_format_list(&r, out, sizeof(out)), 0);
		if (rc != cases[i].rc || strcmp(out, cases[i].want) != 0)
			fail_msg("intersect(\"%s\", \"%s\") = %d \"%s\", "
			    "want %d \"%s\"", cases[i].a, cases[i].b, rc, out,
			    cases[i].rc, cases[i].want);
		/* The result lies within both (when not "none"). */
		if (rc == 0) {
			assert_int_equal(cidr_within(&r, &a), 1);
			assert_int_equal(cidr_within(&r, &b), 1);
		}
	}
	/* out may be a or b. */
	parsel("10.0.0.0/8, 192.168.0.0/16", &a);
	parsel("10.1.0.0/16", &b);
	assert_int_equal(cidr_intersect(&a, &b, &a), 0);
	assert_int_equal(cidr_format_list(&a, out, sizeof(out)), 0);
	assert_string_equal(out, "10.1.0.0/16");
	parsel("192.168.1.0/24", &a);
	parsel("192.168.0.0/16, 10.0.0.0/8", &b);
	assert_int_equal(cidr_intersect(&a, &b, &b), 0);
	assert_int_equal(cidr_format_list(&b, out, sizeof(out)), 0);
	assert_string_equal(out, "192.168.1.0/24");
}

static void
t_intersect_overflow(void **state)
{
	struct cidr_list	 a, b, r;
	char			 s[4096], *p;
	int			 i;

	(void)state;
	/* a: 10/8 and 63 hosts of 11/8; b: 63 hosts of 10/8 and 11/8. The
	 * intersection is 126 hosts: more than a list holds. */
	p = s;
	p += sprintf(p, "10.0.0.0/8");
	for (i = 1; i < 64; i++)
		p += sprintf(p, ",11.0.0.%d", i);
	parsel(s, &a);
	p = s;
	for (i = 1; i < 64; i++)
		p += sprintf(p, "10.0.0.%d,", i);
	sprintf(p, "11.0.0.0/8");
	parsel(s, &b);
	assert_int_equal(a.n, 64);
	assert_int_equal(b.n, 64);
	r.n = 5;
	assert_int_equal(cidr_intersect(&a, &b, &r), -1);
	assert_int_equal(r.n, 0);
	/* 64 results still fit. */
	parsel("0.0.0.0/0", &a);
	assert_int_equal(cidr_intersect(&a, &b, &r), 0);
	assert_int_equal(r.n, 64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_accepted),
		cmocka_unit_test(t_mapped_bytes),
		cmocka_unit_test(t_refused),
		cmocka_unit_test(t_length_and_nul),
		cmocka_unit_test(t_list_separators),
		cmocka_unit_test(t_list_limit),
		cmocka_unit_test(t_list_errors),
		cmocka_unit_test(t_format_list),
		cmocka_unit_test(t_format_longest),
		cmocka_unit_test(t_match),
		cmocka_unit_test(t_contains),
		cmocka_unit_test(t_within),
		cmocka_unit_test(t_intersect),
		cmocka_unit_test(t_intersect_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
