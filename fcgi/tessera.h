/*
 * tessera.h -- the one internal header of the Tessera host.
 *
 * Module prefixes: buf_ (growable byte buffers), cfg_ (configuration),
 * log_ (stderr logging), kv_ / url_ / cookie_ / utf8_ (input parsers),
 * req_ (one request), resp_ (one response), conn_ (FastCGI or CGI I/O),
 * db_ (SQLite), data_ (the data directory and pepper), lhost_ (the Lua
 * bridge), worker_ (one serving process), serve_ (the supervisor).
 *
 * Ownership rule: a function that returns a pointer says who frees it in
 * its comment; everything taken from FastCGI (FCGX_GetParam) is copied into
 * the request before use, because those pointers die at FCGX_Finish_r.
 */
#ifndef TESSERA_H
#define TESSERA_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "store.h"

#define TESSERA_VERSION "0.1.0"

/* ------------------------------------------------------------------ buf */

/* A growable byte buffer; p is always NUL-terminated when len > 0 or after
 * any buf_ call. The owner calls buf_free. */
struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 wipe;		/* growing zeroes the old block before freeing */
	int	 failed;	/* an append failed (out of memory or capped) */
};

int	 buf_reserve(struct buf *, size_t extra);
int	 buf_add(struct buf *, const void *, size_t);
int	 buf_adds(struct buf *, const char *);
int	 buf_addc(struct buf *, char);
int	 buf_addint(struct buf *, long long);
int	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_reset(struct buf *);
void	 buf_free(struct buf *);
/* Overwrites the bytes with zeros before freeing (for secrets). */
void	 buf_wipe(struct buf *);
/* Zeroes a NUL-terminated string, then frees it (NULL is fine). */
void	 str_wipe(char *);

/* ------------------------------------------------------------- jsonscan */

/* What json_scan (jsonscan.c) found in a valid text. */
struct jscan {
	int		 top;		/* '{', '[', or 0 for a scalar */
	size_t		 n, cap;	/* elements of a top-level array, or
					 * 1 for a top-level object */
	size_t		*spans;		/* start, end offsets of each */
	size_t		 not_object;	/* first element (from 1) that is
					 * not an object; 0 when none */
	const char	*err;		/* why not, when invalid */
	size_t		 err_pos;
};

/* 0 when s is JSON as host.json.decode accepts it, nested at most
 * max_depth deep; -1 when not (js->err), -2 when nested deeper. The
 * caller frees with json_scan_free either way. */
int	 json_scan(const char *, size_t, int max_depth, struct jscan *);
void	 json_scan_free(struct jscan *);

/* ----------------------------------------------------------------- pool */

/* A bounded cache of freed small blocks (up to POOL_MAX bytes) in front of
 * malloc, for Lua and SQLite (pool.c). Single-threaded. */
#define POOL_MAX	2048
void	*pool_alloc(size_t);
void	 pool_free(void *, size_t);
void	*pool_realloc(void *, size_t osize, size_t);
void	 pool_trim(void);
int	 pool_sqlite_install(void);

/* --------------------------------------------------------------- config */

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL };

/* Every key has a default; see cfg.c for the declared table. Strings are
 * owned by the struct and freed by cfg_free. */
struct cidr_list;

struct config {
	char		*path;		/* file it came from, or NULL */
	char		*data_dir;
	char		*database;	/* "sqlite" or a postgresql:// URI */
	char		*listen;
	long long	 workers;
	long long	 body_limit;
	long long	 max_params;
	int		 reload;
	char		*brand;
	char		*api_mount;
	char		*lua_dir;
	char		*schema_dir;
	char		*www_dir;
	char		*extra_routes;
	long long	 socket_mode;
	long long	 lua_memory_mb;
	long long	 lua_max_instructions;
	long long	 busy_timeout_ms;
	long long	 shutdown_timeout;
	long long	 session_idle;
	long long	 session_absolute;
	long long	 rate_limit_api_key;
	long long	 rate_limit_api_ip;
	long long	 rate_limit_webhook_key;
	long long	 rate_limit_webhook_ip;
	long long	 rate_limit_webhook_records;
	long long	 webhook_max_records;
	long long	 account_quota_mb;
	long long	 login_max_failures;
	long long	 login_window;
	long long	 db_max_pages;
	int		 log_requests;
	long long	 token_check_interval;
	long long	 token_cache_seconds;
	long long	 token_default_expiry_days;
	long long	 token_expiry_warning_days;
	long long	 token_max_expiry_days;
	/* Web servers or proxies in front whose X-Forwarded-For names the
	 * client (networks, parsed into proxies; NULL when none). */
	char		*trusted_proxies;
	struct cidr_list *proxies;
};

