/*
 * lhost_html.c -- host.html: escaping and templates for the views, in C
 * because a page of tokens renders thousands of placeholders.
 *
 *	host.html.escape(v)        -> string, & < > " ' escaped
 *	host.html.raw(s)           -> a value marked as trusted HTML
 *	host.html.is_raw(v)        -> boolean
 *	host.html.render(tpl, data)-> raw: {{a.b}} escaped, {{{a.b}}} raw
 *
 * In a template, {{ path }} is looked up in data (a.b.c walks nested
 * tables) and escaped; {{{ path }}} must be a raw value (anything else is
 * an error, so a plain string can never slip in unescaped); nil and false
 * render as nothing. Templates are parsed once and cached by their text.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"

#define RAW_MT		"tessera.html.raw"
#define TPL_MT		"tessera.html.tpl"
#define KEYS_MAX	6

struct part {
	size_t		 off, len;	/* literal text before the hole */
	int		 raw;		/* {{{ }}} */
	int		 nkeys;		/* 0: the last part, no hole */
	char		*keys[KEYS_MAX];
	int		 ref[KEYS_MAX];	/* each key as a Lua string: its
					 * index in the template's key list */
};

struct tpl {
	size_t		 nparts;
	struct part	*parts;
};

/* No page is this big; a script joining joins of joins could otherwise
 * make the C side copy without bound (outside the Lua memory cap). */
#define HTML_OUT_MAX	((size_t)32 << 20)

/* buf_add with the common case (room already there) inline; past
 * HTML_OUT_MAX, or out of memory, the buffer is marked failed. */
static inline void
add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n < b->cap) {
		memcpy(b->p + b->len, s, n);
		b->len += n;
		b->p[b->len] = '\0';
	} else if (b->len + n > HTML_OUT_MAX)
		b->failed = 1;
	else
		buf_add(b, s, n);
}

/* Appends s escaped to the C buffer b. s is a Lua string, so s[len] is
 * '\0': strcspn (SIMD in glibc) finds the next byte to replace; a NUL
 * inside the string stops it too and is copied as it is. */
static void
bufesc(struct buf *b, const char *s, size_t len)
{
	size_t		 i = 0, n;
	const char	*rep;

	if (buf_reserve(b, len + 16) == -1)
		return;
	while (i < len) {
		n = strcspn(s + i, "&<>\"'");
		add(b, s + i, n);
		if ((i += n) >= len)
			break;
		switch (s[i]) {
		case '&':  rep = "&amp;"; break;
		case '<':  rep = "&lt;"; break;
		case '>':  rep = "&gt;"; break;
		case '"':  rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default:   add(b, s + i, 1); i++; continue;	/* NUL */
		}
		add(b, rep, strlen(rep));
		i++;
	}
}

/* host.html.escape(v): tostring first; nil is "". */
static int
l_escape(lua_State *L)
{
	size_t		 len;
	const char	*s;
	struct buf	 b = { 0 };

	if (lua_isnoneornil(L, 1)) {
		lua_pushliteral(L, "");
		return 1;
	}
	s = luaL_tolstring(L, 1, &len);
	bufesc(&b, s, len);
	lua_pushlstring(L, b.p ? b.p : "", b.len);
	buf_free(&b);
	return 1;
}

static int	 raw_index(lua_State *);

/* Pushes t[k] without metamethods; returns its type. */
static int
rawget_str(lua_State *L, int t, const char *k)
{
	lua_pushstring(L, k);
	return lua_rawget(L, t);
}

static char	 raw_mt_key;	/* its address keys the metatable */

/* Pushes the metatable of raw values (made on first use; found by a
 * light-userdata key, which is cheaper than a name: every render and
 * every raw hole asks for it). */
static void
push_raw_mt(lua_State *L)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &raw_mt_key) == LUA_TTABLE)
		return;
	lua_pop(L, 1);
	luaL_newmetatable(L, RAW_MT);
	lua_pushliteral(L, "html.raw");
	lua_setfield(L, -2, "__name");
	lua_pushcfunction(L, raw_index);
	lua_setfield(L, -2, "__index");
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &raw_mt_key);
}

