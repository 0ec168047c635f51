/*
 * http.h -- the HTTP layer: a request's I/O (conn_, FastCGI or CGI), the
 * request read and validated (req_, with the rules every later step
 * reads), the response built and written (resp_, the one error renderer),
 * and the gate of token paths (api_). Everything taken from FastCGI is
 * copied into the request before use: those pointers die at
 * FCGX_Finish_r.
 */
#ifndef HTTP_H
#define HTTP_H

#include "domain/domain.h"
#include "lib/lib.h"
#include "store/store.h"

/* ----------------------------------------------------------------- conn */

struct FCGX_Request;

/* The parameters the host reads, found in one pass over the environment. */
enum cparam {
	P_CONTENT_LENGTH, P_CONTENT_TYPE, P_HTTPS, P_HTTP_ACCEPT,
	P_HTTP_AUTHORIZATION, P_HTTP_COOKIE, P_HTTP_HOST, P_HTTP_ORIGIN,
	P_HTTP_REFERER, P_HTTP_USER_AGENT, P_HTTP_X_CSRF_TOKEN,
	P_HTTP_X_FORWARDED_FOR, P_HTTP_X_FORWARDED_PROTO,
	P_HTTP_X_REQUEST_ID, P_PATH_INFO,
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


/* What a request's path is (req.path_kind): where tokens authenticate. */
#define REQ_API		1	/* below api_mount */
#define REQ_WEBHOOK	2	/* /webhook and below */
#define REQ_ID_MAX	128

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
	/* X-Request-Id: the client's when sane (1 to 128 of A-Z a-z 0-9
	 * . _ -), else 32 random hex digits; set for every request. */
	char		 id[REQ_ID_MAX + 1];
	/* The tighter rate-limit bucket the gate checked (limit 0: none),
	 * for the RateLimit-* headers of token paths. */
	struct rl_info	 rl;
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
/* 1 when s is a request id to keep: 1 to REQ_ID_MAX of A-Z a-z 0-9 . _ -. */
int	 req_id_valid(const char *s);
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
	/* Written by resp_write as they are, without a copy (the worker
	 * sets them just before; both validated): X-Request-Id when id is
	 * not NULL, the RateLimit-* headers when rl.limit > 0. */
	const char	*id;
	struct rl_info	 rl;
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

/* ------------------------------------------------------------------ api */

/* What the gate works with: the worker's, borrowed for a request. */
struct gate {
	const struct config	*cfg;
	struct db		*db;
	const unsigned char	*pepper;
	struct rl_map		*rl;	/* NULL: no rate limits */
};


struct route;
struct route_match;
/* For API and webhook paths: rate limits, the credential check, the
 * allowed addresses and the scope the matched route needs (NULL: none
 * matched). 0 lets the request through (r->auth filled); -1 means resp
 * holds the answer (401, 403, 429, 503). Other paths pass untouched. */
int	 api_gate(const struct gate *, struct req *, const struct route *,
	    struct resp *);
/* The credentials of r: Basic (key:secret), Bearer (secret; key ""),
 * or the key and token query parameters. 0, or -1 when there are none
 * usable. */
int	 api_credentials(const struct req *, char *key, size_t keylen,
	    char *secret, size_t secretlen);

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

/* A state-changing request must come from our own pages: Origin, when
 * sent, must be our origin; else Referer, when sent, must be on it; with
 * neither it passes (the CSRF token still guards it). 1 when it does. */
int	 req_same_origin(const struct req *);

#endif /* HTTP_H */
