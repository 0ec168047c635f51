/*
 * test_http_io.c -- one request in, one response out, through the
 * in-memory connection of fcgi/http/conn.c: req_read (fcgi/http/request.c) and
 * resp_header / resp_write / resp_error (fcgi/http/response.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <strings.h>

#include "tessera.h"
#include "testutil.h"

static struct config	 cfg;

/* An in-memory connection: the environment, the body and the output. */
struct io {
	struct conn	 c;
	struct buf	 out;
	char		*env[64];
};

/* Sets up io with a NULL-terminated list of "NAME=value" strings and a
 * body of blen bytes (body may be NULL when blen is 0). */
static void
io_init(struct io *io, const char *const *env, const char *body, size_t blen)
{
	size_t	 i;

	memset(io, 0, sizeof(*io));
	for (i = 0; env && env[i]; i++) {
		assert_true(i + 1 < sizeof(io->env) / sizeof(io->env[0]));
		io->env[i] = (char *)env[i];
	}
	io->env[i] = NULL;
	io->c.envp = io->env;
	io->c.mem_body = body ? body : "";
	io->c.mem_len = blen;
	io->c.mem_out = &io->out;
}

/* Reads a request with the shared config. */
static int
rd(struct req *r, struct io *io, const char *const *env, const char *body,
    size_t blen)
{
	const char	*why = NULL;
	int		 rc;

	io_init(io, env, body, blen);
	rc = req_read(r, &io->c, &cfg, &why);
	assert_non_null(why);
	return rc;
}

/* The first value of key in l, failing the test when absent. */
static const char *
getv(const struct kvlist *l, const char *key)
{
	const struct kv	*kv = kv_get(l, key);

	if (kv == NULL)
		fail_msg("no parameter \"%s\"", key);
	return kv->val;
}

/* ------------------------------------------------------------- req_read */

static void
req_get_with_query(void **state)
{
	const char *const env[] = {
		"REQUEST_METHOD=GET",
		"REQUEST_URI=/tokens/list?page=2&tag=a&tag=b+c&tag=%C3%A9",
		"QUERY_STRING=ignored=1",
		"HTTP_HOST=example.test",
		"HTTP_ACCEPT=text/html",
		"HTTP_USER_AGENT=cmocka/1.1",
		"HTTP_X_CSRF_TOKEN=csrf123",
		"HTTP_AUTHORIZATION=Bearer abc",
		"REMOTE_ADDR=192.0.2.7",
		NULL
	};
	struct req	 r;
	struct io	 io;

	(void)state;
	assert_int_equal(rd(&r, &io, env, NULL, 0), 0);
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.path, "/tokens/list");
	assert_string_equal(r.uri,
	    "/tokens/list?page=2&tag=a&tag=b+c&tag=%C3%A9");
	assert_string_equal(r.query_string, "page=2&tag=a&tag=b+c&tag=%C3%A9");
	assert_int_equal(r.query.n, 4);
	assert_string_equal(getv(&r.query, "page"), "2");
	assert_string_equal(getv(&r.query, "tag"), "a");
	assert_string_equal(r.query.v[2].key, "tag");
	assert_string_equal(r.query.v[2].val, "b c");
	assert_string_equal(r.query.v[3].val, "\xc3\xa9");
	assert_null(kv_get(&r.query, "ignored"));
	assert_string_equal(r.host, "example.test");
	assert_string_equal(r.accept, "text/html");
	assert_string_equal(r.user_agent, "cmocka/1.1");
	assert_string_equal(r.csrf_header, "csrf123");
	assert_string_equal(r.authorization, "Bearer abc");
	assert_string_equal(r.remote_addr, "192.0.2.7");
	assert_string_equal(r.scheme, "http");
	assert_null(r.content_type);
	assert_null(r.origin);
	assert_int_equal(r.form.n, 0);
	assert_int_equal(r.body.len, 0);
	req_free(&r);
	assert_null(r.method);
}

static void
req_post_form(void **state)
{
	const char	*body = "name=J%C3%BCrgen+M&desc=a%26b%3Dc&flag";
	char		 cl[64];
	const char *const env[] = {
		"REQUEST_METHOD=POST",
		"REQUEST_URI=/tokens",
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		cl,
		NULL
	};
	struct req	 r;
	struct io	 io;

	(void)state;
	snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", strlen(body));
	assert_int_equal(rd(&r, &io, env, body, strlen(body)), 0);
	assert_int_equal(r.content_length, (long long)strlen(body));
	assert_int_equal(r.body.len, strlen(body));
	assert_memory_equal(r.body.p, body, strlen(body));
	assert_int_equal(io.c.mem_off, strlen(body));
	assert_int_equal(r.form.n, 3);
	assert_string_equal(getv(&r.form, "name"), "J\xc3\xbcrgen M");
	assert_string_equal(getv(&r.form, "desc"), "a&b=c");
	assert_string_equal(getv(&r.form, "flag"), "");
	assert_int_equal(r.query.n, 0);
	req_free(&r);
}

static void
req_content_type_params(void **state)
{
	const char	*body = "a=1";
	const char *const env[] = {
		"REQUEST_METHOD=POST",
		"REQUEST_URI=/x",
		"CONTENT_TYPE=Application/X-WWW-Form-URLencoded ; Charset=UTF-8",
		"CONTENT_LENGTH=3",
		NULL
	};
	const char *const env_json[] = {
		"REQUEST_METHOD=POST",
		"REQUEST_URI=/x",
		"CONTENT_TYPE=Application/JSON;charset=utf-8",
		"CONTENT_LENGTH=3",
		NULL
	};
	struct req	 r;
	struct io	 io;

	(void)state;
	assert_int_equal(rd(&r, &io, env, body, 3), 0);
	assert_string_equal(r.content_type, "application/x-www-form-urlencoded");
	assert_int_equal(r.form.n, 1);
	assert_string_equal(getv(&r.form, "a"), "1");
	req_free(&r);
	/* Another media type: the body is kept, not parsed as a form. */
	assert_int_equal(rd(&r, &io, env_json, body, 3), 0);
	assert_string_equal(r.content_type, "application/json");
	assert_int_equal(r.form.n, 0);
	assert_int_equal(r.body.len, 3);
	req_free(&r);
}