/* Pushes {html = s} with the raw metatable; s is at idx. */
static void
push_raw(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	lua_createtable(L, 0, 1);
	lua_pushvalue(L, idx);
	lua_setfield(L, -2, "html");
	push_raw_mt(L);
	lua_setmetatable(L, -2);
}

static int
is_raw(lua_State *L, int idx)
{
	int	 r;

	if (!lua_istable(L, idx) || !lua_getmetatable(L, idx))
		return 0;
	push_raw_mt(L);
	r = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	return r;
}

static int
l_raw(lua_State *L)
{
	luaL_checkstring(L, 1);
	push_raw(L, 1);
	return 1;
}

static int
l_is_raw(lua_State *L)
{
	lua_pushboolean(L, is_raw(L, 1));
	return 1;
}

static int
tpl_gc(lua_State *L)
{
	struct tpl	*t = luaL_checkudata(L, 1, TPL_MT);
	size_t		 i;
	int		 k;

	for (i = 0; i < t->nparts; i++)
		for (k = 0; k < t->parts[i].nkeys; k++)
			free(t->parts[i].keys[k]);
	free(t->parts);
	t->parts = NULL;
	t->nparts = 0;
	return 0;
}

static int
ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

/* Parses s into t. Returns 0 or -1 (malformed placeholder, message in
 * err). Text that is not a well-formed placeholder stays literal. */
