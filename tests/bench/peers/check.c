/*
 * check.c -- the bench's plain-C peer: Tessera's /api/me token check
 * written directly against libfcgi, SQLite and libsodium, with no Lua and
 * no framework: the floor any implementation of that check pays.
 *
 * For each request: "Authorization: Basic base64(key:secret)" decoded with
 * libsodium's decoder (as Tessera), the key and the secret's shape checked
 * (a UUID; "tsr_" and 49 characters), one indexed lookup of the key in
 * Tessera's own database (opened read-only), the secret's BLAKE2b-256
 * keyed with Tessera's pepper (crypto_generichash, as token.c), compared
 * in constant time with the stored hash and with the one a rotation left
 * in its grace, the token, its user and its account active and the token
 * not expired, and the answer: the same headers and JSON body as
 * Tessera's /api/me. Any failure: 401 with Tessera's body. A token limited
 * to addresses (allowed_ips) is refused: this peer does not parse CIDRs.
 *
 *   check --db DATA/tessera.db --pepper DATA/pepper.key
 *         --listen unix:PATH [--workers N] [--mmap MB]
 *
 * --mmap: PRAGMA mmap_size, as Tessera's db_mmap_mb (0: off, the default).
 *
 * Build: cc -O2 -o check check.c $(pkg-config --cflags --libs fcgi
 *        sqlite3 libsodium)
 */
#define _POSIX_C_SOURCE 200809L
#include <fcgiapp.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SECRET_LEN	53	/* "tsr_" + 43 + 6 */
#define KEY_LEN		36

static const char sql[] =
    "SELECT t.secret_hash, t.prev_secret_hash, t.prev_expires_at, "
    "t.active, u.active, a.active, t.expires_at, t.allowed_ips, "
    "t.description, t.key, t.kind, t.scopes, u.id, u.email, a.id, a.name "
    "FROM tokens t JOIN users u ON u.id = t.user_id "
    "JOIN accounts a ON a.id = t.account_id WHERE t.key = ?1";

static const char *const scope_names[] = {
	"objects:read", "objects:write", "pipelines:run", "webhook:write",
	"records:read", "tokens:read", "tokens:write", "via:read"
};

static const char head_ok[] =
    "Status: 200 OK\r\nContent-Type: application/json\r\n"
    "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n";

static const char refused[] =
    "Status: 401 Unauthorized\r\nContent-Type: application/json\r\n"
    "WWW-Authenticate: Basic realm=\"Tessera API\", charset=\"UTF-8\"\r\n"
    "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n"
    "Content-Length: 94\r\n\r\n"
    "{\"error\":\"INVALID_TOKEN\",\"message\":\"missing, invalid or inactive "
    "credentials\",\"success\":false}";

struct out {
	char	 b[4096];
	size_t	 n;
	int	 full;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->n + n >= sizeof(o->b)) {
		o->full = 1;
		return;
	}
	memcpy(o->b + o->n, s, n);
	o->n += n;
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* A JSON string: quotes, backslash and control characters escaped (the
 * stored text is valid UTF-8; the rest passes as it is). */
static void
put_str(struct out *o, const unsigned char *s)
{
	char	 esc[8];

	put(o, "\"", 1);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*s;
			put(o, esc, 2);
		} else if (*s < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", *s);
			put(o, esc, 6);
		} else
			put(o, (const char *)s, 1);
	}
	put(o, "\"", 1);
}

static void
put_int(struct out *o, long long v)
{
	char	 n[24];

	put(o, n, (size_t)snprintf(n, sizeof(n), "%lld", v));
}

