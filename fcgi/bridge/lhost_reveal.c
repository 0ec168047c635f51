/*
 * lhost_reveal.c -- host.reveal: a new secret shown once, after a
 * redirect. A page form that makes or rotates a token without JavaScript
 * answers 303 to a page that takes the secret from here
 * (post/redirect/get): reloading that page, or coming back to it, makes
 * no second token and shows the secret no second time.
 *
 *	host.reveal.stash{key=, token=, rotated=, previous_expires_at=}
 *	    -> id, or nil when it could not be kept (logged)
 *	host.reveal.take(id)
 *	    -> { key, token, rotated, previous_expires_at } once, else nil
 *
 * Both need the request's session: a view belongs to it. The secret is
 * kept sealed (crypto_secretbox) under a key derived from the session's
 * cookie value and the pepper, so the database (which holds neither) can
 * not open it and no other browser can. take deletes the view in the same
 * write transaction, made durable before the secret is returned. A view
 * lives REVEAL_TTL seconds; logging out or the session's end deletes it
 * (schema 013).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "bridge.h"

#define REVEAL_TTL	600		/* seconds */
#define REVEAL_MAX	512		/* the sealed text's bytes, at most */

/* The sealing key: BLAKE2b keyed with the pepper over a label and the
 * session's cookie value. -1 when the request has no session cookie. */
static int
view_key(lua_State *L, unsigned char key[crypto_secretbox_KEYBYTES])
{
	const struct req	*r = lhost_req(L);
	const struct kv		*c = kv_get(&r->cookies, session_cookie(r));
	crypto_generichash_state st;

	if (c == NULL)
		return -1;
	crypto_generichash_init(&st, lhost_pepper(L), PEPPER_LEN,
	    crypto_secretbox_KEYBYTES);
	crypto_generichash_update(&st, (const unsigned char *)"reveal", 7);
	crypto_generichash_update(&st, (const unsigned char *)c->val, c->vlen);
	crypto_generichash_final(&st, key, crypto_secretbox_KEYBYTES);
	sodium_memzero(&st, sizeof(st));
	return 0;
}

/* The request's session, or a Lua error: a view belongs to one. */
static long long
session_id(lua_State *L, const char *fn)
{
	const struct session	*s = lhost_session_current(L);

	if (s == NULL)
		luaL_error(L, "host.reveal.%s: only in a logged-in session", fn);
	if (lhost_db(L)->tx_depth > 0)
		luaL_error(L, "host.reveal.%s inside a transaction", fn);
	return s->id;
}

/* Commits the write transaction, durably (db_tx); 0 or -1. */
static int
commit_durably(struct db *db)
{
	return db_tx(db, DB_COMMIT) == DB_OK ? 0 : -1;
}

static int
l_stash(lua_State *L)
{
	struct db	*db = lhost_db(L);
	const char	*key, *secret;
	char		 text[REVEAL_MAX];
	unsigned char	 k[crypto_secretbox_KEYBYTES];
	unsigned char	 nonce[crypto_secretbox_NONCEBYTES];
	unsigned char	 box[crypto_secretbox_MACBYTES + REVEAL_MAX];
	struct dbq	*st;
	long long	 sid, prev = 0, now = clock_now();
	int		 n, rotated, ok;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_getfield(L, 1, "key");
	key = luaL_checkstring(L, -1);
	lua_getfield(L, 1, "token");
	secret = luaL_checkstring(L, -1);
	lua_getfield(L, 1, "rotated");
	rotated = lua_toboolean(L, -1);
	if (lua_getfield(L, 1, "previous_expires_at") == LUA_TNUMBER)
		prev = lua_tointeger(L, -1);
	sid = session_id(L, "stash");
	if (strchr(key, '\n') || strchr(secret, '\n'))
		return luaL_error(L, "host.reveal.stash: a key or token with "
		    "a newline");
	n = snprintf(text, sizeof(text), "%s\n%s\n%d\n%lld", key, secret,
	    rotated, prev);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		sodium_memzero(text, sizeof(text));
		return luaL_error(L, "host.reveal.stash: too long");
	}
	if (view_key(L, k) == -1) {
		sodium_memzero(text, sizeof(text));
		return luaL_error(L, "host.reveal.stash: no session cookie");
	}
	randombytes_buf(nonce, sizeof(nonce));
	crypto_secretbox_easy(box, (unsigned char *)text, (size_t)n, nonce, k);
	sodium_memzero(text, sizeof(text));
	sodium_memzero(k, sizeof(k));

	ok = db_tx(db, DB_BEGIN) == DB_OK;
	if (ok && (st = db_query(db, "reveal_prune")) != NULL &&
	    db_bind_int64(st, ":since", now - REVEAL_TTL) == 0)
		ok = db_run(db, st) == 0;
	else
		ok = 0;
	if (ok && (st = db_query(db, "reveal_put")) != NULL &&
	    db_bind_int64(st, ":session_id", sid) == 0 &&
	    db_bind_blob(st, ":nonce", nonce, sizeof(nonce)) == 0 &&
	    db_bind_blob(st, ":box", box, crypto_secretbox_MACBYTES +
	    (size_t)n) == 0 && db_bind_int64(st, ":now", now) == 0)
		ok = db_run(db, st) == 0;
	else
		ok = 0;
	if (!ok || commit_durably(db) == -1) {
		if (db_in_tx(db))
			db_tx(db, DB_ROLLBACK);
		log_err("host.reveal.stash: the view could not be kept");
		lua_pushnil(L);
		return 1;
	}
	lua_pushinteger(L, db_last_id(db));
	return 1;
}

