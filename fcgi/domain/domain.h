/*
 * domain.h -- what Tessera knows about its users and their tokens: the
 * data directory and its pepper (data_), passwords and session tokens
 * (auth_), API tokens (token_), the audit log (audit_), rate limits
 * (rl_), sessions (session_). authority.h (scopes, expiry, lineage) and
 * cidr.h (allowed addresses) are the rules of tokens.
 */
#ifndef DOMAIN_H
#define DOMAIN_H

#include "lib/lib.h"
#include "store/store.h"

/* ------------------------------------------------------------ principal */

/* The canonical text of a token's allowed_ips: at most 64 entries
 * (cidr.h) of fewer than 64 bytes, joined by ','. */
#define TOKEN_IPS_MAX	4160

/* Who is calling, once api_gate() accepted the token, and what the token
 * may do (authority.h). */
struct principal {
	long long	 token_id;
	long long	 user_id;
	long long	 account_id;
	long long	 last_used_at;
	long long	 expires_at;	/* 0: never */
	long long	 parent_id;	/* 0: made by a person */
	long long	 destination_id; /* a Via token's */
	uint32_t	 scopes;
	int		 active;
	int		 first_use;	/* this request was the token's first */
	char		 allowed_ips[TOKEN_IPS_MAX];
	char		 key[40];
	char		 kind[8];
	char		 description[1024];
	char		 email[256];
	char		 role[16];
	char		 account_name[256];
};

/* ------------------------------------------------------------------- db */

/* The store: store.h. */

#define PEPPER_FILE	"pepper.key"
#define PEPPER_LEN	32

/* ----------------------------------------------------------------- data */

/* Creates the data directory (0700), the pepper key file (0600) and the
 * database. Idempotent. Returns 0 or -1 with err. */
int	 data_init(const struct config *, char *err, size_t errlen);
/* Does pepper match the one the database's tokens were made with (meta
 * "pepper_check", recorded by the first host)? 0, or -1 with err. */
int	 data_pepper_matches(struct db *, const unsigned char *pepper,
	    char *err, size_t errlen);
/* The database's fingerprint of a pepper (meta "pepper_check"): a keyed
 * hash of a fixed text, in hex; it reveals nothing of the pepper. */
void	 data_pepper_fingerprint(const unsigned char pepper[PEPPER_LEN],
	    char hex[65]);
/* Reads the pepper into out; refuses a file readable by others. */
int	 data_pepper(const struct config *, unsigned char out[PEPPER_LEN],
	    char *err, size_t errlen);

/* ----------------------------------------------------------------- auth */

#define AUTH_HASH_MAX	128	/* crypto_pwhash_STRBYTES */
#define AUTH_TOKEN_LEN	43	/* 32 bytes, unpadded base64url */
#define PASSWORD_MAX	1024	/* bytes; a login with more is incomplete */

int	 auth_hash_password(const char *, size_t, char out[AUTH_HASH_MAX]);
int	 auth_verify_password(const char *hash, const char *, size_t);
int	 auth_needs_rehash(const char *hash);
void	 auth_random_token(char out[AUTH_TOKEN_LEN + 1]);
/* The CSRF token of the session whose cookie value is cookie (derived,
 * never stored). */
void	 auth_csrf_of(const unsigned char pepper[PEPPER_LEN],
	    const char *cookie, char out[AUTH_TOKEN_LEN + 1]);
void	 auth_random_password(char out[21]);
void	 auth_keyed_hash(const unsigned char pepper[PEPPER_LEN],
	    const void *, size_t, unsigned char out[32]);
int	 auth_str_eq(const char *, const char *);
long long auth_throttle(long long failures, long long oldest, long long now,
	    long long max, long long window);
long long auth_slowdown(long long failures, long long newest, long long now,
	    long long max);
int	 auth_email_norm(const char *in, char *out, size_t outlen);

/* ---------------------------------------------------------------- token */

#define TOKEN_PREFIX	 "tsr_"
#define TOKEN_BODY_LEN	 43	/* 32 bytes in base62 */
#define TOKEN_CRC_LEN	 6	/* CRC32 in base62 */
#define TOKEN_SECRET_LEN (4 + TOKEN_BODY_LEN + TOKEN_CRC_LEN)
#define TOKEN_KEY_LEN	 36	/* a UUID */

/* What to create: kind "user" or "via" (then destination_id > 0), and
 * what it may do, already decided (authority.c): scopes, expiry (0:
 * never), canonical allowed_ips ("" any), and the token that made it
 * through the API (0: none). */
struct token_new {
	const char	*kind;
	const char	*description;
	long long	 account_id;
	long long	 user_id;
	long long	 destination_id;
	long long	 parent_id;
	long long	 expires_at;
	uint32_t	 scopes;
	const char	*allowed_ips;
};

/* What was created. The caller wipes secret (sodium_memzero) once the
 * response holding it is written. */
struct token_made {
	long long	 id;
	long long	 created_at;
	int		 rc;		/* SQLite code when token_create fails */
	char		 key[TOKEN_KEY_LEN + 1];
	char		 secret[TOKEN_SECRET_LEN + 1];
};

uint32_t token_crc32(const void *, size_t);
void	 token_new_secret(char out[TOKEN_SECRET_LEN + 1]);
/* 1 when s has the prefix, the alphabet, the length and a good checksum. */
int	 token_secret_valid(const char *s, size_t n);
/* Why s is not a well-formed secret, in words that quote none of it
 * (prefix, length, alphabet, checksum, in that order), or NULL when it
 * is one. */
