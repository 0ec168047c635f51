/*
 * metrics.h -- counters every process of a data directory adds to, in
 * shared memory (DATA/metrics.map), rendered as Prometheus text (0.0.4)
 * by whichever worker answers metrics_path (metrics.c).
 *
 * The hot path takes no lock: each process adds with relaxed atomics to
 * its own stripe (chosen by its pid); a scrape sums the stripes. A
 * process that could not map the file (or never called metrics_open)
 * counts nothing, and every call below is then a no-op.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* The events counted without a route. Their names are in metrics.c. */
enum metric_ev {
	/* tessera_token_checks_total{outcome} */
	M_TOK_OK, M_TOK_MISSING, M_TOK_MALFORMED, M_TOK_UNKNOWN,
	M_TOK_BAD_SECRET, M_TOK_INACTIVE, M_TOK_EXPIRED, M_TOK_IP_REFUSED,
	M_TOK_RATE_LIMITED, M_TOK_SCOPE_REFUSED, M_TOK_ERROR,
	/* tessera_rate_limit_refusals_total{limit} */
	M_RL_API_IP, M_RL_API_KEY, M_RL_WEBHOOK_IP, M_RL_WEBHOOK_KEY,
	M_RL_WEBHOOK_RECORDS,
	/* tessera_webhook_records_total */
	M_WEBHOOK_RECORDS,
	/* tessera_process_restarts_total{process} */
	M_RESTART_WORKER, M_RESTART_RUNNER,
	/* tessera_database_errors_total{kind} */
	M_DB_BUSY, M_DB_FULL, M_DB_READONLY, M_DB_IO, M_DB_OTHER,
	/* tessera_runs_finished_total{status} */
	M_RUN_SUCCESS, M_RUN_FAILED,
	M_EV_COUNT
};

/* Maps DATA/metrics.map for this process (again after a fork: a new
 * stripe). 0, or -1 with err (then nothing is counted). */
int	 metrics_open(const char *data_dir, char *err, size_t errlen);
void	 metrics_close(void);
void	 metrics_add(enum metric_ev, uint64_t n);
/* The label id of a route ("GET", "/api/me"), interned once for every
 * process; method NULL: a request no route took. A full table gives the
 * id of "other". -1 when metrics are off. */
int	 metrics_label(const char *method, const char *route);
/* One answered request: its label, status and seconds taken. */
void	 metrics_request(int label, int status, double seconds);
/* Records a webhook's script took (host.limits.records); counted as
 * received by metrics_request_end when the answer is a 2xx. */
void	 metrics_pending_records(long long n);
void	 metrics_request_end(int status);
/* Appends every counter in the text exposition format 0.0.4. 0 or -1
 * (off, or out of memory). */
int	 metrics_render(struct buf *);
/* One exposition label value, escaped (\\, \", \n), into b. */
void	 metrics_label_value(struct buf *, const char *);

#endif /* METRICS_H */
