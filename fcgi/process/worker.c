/*
 * worker.c -- one serving process: owns a database connection and a Lua
 * state, reads requests (FastCGI or CGI), answers them, logs them.
 *
 * Stopping: SIGTERM, SIGINT or SIGHUP while idle (waiting in
 * FCGX_Accept_r, also on a kept nginx connection) exits at once; while a
 * request is running it sets a flag and the worker exits after writing
 * the response, so in-flight requests always finish.
 */
#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "domain/domain.h"
#include "http/http.h"
#include "bridge/lhost.h"
#include "lib/cidr.h"
#include "lib/lib.h"
#include "lib/metrics.h"
#include "process.h"
#include "http/route.h"
#include "store/store.h"

static volatile sig_atomic_t	stopping;
static volatile sig_atomic_t	idle;

static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
	if (idle)
		_exit(0);
}

/* Installs the worker's handlers before libfcgi can install its own
 * (FCGX_Init only replaces SIG_DFL). No SA_RESTART: accept() returns
 * EINTR. */
static void
worker_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int
worker_init(struct worker *w, struct config *cfg, char *err, size_t errlen)
{
	char	 lerr[2048];

	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	if (data_pepper(cfg, w->pepper, err, errlen) == -1)
		return -1;
	if (db_open(&w->db, cfg, 0, err, errlen) == -1)
		return -1;
	if ((w->rl = rl_open(cfg->data_dir, lerr, sizeof(lerr))) == NULL)
		log_err("rate limits are off: %s", lerr);
	if ((w->gc = commit_open(cfg->data_dir, lerr, sizeof(lerr))) == NULL)
		log_err("group commit is off: %s", lerr);
	w->db.gc = w->gc;
	if ((w->wr = writer_open(cfg->data_dir, lerr, sizeof(lerr))) == NULL)
		log_err("writers wait at SQLite's lock only: %s", lerr);
	if (metrics_open(cfg->data_dir, lerr, sizeof(lerr)) == -1)
		log_err("metrics are off: %s", lerr);
	w->db.wr = w->wr;
	/* A broken script must not stop the worker: requests answer 500
	 * and the state is retried until the scripts load again. */
	lhost_refresh(&w->ls, cfg, &w->db, w->pepper, w->rl, "");
	return 0;
}

/* The error code of the JSON envelope for a status the host answers. */
static const char *
status_code(int status)
{
	switch (status) {
	case 413: return "PAYLOAD_TOO_LARGE";
	case 414: return "URI_TOO_LONG";
	case 415: return "UNSUPPORTED_MEDIA_TYPE";
	case 500: return "INTERNAL_ERROR";
	case 503: return "UNAVAILABLE";
	default:  return "INVALID_REQUEST";
	}
}

/* Reads and discards the rest of a refused body (bounded), so the web
 * server can read our answer and reuse the connection. */
static void
drain(struct conn *c, const struct req *r)
{
	char		 tmp[16384];
	long long	 left = r->content_length - (long long)r->body.len;
	long		 got;

	if (left > 64LL << 20) {
		if (c->fcgx)
			c->fcgx->keepConnection = 0;
		return;
	}
	while (left > 0 && (got = conn_read(c, tmp, sizeof(tmp))) > 0)
		left -= got;
}

/* The Lua state to serve with, current: rebuilt after an edit (reload)
 * or after an earlier failure to load; a rebuild that fails keeps the
 * last good state (lhost_reload.c). With reload on, an edited queries
 * file is prepared again first (the store keeps the last good set the
 * same way). NULL: no state loads. */
struct lhost *
worker_refresh(struct worker *w, const char *who)
{
	if (w->cfg->reload)
		db_queries_refresh(&w->db);
	return lhost_refresh(&w->ls, w->cfg, &w->db, w->pepper, w->rl, who);
}

/* The metrics label of the route m took (cached in the route). */
static int
route_label(const struct route_table *routes, const struct route_match *m)
{
	struct route	*t;
	int		 l;

	if (m->route < 0)
		return metrics_label(NULL, NULL);
	t = (struct route *)&routes->v[m->route];	/* the worker's own */
	if (t->metric == 0 && (l = metrics_label(t->method, t->pattern)) >= 0)
		t->metric = l + 1;
	return t->metric - 1;
}

/* GET metrics_path: the counters in Prometheus' text format, for the
 * addresses in metrics_allow only (anyone else: 404, as if there were
 * nothing here). REMOTE_ADDR as the web server passed it, or the client
 * a trusted proxy named. */
static void
metrics_answer(struct worker *w, const struct req *r, struct resp *resp)
{
	struct dbq	*st;
	int		 rc;

	if (w->cfg->metrics_nets == NULL ||
	    !cidr_match(w->cfg->metrics_nets, r->remote_addr)) {
		resp_error(resp, 404, "NOT_FOUND", "not found", r->wants_json);
		return;
	}
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		resp_error(resp, 405, "METHOD_NOT_ALLOWED", "GET only",
		    r->wants_json);
		resp_header(resp, "Allow", "GET, HEAD");
		return;
	}
	if (metrics_render(&resp->body) == -1) {
		resp_error(resp, 503, "UNAVAILABLE", "metrics are off (see "
		    "the log)", r->wants_json);
		return;
	}
	/* Runs waiting and running, from the database (runs_open). */
	buf_adds(&resp->body, "# HELP tessera_runs Runs queued or running "
	    "now.\n# TYPE tessera_runs gauge\n");
	if ((st = db_query(&w->db, "metrics_runs")) != NULL) {
		long long q = 0, n = 0;

		while ((rc = db_step(st)) == DB_ROW) {
			if (strcmp(db_col_text(st, 0), "queued") == 0)
				q = db_col_int(st, 1);
			else
				n = db_col_int(st, 1);
		}
		db_reset(st);
		if (rc == DB_DONE)
			buf_printf(&resp->body, "tessera_runs{status=\"queued\"} "
			    "%lld\ntessera_runs{status=\"running\"} %lld\n",
			    q, n);
	}
	resp_header(resp, "Content-Type", "text/plain; version=0.0.4; "
	    "charset=utf-8");
}

