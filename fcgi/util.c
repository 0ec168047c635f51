/*
 * util.c -- clocks and time formatting.
 */
#include <string.h>
#include <time.h>

#include "tessera.h"

/* Seconds on the monotonic clock, for durations. */
double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes n as w digits at p. */
static char *
digits(char *p, int n, int w)
{
	int	 i;

	for (i = w - 1; i >= 0; i--, n /= 10)
		p[i] = (char)('0' + n % 10);
	return p + w;
}

/*
 * Formats t (seconds since the epoch, UTC) as "2026-11-27T23:10:58Z"
 * (style 0, ISO 8601) or "2026-11-27 23:10 UTC" (style 1, for people)
 * into out (at least 24 bytes). Returns out; "" when the year is outside
 * 0..9999. No strftime: a page of tokens formats a hundred of these.
 */
char *
time_format(long long t, int style, char *out, size_t outlen)
{
	time_t		 tt = (time_t)t;
	struct tm	 tm;
	char		*p = out;

	out[0] = '\0';
	if (outlen < 24 || gmtime_r(&tt, &tm) == NULL ||
	    tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
		return out;
	p = digits(p, tm.tm_year + 1900, 4);
	*p++ = '-';
	p = digits(p, tm.tm_mon + 1, 2);
	*p++ = '-';
	p = digits(p, tm.tm_mday, 2);
	*p++ = style == 0 ? 'T' : ' ';
	p = digits(p, tm.tm_hour, 2);
	*p++ = ':';
	p = digits(p, tm.tm_min, 2);
	if (style == 0) {
		*p++ = ':';
		p = digits(p, tm.tm_sec, 2);
		*p++ = 'Z';
	} else {
		memcpy(p, " UTC", 4);
		p += 4;
	}
	*p = '\0';
	return out;
}

/* Writes t as ISO 8601 UTC ("2026-11-27T23:10:58Z") into out and returns
 * out; out is "" when t cannot be represented. */
char *
iso8601(long long t, char *out, size_t outlen)
{
	return time_format(t, 0, out, outlen);
}
