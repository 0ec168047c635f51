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
 * The proleptic Gregorian date of a day count (days since 1970-01-01):
 * counted in 400-year eras from 0000-03-01, so that a leap day ends its
 * year. No gmtime_r: it takes a lock and consults the time zone state,
 * at ten times this cost, for a page of tokens that shows a hundred
 * times.
 */
static void
civil_date(long long days, long long *y, int *m, int *d)
{
	long long	 z = days + 719468;	/* days since 0000-03-01 */
	long long	 era = (z >= 0 ? z : z - 146096) / 146097;
	long long	 doe = z - era * 146097;		/* 0..146096 */
	long long	 yoe = (doe - doe / 1460 + doe / 36524 -
			    doe / 146096) / 365;		/* 0..399 */
	long long	 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long long	 mp = (5 * doy + 2) / 153;	/* 0 = March */

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/*
 * Formats t (seconds since the epoch, UTC) as "2026-11-27T23:10:58Z"
 * (style 0, ISO 8601) or "2026-11-27 23:10 UTC" (style 1, for people)
 * into out (at least 24 bytes). Returns out; "" when the year is outside
 * 0..9999.
 */
char *
time_format(long long t, int style, char *out, size_t outlen)
{
	long long	 days, secs, year;
	int		 mon, mday;
	char		*p = out;

	out[0] = '\0';
	/* 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z */
	if (outlen < 24 || t < -62167219200LL || t > 253402300799LL)
		return out;
	days = t / 86400;
	secs = t % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_date(days, &year, &mon, &mday);
	p = digits(p, (int)year, 4);
	*p++ = '-';
	p = digits(p, mon, 2);
	*p++ = '-';
	p = digits(p, mday, 2);
	*p++ = style == 0 ? 'T' : ' ';
	p = digits(p, (int)(secs / 3600), 2);
	*p++ = ':';
	p = digits(p, (int)(secs / 60 % 60), 2);
	if (style == 0) {
		*p++ = ':';
		p = digits(p, (int)(secs % 60), 2);
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
