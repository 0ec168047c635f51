/*
 * util.c -- clocks and time formatting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib.h"

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

/*
 * The wall clock of everything that compares with stored times (token
 * expiry, sessions, host.now()). Tests set it: when the environment names
 * a file in TESSERA_TEST_CLOCK_FILE, the time is the whole number of
 * seconds written there, read at every call, so a test moves the clock
 * of running workers without restarting them. Never set in production;
 * main() logs a warning when it is.
 */
long long
clock_now(void)
{
	static const char	*file;
	static int		 checked;
	char			 buf[32];
	long long		 v;
	FILE			*f;
	char			*end;
	size_t			 n;

	if (!checked) {
		file = getenv("TESSERA_TEST_CLOCK_FILE");
		if (file != NULL && *file == '\0')
			file = NULL;
		checked = 1;
	}
	if (file != NULL && (f = fopen(file, "re")) != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		v = strtoll(buf, &end, 10);
		if (end != buf && v > 0)
			return v;
	}
	return (long long)time(NULL);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
 * civil_date). */
static long long
days_from_civil(long long y, int m, int d)
{
	long long	 era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* n digits at s as a number, or -1. */
static int
num(const char *s, int n)
{
	int	 v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
time_parse(const char *s, long long *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	size_t		 n = strlen(s);
	int		 y, m, d, hh = 23, mm = 59, ss = 59, leap;

	if (n != 10 && n != 20)
		return -1;
	if ((y = num(s, 4)) < 1970 || s[4] != '-' || (m = num(s + 5, 2)) < 1 ||
	    m > 12 || s[7] != '-' || (d = num(s + 8, 2)) < 1)
		return -1;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
		return -1;
	if (n == 20 && (s[10] != 'T' || (hh = num(s + 11, 2)) < 0 ||
	    hh > 23 || s[13] != ':' || (mm = num(s + 14, 2)) < 0 || mm > 59 ||
	    s[16] != ':' || (ss = num(s + 17, 2)) < 0 || ss > 59 ||
	    s[19] != 'Z'))
		return -1;
	*out = days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
	return 0;
}