static void
req_body_over_limit(void **state)
{
	char		 cl[64];
	const char *const env[] = {
		"REQUEST_METHOD=POST",
		"REQUEST_URI=/upload",
		"CONTENT_TYPE=application/octet-stream",
		cl,
		NULL
	};
	struct req	 r;
	struct io	 io;
	const char	*why = NULL;
	struct config	 small = cfg;	/* shallow copy, not freed */
	char		*body;

	(void)state;
	snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%lld", cfg.body_limit + 1);
	assert_int_equal(rd(&r, &io, env, "short", 5), 413);
	assert_int_equal(io.c.mem_off, 0);	/* body never read */
	assert_int_equal(r.body.len, 0);
	req_free(&r);

	/* A huge length does not overflow into something small. */
	snprintf(cl, sizeof(cl), "CONTENT_LENGTH=99999999999999999999999999");
	assert_true(rd(&r, &io, env, "x", 1) >= 400);
	assert_int_equal(io.c.mem_off, 0);
	req_free(&r);

	/* Exactly the limit is read. */
	small.body_limit = 2048;
	body = malloc(2049);
	assert_non_null(body);
	memset(body, 'b', 2049);
	snprintf(cl, sizeof(cl), "CONTENT_LENGTH=2048");
	io_init(&io, env, body, 2049);
	assert_int_equal(req_read(&r, &io.c, &small, &why), 0);
	assert_int_equal(r.body.len, 2048);
	req_free(&r);
	snprintf(cl, sizeof(cl), "CONTENT_LENGTH=2049");
	io_init(&io, env, body, 2049);
	assert_int_equal(req_read(&r, &io.c, &small, &why), 413);
	assert_int_equal(io.c.mem_off, 0);
	req_free(&r);
	free(body);
}

static void
req_bad_content_length(void **state)
{
	static const char *const bad[] = {
		"CONTENT_LENGTH=12a", "CONTENT_LENGTH=-1", "CONTENT_LENGTH= 3",
		"CONTENT_LENGTH=3 ", "CONTENT_LENGTH=0x3", "CONTENT_LENGTH=+3",
		"CONTENT_LENGTH=3.0",
	};
	const char	*env[] = {
		"REQUEST_METHOD=POST", "REQUEST_URI=/x", NULL, NULL
	};
	struct req	 r;
	struct io	 io;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		env[2] = bad[i];
		if (rd(&r, &io, env, "abcdefghijklmn", 14) != 400)
			fail_msg("%s was not a 400", bad[i]);
		req_free(&r);
	}
}

static void
req_short_body(void **state)
{
	const char *const env[] = {
		"REQUEST_METHOD=POST", "REQUEST_URI=/x",
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"CONTENT_LENGTH=10", NULL
	};
	const char *const env0[] = {
		"REQUEST_METHOD=POST", "REQUEST_URI=/x", "CONTENT_LENGTH=0",
		NULL
	};
	struct req	 r;
	struct io	 io;

	(void)state;
	assert_int_equal(rd(&r, &io, env, "a=1", 3), 400);
	req_free(&r);
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
	/* A longer body is read only up to the length. */
	assert_int_equal(rd(&r, &io, env, "a=12345678&b=2", 14), 0);
	assert_int_equal(r.body.len, 10);
	assert_string_equal(getv(&r.form, "a"), "12345678");
	assert_null(kv_get(&r.form, "b"));
	req_free(&r);
	/* A zero length reads nothing. */
	assert_int_equal(rd(&r, &io, env0, "ignored", 7), 0);
	assert_int_equal(r.body.len, 0);
	assert_int_equal(io.c.mem_off, 0);
	req_free(&r);
}

static void
req_bad_method(void **state)
{
	static const char *const bad[] = {
		"REQUEST_METHOD=get", "REQUEST_METHOD=GeT",
		"REQUEST_METHOD=", "REQUEST_METHOD=GET ",
		"REQUEST_METHOD=G-T", "REQUEST_METHOD=ABCDEFGHIJKLMNOPQ",
		NULL
	};
	const char	*env[] = { NULL, "REQUEST_URI=/x", NULL };
	struct req	 r;
	struct io	 io;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		env[0] = bad[i] ? bad[i] : "HTTP_X_NOTHING=1";
		if (rd(&r, &io, env, NULL, 0) != 400)
			fail_msg("%s was not a 400", bad[i] ? bad[i] : "none");
		req_free(&r);
	}
	env[0] = "REQUEST_METHOD=HEAD";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 0);
	assert_string_equal(r.method, "HEAD");
	req_free(&r);
}

static void
req_path_decoding(void **state)
{
	const char	*env[] = { "REQUEST_METHOD=GET", NULL, NULL };
	struct req	 r;
	struct io	 io;

	(void)state;
	env[1] = "REQUEST_URI=/files/a%2Fb/c+d%20e?q=1%2F2";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 0);
	assert_string_equal(r.path, "/files/a/b/c+d e");	/* '+' kept */
	assert_string_equal(getv(&r.query, "q"), "1/2");
	req_free(&r);

	env[1] = "REQUEST_URI=/caf%C3%A9";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 0);
	assert_string_equal(r.path, "/caf\xc3\xa9");
	req_free(&r);

	/* Invalid UTF-8 after decoding, a decoded NUL, bad escapes. */
	env[1] = "REQUEST_URI=/x%FF";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
	env[1] = "REQUEST_URI=/x%C0%AF..";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
	env[1] = "REQUEST_URI=/x%00.html";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
	env[1] = "REQUEST_URI=/x%2";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
	env[1] = "REQUEST_URI=/x%zz";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
	/* Raw invalid bytes, and a path not starting with '/'. */
	env[1] = "REQUEST_URI=/x\xff";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
	env[1] = "REQUEST_URI=relative/path";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
	env[1] = "REQUEST_URI=";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
	/* A bad query is a 400 as well. */
	env[1] = "REQUEST_URI=/x?a=%00";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
	env[1] = "REQUEST_URI=/x?a=%FF";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
}

