/*
 * test_log.c -- log_scrub_uri in fcgi/lib/log.c: secret query values never
 * reach a log line, everything else is kept byte for byte, and the output
 * buffer is never overrun.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tessera.h"

/* Scrubs uri into a large buffer and compares with want. */
static void
check(const char *uri, const char *want)
{
	char	 out[1024];

	memset(out, 'X', sizeof(out));
	assert_ptr_equal(log_scrub_uri(uri, out, sizeof(out)), out);
	assert_string_equal(out, want);
}

static void
scrub_token(void **state)
{
	(void)state;
	check("/api/v1/x?token=tsr_abcDEF123", "/api/v1/x?token=[scrubbed]");
	check("/x?a=1&token=SECRETVALUE&b=2",
	    "/x?a=1&token=[scrubbed]&b=2");
}

static void
scrub_every_secret_name(void **state)
{
	(void)state;
	check("/x?password=hunter2", "/x?password=[scrubbed]");
	check("/x?csrf=c5rf", "/x?csrf=[scrubbed]");
	check("/x?secret=s3", "/x?secret=[scrubbed]");
	check("/x?session=abc", "/x?session=[scrubbed]");
	check("/login?user=ann&password=p%40ss&csrf=zz&next=%2F",
	    "/login?user=ann&password=[scrubbed]&csrf=[scrubbed]&next=%2F");
}

static void
scrub_names_case_insensitive(void **state)
{
	(void)state;
	check("/x?TOKEN=a&Password=b&CsRf=c&SECRET=d&Session=e",
	    "/x?TOKEN=[scrubbed]&Password=[scrubbed]&CsRf=[scrubbed]"
	    "&SECRET=[scrubbed]&Session=[scrubbed]");
}

static void
scrub_keeps_other_params_exactly(void **state)
{
	(void)state;
	/* Names that merely contain a secret word are not secret names. */
	check("/x?tokens=1&my_token=2&tok=3&token_id=4",
	    "/x?tokens=1&my_token=2&tok=3&token_id=4");
	/* A bare name without '=' has no value to hide. */
	check("/x?token&a=1", "/x?token&a=1");
	/* Empty pieces and a trailing '&' survive. */
	check("/x?a=1&&token=zz&", "/x?a=1&&token=[scrubbed]&");
	/* A value containing '=' is hidden whole. */
	check("/x?token=abc=def&k=v", "/x?token=[scrubbed]&k=v");
	/* '?' inside the query belongs to the first value. */
	check("/x?next=/y?z=1&token=t", "/x?next=/y?z=1&token=[scrubbed]");
}

static void
scrub_no_query(void **state)
{
	(void)state;
	check("/plain/path", "/plain/path");
	check("/", "/");
	check("", "");
	check("/x?", "/x?");
	/* Without a '?', "token=" in the path is not a parameter. */
	check("/token=abc", "/token=abc");
}

static void
scrub_empty_value(void **state)
{
	char	 out[256];

	(void)state;
	log_scrub_uri("/x?token=", out, sizeof(out));
	/* The key and '=' stay; nothing of a value can leak. */
	assert_int_equal(strncmp(out, "/x?token=", 9), 0);
	check("/x?token=", "/x?token=[scrubbed]");
	check("/x?token=&a=1", "/x?token=[scrubbed]&a=1");
}

static void
scrub_first_and_last(void **state)
{
	(void)state;
	check("/x?token=first&mid=1&secret=last",
	    "/x?token=[scrubbed]&mid=1&secret=[scrubbed]");
	check("/x?token=only", "/x?token=[scrubbed]");
	check("/x?a=1&token=last", "/x?a=1&token=[scrubbed]");
}

/* A parameter the request parser decodes to "token" is the token: the
 * scrubber must hide it however its name was spelled on the wire. */
static void
scrub_percent_encoded_name(void **state)
{
	char	 out[256];

	(void)state;
	log_scrub_uri("/x?%74oken=LEAKED1&a=1", out, sizeof(out));
	assert_null(strstr(out, "LEAKED1"));
	log_scrub_uri("/x?pass%77ord=LEAKED2", out, sizeof(out));
	assert_null(strstr(out, "LEAKED2"));
}

/* Every output size from 0 to past the full length: no byte beyond
 * outlen is touched, the result is NUL-terminated, a prefix of the full
 * result, and never holds any part of the secret. */
