/*
 * log.c -- one line per event on stderr (the web server's error log, or
 * the supervisor's). Secrets never reach it: request URIs go through
 * log_scrub_uri, and the Authorization and Cookie headers are never
 * passed to the logger at all.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

static int		 json_lines;	/* log_format = json */
static const char	*current_id;	/* the request being served */

/* Makes stderr line-buffered so lines from several workers don't mix. */
void
log_open(void)
{
	setvbuf(stderr, NULL, _IOLBF, 0);
}

void
log_set_json(int on)
{
	json_lines = on;
}

void
log_request_id(const char *id)
{
	current_id = id;
}

/* The length of the valid UTF-8 sequence at s (n bytes left), or 0:
 * no overlong form, no surrogate, nothing past U+10FFFF. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	size_t		 len, i;
	unsigned long	 cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

void
log_json_string(struct buf *b, const char *str)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t		 n = strlen(str), k;
	char		 u[6] = { '\\', 'u', '0', '0', 0, 0 };

	buf_addc(b, '"');
	while (n > 0) {
		if (*s == '"' || *s == '\\') {
			buf_addc(b, '\\');
			buf_addc(b, (char)*s);
		} else if (*s == '\n')
			buf_add(b, "\\n", 2);
		else if (*s == '\t')
			buf_add(b, "\\t", 2);
		else if (*s == '\r')
			buf_add(b, "\\r", 2);
		else if (*s < 0x20 || *s == 0x7f) {
			u[4] = hex[*s >> 4];
			u[5] = hex[*s & 15];
			buf_add(b, u, 6);
		} else if ((k = utf8_seq(s, n)) == 0)
			buf_add(b, "\\ufffd", 6);	/* not UTF-8 */
		else if (k == 3 && s[0] == 0xe2 && s[1] == 0x80 &&
		    (s[2] == 0xa8 || s[2] == 0xa9)) {
			/* U+2028, U+2029: line ends to JavaScript */
			buf_add(b, s[2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
			s += 3, n -= 3;
			continue;
		} else {
			buf_add(b, s, k);
			s += k, n -= k;
			continue;
		}
		s++, n--;
	}
	buf_addc(b, '"');
}

/* The message as text: newlines kept (lines set), each continuation
 * line indented, so no line can pass for an entry of its own; every
 * other control byte (a terminal escape from a socket peer, CR, DEL) as
 * \xNN, and a newline too when lines is 0. */
static void
text_escape(struct buf *b, const char *msg, int lines)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	 c;
	char		 x[4] = { '\\', 'x', 0, 0 };

	for (; *msg; msg++) {
		c = (unsigned char)*msg;
		if (c == '\n' && lines) {
			if (msg[1] == '\0')
				break;
			buf_add(b, "\n  ", 3);
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			x[2] = hex[c >> 4];
			x[3] = hex[c & 15];
			buf_add(b, x, 4);
		} else
			buf_addc(b, (char)c);
	}
}

/* A field of the text format: " name=value", on the same line. */
static void
text_field(struct buf *b, const char *name, const char *val)
{
	buf_addc(b, ' ');
	buf_adds(b, name);
	buf_addc(b, '=');
	text_escape(b, val, 0);
}

static void
json_field(struct buf *b, const char *name, const char *val)
{
	buf_addc(b, ',');
	log_json_string(b, name);
	buf_addc(b, ':');
	log_json_string(b, val);
}

