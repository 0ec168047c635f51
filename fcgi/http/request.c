/*
 * request.c -- turns the CGI/FastCGI parameters and body into a validated
 * struct req. Declared limits: method 16 bytes, URI 8 KiB, body
 * cfg->body_limit (413 before reading), cfg->max_params pairs per query
 * or form, 200 cookies. Text must be valid UTF-8 without NUL bytes.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sodium.h>

#include "lib/cidr.h"
#include "http.h"
#include "lib/lib.h"

#define METHOD_MAX	16
#define URI_MAX		8192
#define HEADER_MAX	8192
#define COOKIES_MAX	200

/* Copies the parameter (or NULL when absent) into *dst. Returns 0, or -1
 * when it is longer than max or not valid UTF-8. */
static int
copy_param(struct conn *c, enum cparam name, char **dst, size_t max)
{
	const char	*v = conn_get(c, name);
	size_t		 n;

	*dst = NULL;
	if (v == NULL)
		return 0;
	n = strlen(v);
	if (n > max || !utf8_valid(v, n))
		return -1;
	return (*dst = strdup(v)) == NULL ? -1 : 0;
}

/* Behind a proxy named in trusted_proxies, REMOTE_ADDR is that proxy's
 * address and the client is in X-Forwarded-For, which each proxy extends
 * on the right. The client is the rightmost entry that is not a trusted
 * proxy itself: entries to its left were written by the client and prove
 * nothing. An entry that is not one address ends the walk (the last good
 * one stands). A trusted peer's X-Forwarded-Proto ("https" or "http")
 * gives the scheme. The address every later check uses -- rate limits,
 * allowed IPs, the login throttle, the audit, req.remote_addr -- is the
 * one chosen here. Returns 0, or -1 when out of memory. */
static int
forwarded(struct req *r, struct conn *c, const struct config *cfg)
{
	const char	*xff, *proto, *start, *end, *a, *b;
	char		 addr[CIDR_TEXT_MAX], *dup;

	if (cfg->proxies == NULL || !cidr_match(cfg->proxies, r->remote_addr))
		return 0;
	if ((proto = conn_get(c, P_HTTP_X_FORWARDED_PROTO)) != NULL &&
	    (strcasecmp(proto, "https") == 0 || strcasecmp(proto, "http") == 0)) {
		if ((dup = strdup(proto[4] ? "https" : "http")) == NULL)
			return -1;
		free(r->scheme);
		r->scheme = dup;
	}
	if ((xff = conn_get(c, P_HTTP_X_FORWARDED_FOR)) == NULL ||
	    strlen(xff) > HEADER_MAX)
		return 0;
	for (end = xff + strlen(xff);; end = start - 1) {
		/* The entry [start, end): after the last comma before end. */
		for (start = end; start > xff && start[-1] != ','; start--)
			;
		for (a = start; a < end && (*a == ' ' || *a == '\t'); a++)
			;
		for (b = end; b > a && (b[-1] == ' ' || b[-1] == '\t'); b--)
			;
		if (cidr_addr_text(a, (size_t)(b - a), addr, sizeof(addr)) == -1)
			break;
		if ((dup = strdup(addr)) == NULL)
			return -1;
		str_wipe(r->remote_addr);
		r->remote_addr = dup;
		if (!cidr_match(cfg->proxies, addr) || start == xff)
			break;
	}
	return 0;
}

/* Parses CONTENT_LENGTH: digits only. Returns the value, -1 when absent,
 * -2 when malformed. */
static long long
content_length(const char *s)
{
	long long	 n = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s) || n > (1LL << 50))
			return -2;
		n = n * 10 + (*s - '0');
	}
	return n;
}

/* Reads the body: exactly content_length bytes, or up to the limit until
 * EOF when no length was given (FastCGI only). Returns 0, or an HTTP
 * status with why set. */
