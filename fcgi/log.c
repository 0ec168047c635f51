/*
 * log.c -- one line per event on stderr (the web server's error log, or
 * the supervisor's). Secrets never reach it: request URIs go through
 * log_scrub_uri, and the Authorization and Cookie headers are never
 * passed to the logger at all.
 */
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "tessera.h"

/* Makes stderr line-buffered so lines from several workers don't mix. */
void
log_open(void)
{
	setvbuf(stderr, NULL, _IOLBF, 0);
}

/* Writes "TIME tessera[PID] LEVEL: message" as one line. Newlines in the
 * message (a Lua traceback) are kept but each continuation line is
 * indented so the log stays parseable. */
void
log_msg(const char *level, const char *fmt, ...)
{
	char	 when[32], msg[8192];
	va_list	 ap;
	size_t	 i, o;
	char	 out[sizeof(msg) * 2];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (i = o = 0; msg[i] && o + 3 < sizeof(out); i++) {
		out[o++] = msg[i];
		if (msg[i] == '\n' && msg[i + 1]) {
			out[o++] = ' ';
			out[o++] = ' ';
		} else if (msg[i] == '\r')
			out[o - 1] = ' ';
	}
	out[o] = '\0';
	fprintf(stderr, "%s tessera[%ld] %s: %s\n",
	    iso8601((long long)time(NULL), when, sizeof(when)),
	    (long)getpid(), level, out);
}

/* Query parameters whose values never reach a log. */
static int
secret_param(const char *name, size_t len)
{
	static const char *const names[] = {
		"token", "password", "csrf", "secret", "session",
	};
	size_t	 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len &&
		    strncasecmp(names[i], name, len) == 0)
			return 1;
	return 0;
}

/* Whether the (still encoded) name is a secret one once decoded, as the
 * application will see it ("%74oken" is "token"). A name that does not
 * decode is treated as secret. */
static int
secret_name(const char *name, size_t len)
{
	char	 tmp[64];
	size_t	 n = len;

	if (len >= sizeof(tmp))
		return 0;	/* longer than any secret name, even encoded */
	memcpy(tmp, name, len);
	tmp[len] = '\0';
	if (url_decode(tmp, &n, 1) != PARSE_OK)
		return 1;
	return secret_param(tmp, n);
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
		return out;
	}
	PUT(uri, (size_t)(q - uri) + 1);
	for (p = q + 1; *p; p = *amp ? amp + 1 : amp) {
		if ((amp = strchr(p, '&')) == NULL)
			amp = p + strlen(p);
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq != NULL && secret_name(p, (size_t)(eq - p))) {
			PUT(p, (size_t)(eq - p) + 1);
			PUT("[scrubbed]", 10);
		} else
			PUT(p, (size_t)(amp - p));
		if (*amp)
			PUT("&", 1);
	}
	out[o] = '\0';
	return out;
#undef PUT
}