static int
tpl_parse(struct tpl *t, const char *s, size_t len, char *err, size_t errlen)
{
	size_t		 pos = 0, lit = 0, i, j, cap = 8;
	struct part	*p, *np;
	int		 raw;

	if ((t->parts = calloc(cap, sizeof(*p))) == NULL)
		goto nomem;
	while (pos + 4 <= len) {
		if (s[pos] != '{' || s[pos + 1] != '{') {
			pos++;
			continue;
		}
		raw = pos + 2 < len && s[pos + 2] == '{';
		i = pos + 2 + raw;
		while (i < len && s[i] == ' ')
			i++;
		j = i;
		while (j < len && (ident(s[j]) || s[j] == '.'))
			j++;
		if (j == i) {
			pos++;
			continue;
		}
		size_t k = j;
		while (k < len && s[k] == ' ')
			k++;
		if (k + 2 + raw > len || s[k] != '}' || s[k + 1] != '}' ||
		    (raw && s[k + 2] != '}')) {
			pos++;
			continue;
		}
		if (t->nparts + 2 > cap) {
			cap *= 2;
			if ((np = realloc(t->parts, cap * sizeof(*np))) == NULL)
				goto nomem;
			t->parts = np;
		}
		p = &t->parts[t->nparts++];
		memset(p, 0, sizeof(*p));
		p->off = lit;
		p->len = pos - lit;
		p->raw = raw;
		/* Split the path on dots. */
		for (size_t a = i; a < j;) {
			size_t b = a;

			while (b < j && s[b] != '.')
				b++;
			if (b == a || p->nkeys == KEYS_MAX) {
				snprintf(err, errlen, "bad placeholder near "
				    "offset %zu", pos);
				return -1;
			}
			if ((p->keys[p->nkeys] = strndup(s + a, b - a)) == NULL)
				goto nomem;
			p->nkeys++;
			a = b + 1;
		}
		pos = k + 2 + raw;
		lit = pos;
	}
	p = &t->parts[t->nparts++];
	memset(p, 0, sizeof(*p));
	p->off = lit;
	p->len = len - lit;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Makes the template's key list (its user value): every key of every
 * hole as a Lua string, so rendering looks them up without making them
 * again; each part records where its keys are. Table on top. */
static void
make_keys(lua_State *L, struct tpl *t)
{
	size_t	 i;
	int	 k, n = 0;

	lua_newtable(L);
	for (i = 0; i < t->nparts; i++)
		for (k = 0; k < t->parts[i].nkeys; k++) {
			lua_pushstring(L, t->parts[i].keys[k]);
			lua_rawseti(L, -2, ++n);
			t->parts[i].ref[k] = n;
		}
}

/* The parsed template for the string at index 1, from the cache (a
 * registry table keyed by the template text, so the text stays alive).
 * Leaves the template's key list on the stack. */
static struct tpl *
get_tpl(lua_State *L)
{
	struct tpl	*t;
	size_t		 len;
	const char	*s = lua_tolstring(L, 1, &len);
	char		 err[128];

	luaL_getsubtable(L, LUA_REGISTRYINDEX, "tessera.html.cache");
	lua_pushvalue(L, 1);
	if (lua_rawget(L, -2) == LUA_TUSERDATA) {
		t = lua_touserdata(L, -1);
		lua_getiuservalue(L, -1, 1);
		lua_replace(L, -3);
		lua_pop(L, 1);
		return t;
	}
	lua_pop(L, 1);
	t = lua_newuserdatauv(L, sizeof(*t), 1);
	memset(t, 0, sizeof(*t));
	if (luaL_newmetatable(L, TPL_MT)) {
		lua_pushcfunction(L, tpl_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	if (tpl_parse(t, s, len, err, sizeof(err)) == -1)
		luaL_error(L, "host.html.render: %s", err);
	make_keys(L, t);
	lua_pushvalue(L, -1);
	lua_setiuservalue(L, -3, 1);		/* cache tpl keys */
	lua_insert(L, -3);			/* keys cache tpl */
	lua_pushvalue(L, 1);
	lua_insert(L, -2);			/* keys cache text tpl */
	lua_rawset(L, -3);			/* keys cache */
	lua_pop(L, 1);
	return t;
}

/* The output buffer of l_render, reused from call to call (each worker is
 * single-threaded; a nested call, which nothing does today, gets its own).
 * Being static, it cannot leak when a Lua error unwinds through us. */
static struct buf	 out_buf;
static int		 out_busy;

/*
 * A raw value is {html = s}, or {parts = {raw, ...}} as made by
 * host.html.join: a page's rows are then copied once, into the page,
 * instead of once into a joined string and again into the page.
 * Appends the raw value at idx to b. Returns 0, or -1 when it is not one
 * (or nests past 16 joins).
 */
static int
append_raw(lua_State *L, int idx, struct buf *b, int depth)
{
	const char	*v;
	size_t		 vlen;
	lua_Integer	 i, n;
	int		 rc = 0;

	if (b->failed)
		return -2;
	if (depth > 16 || !is_raw(L, idx) || !lua_checkstack(L, 4))
		return -1;
	idx = lua_absindex(L, idx);
	if (rawget_str(L, idx, "html") == LUA_TSTRING) {
		v = lua_tolstring(L, -1, &vlen);
		add(b, v, vlen);
	} else if (lua_pop(L, 1), rawget_str(L, idx, "parts") ==
	    LUA_TTABLE) {
		n = (lua_Integer)lua_rawlen(L, -1);
		for (i = 1; i <= n && rc == 0; i++) {
			lua_rawgeti(L, -1, i);
			rc = append_raw(L, -1, b, depth + 1);
			lua_pop(L, 1);
		}
	} else
		rc = -1;
	lua_pop(L, 1);
	return rc == 0 && b->failed ? -2 : rc;
}

/* raw.html of a joined value: flattened on first read, then kept. It is
 * built in the render buffer (static: nothing to leak if Lua raises). */
static int
raw_index(lua_State *L)
{
	int	 rc;

	if (lua_type(L, 2) != LUA_TSTRING ||
	    strcmp(lua_tostring(L, 2), "html") != 0)
		return 0;
	if (out_busy)
		return luaL_error(L, "html.join: .html read while a template "
		    "renders");
	buf_reset(&out_buf);
	rc = append_raw(L, 1, &out_buf, 0);
	if (rc == -2)
		return luaL_error(L, "html.join: output too large or out of "
		    "memory");
	if (rc == -1)
		return luaL_error(L, "html.join: a part is not an html.raw "
		    "value");
	lua_pushlstring(L, out_buf.p ? out_buf.p : "", out_buf.len);
	lua_pushvalue(L, -1);
	lua_setfield(L, 1, "html");	/* rawset: the table has no __newindex */
	return 1;
}

/* host.html.join(list): one raw value of the raw values in list. */
static int
l_join(lua_State *L)
{
	lua_Integer	 i, n;

	luaL_checktype(L, 1, LUA_TTABLE);
	n = (lua_Integer)lua_rawlen(L, 1);
	lua_createtable(L, 0, 1);
	lua_createtable(L, (int)n, 0);
	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, 1, i);
		if (!is_raw(L, -1))
			return luaL_error(L, "html.join takes html.raw values "
			    "(item %d is not one)", (int)i);
		lua_rawseti(L, -2, i);
	}
	lua_setfield(L, -2, "parts");
	push_raw_mt(L);
	lua_setmetatable(L, -2);
	return 1;
}


/* Called at the start of every request: a render that a Lua error cut
 * short must not leave the shared buffer marked busy. */
void
lhost_html_reset(void)
{
	out_busy = 0;
}

/* Ends a render: a nested call's buffer goes; the page buffer stays for
 * the next call, zeroed when the request made a token secret (the page
 * may show it). */
static void
render_end(struct buf *b, int nested, int secret)
{
	out_busy = nested;
	if (b != &out_buf)
		buf_wipe(b);
	else if (secret && b->p)
		sodium_memzero(b->p, b->len);
}

static int
l_render(lua_State *L)
{
	struct tpl	*t;
	const char	*s, *v;
	size_t		 i, vlen;
	int		 k, ty, nested, kt;
	struct buf	 local = { 0 }, *b;
	int		 secret = lhost_secret_pending(L);

	s = luaL_checkstring(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	t = get_tpl(L);
	kt = lua_gettop(L);
	nested = out_busy;
	b = nested ? &local : &out_buf;
	out_busy = 1;
	buf_reset(b);
	b->wipe = secret;	/* growth must not free a copy of the page */
	for (i = 0; i < t->nparts && !b->failed; i++) {
		const struct part *p = &t->parts[i];

		add(b, s + p->off, p->len);
		if (p->nkeys == 0)
			continue;
		lua_rawgeti(L, kt, p->ref[0]);
		lua_gettable(L, 2);
		for (k = 1; k < p->nkeys; k++) {
			if (lua_type(L, -1) != LUA_TTABLE) {
				lua_pop(L, 1);
				lua_pushnil(L);
				break;
			}
			lua_rawgeti(L, kt, p->ref[k]);
			lua_gettable(L, -2);
			lua_remove(L, -2);
		}
		ty = lua_type(L, -1);
		if (ty == LUA_TSTRING || ty == LUA_TNUMBER) {
			if (p->raw)
				goto notraw;
			v = lua_tolstring(L, -1, &vlen);
			bufesc(b, v, vlen);
		} else if (ty == LUA_TTABLE && is_raw(L, -1)) {
			if (append_raw(L, -1, b, 0) == -1) {
				render_end(b, nested, secret);
				return luaL_error(L, "{{{%s...}}}: a joined part "
				    "is not an html.raw value", p->keys[0]);
			}
		} else if (ty == LUA_TBOOLEAN && lua_toboolean(L, -1)) {
			if (p->raw)
				goto notraw;
			buf_adds(b, "true");
		} else if (ty != LUA_TNIL && ty != LUA_TBOOLEAN) {
			render_end(b, nested, secret);
			return luaL_error(L, "{{%s...}} cannot be a %s",
			    p->keys[0], lua_typename(L, ty));
		}
		lua_pop(L, 1);
		continue;
notraw:
		render_end(b, nested, secret);
		return luaL_error(L, "{{{%s...}}} needs an html.raw value",
		    p->keys[0]);
	}
	if (b->failed) {
		render_end(b, nested, secret);
		return luaL_error(L, "host.html.render: output too large or out "
		    "of memory");
	}
	lua_pushlstring(L, b->p ? b->p : "", b->len);
	render_end(b, nested, secret);
	push_raw(L, -1);
	return 1;
}

void
lhost_open_html(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "escape",	l_escape },
		{ "is_raw",	l_is_raw },
		{ "join",	l_join },
		{ "raw",	l_raw },
		{ "render",	l_render },
		{ NULL,		NULL },
	};

	luaL_newlib(L, fns);
}
