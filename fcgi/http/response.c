/*
 * response.c -- building and writing one response. Header values are
 * checked here (no CR, LF or NUL can split a response), the security
 * headers are added to every response, and bodies holding a secret are
 * wiped after they are written.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "lib/json.h"
#include "lib/lib.h"

/* Applied unless the handler set its own. The page's JS and CSS come from
 * /static/ (www/), so no inline script or style is ever allowed. */
static const struct hdef { const char *name, *val; } defaults[] = {
	{ "Content-Security-Policy", "default-src 'self'; script-src 'self'; "
	    "style-src 'self'; img-src 'self' data:; object-src 'none'; "
	    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "X-Frame-Options", "DENY" },
	{ "Referrer-Policy", "same-origin" },
	{ "Cache-Control", "no-store" },
	{ "Content-Type", "text/plain; charset=utf-8" },
	{ NULL, NULL },
};

/* A JSON answer is data, never a document: nothing in it may load, run or
 * be framed (default-src 'none' covers every fetch, frame-ancestors the
 * framing that X-Frame-Options would), and it links nowhere, so there is
 * no referrer to restrict. Three lines instead of six: they are on every
 * API call and every webhook, and each line costs the web server too. */
static const struct hdef defaults_json[] = {
	{ "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "Cache-Control", "no-store" },
	{ NULL, NULL },
};

const char *
resp_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	default:  return status < 400 ? "OK" : "Error";
	}
}

static int
tchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

int
resp_header(struct resp *r, const char *name, const char *val)
{
	const char	*p;
	struct hdr	*nh;
	size_t		 cap;

	if (*name == '\0' || strlen(name) > 128)
		return -1;
	for (p = name; *p; p++)
		if (!tchar((unsigned char)*p))
			return -1;
	for (p = val; *p; p++)
		if (*p == '\r' || *p == '\n')
			return -1;
	if (r->nh == r->cap) {
		cap = r->cap ? r->cap * 2 : 16;
		if ((nh = reallocarray(r->h, cap, sizeof(*nh))) == NULL)
			return -1;
		r->h = nh;
		r->cap = cap;
	}
	if ((r->h[r->nh].name = strdup(name)) == NULL)
		return -1;
	if ((r->h[r->nh].val = strdup(val)) == NULL) {
		free(r->h[r->nh].name);
		return -1;
	}
	r->nh++;
	return 0;
}

const char *
resp_get_header(const struct resp *r, const char *name)
{
	size_t	 i;

	for (i = 0; i < r->nh; i++)
		if (strcasecmp(r->h[i].name, name) == 0)
			return r->h[i].val;
	return NULL;
}

/* Drops headers and body, keeping the memory of the body buffer. */
void
resp_reset(struct resp *r)
{
	size_t	 i;

	for (i = 0; i < r->nh; i++) {
		free(r->h[i].name);
		str_wipe(r->h[i].val);	/* Set-Cookie holds a session */
	}
	r->nh = 0;
	if (r->secret)
		buf_wipe(&r->body);
	else
		buf_reset(&r->body);
	r->secret = 0;
	r->status = 200;
}

/* The reason phrase as a page title: "Not found", "URI too long" (each
 * word after the first lower-cased unless it is an acronym). */
static void
title_of(int status, char *out, size_t outlen)
{
	const char	*p;
	size_t		 o = 0;
	int		 word = 0, acronym = 0;

	for (p = resp_reason(status); *p && o + 1 < outlen; p++) {
		if (*p == ' ') {
			word++;
			acronym = p[1] && p[2] && p[1] >= 'A' && p[1] <= 'Z' &&
			    p[2] >= 'A' && p[2] <= 'Z';
		} else if (word > 0 && !acronym && *p >= 'A' && *p <= 'Z') {
			out[o++] = (char)(*p + 32);
			continue;
		}
		out[o++] = *p;
	}
	out[o] = '\0';
}

/* Appends s with &, <, >, " and ' escaped. */
static void
add_escaped(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':	buf_adds(b, "&amp;"); break;
		case '<':	buf_adds(b, "&lt;"); break;
		case '>':	buf_adds(b, "&gt;"); break;
		case '"':	buf_adds(b, "&quot;"); break;
		case '\'':	buf_adds(b, "&#39;"); break;
		default:	buf_addc(b, *s);
		}
	}
}