static void
req_uri_too_long(void **state)
{
	const char	*env[] = { "REQUEST_METHOD=GET", NULL, NULL };
	struct req	 r;
	struct io	 io;
	char		*u;
	size_t		 pre = strlen("REQUEST_URI=");

	(void)state;
	u = malloc(pre + 8193 + 1);
	assert_non_null(u);
	memcpy(u, "REQUEST_URI=/", pre + 1);
	memset(u + pre + 1, 'a', 8192);		/* 8193 bytes of URI */
	u[pre + 8193] = '\0';
	env[1] = u;
	assert_int_equal(rd(&r, &io, env, NULL, 0), 414);
	req_free(&r);
	u[pre + 8192] = '\0';			/* exactly 8192 */
	assert_int_equal(rd(&r, &io, env, NULL, 0), 0);
	assert_int_equal(strlen(r.path), 8192);
	req_free(&r);
	free(u);
}

static void
req_no_request_uri(void **state)
{
	const char *const env[] = {
		"REQUEST_METHOD=GET",
		"SCRIPT_NAME=/cgi/tessera",
		"PATH_INFO=/tokens/7",
		"QUERY_STRING=a=1&a=2",
		NULL
	};
	const char *const bare[] = { "REQUEST_METHOD=GET", NULL };
	const char *const noqs[] = {
		"REQUEST_METHOD=GET", "PATH_INFO=/p", "QUERY_STRING=", NULL
	};
	struct req	 r;
	struct io	 io;

	(void)state;
	assert_int_equal(rd(&r, &io, env, NULL, 0), 0);
	assert_string_equal(r.uri, "/cgi/tessera/tokens/7?a=1&a=2");
	assert_string_equal(r.path, "/cgi/tessera/tokens/7");
	assert_string_equal(r.query_string, "a=1&a=2");
	assert_int_equal(r.query.n, 2);
	assert_string_equal(r.query.v[1].val, "2");
	req_free(&r);
	assert_int_equal(rd(&r, &io, bare, NULL, 0), 0);
	assert_string_equal(r.path, "/");
	assert_string_equal(r.query_string, "");
	req_free(&r);
	assert_int_equal(rd(&r, &io, noqs, NULL, 0), 0);
	assert_string_equal(r.uri, "/p");
	req_free(&r);
}

/* CGI servers pass SCRIPT_NAME and PATH_INFO already decoded (RFC 3875
 * 4.1.5, 4.1.13): rebuilding the URI from them must not decode them a
 * second time. Request "/files/100%25" arrives as PATH_INFO "/files/100%",
 * "/a%252Fb" as "/a%2Fb" and "/what%3F" as "/what?". */
static void
req_no_request_uri_decodes_once(void **state)
{
	const char	*env[] = { "REQUEST_METHOD=GET", NULL, NULL, NULL };
	struct req	 r;
	struct io	 io;
	int		 rc;

	(void)state;
	env[1] = "PATH_INFO=/files/100%";
	rc = rd(&r, &io, env, NULL, 0);
	if (rc != 0) {
		req_free(&r);
		fail_msg("PATH_INFO /files/100%% gave %d, want 0", rc);
	}
	assert_string_equal(r.path, "/files/100%");
	req_free(&r);

	env[1] = "PATH_INFO=/a%2Fb";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 0);
	assert_string_equal(r.path, "/a%2Fb");
	req_free(&r);

	env[1] = "PATH_INFO=/what?";
	env[2] = "QUERY_STRING=a=1";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 0);
	assert_string_equal(r.path, "/what?");
	assert_string_equal(getv(&r.query, "a"), "1");
	req_free(&r);
}

static void
req_cookies_and_scheme(void **state)
{
	const char	*env[] = {
		"REQUEST_METHOD=GET", "REQUEST_URI=/",
		"HTTP_COOKIE=__Host-sid=abc123; theme=\"dark\"; junk; x=a b",
		NULL, NULL
	};
	struct req	 r;
	struct io	 io;
	char		*big;

	(void)state;
	assert_int_equal(rd(&r, &io, env, NULL, 0), 0);
	assert_int_equal(r.cookies.n, 2);
	assert_string_equal(getv(&r.cookies, "__Host-sid"), "abc123");
	assert_string_equal(getv(&r.cookies, "theme"), "dark");
	assert_string_equal(r.scheme, "http");
	assert_string_equal(r.remote_addr, "");
	req_free(&r);

	env[3] = "HTTPS=on";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 0);
	assert_string_equal(r.scheme, "https");
	req_free(&r);
	env[3] = "HTTPS=ON";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 0);
	assert_string_equal(r.scheme, "https");
	req_free(&r);
	env[3] = "HTTPS=off";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 0);
	assert_string_equal(r.scheme, "http");
	req_free(&r);
	env[3] = "REQUEST_SCHEME=https";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 0);
	assert_string_equal(r.scheme, "https");
	req_free(&r);

	/* An oversized Cookie header is refused. */
	big = malloc(9000 + 16);
	assert_non_null(big);
	strcpy(big, "HTTP_COOKIE=a=");
	memset(big + 14, 'v', 9000);
	big[9014] = '\0';
	env[2] = big;
	env[3] = NULL;
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
	free(big);
}