/* 1 when s is a lower-case UUID (Tessera's token_key_valid). */
static int
key_ok(const char *s, size_t n)
{
	if (n != KEY_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-' :
		    !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Splits the Basic credentials into key and secret (NUL-terminated, in
 * buf). Returns 0, or -1 when they are missing or malformed. */
static int
credentials(const char *a, char *buf, size_t buflen, char **key, char **secret)
{
	size_t		 len, n;
	const char	*end;
	char		*colon;

	if (a == NULL || strncasecmp(a, "Basic ", 6) != 0)
		return -1;
	a += 6;
	len = strlen(a);
	if (sodium_base642bin((unsigned char *)buf, buflen - 1, a, len, NULL, &n,
	    &end, len && a[len - 1] == '=' ? sodium_base64_VARIANT_ORIGINAL :
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 || end != a + len)
		return -1;
	buf[n] = '\0';
	if ((colon = memchr(buf, ':', n)) == NULL || strlen(buf) != n)
		return -1;
	*colon = '\0';
	*key = buf;
	*secret = colon + 1;
	if (!key_ok(*key, (size_t)(colon - buf)) ||
	    strlen(*secret) != SECRET_LEN || strncmp(*secret, "tsr_", 4) != 0)
		return -1;
	return 0;
}

/* The stored 32-byte hash of column i, or zeros. */
static void
stored(sqlite3_stmt *st, int i, unsigned char out[32])
{
	if (sqlite3_column_bytes(st, i) == 32)
		memcpy(out, sqlite3_column_blob(st, i), 32);
	else
		memset(out, 0, 32);
}

/* Answers one request into o; 0 when it is the 200. */
static int
check(sqlite3_stmt *st, const unsigned char pepper[32], const char *auth,
    struct out *o)
{
	char		 buf[512], *key, *secret, len[64];
	unsigned char	 h[32], cur[32], prev[32];
	long long	 now = (long long)time(NULL), exp, scopes;
	int		 good, first = 1;
	struct out	 body;

	if (credentials(auth, buf, sizeof(buf), &key, &secret) != 0)
		goto no;
	crypto_generichash(h, sizeof(h), (unsigned char *)secret,
	    SECRET_LEN, pepper, 32);
	sqlite3_bind_text(st, 1, key, KEY_LEN, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto no;
	stored(st, 0, cur);
	stored(st, 1, prev);
	good = sodium_memcmp(h, cur, 32) == 0;
	good |= (sodium_memcmp(h, prev, 32) == 0) &
	    (sqlite3_column_int64(st, 2) > now);
	exp = sqlite3_column_type(st, 6) == SQLITE_NULL ? 0 :
	    sqlite3_column_int64(st, 6);
	if (!good || sqlite3_column_int(st, 3) != 1 ||
	    sqlite3_column_int(st, 4) != 1 || sqlite3_column_int(st, 5) != 1 ||
	    (exp && exp <= now) || sqlite3_column_bytes(st, 7) != 0)
		goto no;
	/* {"data":{"account":..,"token":..,"user":..},"success":true}, the
	 * keys in Tessera's order. */
	body.n = body.full = 0;
	puts_(&body, "{\"data\":{\"account\":{\"id\":");
	put_int(&body, sqlite3_column_int64(st, 14));
	puts_(&body, ",\"name\":");
	put_str(&body, sqlite3_column_text(st, 15));
	puts_(&body, "},\"token\":{\"description\":");
	put_str(&body, sqlite3_column_text(st, 8));
	puts_(&body, ",\"expires_at\":");
	if (exp) {
		char		 iso[32];
		time_t		 t = (time_t)exp;
		struct tm	 tm;

		gmtime_r(&t, &tm);
		strftime(iso, sizeof(iso), "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
		puts_(&body, iso);
	} else
		puts_(&body, "null");
	puts_(&body, ",\"key\":");
	put_str(&body, sqlite3_column_text(st, 9));
	puts_(&body, ",\"kind\":");
	put_str(&body, sqlite3_column_text(st, 10));
	puts_(&body, ",\"scopes\":[");
	scopes = sqlite3_column_int64(st, 11);
	for (int i = 0; i < 8; i++)
		if (scopes & (1LL << i)) {
			if (!first)
				puts_(&body, ",");
			put_str(&body, (const unsigned char *)scope_names[i]);
			first = 0;
		}
	puts_(&body, "]},\"user\":{\"email\":");
	put_str(&body, sqlite3_column_text(st, 13));
	puts_(&body, ",\"id\":");
	put_int(&body, sqlite3_column_int64(st, 12));
	puts_(&body, "}},\"success\":true}");
	if (body.full)
		goto no;
	sqlite3_reset(st);
	snprintf(len, sizeof(len), "Content-Length: %zu\r\n\r\n", body.n);
	o->n = o->full = 0;
	puts_(o, head_ok);
	puts_(o, len);
	put(o, body.b, body.n);
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(h, sizeof(h));
	return o->full ? -1 : 0;
no:
	sqlite3_reset(st);
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(h, sizeof(h));
	return -1;
}

static char	 mmap_pragma[64] = "PRAGMA mmap_size = 0";

static int
serve(int fd, const char *dbpath, const unsigned char pepper[32])
{
	FCGX_Request	 req;
	sqlite3		*db;
	sqlite3_stmt	*st;
	struct out	 o;

	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, 5000) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA query_only = ON", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, mmap_pragma, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
	    NULL) != SQLITE_OK)
		return fprintf(stderr, "check: %s: %s\n", dbpath,
		    sqlite3_errmsg(db)), 1;
	FCGX_InitRequest(&req, fd, 0);
	while (FCGX_Accept_r(&req) >= 0) {
		if (check(st, pepper, FCGX_GetParam("HTTP_AUTHORIZATION",
		    req.envp), &o) == 0)
			FCGX_PutStr(o.b, (int)o.n, req.out);
		else
			FCGX_PutStr(refused, (int)sizeof(refused) - 1, req.out);
		FCGX_Finish_r(&req);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char	*db = NULL, *pepper_file = NULL, *listen = NULL;
	const char	*mode = getenv("TESSERA_SOCKET_MODE");
	unsigned char	 pepper[32];
	int		 workers = 1, fd;
	FILE		*f;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--db") == 0)
			db = argv[i + 1];
		else if (strcmp(argv[i], "--pepper") == 0)
			pepper_file = argv[i + 1];
		else if (strcmp(argv[i], "--listen") == 0)
			listen = argv[i + 1];
		else if (strcmp(argv[i], "--workers") == 0)
			workers = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--mmap") == 0)
			snprintf(mmap_pragma, sizeof(mmap_pragma),
			    "PRAGMA mmap_size = %lld",
			    strtoll(argv[i + 1], NULL, 10) * 1024 * 1024);
		else
			break;
	}
	if (!db || !pepper_file || !listen || strncmp(listen, "unix:", 5) != 0 ||
	    workers < 1 || workers > 256)
		return fprintf(stderr, "usage: check --db FILE --pepper FILE "
		    "--listen unix:PATH [--workers N] [--mmap MB]\n"), 2;
	if ((f = fopen(pepper_file, "rb")) == NULL ||
	    fread(pepper, 1, sizeof(pepper), f) != sizeof(pepper))
		return perror(pepper_file), 1;
	fclose(f);
	if (sodium_init() < 0 || FCGX_Init() != 0)
		return 1;
	unlink(listen + 5);
	if ((fd = FCGX_OpenSocket(listen + 5, 64)) < 0)
		return perror("check: listen"), 1;
	chmod(listen + 5, mode ? (mode_t)strtol(mode, NULL, 8) : 0660);
	/* Pre-forked workers on one socket, as Tessera's; the parent only
	 * waits, and SIGTERM to it ends them. */
	for (int i = 0; i < workers; i++)
		if (fork() == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			return serve(fd, db, pepper);
		}
	while (wait(NULL) > 0)
		;
	return 0;
}