/* Takes the view id of this session out of the database: its nonce and
 * box into the caller's buffers. 1 found (and deleted), 0 none, -1. */
static int
take_row(struct db *db, long long id, long long sid, long long since,
    unsigned char nonce[crypto_secretbox_NONCEBYTES], unsigned char *box,
    size_t *boxlen)
{
	struct dbq	*st;
	const void	*p;
	int		 found = 0, rc;

	if (db_tx(db, DB_BEGIN) != DB_OK)
		return -1;
	if ((st = db_query(db, "reveal_get")) == NULL ||
	    db_bind_int64(st, ":id", id) || db_bind_int64(st, ":session_id",
	    sid) || db_bind_int64(st, ":since", since))
		goto fail;
	if ((rc = db_step(st)) == DB_ROW &&
	    db_col_bytes(st, 0) == crypto_secretbox_NONCEBYTES &&
	    db_col_bytes(st, 1) > (int)crypto_secretbox_MACBYTES &&
	    db_col_bytes(st, 1) <= (int)(crypto_secretbox_MACBYTES +
	    REVEAL_MAX)) {
		memcpy(nonce, db_col_blob(st, 0),
		    crypto_secretbox_NONCEBYTES);
		*boxlen = (size_t)db_col_bytes(st, 1);
		p = db_col_blob(st, 1);
		memcpy(box, p, *boxlen);
		found = 1;
	} else if (rc != DB_ROW && rc != DB_DONE) {
		db_reset(st);
		goto fail;
	}
	db_reset(st);
	/* A row of another session, or too old, is not touched here; the
	 * next stash prunes the old ones. Nothing found: nothing to write. */
	if (!found) {
		db_tx(db, DB_ROLLBACK);
		return 0;
	}
	if ((st = db_query(db, "reveal_delete")) == NULL ||
	    db_bind_int64(st, ":id", id) || db_run(db, st) != 0)
		goto fail;
	if (commit_durably(db) == -1)
		return -1;
	return 1;
fail:
	db_tx(db, DB_ROLLBACK);
	return -1;
}

static int
l_take(lua_State *L)
{
	struct db	*db = lhost_db(L);
	lua_Integer	 id = luaL_checkinteger(L, 1);
	unsigned char	 k[crypto_secretbox_KEYBYTES];
	unsigned char	 nonce[crypto_secretbox_NONCEBYTES];
	unsigned char	 box[crypto_secretbox_MACBYTES + REVEAL_MAX];
	char		 text[REVEAL_MAX + 1], *secret, *flag, *prev;
	size_t		 boxlen = 0, n;
	long long	 sid = session_id(L, "take");
	int		 rc;

	rc = take_row(db, id, sid, clock_now() - REVEAL_TTL, nonce, box,
	    &boxlen);
	if (rc == -1)
		return lhost_error(L, 503, "UNAVAILABLE",
		    "the new token cannot be shown now");
	if (rc == 0 || view_key(L, k) == -1) {
		lua_pushnil(L);
		return 1;
	}
	n = boxlen - crypto_secretbox_MACBYTES;
	rc = crypto_secretbox_open_easy((unsigned char *)text, box, boxlen,
	    nonce, k);
	sodium_memzero(k, sizeof(k));
	sodium_memzero(box, sizeof(box));
	text[rc == 0 ? n : 0] = '\0';
	if (rc != 0 || (secret = strchr(text, '\n')) == NULL ||
	    (flag = strchr(secret + 1, '\n')) == NULL ||
	    (prev = strchr(flag + 1, '\n')) == NULL) {
		sodium_memzero(text, sizeof(text));
		lua_pushnil(L);
		return 1;
	}
	*secret++ = *flag++ = *prev++ = '\0';
	lhost_secret_issued(L);
	lua_createtable(L, 0, 4);
	lua_pushstring(L, text);
	lua_setfield(L, -2, "key");
	lua_pushstring(L, secret);
	lua_setfield(L, -2, "token");
	lua_pushboolean(L, flag[0] == '1');
	lua_setfield(L, -2, "rotated");
	if (strtoll(prev, NULL, 10) > 0) {
		lua_pushinteger(L, strtoll(prev, NULL, 10));
		lua_setfield(L, -2, "previous_expires_at");
	}
	sodium_memzero(text, sizeof(text));
	return 1;
}

void
lhost_open_reveal(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "stash",	l_stash },
		{ "take",	l_take },
		{ NULL,		NULL },
	};

	luaL_newlib(L, fns);
}
