/*
 * runner.c -- the runner: one process beside the workers that does the
 * queued runs of pipelines and models (app.claim/run/abort, lua/runs.lua:
 * one at a time, looking for them every run_poll_ms), the delivery of
 * host.notify's messages (notify.c) every notify_interval seconds, and
 * the periodic work (app.tick: the token expiry hooks, lua/expiry.lua)
 * every token_check_interval seconds. "tessera serve" keeps one (and
 * respawns it); the deployments where the web server spawns the workers
 * (lighttpd bin-path, mod_fcgid) run "tessera runner" as a service of its
 * own (conf/systemd/tessera-runner.service). Several runners on one
 * database are safe: each hook fires once per token (the mark decides),
 * each run is done by the runner whose lease holds it.
 *
 * SIGTERM, SIGINT or SIGHUP end it between ticks and runs; one in
 * progress finishes first (killed instead, its run is taken up again
 * when the lease passes).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "bridge/lhost.h"
#include "lib/lib.h"
#include "process.h"

static volatile sig_atomic_t	stop;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* Sleeps up to ms milliseconds, waking early when told to stop. */
static void
nap(long long ms)
{
	struct timespec	 ts = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 };
	double		 until = mono_now() + (double)ms / 1000.0;

	while (!stop && mono_now() < until)
		nanosleep(&ts, NULL);
}

/* How long to sleep: run_poll_ms (a second when runs are off), but no
 * later than the next tick or outbox round. */
static long long
until_next(const struct config *cfg, double next_tick, double next_notify)
{
	double	 now = mono_now(), soonest = next_tick < next_notify ?
		    next_tick : next_notify;
	long long ms = cfg->run_poll_ms > 0 ? cfg->run_poll_ms : 1000;

	if ((soonest - now) * 1000.0 < (double)ms)
		ms = soonest > now ? (long long)((soonest - now) * 1000.0) : 0;
	return ms;
}

int
runner_run(struct config *cfg, int once)
{
	struct worker	 w;
	struct lhost	*lh;
	struct sigaction sa;
	char		 err[1024];
	int		 rc = 0, worked = 0;
	double		 next_tick = 0, next_notify = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (worker_init(&w, cfg, err, sizeof(err)) == -1) {
		log_err("runner: %s", err);
		return -1;
	}
	if (!once)
		log_info("runner: ticks every %llds, looks for runs every %lldms",
		    cfg->token_check_interval, cfg->run_poll_ms);
	while (!stop) {
		/* host.notify's outbox, every notify_interval (notify.c: C
		 * only, so it goes on while the scripts do not load). */
		if (once || mono_now() >= next_notify) {
			notify_deliver(&w, clock_now());
			next_notify = mono_now() + (double)cfg->notify_interval;
		}
		/* The last good scripts and queries, as a worker's. */
		if ((lh = worker_refresh(&w, "runner: ")) == NULL) {
			rc = -1;
			if (once)
				break;
			nap(1000);	/* and try the scripts again */
			continue;
		}
		if (once || mono_now() >= next_tick) {
			rc = lhost_tick(lh);
			next_tick = mono_now() + (double)cfg->token_check_interval;
		}
		/* Runs, one after another while there are any (run_poll_ms
		 * 0: this runner leaves them to others), until the scripts
		 * change or the outbox's time has come. */
		worked = 0;
		while (cfg->run_poll_ms > 0 && !stop &&
		    (worked = lhost_work(lh)) == 1 && !lhost_stale(lh) &&
		    mono_now() < next_notify)
			;
		if (worked == -1)
			rc = -1;
		if (once)
			break;
		if (worked != 1)
			nap(until_next(cfg, next_tick, next_notify));
	}
	worker_free(&w);
	return rc;
}