static int
read_body(struct req *r, struct conn *c, long long limit, const char **why)
{
	size_t	 want, chunk;
	long	 got;

	if (r->content_length == 0)
		return 0;
	if (r->content_length < 0 && (c->fcgx == NULL ||
	    strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0))
		return 0;	/* no length: no body (CGI, GET, HEAD) */
	want = r->content_length < 0 ? (size_t)limit + 1 :
	    (size_t)r->content_length;
	r->body.wipe = 1;	/* growth must not free a password unwiped */
	while (r->body.len < want) {
		chunk = want - r->body.len;
		if (chunk > 65536)
			chunk = 65536;
		if (r->content_length < 0 && chunk > 4096 + r->body.len)
			chunk = 4096 + r->body.len;	/* grow as it comes */
		if (buf_reserve(&r->body, chunk) == -1) {
			*why = "out of memory";
			return 500;
		}
		got = conn_read(c, r->body.p + r->body.len, chunk);
		if (got <= 0)
			break;
		r->body.len += (size_t)got;
		r->body.p[r->body.len] = '\0';
	}
	if (r->content_length < 0) {
		if (r->body.len > (size_t)limit) {
			*why = "request body too large";
			return 413;
		}
		r->content_length = (long long)r->body.len;
	} else if (r->body.len != want) {
		*why = "request body shorter than Content-Length";
		return 400;
	}
	return 0;
}

/* Sets r->path from the URI: strips the query, percent-decodes (a '+'
 * stays a '+'), checks it. Returns 0 or 400 with why. */
static int
set_path(struct req *r, const char **why)
{
	const char	*q;
	size_t		 n;
	enum parse_err	 e;

	q = strchr(r->uri, '?');
	n = q ? (size_t)(q - r->uri) : strlen(r->uri);
	if ((r->path = strndup(r->uri, n)) == NULL) {
		*why = "out of memory";
		return 500;
	}
	if ((e = url_decode(r->path, &n, 0)) != PARSE_OK ||
	    !utf8_valid(r->path, n)) {
		*why = e != PARSE_OK ? parse_strerror(e) : "invalid UTF-8";
		return 400;
	}
	if (r->path[0] != '/') {
		*why = "path must start with /";
		return 400;
	}
	return 0;
}

/* Plain CGI servers may not set REQUEST_URI: the path is SCRIPT_NAME +
 * PATH_INFO, which they pass already decoded (RFC 3875), and the query is
 * QUERY_STRING. The URI for the log is rebuilt from them. */
static int
cgi_path(struct req *r, struct conn *c, const char **why)
{
	struct buf	 b = { 0 };
	const char	*sn = conn_get(c, P_SCRIPT_NAME);
	const char	*pi = conn_get(c, P_PATH_INFO);
	const char	*qs = conn_get(c, P_QUERY_STRING);

	buf_adds(&b, sn ? sn : "");
	buf_adds(&b, pi ? pi : "");
	if (b.len == 0)
		buf_addc(&b, '/');
	if (b.p == NULL || b.len > URI_MAX) {
		buf_free(&b);
		*why = "URI too long";
		return 414;
	}
	if (!utf8_valid(b.p, b.len) || b.p[0] != '/') {
		buf_free(&b);
		*why = "invalid path";
		return 400;
	}
	r->path = b.p;
	r->query_string = strdup(qs ? qs : "");
	memset(&b, 0, sizeof(b));
	buf_adds(&b, r->path);
	if (qs && *qs) {
		buf_addc(&b, '?');
		buf_adds(&b, qs);
	}
	r->uri = b.p;
	return r->uri == NULL ? 500 : 0;
}

/* Reduces "Application/X-WWW-Form-Urlencoded; charset=UTF-8" to the
 * lower-case media type. */