/* The headers of every answer: X-Request-Id, and on token paths the
 * rate limit the gate checked (RateLimit-Limit, -Remaining, -Reset). */
static void
answer_headers(const struct req *r, struct resp *resp)
{
	resp->id = r->id;
	if (r->path_kind == 0 || r->rl.limit <= 0)
		return;
	resp->rl = r->rl;
	if (resp->status == 429)
		resp->rl.remaining = 0;
}

void
worker_handle(struct worker *w, struct conn *c)
{
	struct req	 r;
	struct resp	 resp = { .status = 200 };
	struct route_match m;
	const struct route_table *routes;
	struct lhost	*lh;
	const struct gate gate = { w->cfg, &w->db, w->pepper, w->rl };
	const char	*why, *mp = w->cfg->metrics_path, *rname = NULL;
	char		 uri[1024];
	int		 status, label = -1;
	double		 took;

	m.route = -1;
	status = req_read(&r, c, w->cfg, &why);
	log_request_id(r.id);
	if (status != 0) {
		if (status == 413)
			drain(c, &r);
		resp_error(&resp, status, status_code(status), why,
		    r.wants_json);
	} else if (mp[0] != '\0' && strcmp(r.path, mp) == 0) {
		metrics_answer(w, &r, &resp);
		label = metrics_label("GET", mp);
		rname = mp;
	} else if ((lh = worker_refresh(w, "")) == NULL) {
		resp_error(&resp, 500, "INTERNAL_ERROR", "internal error",
		    r.wants_json);
	} else {
		/* The route first: the gate checks the scope it needs. */
		routes = lhost_routes(lh);
		route_match(routes, r.method, r.path, strlen(r.path), &m);
		label = route_label(routes, &m);
		if (m.route >= 0)
			rname = routes->v[m.route].pattern;
		if (api_gate(&gate, &r, m.route >= 0 ?
		    &routes->v[m.route] : NULL, &resp) == 0)
			lhost_handle(lh, &r, &m, &resp);
	}
	if (w->db.h && db_in_tx(&w->db)) {
		/* Never expected (host.db.tx ends what it began), but a
		 * transaction kept open would hold SQLite's lock, or the
		 * writers' turn, and stop every other worker's writes. */
		log_err("database: a transaction left open, rolled back");
		db_tx(&w->db, DB_ROLLBACK);
	}
	/* Nothing is answered before what it wrote is on disk. */
	if ((status = db_settle(&w->db)) != 0 && resp.status < 500) {
		if (status == 1)
			log_err("database: a write was not synced by the store "
			    "before its answer; synced now");
		else
			resp_error(&resp, 503, "UNAVAILABLE", "commit not "
			    "durable", r.wants_json);
	}
	answer_headers(&r, &resp);
	resp_write(&resp, c, r.method && strcmp(r.method, "HEAD") == 0);
	w->served++;
	took = mono_now() - r.started;
	metrics_request(label < 0 ? metrics_label(NULL, NULL) : label,
	    resp.status, took);
	metrics_request_end(resp.status);
	if (w->cfg->log_requests) {
		struct log_req	 lr = {
			.method = r.method, .status = resp.status,
			.uri = log_scrub_uri(r.uri ? r.uri : "-", uri,
			    sizeof(uri)),
			.route = rname,
			.remote = r.remote_addr,
			.key = r.authed ? r.auth.key : NULL,
			.ms = took * 1000.0,
		};
		log_request(&lr);
	}
	log_request_id(NULL);
	req_free(&r);
	resp_free(&resp);
}

int
worker_run_fcgi(struct worker *w, int listen_fd)
{
	FCGX_Request	 fr;
	struct conn	 c;
	int		 rc;

	worker_signals();
	if (FCGX_Init() != 0 ||
	    FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_err("libfcgi initialisation failed");
		return -1;
	}
	for (;;) {
		idle = 1;
		if (stopping)
			break;
		rc = FCGX_Accept_r(&fr);
		idle = 0;
		if (rc < 0) {
			if (stopping)
				break;
			if (errno == EINTR)
				continue;
			log_err("accept failed: %s", strerror(errno));
			sleep(1);
			continue;
		}
		memset(&c, 0, sizeof(c));
		c.fcgx = &fr;
		c.envp = fr.envp;
		worker_handle(w, &c);
		conn_fcgi_wipe(&fr);
		FCGX_Finish_r(&fr);
	}
	FCGX_Free(&fr, 1);
	return 0;
}

int
worker_run_cgi(struct worker *w, char **envp)
{
	struct conn	 c = { .envp = envp };

	worker_handle(w, &c);
	fflush(stdout);
	return c.out_failed ? -1 : 0;
}

void
worker_free(struct worker *w)
{
	lhost_slot_free(&w->ls);
	db_close(&w->db);
	rl_close(w->rl);
	commit_close(w->gc);
	writer_close(w->wr);
	metrics_close();
	sodium_memzero(w, sizeof(*w));
}