static void
req_bad_headers(void **state)
{
	const char	*env[] = {
		"REQUEST_METHOD=GET", "REQUEST_URI=/", NULL, NULL
	};
	struct req	 r;
	struct io	 io;

	(void)state;
	env[2] = "HTTP_USER_AGENT=bad\xff";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
	env[2] = "HTTP_HOST=h\xc0\xaf";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
	env[2] = "CONTENT_TYPE=text/\xed\xa0\x80";
	assert_int_equal(rd(&r, &io, env, NULL, 0), 400);
	req_free(&r);
}

static void
req_bad_form_body(void **state)
{
	const char *const env[] = {
		"REQUEST_METHOD=POST", "REQUEST_URI=/x",
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"CONTENT_LENGTH=5", NULL
	};
	struct req	 r;
	struct io	 io;

	(void)state;
	assert_int_equal(rd(&r, &io, env, "a=x\0y", 5), 400);	/* raw NUL */
	req_free(&r);
	assert_int_equal(rd(&r, &io, env, "a=%0z", 5), 400);
	req_free(&r);
	assert_int_equal(rd(&r, &io, env, "a=%FF", 5), 400);
	req_free(&r);
}

static void
req_too_many_params(void **state)
{
	const char	*env[] = { "REQUEST_METHOD=GET", NULL, NULL };
	struct req	 r;
	struct io	 io;
	struct buf	 u = { 0 };
	const char	*why;
	struct config	 c2 = cfg;	/* shallow copy, not freed */
	int		 i;

	(void)state;
	c2.max_params = 10;
	buf_adds(&u, "REQUEST_URI=/x?");
	for (i = 0; i < 11; i++)
		buf_printf(&u, "%sp%d=%d", i ? "&" : "", i, i);
	env[1] = u.p;
	io_init(&io, env, NULL, 0);
	assert_int_equal(req_read(&r, &io.c, &c2, &why), 400);
	req_free(&r);
	c2.max_params = 11;
	io_init(&io, env, NULL, 0);
	assert_int_equal(req_read(&r, &io.c, &c2, &why), 0);
	assert_int_equal(r.query.n, 11);
	req_free(&r);
	buf_free(&u);
}

/* Reads GET uri (with Accept: accept, unless NULL) under config c, as a
 * web server would pass it, and gives what req_read decided:
 * path_kind * 10 + wants_json; req_read's status in last_status. A
 * request refused part-way is decided too (uri NULL: no path at all). */
static int	last_status;

static int
decided(const struct config *c, const char *uri, const char *accept)
{
	struct io	 io;
	struct req	 r;
	struct buf	 u = { 0 }, a = { 0 };
	const char	*env[4] = { "REQUEST_METHOD=GET" }, *why;
	size_t		 n = 1;
	int		 kind;

	if (uri != NULL) {
		buf_printf(&u, "REQUEST_URI=%s", uri);
		env[n++] = u.p;
	}
	if (accept != NULL) {
		buf_printf(&a, "HTTP_ACCEPT=%s", accept);
		env[n++] = a.p;
	}
	env[n] = NULL;
	io_init(&io, env, NULL, 0);
	last_status = req_read(&r, &io.c, c, &why);
	kind = r.path_kind * 10 + r.wants_json;
	req_free(&r);
	buf_free(&u);
	buf_free(&a);
	return kind;
}

static void
req_rules_decided(void **state)
{
	struct config	 c2 = cfg;	/* shallow copy, not freed */

	(void)state;
	assert_int_equal(decided(&cfg, "/api", NULL), REQ_API * 10 + 1);
	assert_int_equal(decided(&cfg, "/api/", NULL), REQ_API * 10 + 1);
	assert_int_equal(decided(&cfg, "/api/x/y?a=1", NULL), REQ_API * 10 + 1);
	assert_int_equal(decided(&cfg, "/apix", NULL), 0);
	assert_int_equal(decided(&cfg, "/ap", NULL), 0);
	assert_int_equal(decided(&cfg, "/x/api", NULL), 0);
	assert_int_equal(decided(&cfg, "/webhook", NULL), REQ_WEBHOOK * 10 + 1);
	assert_int_equal(decided(&cfg, "/webhook/abc", NULL),
	    REQ_WEBHOOK * 10 + 1);
	assert_int_equal(decided(&cfg, "/webhooks", NULL), 0);
	assert_int_equal(decided(&cfg, "/", NULL), 0);
	assert_int_equal(decided(&cfg, "/",
	    "text/html, application/json;q=0.9"), 1);
	assert_int_equal(decided(&cfg, "/", "application/json"), 1);
	assert_int_equal(decided(&cfg, "/", "text/html"), 0);
	assert_int_equal(last_status, 0);
	/* Decided also for a request refused part-way: an Accept header
	 * that is not UTF-8 is a 400, answered in JSON on an API path. */
	assert_int_equal(decided(&cfg, "/api/x", "a\377b"), REQ_API * 10 + 1);
	assert_int_equal(last_status, 400);
	assert_int_equal(decided(&cfg, "/x", "a\377b"), 0);
	assert_int_equal(last_status, 400);
	/* The mount comes from the configuration. */
	c2.api_mount = (char *)"/v1";
	assert_int_equal(decided(&c2, "/v1/tokens", NULL), REQ_API * 10 + 1);
	assert_int_equal(decided(&c2, "/api/tokens", NULL), 0);
	assert_int_equal(decided(&c2, NULL, NULL), 0);
}

/* ---------------------------------------------------------------- resp */

/* Splits the written output: returns the header block (NUL-terminated,
 * ending with the last header's CRLF) and the body via body and blen. */
static char *
split(struct buf *out, const char **body, size_t *blen)
{
	char	*end;

	assert_non_null(out->p);
	end = strstr(out->p, "\r\n\r\n");
	assert_non_null(end);
	end[2] = '\0';
	*body = end + 4;
	*blen = out->len - (size_t)(end + 4 - out->p);
	return out->p;
}