/* Loads defaults, then the file (path may be NULL: then $TESSERA_CONFIG,
 * else no file), then TESSERA_<KEY> environment overrides, then data_dir
 * (may be NULL: then $TESSERA_DATA is just another override). Resolves
 * lua_dir, schema_dir and www_dir when empty. Returns 0, or -1 with a
 * message in err. */
int	 cfg_load(struct config *, const char *path, const char *data_dir,
	    char *err, size_t errlen);
/* Sets one key from text; used by the loader and by tests. */
int	 cfg_set(struct config *, const char *key, const char *val,
	    char *err, size_t errlen);
void	 cfg_print(const struct config *, FILE *);
/* Calls fn for every key whose value Lua may read (no secrets live in the
 * config, but only the documented public keys are exposed). */
void	 cfg_each_public(const struct config *,
	    void (*fn)(void *, const char *, enum cfg_type, const void *),
	    void *arg);
void	 cfg_free(struct config *);

/* ------------------------------------------------------------------ log */

void	 log_open(void);
void	 log_msg(const char *level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
#define	 log_err(...)	log_msg("error", __VA_ARGS__)
#define	 log_warn(...)	log_msg("warn", __VA_ARGS__)
#define	 log_info(...)	log_msg("info", __VA_ARGS__)
/* Copies uri into out with the values of token= (and other secret query
 * parameters) replaced by "[scrubbed]". Returns out. */
char	*log_scrub_uri(const char *uri, char *out, size_t outlen);

/* -------------------------------------------------------------- parsers */

enum parse_err {
	PARSE_OK = 0,
	PARSE_BAD_ESCAPE,	/* %4, %zz */
	PARSE_NUL,		/* a decoded NUL byte */
	PARSE_BAD_UTF8,
	PARSE_TOO_MANY,		/* more pairs than allowed */
	PARSE_TOO_LONG,		/* a key over KV_KEY_MAX */
	PARSE_NOMEM
};

#define KV_KEY_MAX	256

/* A decoded key/value pair; both strings are NUL-terminated, owned by the
 * kvlist, valid UTF-8 without NUL bytes. */
struct kv {
	char	*key;
	char	*val;
	size_t	 vlen;
};

struct kvlist {
	struct kv	*v;
	size_t		 n;
	size_t		 cap;
};

const char	*parse_strerror(enum parse_err);
int		 utf8_valid(const char *, size_t);
/* 1 when s is text a person can read as it is: valid UTF-8 without
 * control characters and without the code points that hide text or
 * reverse its direction (bidi overrides and isolates, zero-width space);
 * else 0 with *why saying which. */
int		 utf8_plain(const char *, size_t, const char **why);
/* 1 when the NUL-terminated s is 1 to max characters of plain text (as
 * utf8_plain); else 0 with *why. */
int		 text_plain(const char *, size_t max, const char **why);
/* The one parser for ids and counts: decimal digits only, no sign, no
 * leading zero (but "0"), no "0x1", "1e0", "1.0" or spaces, within
 * [min, max] (max >= 0). 0 with *out, or -1. */
int		 int_parse(const char *, size_t, long long min, long long max,
		    long long *out);
/* Decodes %XX (and '+' as space when plus is set) in place; *len is
 * updated. Returns PARSE_OK, PARSE_BAD_ESCAPE or PARSE_NUL. */
enum parse_err	 url_decode(char *s, size_t *len, int plus);
/* Parses a query string or form body ("a=1&b=&c") into out, appending.
 * A pair without '=' has an empty value; empty pieces ("a&&b") are
 * skipped. Fails on bad escapes, NUL, invalid UTF-8, over max pairs or
 * an over-long key; out then holds what was parsed before. */
enum parse_err	 kv_parse_urlencoded(struct kvlist *out, const char *s,
		    size_t len, size_t max);
/* Parses a Cookie header; malformed pieces are skipped (browsers send
 * other applications' cookies), never an error but PARSE_TOO_MANY. */
enum parse_err	 kv_parse_cookies(struct kvlist *out, const char *s,
		    size_t max);
/* First value for key, or NULL. */
const struct kv	*kv_get(const struct kvlist *, const char *key);
int		 kv_add(struct kvlist *, const char *k, size_t klen,
		    const char *v, size_t vlen);
void		 kv_free(struct kvlist *);
/* 1 when a query or form field of this decoded name (any case) carries a
 * credential: token, password, csrf, secret, session. Its value never
 * reaches a log or a script. */
int		 credential_name(const char *, size_t);
/* The same for a still-encoded name ("%74oken" is "token"); a name that
 * does not decode counts as one. */
int		 credential_field(const char *, size_t);

/* ----------------------------------------------------------------- conn */

struct FCGX_Request;

/* The parameters the host reads, found in one pass over the environment. */
enum cparam {
	P_CONTENT_LENGTH, P_CONTENT_TYPE, P_HTTPS, P_HTTP_ACCEPT,
	P_HTTP_AUTHORIZATION, P_HTTP_COOKIE, P_HTTP_HOST, P_HTTP_ORIGIN,
	P_HTTP_REFERER, P_HTTP_USER_AGENT, P_HTTP_X_CSRF_TOKEN,
	P_HTTP_X_FORWARDED_FOR, P_HTTP_X_FORWARDED_PROTO, P_PATH_INFO,
	P_QUERY_STRING, P_REMOTE_ADDR, P_REQUEST_METHOD, P_REQUEST_SCHEME,
	P_REQUEST_URI, P_SCRIPT_NAME, P_COUNT
};

/* Where a request comes from: a FastCGI request or the CGI environment. */
struct conn {
	struct FCGX_Request	*fcgx;	/* NULL in CGI mode */
	char			**envp;
	const char		*param[P_COUNT];	/* by conn_index() */
	int			 indexed;
	int			 out_failed;
	/* In-memory I/O for tessera lua-test: body read from mem_body,
	 * output appended to mem_out. */
	const char		*mem_body;
	size_t			 mem_len;
	size_t			 mem_off;
	struct buf		*mem_out;
};

const char	*conn_param(const struct conn *, const char *name);
/* One of the known parameters (first occurrence), or NULL. */
const char	*conn_get(struct conn *, enum cparam);
/* Reads up to n bytes of the body; returns bytes read, 0 at the end. */
long		 conn_read(struct conn *, char *, size_t n);
int		 conn_write(struct conn *, const void *, size_t);
/* Flushes the answer and zeroes libfcgi's copy of the request (parameters,
 * body) and of the answer; call it just before FCGX_Finish_r. */
void		 conn_fcgi_wipe(struct FCGX_Request *);

/* ------------------------------------------------------------------ req */

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

/* What a request's path is (req.path_kind): where tokens authenticate. */
#define REQ_API		1	/* below api_mount */
#define REQ_WEBHOOK	2	/* /webhook and below */

/* One parsed request. Every string is a private copy (owned by the req,
 * freed by req_free), validated as described in request.c. */
struct req {
	char		*method;	/* GET, POST, ... (HEAD kept as HEAD) */
	char		*path;		/* decoded, as the web server passed it */
	char		*uri;		/* raw REQUEST_URI, for logs only */
	char		*query_string;
	char		*content_type;	/* media type, lower case, no params */
	char		*remote_addr;
	char		*host;
	char		*scheme;	/* "https" or "http" */
	char		*origin;
	char		*referer;
	char		*accept;
	char		*user_agent;
	char		*csrf_header;	/* X-CSRF-Token */
	char		*authorization;	/* never given to Lua, never logged */
	struct kvlist	 query;
	struct kvlist	 form;
	struct kvlist	 cookies;
	struct buf	 body;
	long long	 content_length;
	double		 started;	/* monotonic seconds */
	int		 path_kind;	/* REQ_API, REQ_WEBHOOK or 0 */
	int		 wants_json;	/* errors answer the JSON envelope */
	int		 authed;	/* auth is valid (API paths) */
	struct principal auth;
};

/* Reads and validates the request. Returns 0, or an HTTP status (400,
 * 413, 414) with a short reason in why. The req must be freed in both
 * cases. */
int	 req_read(struct req *, struct conn *, const struct config *,
	    const char **why);
/* True when errors for this request should be the JSON envelope. */
/* The path prefixes that authenticate with tokens: the API mount and
 * "/webhook" (NULL-terminated, for route_add). */
void	 req_token_prefixes(const struct config *, const char *out[3]);
void	 req_free(struct req *);
/* The client's rate-limit bucket (cidr_bucket: an IPv4 address, an IPv6
 * /64) into out, at least 64 bytes; an address that does not parse is its
 * own bucket. */
void	 req_addr_bucket(const struct req *, char *out, size_t outlen);

/* ----------------------------------------------------------------- resp */

struct hdr {
	char	*name;
	char	*val;
};

/* A response being built; owned by its caller, freed by resp_free. */
struct resp {
	int		 status;
	struct hdr	*h;
	size_t		 nh;
	size_t		 cap;
	struct buf	 body;
	int		 secret;	/* body holds a secret: wipe after use */
};

const char	*resp_reason(int status);
/* Adds a header after validating name (token characters) and value (no
 * CR, LF or NUL). Returns 0 or -1 (nothing added). */
int		 resp_header(struct resp *, const char *name, const char *val);
const char	*resp_get_header(const struct resp *, const char *name);
/* Replaces the response with an error, the one way errors look (the
 * host's and, through host.error, the scripts'): the JSON envelope
 * {"error":code,"message":msg,"success":false} when json is set (a
 * request's wants_json), else a small HTML page titled by the status. */
void		 resp_error(struct resp *, int status, const char *code,
		    const char *msg, int json);
/* The JSON envelope, with "field" and "required" when not NULL. */
void		 resp_error_json(struct resp *, int status, const char *code,
		    const char *msg, const char *field, const char *required);
/* Writes status line, headers (adding the security headers and defaults),
 * and body (omitted when head_only). Returns 0 or -1. */
int		 resp_write(struct resp *, struct conn *, int head_only);
void		 resp_reset(struct resp *);
void		 resp_free(struct resp *);

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
int	 auth_same_origin(const struct req *);

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

/* ------------------------------------------------------------------ shm */

/* Maps DATA/name, shared by every process of the data directory, whose
 * first word is a magic: the first process of this boot (for this file)
 * zeroes it, runs init(map) and publishes want. NULL with err set (also
 * for a map another running version set up). */
void	*shm_map_once(const char *data_dir, const char *name, size_t size,
	    uint64_t want, void (*init)(void *), char *err, size_t errlen);
void	 shm_unmap(void *, size_t size);
/* A robust process-shared mutex, and its lock (waiting at most
 * timeout_ms; a dead holder's lock is taken over). 0 or an errno. */
void	 shm_mutex_init(pthread_mutex_t *);
int	 shm_mutex_lock(pthread_mutex_t *, long long timeout_ms);

/* --------------------------------------------------------------- writer */

struct writer;

/* Maps DATA/writer.map: the workers' queue for SQLite's write lock. */
struct writer *writer_open(const char *data_dir, char *err, size_t errlen);
void	 writer_close(struct writer *);
/* Waits at most timeout_ms for the writer's turn. 0, or an errno
 * (ETIMEDOUT: the caller answers busy). */
int	 writer_lock(struct writer *, long long timeout_ms);
void	 writer_unlock(struct writer *);

/* --------------------------------------------------------------- commit */

struct group_commit;

/* Maps DATA/commit.map: the group-commit state of this data directory. */
struct group_commit *commit_open(const char *data_dir, char *err,
	    size_t errlen);
void	 commit_close(struct group_commit *);
/* Makes db's last commit durable, sharing fsyncs with the other workers
 * (g NULL: a plain fsync of the WAL). 0 or -1. */
int	 commit_sync(struct group_commit *, struct db *);
uint64_t commit_fsyncs(const struct group_commit *);

/* -------------------------------------------------------------- session */

/* A logged-in session: the user it belongs to and its CSRF token. */
struct session {
	long long	 id;
	long long	 user_id;
	long long	 account_id;
	long long	 created_at;
	char		 email[256];
	char		 role[16];
	char		 account_name[256];
	char		 csrf[AUTH_TOKEN_LEN + 1];
};

/* The session cookie's name for this request: "__Host-tessera" over
 * HTTPS, "tessera" over plain HTTP (a __Host- cookie needs Secure). */
const char *session_cookie(const struct req *);
const char *session_csrf_cookie(const struct req *);
/* Set-Cookie value for name=value (value NULL: expire it). Into out. */
void	 session_set_cookie(const struct req *, const char *name,
	    const char *value, char *out, size_t outlen);
/* Finds the live session named by the request's cookie. Returns 1 (out
 * filled), 0 (none, expired or idle: an expired row is deleted) or -1 (a
 * database error). Touches last_seen_at at most once a minute. */
int	 session_lookup(struct db *, const unsigned char *pepper,
	    const struct config *, const struct req *, struct session *out);
/* The same, for a cookie value. */
int	 session_find(struct db *, const unsigned char *pepper,
	    const struct config *, const char *value, struct session *out);
/* Creates a session for user_id; the cookie value (the only copy of the
 * id) goes to cookie_val. Returns 0 or -1. */
int	 session_create(struct db *, const unsigned char *pepper,
	    const struct config *, const struct req *, long long user_id,
	    char cookie_val[AUTH_TOKEN_LEN + 1], char csrf[AUTH_TOKEN_LEN + 1]);
int	 session_delete(struct db *, long long id);
/* Names of cookies the host owns; never shown to Lua. */
int	 session_is_host_cookie(const char *name);

/* ------------------------------------------------------------------ api */

struct worker;

struct route;
struct route_match;
/* For API and webhook paths: rate limits, the credential check, the
 * allowed addresses and the scope the matched route needs (NULL: none
 * matched). 0 lets the request through (r->auth filled); -1 means resp
 * holds the answer (401, 403, 429, 503). Other paths pass untouched. */
int	 api_gate(struct worker *, struct req *, const struct route *,
	    struct resp *);
/* The credentials of r: Basic (key:secret), Bearer (secret; key ""),
 * or the key and token query parameters. 0, or -1 when there are none
 * usable. */
int	 api_credentials(const struct req *, char *key, size_t keylen,
	    char *secret, size_t secretlen);

/* ---------------------------------------------------------------- lhost */

struct lhost;
struct luaL_Reg;
struct lua_State;

/* Creates a sandboxed Lua state for one worker and loads app.lua. The db
 * and config are borrowed and must outlive the lhost. NULL on failure
 * with err set. */
struct lhost	*lhost_new(const struct config *, struct db *,
		    const unsigned char *pepper, char *err, size_t errlen);
/* True when reload is on and a loaded script changed on disk. */
int		 lhost_stale(struct lhost *);
/* Runs the app for req, whose route is m (route.h), and fills resp. Any
 * Lua failure becomes a logged traceback and a 500 (503 for an
 * unavailable database). */
void		 lhost_handle(struct lhost *, const struct req *,
		    const struct route_match *, struct resp *);
struct route_table;
/* The routes app.lua declared, compiled when the scripts loaded. */
const struct route_table *lhost_routes(const struct lhost *);
/* Hands the lhost the worker's rate-limit map (NULL: none) for
 * host.limits. */
void		 lhost_set_limits(struct lhost *, struct rl_map *);
/* Runs app.tick() (the runner's periodic work: expiry hooks) inside the
 * sandbox's limits. 0, or -1 when it failed (logged). */
int		 lhost_tick(struct lhost *);
void		 lhost_free(struct lhost *);
/* A state for a script that is not the app: the same sandbox and host
 * table, no app.lua, no instruction budget (tessera lua-test). */
struct lhost	*lhost_new_script(const struct config *, struct db *,
		    const unsigned char *pepper, const char *lua_dir,
		    char *err, size_t errlen);
/* Runs the script file in it, with a module modname (funcs, each with ud
 * as its upvalue) that require gives; *result is the integer the script
 * returns (0 for none). -1 with err (its traceback) when it raised. */
int		 lhost_run_script(struct lhost *, const char *file,
		    const char *modname, const struct luaL_Reg *funcs,
		    void *ud, int *result, char *err, size_t errlen);

/* --------------------------------------------------------- lua_test.c */

/* tessera lua-test FILE: runs a Lua test file in a sandboxed state beside
 * a whole app (a worker) it can send requests to. The exit status. */
int		 lua_test_run(const struct config *, const char *file);

/* --------------------------------------------------------------- worker */

/* What one serving process owns: config (borrowed), db, Lua. */
struct worker {
	struct config	*cfg;
	struct db	 db;
	struct rl_map	*rl;		/* NULL: no rate limits */
	struct group_commit *gc;	/* NULL: no group commit */
	struct writer	*wr;		/* NULL: no writers' queue */
	unsigned char	 pepper[PEPPER_LEN];
	struct lhost	*lh;
	unsigned long	 served;
};

int	 worker_init(struct worker *, struct config *, char *err, size_t);
void	 worker_handle(struct worker *, struct conn *);
/* Serves FastCGI on listen_fd until told to stop. */
int	 worker_run_fcgi(struct worker *, int listen_fd);
/* Serves the one CGI request in the environment. */
int	 worker_run_cgi(struct worker *, char **envp);
void	 worker_free(struct worker *);

/* ---------------------------------------------------------------- serve */

/* The supervisor: binds cfg->listen (or takes a systemd socket), forks
 * cfg->workers workers, respawns, reloads on SIGHUP (reading the
 * configuration again with reload(), which returns 0 or -1), stops on
 * SIGTERM. */
int	 serve_main(struct config *, int (*reload)(struct config *));

/* --------------------------------------------------------------- runner */

/* The runner (runner.c): app.tick() every token_check_interval seconds
 * until SIGTERM, or once. 0, or -1 when the setup or the (last) tick
 * failed. */
int	 runner_run(struct config *, int once);

/* ------------------------------------------------------------------ cli */

/* tessera user add|list|disable|enable|passwd. Returns the exit status. */
int	 cli_user(struct config *, const char *sub, const char *email,
	    const char *role, const char *account);

/* The options of "tessera token SUB [KEY]" (NULL: not given). */
struct cli_token_opts {
	const char	*sub;
	const char	*key;
	const char	*account;
	const char	*destination;
	const char	*email;
	const char	*description;
	const char	*scopes;
	const char	*expires_in_days;
	const char	*allowed_ips;
	const char	*grace_seconds;
};

/* tessera token add|add-via|rotate|activate|deactivate|show. Returns the
 * exit status. */
int	 cli_token(struct config *, const struct cli_token_opts *);

/* ----------------------------------------------------------------- util */

double	 mono_now(void);
/* Unix seconds of the wall clock (TESSERA_TEST_CLOCK_FILE in tests). */
long long clock_now(void);
/* Parses "2026-11-27T23:10:58Z", or a date "2026-11-27" (read as its
 * last second, 23:59:59 UTC), into Unix seconds. 0 or -1. */
int	 time_parse(const char *, long long *);
/* Formats t (Unix seconds) as 2026-11-27T23:10:58Z into out (>= 24). */
char	*iso8601(long long t, char *out, size_t outlen);
/* The same (style 0), or 2026-11-27 23:10 UTC (style 1); "" if the year
 * is outside 0..9999. */
char	*time_format(long long t, int style, char *out, size_t outlen);

#endif /* TESSERA_H */
