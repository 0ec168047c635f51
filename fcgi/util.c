/*
 * util.c -- clocks and time formatting.
 */
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

/* Writes t as ISO 8601 UTC ("2026-11-27T23:10:58Z") into out and returns
 * out; out is "" when t cannot be represented. */
char *
iso8601(long long t, char *out, size_t outlen)
{
	time_t		tt = (time_t)t;
	struct tm	tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
	return out;
}