/*
 * The one renderer of errors, for the host's own answers and, through
 * host.error, the scripts': the JSON envelope {"error": code, "message":
 * msg, "success": false} (with "field" and "required" when given; keys
 * sorted, as host.json.encode writes them), or a small HTML page.
 */
void
resp_error_json(struct resp *r, int status, const char *code,
    const char *msg, const char *field, const char *required)
{
	resp_reset(r);
	r->status = status;
	resp_header(r, "Content-Type", "application/json");
	if (json_failure(&r->body, code, msg, field, required) == -1) {
		buf_reset(&r->body);	/* a text that is not UTF-8 */
		json_failure(&r->body, code, "invalid text", NULL, NULL);
	}
}

void
resp_error(struct resp *r, int status, const char *code, const char *msg,
    int json)
{
	char	 title[64];

	if (json) {
		resp_error_json(r, status, code, msg, NULL, NULL);
		return;
	}
	resp_reset(r);
	r->status = status;
	title_of(status, title, sizeof(title));
	resp_header(r, "Content-Type", "text/html; charset=utf-8");
	buf_adds(&r->body, "<!doctype html><html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><title>");
	add_escaped(&r->body, title);
	buf_adds(&r->body, "</title><link rel=\"stylesheet\" "
	    "href=\"/static/app.css\"></head><body><main class=\"error\">"
	    "<h1>");
	add_escaped(&r->body, title);
	buf_adds(&r->body, "</h1><p>");
	add_escaped(&r->body, msg);
	buf_adds(&r->body, "</p></main></body></html>");
}

static void
add_line(struct buf *h, const char *name, const char *val)
{
	buf_adds(h, name);
	buf_add(h, ": ", 2);
	buf_adds(h, val);
	buf_add(h, "\r\n", 2);
}

int
resp_write(struct resp *r, struct conn *c, int head_only)
{
	const struct hdef *d;
	struct buf	 h = { .wipe = 1 };	/* Set-Cookie: a session */
	const char	*ct;
	size_t		 i;
	int		 rc;

	buf_reserve(&h, 1024);
	buf_add(&h, "Status: ", 8);
	buf_addint(&h, r->status);
	buf_addc(&h, ' ');
	buf_adds(&h, resp_reason(r->status));
	buf_add(&h, "\r\n", 2);
	for (i = 0; i < r->nh; i++)
		add_line(&h, r->h[i].name, r->h[i].val);
	if (r->id != NULL)
		add_line(&h, "X-Request-Id", r->id);
	if (r->rl.limit > 0) {
		buf_add(&h, "RateLimit-Limit: ", 17);
		buf_addint(&h, r->rl.limit);
		buf_add(&h, "\r\nRateLimit-Remaining: ", 23);
		buf_addint(&h, r->rl.remaining);
		buf_add(&h, "\r\nRateLimit-Reset: ", 19);
		buf_addint(&h, r->rl.reset);
		buf_add(&h, "\r\n", 2);
	}
	ct = resp_get_header(r, "Content-Type");
	d = ct && strncasecmp(ct, "application/json", 16) == 0 &&
	    (ct[16] == '\0' || ct[16] == ';') ? defaults_json : defaults;
	for (; d->name; d++)
		if (resp_get_header(r, d->name) == NULL)
			add_line(&h, d->name, d->val);
	if (r->status != 204 && r->status != 304) {
		buf_add(&h, "Content-Length: ", 16);
		buf_addint(&h, (long long)r->body.len);
		buf_add(&h, "\r\n", 2);
	}
	buf_adds(&h, "\r\n");
	if (h.p == NULL) {
		buf_free(&h);
		return -1;
	}
	rc = conn_write(c, h.p, h.len);
	if (rc == 0 && !head_only && r->body.len > 0)
		rc = conn_write(c, r->body.p, r->body.len);
	buf_wipe(&h);
	return rc;
}

void
resp_free(struct resp *r)
{
	resp_reset(r);
	free(r->h);
	buf_free(&r->body);
	memset(r, 0, sizeof(*r));
}
