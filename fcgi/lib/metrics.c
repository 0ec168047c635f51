/*
 * metrics.c -- the counters of metrics.h in DATA/metrics.map, shared by
 * every process of the data directory (tessera serve's workers, runner
 * and supervisor, or a web server's spawned processes), and their
 * rendering as Prometheus text.
 *
 * The map holds a table of labels (a route's method and pattern, interned
 * under a process-shared mutex the first time a process meets the route;
 * read without it) and STRIPES copies of every counter. A process adds to
 * the stripe of its pid with relaxed atomic adds: no lock, no
 * compare-and-swap loop, and two processes rarely share a cache line. A
 * scrape sums the stripes; a counter only grows, so a sum read while
 * others add is a value the counter had or passes through.
 *
 * The label set is bounded: routes are what the scripts declared (at
 * most LABELS, then "other"), status codes a fixed list (others by
 * class), a request no route took is "unmatched".
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib.h"
#include "metrics.h"

#define M_MAGIC		0x7473726d65747231ULL	/* "tsrmetr1" */
#define M_FILE		"metrics.map"
#define LABELS		128
#define STRIPES		8
#define METHOD_LEN	16
#define ROUTE_LEN	112
#define L_UNMATCHED	0
#define L_OTHER		1

/* The status codes counted by their number; any other by its class
 * (the last five: 1xx .. 5xx). */
static const int codes[] = {
	200, 201, 202, 204, 301, 302, 303, 304, 307, 308, 400, 401, 403,
	404, 405, 409, 410, 411, 413, 414, 415, 422, 429, 500, 502, 503,
	504, 507,
};
#define NCODES	(sizeof(codes) / sizeof(codes[0]) + 5)

/* Upper bounds of the latency buckets, in seconds and nanoseconds. */
static const char *const bucket_le[] = {
	"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
	"0.25", "0.5", "1", "2.5", "5", "10",
};
static const uint64_t bucket_ns[] = {
	500000, 1000000, 2500000, 5000000, 10000000, 25000000, 50000000,
	100000000, 250000000, 500000000, 1000000000, 2500000000ULL,
	5000000000ULL, 10000000000ULL,
};
#define NBUCKETS	(sizeof(bucket_ns) / sizeof(bucket_ns[0]))

struct mlabel {
	uint32_t	 used;		/* published with release */
	char		 method[METHOD_LEN];
	char		 route[ROUTE_LEN];
};

struct mstripe {
	uint64_t	 req[LABELS][NCODES];
	uint64_t	 bucket[LABELS][NBUCKETS];	/* not cumulative */
	uint64_t	 sum_ns[LABELS];
	uint64_t	 ev[M_EV_COUNT];
} __attribute__((aligned(64)));

struct mmap {
	uint64_t	 magic;
	pthread_mutex_t	 mu;		/* interning a label */
	struct mlabel	 label[LABELS];
	struct mstripe	 s[STRIPES];
};

static struct mmap	*map;
static struct mstripe	*mine;
static long long	 pending_records;
static unsigned char	 code_index[600];	/* status - 0 .. 599: index + 1 */

