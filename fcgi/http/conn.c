/*
 * conn.c -- one interface over the two ways a request arrives: a FastCGI
 * request (libfcgi streams) or the CGI environment with stdin/stdout.
 */
#include <fcgiapp.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "http.h"
#include "lib/lib.h"

/* The named CGI/FastCGI parameter, or NULL. The pointer belongs to the
 * connection and dies with it (FCGX_Finish_r): copy what you keep. */
const char *
conn_param(const struct conn *c, const char *name)
{
	return FCGX_GetParam(name, c->envp);
}

/* Sorted as enum cparam. */
static const char *const pnames[P_COUNT] = {
	"CONTENT_LENGTH", "CONTENT_TYPE", "HTTPS", "HTTP_ACCEPT",
	"HTTP_AUTHORIZATION", "HTTP_COOKIE", "HTTP_HOST", "HTTP_ORIGIN",
	"HTTP_REFERER", "HTTP_USER_AGENT", "HTTP_X_CSRF_TOKEN",
	"HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
	"HTTP_X_REQUEST_ID", "PATH_INFO",
	"QUERY_STRING", "REMOTE_ADDR", "REQUEST_METHOD", "REQUEST_SCHEME",
	"REQUEST_URI", "SCRIPT_NAME",
};

/* Finds every known parameter in one pass. A web server sends some twenty
 * parameters; each is matched by its name's length first (at most six
 * names share one), then by one memcmp. */
static void
conn_index(struct conn *c)
{
	static unsigned char	 bylen[32][8];	/* index + 1, 0 ends */
	static int		 ready;
	char			**e;
	const char		*eq;
	size_t			 n, i, k;
	unsigned char		 j;

	if (!ready) {
		for (i = 0; i < P_COUNT; i++) {
			n = strlen(pnames[i]);
			for (k = 0; bylen[n][k]; k++)
				;
			bylen[n][k] = (unsigned char)(i + 1);
		}
		ready = 1;
	}
	memset(c->param, 0, sizeof(c->param));
	c->indexed = 1;
	for (e = c->envp; e && *e; e++) {
		if ((eq = strchr(*e, '=')) == NULL)
			continue;
		if ((n = (size_t)(eq - *e)) >= 32)
			continue;
		for (k = 0; (j = bylen[n][k]) != 0; k++) {
			if (memcmp(*e, pnames[j - 1], n) == 0) {
				if (c->param[j - 1] == NULL)
					c->param[j - 1] = eq + 1;
				break;
			}
		}
	}
}

const char *
conn_get(struct conn *c, enum cparam p)
{
	if (!c->indexed)
		conn_index(c);
	return c->param[p];
}

long
conn_read(struct conn *c, char *p, size_t n)
{
	int	 got;

	if (n > (size_t)1 << 30)
		n = (size_t)1 << 30;
	if (c->mem_out) {
		if (n > c->mem_len - c->mem_off)
			n = c->mem_len - c->mem_off;
		memcpy(p, c->mem_body + c->mem_off, n);
		c->mem_off += n;
		return (long)n;
	}
	if (c->fcgx) {
		got = FCGX_GetStr(p, (int)n, c->fcgx->in);
		return got < 0 ? -1 : got;
	}
	got = (int)fread(p, 1, n, stdin);
	return ferror(stdin) ? -1 : got;
}

/* Writes all n bytes. Returns 0, or -1 when the peer is gone (remembered
 * in out_failed so the rest of the response is dropped quietly). */
int
conn_write(struct conn *c, const void *p, size_t n)
{
	if (c->out_failed)
		return -1;
	if (c->mem_out)
		return buf_add(c->mem_out, p, n);
	if (c->fcgx) {
		while (n > 0) {
			int chunk = n > (1 << 30) ? (1 << 30) : (int)n;

			if (FCGX_PutStr(p, chunk, c->fcgx->out) != chunk) {
				c->out_failed = 1;
				return -1;
			}
			p = (const char *)p + chunk;
			n -= (size_t)chunk;
		}
		return 0;
	}
	if (fwrite(p, 1, n, stdout) != n) {
		c->out_failed = 1;
		return -1;
	}
	return 0;
}

/*
 * libfcgi keeps every byte of a request and its answer in memory it frees
 * without clearing: each stream's buffer (the parameters and body come
 * through the in stream's, the response through the out stream's) and the
 * "NAME=value" strings of envp. A stream's data points to libfcgi's
 * private FCGX_Stream_Data, whose first two fields have been the buffer
 * and its length since libfcgi 2.1 (fcgiapp.c); only those two are read.
 */
struct fcgx_stream_buf {
	unsigned char	*buff;
	int		 bufflen;
};

static void
wipe_stream(FCGX_Stream *s)
{
	const struct fcgx_stream_buf *d;

	if (s == NULL || (d = s->data) == NULL || d->buff == NULL ||
	    d->bufflen <= 0)
		return;
	sodium_memzero(d->buff, (size_t)d->bufflen);
}

/* Ends the answer, then zeroes the request's parameters and every stream
 * buffer, so the credentials, passwords and secrets of the request and
 * its answer are gone before FCGX_Finish_r frees that memory. Closing the
 * writers (as FCGX_Finish_r would, which then finds them closed) sends
 * the rest of the body and the end of the request together: a client
 * that hangs up once it has the body no longer finds the web server
 * still waiting for the end, which nginx logs with the request line.
 * The in stream is not read again. */
void
conn_fcgi_wipe(struct FCGX_Request *fr)
{
	char	**e;

	FCGX_FClose(fr->err);
	FCGX_FClose(fr->out);
	wipe_stream(fr->in);
	wipe_stream(fr->out);
	wipe_stream(fr->err);
	for (e = fr->envp; e && *e; e++)
		sodium_memzero(*e, strlen(*e));
}
