/*
 * runner.c -- the runner: one process beside the workers that does the
 * periodic work, today the token expiry hooks (app.tick, lua/expiry.lua),
 * every token_check_interval seconds. "tessera serve" keeps one (and
 * respawns it); the deployments where the web server spawns the workers
 * (lighttpd bin-path, mod_fcgid) run "tessera runner" as a service of its
 * own (conf/systemd/tessera-runner.service). Several runners on one
 * database are safe: each hook fires once per token (the mark decides).
 *
 * SIGTERM, SIGINT or SIGHUP end it between ticks; a tick in progress
 * finishes first.
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

/* Sleeps up to secs, waking early when told to stop. */
static void
nap(long long secs)
{
	struct timespec	 ts = { .tv_sec = 0, .tv_nsec = 100 * 1000 * 1000 };
	double		 until = mono_now() + (double)secs;

	while (!stop && mono_now() < until)
		nanosleep(&ts, NULL);
}

int
runner_run(struct config *cfg, int once)
{
	struct worker	 w;
	struct lhost	*lh;
	struct sigaction sa;
	char		 err[1024];
	int		 rc = 0;

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
		log_info("runner: every %llds", cfg->token_check_interval);
	while (!stop) {
		/* The last good scripts and queries, as a worker's. */
		lh = worker_refresh(&w, "runner: ");
		rc = lh == NULL ? -1 : lhost_tick(lh);
		if (once)
			break;
		nap(cfg->token_check_interval);
	}
	worker_free(&w);
	return rc;
}