/* The value of header name in the header block, copied into v; returns
 * the number of times the header occurs. */
static int
header(const char *hb, const char *name, char *v, size_t vlen)
{
	const char	*p, *e;
	size_t		 n = strlen(name);
	int		 count = 0;

	v[0] = '\0';
	for (p = strstr(hb, "\r\n"); p != NULL; p = strstr(p, "\r\n")) {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':' &&
		    p[n + 1] == ' ') {
			if (count++ == 0) {
				e = strstr(p, "\r\n");
				assert_non_null(e);
				snprintf(v, vlen, "%.*s",
				    (int)(e - p - n - 2), p + n + 2);
			}
		}
	}
	return count;
}

static void
resp_header_validation(void **state)
{
	static const char *const bad_names[] = {
		"", "Bad Name", "X:Y", "X-Y:", "a\tb", "X\r\nY", "(x)",
		"X/Y", "caf\xc3\xa9", "X\"", "X=1",
	};
	static const char *const bad_vals[] = {
		"a\r\nSet-Cookie: stolen=1", "a\rb", "a\nb", "\n", "\r",
		"trailing\r\n",
	};
	struct resp	 rs;
	size_t		 i;
	char		 longname[200];

	(void)state;
	memset(&rs, 0, sizeof(rs));
	resp_reset(&rs);
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		if (resp_header(&rs, bad_names[i], "v") != -1)
			fail_msg("name \"%s\" accepted", bad_names[i]);
		assert_int_equal(rs.nh, 0);
	}
	for (i = 0; i < sizeof(bad_vals) / sizeof(bad_vals[0]); i++) {
		assert_int_equal(resp_header(&rs, "X-Test", bad_vals[i]), -1);
		assert_int_equal(rs.nh, 0);
	}
	memset(longname, 'N', 129);
	longname[129] = '\0';
	assert_int_equal(resp_header(&rs, longname, "v"), -1);
	/* Good ones: token names, values with spaces, colons, tabs. */
	assert_int_equal(resp_header(&rs, "X-Ok_1.2~!#$%&'*+^`|", "v"), 0);
	assert_int_equal(resp_header(&rs, "Location", "/a?b=c:d e\tf"), 0);
	assert_int_equal(resp_header(&rs, "X-Empty", ""), 0);
	assert_int_equal(rs.nh, 3);
	assert_string_equal(resp_get_header(&rs, "location"), "/a?b=c:d e\tf");
	assert_string_equal(resp_get_header(&rs, "X-EMPTY"), "");
	assert_null(resp_get_header(&rs, "X-Missing"));
	resp_free(&rs);
}

static void
resp_write_defaults(void **state)
{
	struct resp	 rs;
	struct io	 io;
	const char	*body;
	size_t		 blen;
	char		*hb, v[512];

	(void)state;
	memset(&rs, 0, sizeof(rs));
	resp_reset(&rs);
	assert_int_equal(rs.status, 200);
	buf_adds(&rs.body, "hello, world\n");
	io_init(&io, NULL, NULL, 0);
	assert_int_equal(resp_write(&rs, &io.c, 0), 0);
	assert_int_equal(strncmp(io.out.p, "Status: 200 OK\r\n", 16), 0);
	hb = split(&io.out, &body, &blen);

	assert_int_equal(header(hb, "Content-Security-Policy", v, sizeof(v)),
	    1);
	assert_non_null(strstr(v, "frame-ancestors 'none'"));
	assert_non_null(strstr(v, "default-src 'self'"));
	assert_null(strstr(v, "unsafe-inline"));
	assert_int_equal(header(hb, "X-Content-Type-Options", v, sizeof(v)),
	    1);
	assert_string_equal(v, "nosniff");
	assert_int_equal(header(hb, "Referrer-Policy", v, sizeof(v)), 1);
	assert_string_equal(v, "same-origin");
	assert_int_equal(header(hb, "Cache-Control", v, sizeof(v)), 1);
	assert_string_equal(v, "no-store");
	assert_int_equal(header(hb, "Content-Type", v, sizeof(v)), 1);
	assert_non_null(strstr(v, "charset=utf-8"));
	assert_int_equal(header(hb, "Content-Length", v, sizeof(v)), 1);
	assert_string_equal(v, "13");
	assert_int_equal(blen, 13);
	assert_memory_equal(body, "hello, world\n", 13);
	/* Every header line is "Name: value" with CRLF, nothing else. */
	assert_null(strstr(hb, "\n\n"));
	resp_free(&rs);
	buf_free(&io.out);
}

static void
resp_write_json_defaults(void **state)
{
	struct resp	 rs;
	struct io	 io;
	const char	*body;
	size_t		 blen;
	char		*hb, v[512];

	(void)state;
	memset(&rs, 0, sizeof(rs));
	resp_reset(&rs);
	assert_int_equal(resp_header(&rs, "Content-Type", "application/json"), 0);
	buf_adds(&rs.body, "{}");
	io_init(&io, NULL, NULL, 0);
	assert_int_equal(resp_write(&rs, &io.c, 0), 0);
	hb = split(&io.out, &body, &blen);
	/* Data, not a document: nothing may load or frame it. */
	assert_int_equal(header(hb, "Content-Security-Policy", v, sizeof(v)), 1);
	assert_string_equal(v, "default-src 'none'; frame-ancestors 'none'");
	assert_int_equal(header(hb, "X-Content-Type-Options", v, sizeof(v)), 1);
	assert_string_equal(v, "nosniff");
	assert_int_equal(header(hb, "Cache-Control", v, sizeof(v)), 1);
	assert_string_equal(v, "no-store");
	assert_int_equal(header(hb, "Content-Type", v, sizeof(v)), 1);
	assert_string_equal(v, "application/json");
	assert_int_equal(header(hb, "X-Frame-Options", v, sizeof(v)), 0);
	assert_int_equal(header(hb, "Referrer-Policy", v, sizeof(v)), 0);
	assert_int_equal(blen, 2);
	resp_free(&rs);
	buf_free(&io.out);

	/* "application/jsonx" is not JSON: the page set applies. */
	memset(&rs, 0, sizeof(rs));
	resp_reset(&rs);
	assert_int_equal(resp_header(&rs, "Content-Type", "application/jsonx"), 0);
	io_init(&io, NULL, NULL, 0);
	assert_int_equal(resp_write(&rs, &io.c, 0), 0);
	hb = split(&io.out, &body, &blen);
	assert_int_equal(header(hb, "X-Frame-Options", v, sizeof(v)), 1);
	assert_int_equal(header(hb, "Content-Security-Policy", v, sizeof(v)), 1);
	assert_non_null(strstr(v, "default-src 'self'"));
	resp_free(&rs);
	buf_free(&io.out);
}