const char *token_secret_problem(const char *s, size_t n);
void	 token_new_key(char out[TOKEN_KEY_LEN + 1]);
int	 token_key_valid(const char *);
void	 token_hash(const unsigned char pepper[PEPPER_LEN], const char *secret,
	    size_t n, unsigned char out[32]);
/* Inserts a token with a fresh key and secret. Returns 0 or -1. */
int	 token_create(struct db *, const unsigned char pepper[PEPPER_LEN],
	    const struct token_new *, struct token_made *out);
/* Gives token id a new secret (into secret; the caller wipes it). The
 * current one keeps working for grace seconds (0: ends now); an older
 * one ends at once. *prev_expires gets the end of the grace (0: none).
 * actor: the user making the change. Returns 0, or -1 (SQLite code in
 * *rc). */
int	 token_rotate(struct db *, const unsigned char pepper[PEPPER_LEN],
	    long long id, long long grace, long long actor,
	    char secret[TOKEN_SECRET_LEN + 1], long long *prev_expires,
	    int *rc);
/* Switches token id off together with every token made from it
 * (lineage), or on: only while the token it was made from is on and, when
 * by_token (> 0) asks, while that token still is. actor: the user. 0, 1
 * (switching on refused: nothing changed) or -1 (database). */
int	 token_switch(struct db *, long long id, int active, long long actor,
	    long long by_token);
/* ---------------------------------------------------------------- audit */

/* Writes one audit_log row (the one writer of it in C; Lua writes through
 * hooks.lua). via_key: the token that acted, or "". 0 or -1. */
int	 audit_write(struct db *, long long account_id, long long user_id,
	    const char *action, const char *object, const char *ip,
	    const char *detail, const char *via_key);
/* Writes one audit_log row for what the command line (tessera user,
 * tessera token) did: no user (user_id NULL), ip "cli", no token; the
 * audit_add_cli named query. account_id: the account of the object.
 * detail must hold no secret. 0 or -1. */
int	 audit_write_cli(struct db *, long long account_id,
	    const char *action, const char *object, const char *detail);

/* --------------------------------------------------------------- people */

#define PASSWORD_MIN	8	/* bytes, as `tessera user` asks */
#define LINK_TTL	86400	/* a set-password link lives a day */

/* 1 when pw (n bytes) is a password to keep: 8 to PASSWORD_MAX bytes of
 * UTF-8. */
int	 people_password_ok(const char *pw, size_t n);
/* Switches user uid off (their sessions end; their tokens stop: the gate
 * reads the user's switch, and the users trigger tells PostgreSQL
 * workers' caches) or on. 0 or -1. */
int	 people_set_active(struct db *, long long uid, int active);
/* Gives uid the password of hash (auth_hash_password: made before any
 * transaction, it takes a while) and ends their sessions, all but session
 * keep_session (> 0) when given. 0 or -1. */
int	 people_set_password(struct db *, long long uid, const char *hash,
	    long long keep_session);

/* A set-password link as found by its secret. */
struct people_link {
	long long	 id;
	long long	 user_id;
	long long	 account_id;
	long long	 expires_at;
	int		 used;
	int		 usable;	/* user and account on */
	char		 email[256];
};
enum { LINK_OK = 0, LINK_NONE = 1, LINK_USED = 2, LINK_EXPIRED = 3,
	LINK_DISABLED = 4 };
/* Makes user uid's one link (any older one ends) by user by (> 0), ending
 * ttl seconds from now: its secret into secret (the caller wipes it),
 * its end into *expires. 0 or -1. */
int	 people_link_make(struct db *, const unsigned char pepper[PEPPER_LEN],
	    long long uid, long long by, long long ttl,
	    char secret[AUTH_TOKEN_LEN + 1], long long *expires);
/* The link of secret (n bytes) into out: LINK_OK, LINK_NONE, LINK_USED,
 * LINK_EXPIRED, LINK_DISABLED, or -1 (database). */
int	 people_link_find(struct db *, const unsigned char pepper[PEPPER_LEN],
	    const char *secret, size_t n, long long now,
	    struct people_link *out);
/* Spends link l and gives its user the password of hash (their sessions
 * end). 0, 1 (spent meanwhile: nothing changed) or -1. In the caller's
 * transaction. */
int	 people_link_use(struct db *, const struct people_link *l,
	    const char *hash);

/* ------------------------------------------------------------ ratelimit */

struct rl_map;

/* Maps DATA/ratelimit.map (created 0600 when missing). NULL with err. */
struct rl_map	*rl_open(const char *data_dir, char *err, size_t errlen);
void		 rl_close(struct rl_map *);
/* Counts one request for (scope, key) against rate per second with
 * bursts of twice that. Returns 0 when allowed, else the seconds to wait
 * (Retry-After, at least 1). rate 0 or no map: always allowed. */
long long	 rl_check(struct rl_map *, const char *scope, const void *key,
		    size_t keylen, long long rate);
/* The same for n units at once (records of a webhook delivery) from a
 * bucket of burst units refilled at rate a second: 0 when allowed (and
 * taken), the seconds to wait, or -1 when n exceeds burst (never). */
long long	 rl_take(struct rl_map *, const char *scope, const void *key,
		    size_t keylen, long long rate, long long burst,
		    long long n);
/* What a client may know of its bucket after a check (the RateLimit-*
 * headers): the burst, the units left now, the seconds until it is full
 * again (rounded up). */
struct rl_info {
	long long	 limit, remaining, reset;
};
/* rl_take, also filling info when the limit is on (info->limit 0: off). */
long long	 rl_take_info(struct rl_map *, const char *scope,
		    const void *key, size_t keylen, long long rate,
		    long long burst, long long n, struct rl_info *info);

#endif /* DOMAIN_H */
