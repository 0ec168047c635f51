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
#include "lib/lib.h"
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

void
worker_handle(struct worker *w, struct conn *c)
{
	struct req	 r;
	struct resp	 resp = { .status = 200 };
	struct route_match m;
	const struct route_table *routes;
	struct lhost	*lh;
	const struct gate gate = { w->cfg, &w->db, w->pepper, w->rl };
	const char	*why;
	char		 uri[1024];
	int		 status;

	status = req_read(&r, c, w->cfg, &why);
	if (status != 0) {
		if (status == 413)
			drain(c, &r);
		resp_error(&resp, status, status_code(status), why,
		    r.wants_json);
	} else if ((lh = worker_refresh(w, "")) == NULL) {
		resp_error(&resp, 500, "INTERNAL_ERROR", "internal error",
		    r.wants_json);
	} else {
		/* The route first: the gate checks the scope it needs. */
		routes = lhost_routes(lh);
		route_match(routes, r.method, r.path, strlen(r.path), &m);
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
	resp_write(&resp, c, r.method && strcmp(r.method, "HEAD") == 0);
	w->served++;
	if (w->cfg->log_requests)
		log_msg("req", "%s %s %d %.3fms", r.method ? r.method : "-",
		    log_scrub_uri(r.uri ? r.uri : "-", uri, sizeof(uri)),
		    resp.status, (mono_now() - r.started) * 1000.0);
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
	sodium_memzero(w, sizeof(*w));
}
