/*
 * buf.c -- growable byte buffers.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "lib.h"

/* Makes room for extra more bytes plus a NUL. Returns 0 or -1 (ENOMEM or
 * size overflow); the buffer is unchanged on failure. */
int
buf_reserve(struct buf *b, size_t extra)
{
	size_t	 need, cap;
	char	*p;

	if (extra > SIZE_MAX - b->len - 1) {
		b->failed = 1;
		return -1;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (b->wipe && b->p) {
		/* realloc would free the old block as it is */
		if ((p = malloc(cap)) == NULL) {
			b->failed = 1;
			return -1;
		}
		memcpy(p, b->p, b->len + 1);
		sodium_memzero(b->p, b->cap);
		free(b->p);
	} else if ((p = realloc(b->p, cap)) == NULL) {
		b->failed = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Appends n bytes of p. Returns 0 or -1. */
int
buf_add(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	assert(b->len + n < b->cap);	/* room for the bytes and a NUL */
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_addc(struct buf *b, char c)
{
	if (b->len + 2 > b->cap && buf_reserve(b, 1) == -1)
		return -1;
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
	return 0;
}

/* Appends v in decimal (no printf: it is on every JSON integer and every
 * response's status and length). */
int
buf_addint(struct buf *b, long long v)
{
	char			 d[24], *e = d + sizeof(d), *p = e;
	unsigned long long	 u = v < 0 ? 0ULL - (unsigned long long)v :
				    (unsigned long long)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	return buf_add(b, p, (size_t)(e - p));
}

/* Appends printf-formatted text. Returns 0 or -1. */
int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* Empties the buffer but keeps its memory. */
void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->failed = 0;
	if (b->p)
		b->p[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}

/* Zeroes the bytes the buffer holds, then frees it. Bytes past len were
 * never written (growth copies only len bytes), so they hold nothing. */
void
buf_wipe(struct buf *b)
{
	if (b->p)
		sodium_memzero(b->p, b->len + 1 <= b->cap ? b->len + 1 : b->cap);
	buf_free(b);
}

void
str_wipe(char *s)
{
	if (s == NULL)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}
