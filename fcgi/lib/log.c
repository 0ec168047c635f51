/*
 * log.c -- one line per event on stderr (the web server's error log, or
 * the supervisor's). Secrets never reach it: request URIs go through
 * log_scrub_uri, and the Authorization and Cookie headers are never
 * passed to the logger at all.
 */
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

/* Makes stderr line-buffered so lines from several workers don't mix. */
void
log_open(void)
{
	setvbuf(stderr, NULL, _IOLBF, 0);
}

/* Writes "TIME tessera[PID] LEVEL: message" as one line. Newlines in the
 * message (a Lua traceback) are kept but each continuation line is
 * indented, so no line can pass for an entry of its own; every other
 * control byte (a terminal escape from a socket peer, CR, DEL) is written
 * as \xNN, so what reaches a terminal or a log viewer is text. */
void
log_msg(const char *level, const char *fmt, ...)
{
	static const char hex[] = "0123456789abcdef";
	char	 when[32], msg[8192];
	va_list	 ap;
	size_t	 i, o;
	char	 out[sizeof(msg) * 4];
	unsigned char c;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (i = o = 0; msg[i] && o + 5 < sizeof(out); i++) {
		c = (unsigned char)msg[i];
		if (c == '\n') {
			if (msg[i + 1] == '\0')
				break;
			out[o++] = '\n';
			out[o++] = ' ';
			out[o++] = ' ';
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	fprintf(stderr, "%s tessera[%ld] %s: %s\n",
	    iso8601((long long)time(NULL), when, sizeof(when)),
	    (long)getpid(), level, out);
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