static void
scrub_tiny_buffers(void **state)
{
	const char	*uri = "/api/x?alpha=1&token=SECRET&beta=22&csrf=CSRFV";
	const char	*full = "/api/x?alpha=1&token=[scrubbed]&beta=22"
			    "&csrf=[scrubbed]";
	char		 buf[128];
	size_t		 outlen, flen = strlen(full), i;

	(void)state;
	for (outlen = 0; outlen <= flen + 2; outlen++) {
		memset(buf, '#', sizeof(buf));
		/* The output starts at buf + 8 so overruns on both sides
		 * are visible. */
		log_scrub_uri(uri, buf + 8, outlen);
		for (i = 0; i < 8; i++)
			assert_int_equal(buf[i], '#');
		for (i = 8 + outlen; i < sizeof(buf); i++)
			assert_int_equal(buf[i], '#');
		if (outlen == 0)
			continue;
		assert_non_null(memchr(buf + 8, '\0', outlen));
		assert_true(strlen(buf + 8) <= outlen - 1);
		assert_int_equal(strlen(buf + 8),
		    outlen - 1 < flen ? outlen - 1 : flen);
		assert_memory_equal(buf + 8, full, strlen(buf + 8));
		assert_null(strstr(buf + 8, "SECRET"));
		assert_null(strstr(buf + 8, "CSRFV"));
	}
	/* A path with no query, truncated. */
	memset(buf, '#', sizeof(buf));
	log_scrub_uri("/abcdef", buf, 4);
	assert_string_equal(buf, "/ab");
	assert_int_equal(buf[4], '#');
}

static void
scrub_long_uri(void **state)
{
	char	*uri, *out;
	size_t	 i, n = 20000;

	(void)state;
	/* Many secret parameters, output fits exactly. */
	uri = malloc(n + 64);
	out = malloc(n * 2);
	assert_non_null(uri);
	assert_non_null(out);
	strcpy(uri, "/x?");
	for (i = 0; strlen(uri) + 20 < n; i++)
		strcat(uri, i % 2 ? "&token=abcdefghij" : "&a=1");
	log_scrub_uri(uri, out, n * 2);
	assert_null(strstr(out, "abcdefghij"));
	assert_non_null(strstr(out, "&token=[scrubbed]&a=1"));
	free(uri);
	free(out);
}

/* A URI's control bytes and spaces are written %NN: one token, never a
 * second line or a terminal escape; at every output size, nothing past
 * outlen is touched and no control byte gets through. */
static void
scrub_controls(void **state)
{
	const char	*uri = "/a\nb c?x=1\x1b[31m&token=S\r\x7f";
	const char	*full = "/a%0Ab%20c?x=1%1B[31m&token=[scrubbed]";
	char		 buf[128];
	size_t		 outlen, i;

	(void)state;
	check(uri, full);
	for (outlen = 1; outlen <= strlen(full) + 2; outlen++) {
		memset(buf, '#', sizeof(buf));
		log_scrub_uri(uri, buf + 8, outlen);
		for (i = 8 + outlen; i < sizeof(buf); i++)
			assert_int_equal(buf[i], '#');
		assert_true(strlen(buf + 8) < outlen);
		for (i = 8; buf[i]; i++)
			assert_true((unsigned char)buf[i] > 0x20 &&
			    buf[i] != 0x7f);
		assert_null(strstr(buf + 8, "=S"));
	}
}

/* The logger writes other control bytes as \xNN and indents the lines
 * after a newline, so a peer's bytes can neither forge an entry nor
 * reach a terminal as an escape. */
static void
log_escapes_controls(void **state)
{
	char	 path[] = "/tmp/tessera-log-XXXXXX", got[512];
	int	 fd, saved;
	FILE	*f;
	size_t	 n;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	log_msg("info", "a\x1b[2Jb\rc\nd\x7f%s", "\x01");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_non_null(f = fdopen(fd, "r"));
	rewind(f);
	n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = '\0';
	fclose(f);
	unlink(path);
	assert_non_null(strstr(got, "info: a\\x1b[2Jb\\x0dc\n  d\\x7f\\x01\n"));
	assert_null(strchr(got, '\x1b'));
	assert_null(strchr(got, '\r'));
}

/* ---------------------------------------------- log_format = json */

/* s through log_json_string, as a C string (freed by the caller). */
static char *
js(const char *s)
{
	struct buf	 b = { 0 };

	log_json_string(&b, s);
	assert_false(b.failed);
	return b.p;
}

static void
json_check(const char *in, const char *want)
{
	char	*got = js(in);

	assert_string_equal(got, want);
	free(got);
}

