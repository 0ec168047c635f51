/*
 * json.c -- writing JSON: a string escaped as jansson's compact form
 * escapes it (what host.json.encode writes too), and the failure envelope
 * every error answer carries, {"error", "field", "message", "required",
 * "success": false}, keys sorted as host.json.encode sorts them.
 */
#include <string.h>

#include "json.h"
#include "lib.h"

/* The bytes that need an escape: control characters, quote, backslash. */
static const unsigned char needs_esc[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

int
json_put_string(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t	 i, start = 0;
	char	 esc[7];

	if (!utf8_valid(s, n))
		return -1;
	if (buf_reserve(b, n + 2) == -1)
		return -1;
	b->p[b->len++] = '"';
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *rep = NULL;

		if (!needs_esc[c])
			continue;
		switch (c) {
		case '"':  rep = "\\\""; break;
		case '\\': rep = "\\\\"; break;
		case '\n': rep = "\\n"; break;
		case '\r': rep = "\\r"; break;
		case '\t': rep = "\\t"; break;
		case '\b': rep = "\\b"; break;
		case '\f': rep = "\\f"; break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			esc[6] = '\0';
			rep = esc;
		}
		buf_add(b, s + start, i - start);
		buf_adds(b, rep);
		start = i + 1;
	}
	buf_add(b, s + start, n - start);
	return buf_addc(b, '"');
}

/* Appends ,"name":"value" when value is set. */
static int
put_member(struct buf *b, const char *name, const char *value, int first)
{
	if (value == NULL)
		return 0;
	if (!first)
		buf_addc(b, ',');
	buf_addc(b, '"');
	buf_adds(b, name);
	buf_add(b, "\":", 2);
	return json_put_string(b, value, strlen(value));
}

int
json_failure(struct buf *b, const char *code, const char *msg,
    const char *field, const char *required)
{
	int	 rc = 0;

	buf_addc(b, '{');
	rc |= put_member(b, "error", code, 1);
	rc |= put_member(b, "field", field, 0);
	rc |= put_member(b, "message", msg, 0);
	rc |= put_member(b, "required", required, 0);
	buf_adds(b, ",\"success\":false}");
	return rc ? -1 : 0;
}
