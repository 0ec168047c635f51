/*
 * notify_targets.c -- the notify_targets setting: where host.notify's
 * messages go, as "name=url" entries separated by commas or white space,
 * e.g. "token_expiring=https://hooks.example.com/tessera, ops=http://...".
 * A name is 1 to 64 of a-z, 0-9 and _; a URL is http:// or https://, up
 * to NOTIFY_URL_MAX bytes of printable ASCII without spaces or commas.
 * The config loader checks the whole list (notify_targets_check); the
 * bridge and the runner look one name up (notify_target).
 */
#include <string.h>

#include "lib.h"

static int
is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
notify_name_ok(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > NOTIFY_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* Is url (len bytes) one we send to? */
static int
url_ok(const char *u, size_t len)
{
	size_t	 i, skip;

	if (len >= 8 && strncmp(u, "https://", 8) == 0)
		skip = 8;
	else if (len >= 7 && strncmp(u, "http://", 7) == 0)
		skip = 7;
	else
		return 0;
	if (len == skip || len > NOTIFY_URL_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)u[i] <= ' ' || (unsigned char)u[i] >= 0x7f)
			return 0;
	return u[skip] != '/';
}

/*
 * Walks the entries of targets, calling fn(arg, name, nlen, url, ulen)
 * for each until it returns non-zero (that value is returned). An entry
 * that is not name=url with a good name and URL gives -1 (err says which,
 * without its URL, which may carry a credential).
 */
static int
walk(const char *targets, int (*fn)(void *, const char *, size_t,
    const char *, size_t), void *arg, char *err, size_t errlen)
{
	const char	*p = targets ? targets : "", *e, *eq;
	int		 rc;

	for (;;) {
		while (*p && is_sep(*p))
			p++;
		if (*p == '\0')
			return 0;
		for (e = p; *e && !is_sep(*e); e++)
			;
		eq = memchr(p, '=', (size_t)(e - p));
		if (eq == NULL || !notify_name_ok(p, (size_t)(eq - p))) {
			snprintf(err, errlen, "notify_targets: each entry is "
			    "name=url, name 1 to %d of a-z 0-9 _ (entry %d "
			    "bytes long is not)", NOTIFY_NAME_MAX, (int)(e - p));
			return -1;
		}
		if (!url_ok(eq + 1, (size_t)(e - eq - 1))) {
			snprintf(err, errlen, "notify_targets: %.*s: the URL "
			    "must be http:// or https://, a host and at most "
			    "%d bytes", (int)(eq - p), p, NOTIFY_URL_MAX);
			return -1;
		}
		if ((rc = fn(arg, p, (size_t)(eq - p), eq + 1,
		    (size_t)(e - eq - 1))) != 0)
			return rc;
		p = e;
	}
}

static int
none(void *arg, const char *n, size_t nl, const char *u, size_t ul)
{
	(void)arg, (void)n, (void)nl, (void)u, (void)ul;
	return 0;
}

int
notify_targets_check(const char *targets, char *err, size_t errlen)
{
	return walk(targets, none, NULL, err, errlen) == 0 ? 0 : -1;
}

struct find {
	const char	*name;
	char		*url;
	size_t		 urllen;
};

static int
found(void *arg, const char *n, size_t nl, const char *u, size_t ul)
{
	struct find	*f = arg;

	if (strlen(f->name) != nl || memcmp(f->name, n, nl) != 0)
		return 0;
	if (f->url && f->urllen > 0)
		snprintf(f->url, f->urllen, "%.*s", (int)ul, u);
	return 1;
}

int
notify_target(const char *targets, const char *name, char *url,
    size_t urllen)
{
	struct find	 f = { name, url, urllen };
	char		 err[8];

	return walk(targets, found, &f, err, sizeof(err)) == 1;
}