static void
media_type(char *ct)
{
	char	*p;

	if ((p = strchr(ct, ';')) != NULL)
		*p = '\0';
	for (p = ct; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	while (p > ct && (p[-1] == ' ' || p[-1] == '\t'))
		*--p = '\0';
}

static int
read_request(struct req *r, struct conn *c, const struct config *cfg,
    const char **why)
{
	const char	*v, *https, *scheme;
	size_t		 i;
	int		 rc;
	enum parse_err	 e;

	memset(r, 0, sizeof(*r));
	r->started = mono_now();
	r->content_length = -1;
	*why = "malformed request";

	if (copy_param(c, P_REQUEST_METHOD, &r->method, METHOD_MAX) == -1 ||
	    r->method == NULL || r->method[0] == '\0')
		return 400;
	for (i = 0; r->method[i]; i++)
		if (!isupper((unsigned char)r->method[i]))
			return 400;
	if ((v = conn_get(c, P_REQUEST_URI)) != NULL) {
		if (strlen(v) > URI_MAX) {
			*why = "URI too long";
			return 414;
		}
		if ((r->uri = strdup(v)) == NULL ||
		    !utf8_valid(r->uri, strlen(r->uri))) {
			*why = "invalid URI";
			return 400;
		}
		if ((rc = set_path(r, why)) != 0)
			return rc;
		v = strchr(r->uri, '?');
		r->query_string = strdup(v ? v + 1 : "");
	} else if ((rc = cgi_path(r, c, why)) != 0)
		return rc;
	if (r->query_string == NULL)
		return 500;
	if ((e = kv_parse_urlencoded(&r->query, r->query_string,
	    strlen(r->query_string), (size_t)cfg->max_params)) != PARSE_OK) {
		*why = parse_strerror(e);
		return e == PARSE_NOMEM ? 500 : 400;
	}

	*why = "malformed header";
	if (copy_param(c, P_HTTP_HOST, &r->host, 1024) == -1 ||
	    copy_param(c, P_HTTP_ORIGIN, &r->origin, HEADER_MAX) == -1 ||
	    copy_param(c, P_HTTP_REFERER, &r->referer, HEADER_MAX) == -1 ||
	    copy_param(c, P_HTTP_ACCEPT, &r->accept, HEADER_MAX) == -1 ||
	    copy_param(c, P_HTTP_USER_AGENT, &r->user_agent, HEADER_MAX) == -1 ||
	    copy_param(c, P_HTTP_X_CSRF_TOKEN, &r->csrf_header, 1024) == -1 ||
	    copy_param(c, P_HTTP_AUTHORIZATION, &r->authorization,
	    HEADER_MAX) == -1 ||
	    copy_param(c, P_REMOTE_ADDR, &r->remote_addr, 64) == -1 ||
	    copy_param(c, P_CONTENT_TYPE, &r->content_type, 1024) == -1)
		return 400;
	if (r->content_type)
		media_type(r->content_type);
	https = conn_get(c, P_HTTPS);
	scheme = conn_get(c, P_REQUEST_SCHEME);
	r->scheme = strdup((https && strcasecmp(https, "on") == 0) ||
	    (scheme && strcmp(scheme, "https") == 0) ? "https" : "http");
	if (r->remote_addr == NULL)
		r->remote_addr = strdup("");
	if (r->scheme == NULL || r->remote_addr == NULL ||
	    forwarded(r, c, cfg) == -1)
		return 500;

	if ((v = conn_get(c, P_HTTP_COOKIE)) != NULL) {
		if (strlen(v) > HEADER_MAX)
			return 400;
		/* Past the cap the rest is ignored, as browsers do. */
		if (kv_parse_cookies(&r->cookies, v, COOKIES_MAX) == PARSE_NOMEM)
			return 500;
	}

	r->content_length = content_length(conn_get(c, P_CONTENT_LENGTH));
	if (r->content_length == -2) {
		*why = "malformed Content-Length";
		return 400;
	}
	if (r->content_length > cfg->body_limit) {
		*why = "request body too large";
		return 413;
	}
	if ((rc = read_body(r, c, cfg->body_limit, why)) != 0)
		return rc;
	if (r->content_type &&
	    strcmp(r->content_type, "application/x-www-form-urlencoded") == 0 &&
	    r->body.len > 0) {
		if ((e = kv_parse_urlencoded(&r->form, r->body.p, r->body.len,
		    (size_t)cfg->max_params)) != PARSE_OK) {
			*why = parse_strerror(e);
			return e == PARSE_NOMEM ? 500 : 400;
		}
	}
	return 0;
}

/* Whether path is prefix itself or below it ("/api", "/api/x"). */
static int
under(const char *path, const char *prefix)
{
	size_t	 n = strlen(prefix);

	return strncmp(path, prefix, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/');
}

void
req_token_prefixes(const struct config *cfg, const char *out[3])
{
	out[0] = cfg->api_mount;
	out[1] = "/webhook";
	out[2] = NULL;
}

/*
 * The rules about a request that everyone after the parse reads instead
 * of deciding again: the gate (which paths take a token), the error
 * answers of the host and of the scripts (JSON or a page), the scripts
 * (req.token_path, req.wants_json). Decided on whatever was read, also
 * when the request was refused part-way.
 */
static void
decide(struct req *r, const struct config *cfg)
{
	const char	*path = r->path;

	r->path_kind = 0;
	if (path != NULL && under(path, "/webhook"))
		r->path_kind = REQ_WEBHOOK;
	else if (path != NULL && under(path, cfg->api_mount))
		r->path_kind = REQ_API;
	r->wants_json = r->path_kind != 0 ||
	    (r->accept && strstr(r->accept, "application/json") != NULL);
}

int
req_id_valid(const char *s)
{
	size_t	 n;

	for (n = 0; s[n]; n++)
		if (n == REQ_ID_MAX || !(isalnum((unsigned char)s[n]) ||
		    s[n] == '.' || s[n] == '_' || s[n] == '-'))
			return 0;
	return n > 0;
}

/* The client's X-Request-Id when it is sane, else a new random one. */
static void
set_id(struct req *r, struct conn *c)
{
	static const char hex[] = "0123456789abcdef";
	const char	*v = conn_get(c, P_HTTP_X_REQUEST_ID);
	unsigned char	 rnd[16];
	size_t		 i;

	if (v != NULL && req_id_valid(v)) {
		memcpy(r->id, v, strlen(v) + 1);
		return;
	}
	randombytes_buf(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++) {	/* not secret: no need for
						 * sodium_bin2hex's care */
		r->id[2 * i] = hex[rnd[i] >> 4];
		r->id[2 * i + 1] = hex[rnd[i] & 15];
	}
	r->id[2 * sizeof(rnd)] = '\0';
}

int
req_read(struct req *r, struct conn *c, const struct config *cfg,
    const char **why)
{
	int	 status = read_request(r, c, cfg, why);

	set_id(r, c);
	decide(r, cfg);
	return status;
}

/* The request's own origin, "scheme://host", into out. */
static void
own_origin(const struct req *r, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s://%s", r->scheme ? r->scheme : "http",
	    r->host ? r->host : "");
}

/* A state-changing request must come from our own pages: Origin, when
 * sent, must be our origin; else Referer, when sent, must be on it. A
 * request with neither is let through (the CSRF token still guards it).
 * Returns 1 when acceptable. */
int
req_same_origin(const struct req *r)
{
	char	 own[1100];
	size_t	 n;

	own_origin(r, own, sizeof(own));
	if (r->host == NULL || r->host[0] == '\0')
		return r->origin == NULL && r->referer == NULL;
	if (r->origin != NULL)
		return strcasecmp(r->origin, own) == 0;
	if (r->referer != NULL) {
		n = strlen(own);
		return strncasecmp(r->referer, own, n) == 0 &&
		    (r->referer[n] == '/' || r->referer[n] == '\0' ||
		    r->referer[n] == '?');
	}
	return 1;
}

void
req_addr_bucket(const struct req *r, char *out, size_t outlen)
{
	const char	*a = r->remote_addr ? r->remote_addr : "";

	if (cidr_bucket(a, out, outlen) == -1)
		snprintf(out, outlen, "%s", a);	/* not an address: itself */
}

/* Every string is zeroed before it is freed: the URI and query string
 * can hold ?token= credentials, the cookies a session, the body a
 * password, and freed heap is handed out again. */
void
req_free(struct req *r)
{
	str_wipe(r->method);
	str_wipe(r->path);
	str_wipe(r->uri);
	str_wipe(r->query_string);
	str_wipe(r->content_type);
	str_wipe(r->remote_addr);
	str_wipe(r->host);
	str_wipe(r->scheme);
	str_wipe(r->origin);
	str_wipe(r->referer);
	str_wipe(r->accept);
	str_wipe(r->user_agent);
	str_wipe(r->csrf_header);
	str_wipe(r->authorization);
	kv_free(&r->query);
	kv_free(&r->form);
	kv_free(&r->cookies);
	buf_wipe(&r->body);
	memset(r, 0, sizeof(*r));
}