void
log_format_line(struct buf *b, int json, long long when, long pid,
    const char *level, const char *msg, const char *id,
    const struct log_req *rq)
{
	char	 t[32], key[9], num[48];

	iso8601(when, t, sizeof(t));
	key[0] = '\0';
	if (rq && rq->key)
		snprintf(key, sizeof(key), "%s", rq->key);	/* its prefix */
	if (!json) {
		buf_printf(b, "%s tessera[%ld] %s: ", t, pid, level);
		text_escape(b, msg, 1);
		if (rq) {
			text_field(b, "route", rq->route ? rq->route : "-");
			text_field(b, "remote", rq->remote ? rq->remote : "-");
			if (key[0])
				text_field(b, "key", key);
		}
		if (id)
			text_field(b, "id", id);
		buf_addc(b, '\n');
		return;
	}
	buf_adds(b, "{\"time\":");
	log_json_string(b, t);
	json_field(b, "level", level);
	buf_printf(b, ",\"pid\":%ld", pid);
	json_field(b, "msg", msg);
	if (id)
		json_field(b, "request_id", id);
	if (rq) {
		json_field(b, "method", rq->method ? rq->method : "-");
		json_field(b, "uri", rq->uri ? rq->uri : "-");
		json_field(b, "route", rq->route ? rq->route : "-");
		snprintf(num, sizeof(num), ",\"status\":%d,\"duration_ms\":%.3f",
		    rq->status, rq->ms);
		buf_adds(b, num);
		json_field(b, "remote", rq->remote ? rq->remote : "-");
		if (key[0])
			json_field(b, "key", key);
	}
	buf_adds(b, "}\n");
}

static void
emit(const char *level, const char *msg, const struct log_req *rq)
{
	struct buf	 b = { 0 };

	log_format_line(&b, json_lines, (long long)time(NULL),
	    (long)getpid(), level, msg, current_id, rq);
	if (b.p != NULL && !b.failed)
		fwrite(b.p, 1, b.len, stderr);
	buf_free(&b);
}

/* One line: "TIME tessera[PID] LEVEL: message[ id=ID]", or with
 * log_format = json one object {"time", "level", "pid", "msg",
 * "request_id"}. */
void
log_msg(const char *level, const char *fmt, ...)
{
	char	 msg[8192];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(level, msg, NULL);
}

/* The line of an answered request: "req: METHOD URI STATUS N.NNNms"
 * and its fields (route, remote, key prefix, id). */
void
log_request(const struct log_req *rq)
{
	char	 msg[8192];

	snprintf(msg, sizeof(msg), "%s %s %d %.3fms", rq->method ?
	    rq->method : "-", rq->uri ? rq->uri : "-", rq->status, rq->ms);
	emit("req", msg, rq);
}

/* Rewrites the control bytes (and spaces) of out[0..len) as %NN, in
 * place, as far as outlen allows: a URI in the log is one token, never a
 * second line or a terminal escape. Returns the new length. */
static size_t
escape_controls(char *out, size_t len, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t		 i, extra = 0, o;
	unsigned char	 c;

	for (i = 0; i < len; i++)
		if ((unsigned char)out[i] <= 0x20 || out[i] == 0x7f)
			extra += 2;
	if (extra == 0)
		return len;
	while (len + extra >= outlen) {		/* drop what does not fit */
		c = (unsigned char)out[--len];
		if (c <= 0x20 || c == 0x7f)
			extra -= 2;
	}
	o = len + extra;
	out[o] = '\0';
	for (i = len; i-- > 0;) {
		c = (unsigned char)out[i];
		if (c <= 0x20 || c == 0x7f) {
			out[--o] = hex[c & 15];
			out[--o] = hex[c >> 4];
			out[--o] = '%';
		} else
			out[--o] = (char)c;
	}
	return len + extra;
}

char *
log_scrub_uri(const char *uri, char *out, size_t outlen)
{
	const char	*q, *p, *amp, *eq;
	size_t		 o = 0, n;

#define PUT(s, l) do {						\
		n = (l);					\
		if (o + n >= outlen) n = outlen - o - 1;	\
		memcpy(out + o, (s), n); o += n;		\
	} while (0)

	if (outlen == 0)
		return out;
	if ((q = strchr(uri, '?')) == NULL) {
		PUT(uri, strlen(uri));
		out[o] = '\0';
		escape_controls(out, o, outlen);
		return out;
	}
	PUT(uri, (size_t)(q - uri) + 1);
	for (p = q + 1; *p; p = *amp ? amp + 1 : amp) {
		if ((amp = strchr(p, '&')) == NULL)
			amp = p + strlen(p);
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq != NULL && credential_field(p, (size_t)(eq - p))) {
			PUT(p, (size_t)(eq - p) + 1);
			PUT("[scrubbed]", 10);
		} else
			PUT(p, (size_t)(amp - p));
		if (*amp)
			PUT("&", 1);
	}
	out[o] = '\0';
	escape_controls(out, o, outlen);
	return out;
#undef PUT
}