static const struct { const char *family, *label, *value; } evname[] = {
	[M_TOK_OK] =		{ "token_checks", "outcome", "ok" },
	[M_TOK_MISSING] =	{ "token_checks", "outcome", "missing" },
	[M_TOK_MALFORMED] =	{ "token_checks", "outcome", "malformed" },
	[M_TOK_UNKNOWN] =	{ "token_checks", "outcome", "unknown" },
	[M_TOK_BAD_SECRET] =	{ "token_checks", "outcome", "bad_secret" },
	[M_TOK_INACTIVE] =	{ "token_checks", "outcome", "inactive" },
	[M_TOK_EXPIRED] =	{ "token_checks", "outcome", "expired" },
	[M_TOK_IP_REFUSED] =	{ "token_checks", "outcome", "ip_refused" },
	[M_TOK_RATE_LIMITED] =	{ "token_checks", "outcome", "rate_limited" },
	[M_TOK_SCOPE_REFUSED] =	{ "token_checks", "outcome", "scope_refused" },
	[M_TOK_ERROR] =		{ "token_checks", "outcome", "error" },
	[M_RL_API_IP] =		{ "rate_limit_refusals", "limit", "api_ip" },
	[M_RL_API_KEY] =	{ "rate_limit_refusals", "limit", "api_key" },
	[M_RL_WEBHOOK_IP] =	{ "rate_limit_refusals", "limit", "webhook_ip" },
	[M_RL_WEBHOOK_KEY] =	{ "rate_limit_refusals", "limit", "webhook_key" },
	[M_RL_WEBHOOK_RECORDS] = { "rate_limit_refusals", "limit",
				    "webhook_records" },
	[M_WEBHOOK_RECORDS] =	{ "webhook_records", NULL, NULL },
	[M_RESTART_WORKER] =	{ "process_restarts", "process", "worker" },
	[M_RESTART_RUNNER] =	{ "process_restarts", "process", "runner" },
	[M_DB_BUSY] =		{ "database_errors", "kind", "busy" },
	[M_DB_FULL] =		{ "database_errors", "kind", "full" },
	[M_DB_READONLY] =	{ "database_errors", "kind", "readonly" },
	[M_DB_IO] =		{ "database_errors", "kind", "io" },
	[M_DB_OTHER] =		{ "database_errors", "kind", "other" },
	[M_RUN_SUCCESS] =	{ "runs_finished", "status", "success" },
	[M_RUN_FAILED] =	{ "runs_finished", "status", "failed" },
};

static const struct { const char *family, *help; } evhelp[] = {
	{ "token_checks", "Credentials checked at the gate of token paths, "
	    "by outcome." },
	{ "rate_limit_refusals", "Requests refused with 429, by the limit "
	    "that refused them." },
	{ "webhook_records", "Records of webhook deliveries answered 2xx." },
	{ "process_restarts", "Workers and runners respawned after they "
	    "died (tessera serve)." },
	{ "database_errors", "Database calls that failed for want of the "
	    "store: busy (locked past busy_timeout_ms), full, read-only, "
	    "I/O, other." },
	{ "runs_finished", "Runs of pipelines and models that ended, by "
	    "status (counted by the runner that ended them)." },
};

static void
init_map(void *p)
{
	struct mmap	*m = p;

	shm_mutex_init(&m->mu);
	m->label[L_UNMATCHED].used = 1;
	memcpy(m->label[L_UNMATCHED].route, "unmatched", 10);
	m->label[L_OTHER].used = 1;
	memcpy(m->label[L_OTHER].route, "other", 6);
}

int
metrics_open(const char *data_dir, char *err, size_t errlen)
{
	size_t	 i;

	if (map == NULL) {
		map = shm_map_once(data_dir, M_FILE, sizeof(struct mmap),
		    M_MAGIC ^ sizeof(struct mmap), init_map, err, errlen);
		if (map == NULL)
			return -1;
	}
	if (code_index[200] == 0)
		for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
			code_index[codes[i]] = (unsigned char)(i + 1);
	mine = &map->s[(unsigned)getpid() % STRIPES];
	return 0;
}

void
metrics_close(void)
{
	shm_unmap(map, sizeof(struct mmap));
	map = NULL;
	mine = NULL;
}

void
metrics_add(enum metric_ev e, uint64_t n)
{
	if (mine != NULL && (unsigned)e < M_EV_COUNT)
		__atomic_fetch_add(&mine->ev[e], n, __ATOMIC_RELAXED);
}

static int
label_is(const struct mlabel *l, const char *method, const char *route)
{
	return strncmp(l->method, method, METHOD_LEN - 1) == 0 &&
	    strncmp(l->route, route, ROUTE_LEN - 1) == 0;
}