static void
resp_write_handler_headers_win(void **state)
{
	struct resp	 rs;
	struct io	 io;
	const char	*body;
	size_t		 blen;
	char		*hb, v[512];

	(void)state;
	memset(&rs, 0, sizeof(rs));
	resp_reset(&rs);
	rs.status = 404;
	assert_int_equal(resp_header(&rs, "cache-control", "max-age=60"), 0);
	assert_int_equal(resp_header(&rs, "Content-Type", "text/html; "
	    "charset=utf-8"), 0);
	assert_int_equal(resp_header(&rs, "Set-Cookie", "a=1"), 0);
	assert_int_equal(resp_header(&rs, "Set-Cookie", "b=2"), 0);
	buf_adds(&rs.body, "<p>gone</p>");
	io_init(&io, NULL, NULL, 0);
	assert_int_equal(resp_write(&rs, &io.c, 0), 0);
	assert_int_equal(strncmp(io.out.p, "Status: 404 Not Found\r\n", 23), 0);
	hb = split(&io.out, &body, &blen);
	assert_int_equal(header(hb, "Cache-Control", v, sizeof(v)), 1);
	assert_string_equal(v, "max-age=60");
	assert_null(strstr(hb, "no-store"));
	assert_int_equal(header(hb, "Content-Type", v, sizeof(v)), 1);
	assert_string_equal(v, "text/html; charset=utf-8");
	assert_int_equal(header(hb, "Set-Cookie", v, sizeof(v)), 2);
	/* The other security headers are still there. */
	assert_int_equal(header(hb, "X-Content-Type-Options", v, sizeof(v)),
	    1);
	assert_int_equal(header(hb, "Referrer-Policy", v, sizeof(v)), 1);
	assert_int_equal(header(hb, "Content-Security-Policy", v, sizeof(v)),
	    1);
	assert_int_equal(header(hb, "Content-Length", v, sizeof(v)), 1);
	assert_string_equal(v, "11");
	assert_int_equal(blen, 11);
	resp_free(&rs);
	buf_free(&io.out);
}

static void
resp_write_head_only_and_empty(void **state)
{
	struct resp	 rs;
	struct io	 io;
	const char	*body;
	size_t		 blen;
	char		*hb, v[64];

	(void)state;
	memset(&rs, 0, sizeof(rs));
	resp_reset(&rs);
	buf_adds(&rs.body, "0123456789abcdefghij");
	io_init(&io, NULL, NULL, 0);
	assert_int_equal(resp_write(&rs, &io.c, 1), 0);
	hb = split(&io.out, &body, &blen);
	assert_int_equal(blen, 0);		/* no body for HEAD */
	assert_int_equal(header(hb, "Content-Length", v, sizeof(v)), 1);
	assert_string_equal(v, "20");		/* as for the GET */
	resp_free(&rs);
	buf_free(&io.out);

	/* An empty 200 says Content-Length: 0. */
	memset(&rs, 0, sizeof(rs));
	resp_reset(&rs);
	io_init(&io, NULL, NULL, 0);
	assert_int_equal(resp_write(&rs, &io.c, 0), 0);
	hb = split(&io.out, &body, &blen);
	assert_int_equal(blen, 0);
	assert_int_equal(header(hb, "Content-Length", v, sizeof(v)), 1);
	assert_string_equal(v, "0");
	resp_free(&rs);
	buf_free(&io.out);

	/* A failed connection reports -1. */
	memset(&rs, 0, sizeof(rs));
	resp_reset(&rs);
	io_init(&io, NULL, NULL, 0);
	io.c.out_failed = 1;
	assert_int_equal(resp_write(&rs, &io.c, 0), -1);
	assert_int_equal(io.out.len, 0);
	resp_free(&rs);
	buf_free(&io.out);
}

