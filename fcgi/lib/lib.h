/*
 * lib.h -- the small libraries under everything else: growable buffers
 * (buf_), the configuration (cfg_), logging
 * (log_), the input parsers (kv_, url_, cookie_, utf8_), shared memory
 * (shm_), time (util.c). They call nothing above them.
 *
 * Ownership rule: a function that returns a pointer says who frees it in
 * its comment.
 */
#ifndef LIB_H
#define LIB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
	char		*openapi_file;	/* the API description served */
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
	long long	 db_mmap_mb;
	int		 log_requests;
	char		*log_format;	/* text or json */
	char		*metrics_path;	/* "": no metrics */
	char		*metrics_allow;	/* who may read them (CIDRs) */
	struct cidr_list *metrics_nets;
	long long	 token_check_interval;
	long long	 token_cache_seconds;
	long long	 token_default_expiry_days;
	long long	 token_expiry_warning_days;
	long long	 token_max_expiry_days;
	/* Runs (runner.c, lua/runs.lua) and models (store/sqlbox.c). */
	long long	 run_poll_ms;
	long long	 run_lease_seconds;
	long long	 run_max_attempts;
	long long	 run_max_instructions;
	long long	 run_memory_mb;
	long long	 run_batch_records;
	long long	 runs_per_account;
	long long	 runs_total;
	long long	 pipeline_max_failures;
	long long	 model_memory_mb;
	long long	 model_max_steps;
	/* host.notify's delivery (process/notify.c). */
	char		*notify_targets;	/* name=url, ... */
	char		*notify_secret_file;	/* "": DATA/notify.key */
	long long	 notify_interval;
	long long	 notify_backoff_seconds;
	long long	 notify_max_attempts;
	long long	 notify_connect_timeout;
	long long	 notify_timeout;
	/* Web servers or proxies in front whose X-Forwarded-For names the
	 * client (networks, parsed into proxies; NULL when none). */
	char		*trusted_proxies;
	struct cidr_list *proxies;
};

/* Loads defaults, then the file (path may be NULL: then $TESSERA_CONFIG,
 * else no file), then TESSERA_<KEY> environment overrides, then data_dir
 * (may be NULL: then $TESSERA_DATA is just another override). Resolves
 * lua_dir, schema_dir, www_dir and openapi_file when empty. Returns 0, or -1 with a
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

/* ------------------------------------------------------- notify targets */

/* notify_targets (notify_targets.c), "name=url" entries. */
#define NOTIFY_NAME_MAX	64
#define NOTIFY_URL_MAX	2000
/* Is s (len bytes) a notification name: 1 to 64 of a-z 0-9 _? */
int	 notify_name_ok(const char *s, size_t len);
/* 0 when every entry of targets is good, else -1 with err. */
int	 notify_targets_check(const char *targets, char *err, size_t errlen);
/* 1 and the URL for name in url (when url is not NULL), or 0 when
 * targets names no such target. */
int	 notify_target(const char *targets, const char *name, char *url,
	    size_t urllen);

/* ------------------------------------------------------------------ log */

void	 log_open(void);
/* log_format: 0 text, 1 one JSON object a line. */
void	 log_set_json(int);
/* The id of the request being served, added to every line until it is
 * set again (NULL: none). The caller keeps the string alive. */
void	 log_request_id(const char *);
void	 log_msg(const char *level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* An answered request, for its log line. uri is scrubbed already
 * (log_scrub_uri); key is the token's public key (only its first 8
 * characters are written), or NULL. Never a secret in any field. */
struct log_req {
	const char	*method, *uri, *route, *remote, *key;
	int		 status;
	double		 ms;
};
void	 log_request(const struct log_req *);
/* One line as log_msg writes it, into b (for the tests). */
void	 log_format_line(struct buf *, int json, long long when, long pid,
	    const char *level, const char *msg, const char *id,
	    const struct log_req *);
/* s as a JSON string (quoted): control bytes escaped, bytes that are
 * not UTF-8 as U+FFFD, U+2028 and U+2029 escaped. */
void	 log_json_string(struct buf *, const char *s);
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
 * credential: token, password, csrf, secret, session, or a name ending in
 * _password (current_password, confirm_password). Its value never
 * reaches a log or a script. */
int		 credential_name(const char *, size_t);
/* The same for a still-encoded name ("%74oken" is "token"); a name that
 * does not decode counts as one. */
int		 credential_field(const char *, size_t);

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

#endif /* LIB_H */