int
metrics_label(const char *method, const char *route)
{
	struct mlabel	*l;
	int		 i, found = -1;

	if (map == NULL)
		return -1;
	if (method == NULL)
		return L_UNMATCHED;
	for (i = 2; i < LABELS; i++) {
		l = &map->label[i];
		if (!__atomic_load_n(&l->used, __ATOMIC_ACQUIRE))
			break;
		if (label_is(l, method, route))
			return i;
	}
	if (i == LABELS || shm_mutex_lock(&map->mu, 1000) != 0)
		return L_OTHER;
	/* Again under the lock: another process may have added it. */
	for (i = 2; i < LABELS; i++) {
		l = &map->label[i];
		if (!l->used) {
			snprintf(l->method, METHOD_LEN, "%s", method);
			snprintf(l->route, ROUTE_LEN, "%s", route);
			__atomic_store_n(&l->used, 1, __ATOMIC_RELEASE);
			found = i;
			break;
		}
		if (label_is(l, method, route)) {
			found = i;
			break;
		}
	}
	pthread_mutex_unlock(&map->mu);
	return found < 0 ? L_OTHER : found;
}

static size_t
code_slot(int status)
{
	if (status >= 100 && status < 600 && code_index[status])
		return code_index[status] - 1u;
	if (status < 100 || status >= 600)
		status = 500;
	return NCODES - 5 + (size_t)(status / 100 - 1);
}

void
metrics_request(int label, int status, double seconds)
{
	uint64_t	 ns;
	size_t		 b;

	if (mine == NULL || label < 0 || label >= LABELS)
		return;
	ns = seconds > 0 ? (uint64_t)(seconds * 1e9) : 0;
	for (b = 0; b < NBUCKETS && ns > bucket_ns[b]; b++)
		;
	__atomic_fetch_add(&mine->req[label][code_slot(status)], 1,
	    __ATOMIC_RELAXED);
	if (b < NBUCKETS)
		__atomic_fetch_add(&mine->bucket[label][b], 1,
		    __ATOMIC_RELAXED);
	__atomic_fetch_add(&mine->sum_ns[label], ns, __ATOMIC_RELAXED);
}

void
metrics_pending_records(long long n)
{
	if (n > 0)
		pending_records += n;
}

void
metrics_request_end(int status)
{
	if (pending_records > 0 && status >= 200 && status < 300)
		metrics_add(M_WEBHOOK_RECORDS, (uint64_t)pending_records);
	pending_records = 0;
}

/* ------------------------------------------------------------ render */

static uint64_t
sum(const uint64_t *first)
{
	size_t		 off = (size_t)((const char *)first -
			    (const char *)&map->s[0]), i;
	uint64_t	 t = 0;

	for (i = 0; i < STRIPES; i++)
		t += __atomic_load_n((const uint64_t *)((const char *)
		    &map->s[i] + off), __ATOMIC_RELAXED);
	return t;
}

void
metrics_label_value(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_add(b, "\\\\", 2);
		else if (*s == '"')
			buf_add(b, "\\\"", 2);
		else if (*s == '\n')
			buf_add(b, "\\n", 2);
		else
			buf_addc(b, *s);
	}
}

static void
route_labels(struct buf *b, const struct mlabel *l)
{
	buf_adds(b, "method=\"");
	metrics_label_value(b, l->method[0] ? l->method : "-");
	buf_adds(b, "\",route=\"");
	metrics_label_value(b, l->route);
	buf_addc(b, '"');
}

static void
code_label(struct buf *b, size_t c)
{
	if (c < NCODES - 5)
		buf_addint(b, codes[c]);
	else {
		buf_addint(b, (long long)(c - (NCODES - 5) + 1));
		buf_adds(b, "xx");
	}
}