static void
resp_error_as_json(void **state)
{
	struct resp	 rs;
	struct io	 io;
	json_t		*got, *want;
	json_error_t	 jerr;
	const char	*body;
	size_t		 blen;
	char		*hb, v[128];

	(void)state;
	memset(&rs, 0, sizeof(rs));
	resp_reset(&rs);
	/* Whatever was there before is replaced. */
	assert_int_equal(resp_header(&rs, "X-Before", "1"), 0);
	buf_adds(&rs.body, "partial page");
	resp_error(&rs, 404, "X", "m", 1);
	assert_int_equal(rs.status, 404);
	assert_null(resp_get_header(&rs, "X-Before"));
	assert_non_null(resp_get_header(&rs, "Content-Type"));
	assert_non_null(strstr(resp_get_header(&rs, "Content-Type"),
	    "application/json"));
	got = json_loadb(rs.body.p, rs.body.len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (got == NULL)
		fail_msg("not JSON: %s (%s)", rs.body.p, jerr.text);
	want = json_loads("{\"error\":\"X\",\"message\":\"m\","
	    "\"success\":false}", 0, NULL);
	assert_non_null(want);
	assert_int_equal(json_object_size(got), 3);
	assert_true(json_equal(got, want));
	assert_true(json_is_false(json_object_get(got, "success")));
	json_decref(got);
	json_decref(want);

	io_init(&io, NULL, NULL, 0);
	assert_int_equal(resp_write(&rs, &io.c, 0), 0);
	assert_int_equal(strncmp(io.out.p, "Status: 404 Not Found\r\n", 23), 0);
	hb = split(&io.out, &body, &blen);
	assert_int_equal(header(hb, "Content-Type", v, sizeof(v)), 1);
	assert_int_equal(blen, rs.body.len);
	buf_free(&io.out);

	/* Hostile text survives as data. */
	resp_error(&rs, 400, "bad\"code", "line1\nline2 \"q\" </script>\\", 1);
	got = json_loadb(rs.body.p, rs.body.len, 0, &jerr);
	assert_non_null(got);
	assert_string_equal(json_string_value(json_object_get(got, "error")),
	    "bad\"code");
	assert_string_equal(json_string_value(json_object_get(got, "message")),
	    "line1\nline2 \"q\" </script>\\");
	assert_null(memchr(rs.body.p, '\n', rs.body.len));
	json_decref(got);
	resp_free(&rs);
}

static void
resp_error_text(void **state)
{
	struct resp	 rs;

	(void)state;
	memset(&rs, 0, sizeof(rs));
	resp_reset(&rs);
	/* Not JSON: the host's small HTML page, titled by the status. */
	resp_error(&rs, 413, "too_large", "request body <too> large & \"x\"",
	    0);
	assert_int_equal(rs.status, 413);
	assert_non_null(strstr(resp_get_header(&rs, "Content-Type"),
	    "text/html"));
	assert_int_equal(rs.nh, 1);
	buf_addc(&rs.body, '\0');
	assert_non_null(strstr(rs.body.p, "<title>Payload too large</title>"));
	assert_non_null(strstr(rs.body.p, "<h1>Payload too large</h1>"));
	assert_non_null(strstr(rs.body.p,
	    "<p>request body &lt;too&gt; large &amp; &quot;x&quot;</p>"));
	assert_null(strstr(rs.body.p, "<too>"));
	resp_error(&rs, 414, "x", "m", 0);
	buf_addc(&rs.body, '\0');
	assert_non_null(strstr(rs.body.p, "<h1>URI too long</h1>"));
	resp_error(&rs, 404, "x", "m", 0);
	buf_addc(&rs.body, '\0');
	assert_non_null(strstr(rs.body.p, "<h1>Not found</h1>"));
	/* The envelope with the field at fault and the scope required, keys
	 * sorted as host.json.encode writes them. */
	resp_error_json(&rs, 403, "INSUFFICIENT_SCOPE", "m", "scopes",
	    "tokens:write");
	assert_int_equal(rs.body.len, strlen("{\"error\":\"INSUFFICIENT_SCOPE\","
	    "\"field\":\"scopes\",\"message\":\"m\",\"required\":"
	    "\"tokens:write\",\"success\":false}"));
	assert_memory_equal(rs.body.p, "{\"error\":\"INSUFFICIENT_SCOPE\","
	    "\"field\":\"scopes\",\"message\":\"m\",\"required\":"
	    "\"tokens:write\",\"success\":false}", rs.body.len);
	/* A message that is not UTF-8 never makes an envelope that is not
	 * JSON. */
	resp_error(&rs, 400, "BAD", "caf\xe9", 1);
	assert_int_equal(rs.body.len, strlen("{\"error\":\"BAD\",\"message\":"
	    "\"invalid text\",\"success\":false}"));
	assert_memory_equal(rs.body.p, "{\"error\":\"BAD\",\"message\":"
	    "\"invalid text\",\"success\":false}", rs.body.len);
	resp_free(&rs);
	assert_string_equal(resp_reason(413), "Payload Too Large");
	assert_string_equal(resp_reason(414), "URI Too Long");
	assert_string_equal(resp_reason(200), "OK");
}

/* The client address behind trusted proxies: X-Forwarded-For read from
 * the right, skipping trusted hops; a forged left part ignored; nothing
 * taken from an untrusted peer. */
static const char *
client_of(const char *peer, const char *xff, const char *xfp,
    const char **scheme)
{
	static char	 got[64], sch[8];
	char		 e_peer[96], e_xff[512], e_xfp[64];
	const char	*env[6] = { "REQUEST_METHOD=GET", e_peer, NULL };
	size_t		 n = 2;
	struct req	 r;
	struct io	 io;

	snprintf(e_peer, sizeof(e_peer), "REMOTE_ADDR=%s", peer);
	if (xff) {
		snprintf(e_xff, sizeof(e_xff), "HTTP_X_FORWARDED_FOR=%s", xff);
		env[n++] = e_xff;
	}
	if (xfp) {
		snprintf(e_xfp, sizeof(e_xfp), "HTTP_X_FORWARDED_PROTO=%s", xfp);
		env[n++] = e_xfp;
	}
	env[n] = NULL;
	assert_int_equal(rd(&r, &io, env, NULL, 0), 0);
	snprintf(got, sizeof(got), "%s", r.remote_addr);
	snprintf(sch, sizeof(sch), "%s", r.scheme);
	if (scheme)
		*scheme = sch;
	req_free(&r);
	return got;
}

static void
req_trusted_proxies(void **state)
{
	char		 err[256];
	const char	*sch;

	(void)state;
	/* None trusted (the default): the header is the client's word. */
	assert_string_equal(client_of("10.0.0.2", "203.0.113.9", "https", &sch),
	    "10.0.0.2");
	assert_string_equal(sch, "http");
	assert_int_equal(cfg_set(&cfg, "trusted_proxies",
	    "10.0.0.0/8, 2001:db8:ffff::/48", err, sizeof(err)), 0);
	/* One trusted hop. */
	assert_string_equal(client_of("10.0.0.2", "203.0.113.9", "https", &sch),
	    "203.0.113.9");
	assert_string_equal(sch, "https");
	/* A peer outside the list: its header is ignored. */
	assert_string_equal(client_of("192.0.2.1", "203.0.113.9", "https", &sch),
	    "192.0.2.1");
	assert_string_equal(sch, "http");
	/* A chain: trusted hops skipped from the right; the client's own
	 * (forged) entries on the left prove nothing. */
	assert_string_equal(client_of("10.0.0.2",
	    "1.1.1.1, 203.0.113.9, 10.1.2.3 ,10.0.0.7", NULL, NULL),
	    "203.0.113.9");
	/* IPv6 and a mapped address, written canonically. */
	assert_string_equal(client_of("10.0.0.2", "2001:DB8:0:0::0:1", NULL,
	    NULL), "2001:db8::1");
	assert_string_equal(client_of("2001:db8:ffff::5", "::ffff:198.51.100.4",
	    NULL, NULL), "198.51.100.4");
	/* Garbage ends the walk: the last good entry stands. */
	assert_string_equal(client_of("10.0.0.2", "203.0.113.9:443", NULL, NULL),
	    "10.0.0.2");
	assert_string_equal(client_of("10.0.0.2", "203.0.113.0/24", NULL, NULL),
	    "10.0.0.2");	/* a network is not an address */
	assert_string_equal(client_of("10.0.0.2", "[2001:db8::1]", NULL, NULL),
	    "10.0.0.2");
	assert_string_equal(client_of("10.0.0.2", "junk, 10.9.9.9", NULL, NULL),
	    "10.9.9.9");
	assert_string_equal(client_of("10.0.0.2", "", NULL, NULL), "10.0.0.2");
	assert_string_equal(client_of("10.0.0.2", " , ", NULL, NULL),
	    "10.0.0.2");
	assert_string_equal(client_of("10.0.0.2", "10.0.0.3, 10.0.0.4", NULL,
	    NULL), "10.0.0.3");	/* all trusted: the leftmost */
	/* X-Forwarded-Proto: only "https" or "http". */
	client_of("10.0.0.2", NULL, "HTTPS", &sch);
	assert_string_equal(sch, "https");
	client_of("10.0.0.2", NULL, "https, http", &sch);
	assert_string_equal(sch, "http");
	/* A bad list is refused with a message. */
	assert_int_equal(cfg_set(&cfg, "trusted_proxies", "10.0.0.0/8 nope",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "trusted_proxies"));
	assert_int_equal(cfg_set(&cfg, "trusted_proxies", "", err,
	    sizeof(err)), 0);
	assert_string_equal(client_of("10.0.0.2", "203.0.113.9", NULL, NULL),
	    "10.0.0.2");
}

/* The rate-limit bucket: an IPv4 address, an IPv6 /64. */
static void
req_addr_buckets(void **state)
{
	struct req	 r;
	char		 b[64];

	(void)state;
	memset(&r, 0, sizeof(r));
	r.remote_addr = "2001:db8:1:2:aaaa:bbbb:cccc:dddd";
	req_addr_bucket(&r, b, sizeof(b));
	assert_string_equal(b, "2001:db8:1:2::/64");
	r.remote_addr = "2001:db8:1:2::1";
	req_addr_bucket(&r, b, sizeof(b));
	assert_string_equal(b, "2001:db8:1:2::/64");
	r.remote_addr = "203.0.113.7";
	req_addr_bucket(&r, b, sizeof(b));
	assert_string_equal(b, "203.0.113.7");
	r.remote_addr = "::ffff:203.0.113.7";
	req_addr_bucket(&r, b, sizeof(b));
	assert_string_equal(b, "203.0.113.7");
	r.remote_addr = "not an address";
	req_addr_bucket(&r, b, sizeof(b));
	assert_string_equal(b, "not an address");
	r.remote_addr = NULL;
	req_addr_bucket(&r, b, sizeof(b));
	assert_string_equal(b, "");
}

/* -------------------------------------------------------------- setup */

static int
group_setup(void **state)
{
	char	 err[512] = "";

	(void)state;
	tu_clean_env();
	if (cfg_load(&cfg, NULL, tu_dir, err, sizeof(err)) == -1) {
		fprintf(stderr, "cfg_load: %s\n", err);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	cfg_free(&cfg);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(req_get_with_query),
		cmocka_unit_test(req_post_form),
		cmocka_unit_test(req_content_type_params),
		cmocka_unit_test(req_body_over_limit),
		cmocka_unit_test(req_bad_content_length),
		cmocka_unit_test(req_short_body),
		cmocka_unit_test(req_bad_method),
		cmocka_unit_test(req_path_decoding),
		cmocka_unit_test(req_uri_too_long),
		cmocka_unit_test(req_no_request_uri),
		cmocka_unit_test(req_no_request_uri_decodes_once),
		cmocka_unit_test(req_cookies_and_scheme),
		cmocka_unit_test(req_bad_headers),
		cmocka_unit_test(req_bad_form_body),
		cmocka_unit_test(req_too_many_params),
		cmocka_unit_test(req_rules_decided),
		cmocka_unit_test(req_trusted_proxies),
		cmocka_unit_test(req_addr_buckets),
		cmocka_unit_test(resp_header_validation),
		cmocka_unit_test(resp_write_defaults),
		cmocka_unit_test(resp_write_json_defaults),
		cmocka_unit_test(resp_write_handler_headers_win),
		cmocka_unit_test(resp_write_head_only_and_empty),
		cmocka_unit_test(resp_error_as_json),
		cmocka_unit_test(resp_error_text),
	};
	int	 rc;

	tu_tmp_init("test_http_io");
	rc = cmocka_run_group_tests_name("http_io", tests, group_setup,
	    group_teardown);
	tu_tmp_done();
	return rc;
}