static void
json_escapes_hostile_text(void **state)
{
	(void)state;
	json_check("plain", "\"plain\"");
	json_check("", "\"\"");
	json_check("a\"b\\c", "\"a\\\"b\\\\c\"");
	json_check("l1\nl2\r\tx", "\"l1\\nl2\\r\\tx\"");
	json_check("\x01\x1b[2J\x1f\x7f", "\"\\u0001\\u001b[2J\\u001f\\u007f\"");
	/* Valid UTF-8 kept as it is; U+2028/2029 escaped. */
	json_check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
	    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91\"");
	json_check("a\xe2\x80\xa8" "b\xe2\x80\xa9", "\"a\\u2028b\\u2029\"");
	/* Not UTF-8: each bad byte one U+FFFD, nothing raw. */
	json_check("\xff", "\"\\ufffd\"");
	json_check("a\xc3", "\"a\\ufffd\"");			/* cut short */
	json_check("\xc0\xaf", "\"\\ufffd\\ufffd\"");		/* overlong / */
	json_check("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");	/* overlong */
	json_check("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");	/* surrogate */
	json_check("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	json_check("\xe2\x82" "x", "\"\\ufffd\\ufffdx\"");
}

/* Every byte value in every position: the output is one line of valid
 * JSON string syntax (checked by a small validator) and ASCII-safe. */
static void
json_every_byte(void **state)
{
	char	 in[4], *got, *p;
	int	 a, b;

	(void)state;
	for (a = 1; a < 256; a++) {
		for (b = 1; b < 256; b += 7) {
			in[0] = (char)a;
			in[1] = (char)b;
			in[2] = '"';
			in[3] = '\0';
			got = js(in);
			assert_int_equal(got[0], '"');
			for (p = got + 1; *p && p[1]; p++) {
				unsigned char c = (unsigned char)*p;

				assert_true(c >= 0x20 && c != 0x7f);
				assert_true(c != '"');	/* escaped quotes are skipped */
				if (c == '\\') {
					p++;
					assert_non_null(strchr("\"\\nrtu", *p));
				}
			}
			assert_int_equal(*p, '"');
			assert_true(utf8_valid(got, strlen(got)));
			free(got);
		}
	}
}

static void
json_line_has_the_fields(void **state)
{
	struct buf	 b = { 0 };
	struct log_req	 rq = { .method = "GET", .uri = "/api/me?token=[scrubbed]",
			    .route = "/api/me", .remote = "192.0.2.7",
			    .key = "e7e2d8c2-0432-4792-a1aa-00581f5eac2d",
			    .status = 200, .ms = 1.5 };

	(void)state;
	log_format_line(&b, 1, 1700000000, 42, "req", "GET /api/me 200 1.500ms",
	    "abc-123", &rq);
	assert_string_equal(b.p, "{\"time\":\"2023-11-14T22:13:20Z\",\"level\":"
	    "\"req\",\"pid\":42,\"msg\":\"GET /api/me 200 1.500ms\",\"request_id\":"
	    "\"abc-123\",\"method\":\"GET\",\"uri\":\"/api/me?token=[scrubbed]\","
	    "\"route\":\"/api/me\",\"status\":200,\"duration_ms\":1.500,\"remote\":"
	    "\"192.0.2.7\",\"key\":\"e7e2d8c2\"}\n");
	buf_free(&b);
	/* The same fields in text; only the key's prefix. */
	log_format_line(&b, 0, 1700000000, 42, "req", "GET /api/me 200 1.500ms",
	    "abc-123", &rq);
	assert_string_equal(b.p, "2023-11-14T22:13:20Z tessera[42] req: GET "
	    "/api/me 200 1.500ms route=/api/me remote=192.0.2.7 key=e7e2d8c2 "
	    "id=abc-123\n");
	buf_free(&b);
	/* A message with a newline stays one JSON line. */
	log_format_line(&b, 1, 0, 1, "error", "boom\n  at x\x1b", NULL, NULL);
	assert_string_equal(b.p, "{\"time\":\"1970-01-01T00:00:00Z\",\"level\":"
	    "\"error\",\"pid\":1,\"msg\":\"boom\\n  at x\\u001b\"}\n");
	assert_int_equal(strchr(b.p, '\n') - b.p, (long)b.len - 1);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scrub_token),
		cmocka_unit_test(scrub_every_secret_name),
		cmocka_unit_test(scrub_names_case_insensitive),
		cmocka_unit_test(scrub_keeps_other_params_exactly),
		cmocka_unit_test(scrub_no_query),
		cmocka_unit_test(scrub_empty_value),
		cmocka_unit_test(scrub_first_and_last),
		cmocka_unit_test(scrub_percent_encoded_name),
		cmocka_unit_test(scrub_tiny_buffers),
		cmocka_unit_test(scrub_long_uri),
		cmocka_unit_test(scrub_controls),
		cmocka_unit_test(log_escapes_controls),
		cmocka_unit_test(json_escapes_hostile_text),
		cmocka_unit_test(json_every_byte),
		cmocka_unit_test(json_line_has_the_fields),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