/* Nanoseconds as decimal seconds. */
static void
add_seconds(struct buf *b, uint64_t ns)
{
	buf_printf(b, "%llu.%09llu", (unsigned long long)(ns / 1000000000u),
	    (unsigned long long)(ns % 1000000000u));
}

static void
render_requests(struct buf *b, int nlabels)
{
	const struct mlabel	*l;
	uint64_t		 v, cum, count;
	int			 i;
	size_t			 c, k;

	buf_adds(b, "# HELP tessera_http_requests_total Requests answered, by "
	    "route (the declared method and pattern) and status code.\n"
	    "# TYPE tessera_http_requests_total counter\n");
	for (i = 0; i < nlabels; i++) {
		l = &map->label[i];
		for (c = 0; c < NCODES; c++) {
			if ((v = sum(&map->s[0].req[i][c])) == 0)
				continue;
			buf_adds(b, "tessera_http_requests_total{");
			route_labels(b, l);
			buf_adds(b, ",code=\"");
			code_label(b, c);
			buf_adds(b, "\"} ");
			buf_addint(b, (long long)v);
			buf_addc(b, '\n');
		}
	}
	buf_adds(b, "# HELP tessera_http_request_duration_seconds Time from "
	    "reading a request to its answer written, by route.\n"
	    "# TYPE tessera_http_request_duration_seconds histogram\n");
	for (i = 0; i < nlabels; i++) {
		l = &map->label[i];
		for (count = 0, c = 0; c < NCODES; c++)
			count += sum(&map->s[0].req[i][c]);
		if (count == 0)
			continue;
		for (cum = 0, k = 0; k <= NBUCKETS; k++) {
			if (k < NBUCKETS)
				cum += sum(&map->s[0].bucket[i][k]);
			buf_adds(b, "tessera_http_request_duration_seconds_"
			    "bucket{");
			route_labels(b, l);
			buf_adds(b, ",le=\"");
			buf_adds(b, k < NBUCKETS ? bucket_le[k] : "+Inf");
			buf_adds(b, "\"} ");
			/* A request counted between the two reads is in
			 * count only: +Inf never passes count. */
			buf_addint(b, (long long)(k < NBUCKETS &&
			    cum < count ? cum : count));
			buf_addc(b, '\n');
		}
		buf_adds(b, "tessera_http_request_duration_seconds_sum{");
		route_labels(b, l);
		buf_adds(b, "} ");
		add_seconds(b, sum(&map->s[0].sum_ns[i]));
		buf_adds(b, "\ntessera_http_request_duration_seconds_count{");
		route_labels(b, l);
		buf_adds(b, "} ");
		buf_addint(b, (long long)count);
		buf_addc(b, '\n');
	}
}

static void
render_events(struct buf *b)
{
	size_t	 f, e;

	for (f = 0; f < sizeof(evhelp) / sizeof(evhelp[0]); f++) {
		buf_printf(b, "# HELP tessera_%s_total %s\n"
		    "# TYPE tessera_%s_total counter\n", evhelp[f].family,
		    evhelp[f].help, evhelp[f].family);
		for (e = 0; e < M_EV_COUNT; e++) {
			if (strcmp(evname[e].family, evhelp[f].family) != 0)
				continue;
			buf_printf(b, "tessera_%s_total", evname[e].family);
			if (evname[e].label)
				buf_printf(b, "{%s=\"%s\"}", evname[e].label,
				    evname[e].value);
			buf_addc(b, ' ');
			buf_addint(b, (long long)sum(&map->s[0].ev[e]));
			buf_addc(b, '\n');
		}
	}
}

int
metrics_render(struct buf *b)
{
	int	 n;

	if (map == NULL)
		return -1;
	for (n = 0; n < LABELS &&
	    __atomic_load_n(&map->label[n].used, __ATOMIC_ACQUIRE); n++)
		;
	render_requests(b, n);
	render_events(b);
	return b->failed ? -1 : 0;
}
