/*
 * serve.c -- the supervisor of "tessera serve": binds the listen socket
 * (or takes systemd's), pre-forks single-threaded workers and one runner
 * (runner.c: the periodic work, such as the token expiry hooks), respawns
 * any that die, replaces them all on SIGHUP and stops them on SIGTERM.
 *
 * It never touches a request. Its signals are blocked and read with
 * sigtimedwait(), so there is no handler to race with.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "domain/domain.h"
#include "lib/lib.h"
#include "lib/metrics.h"
#include "process.h"
#include "store/store.h"

#define SLOTS_MAX	512
#define RUNNER		(SLOTS_MAX - 1)	/* the runner's slot; workers < 257 */

struct slot {
	pid_t	 pid;
	int	 gen;		/* generation: SIGHUP starts a new one */
	double	 started;
	double	 respawn_at;	/* 0: none pending */
};

static struct slot	 slots[SLOTS_MAX];
static int		 gen;

/*
 * Checks the directory a unix socket is to be made in. The web server
 * talks to whatever listens at the socket's path, so whoever can create,
 * replace or rename an entry there gets every login and credential: the
 * directory must belong to us (or root) and be writable by nobody else,
 * and each directory above it must belong to us or root and be sticky if
 * others may write it (as /tmp is: nobody can rename what is not theirs).
 * path is the caller's; on success the socket's path with the directory
 * resolved (no symbolic link left to be moved later) is written to out
 * (outlen bytes, the size of sun_path). Returns 0, or -1 with err naming
 * the directory and what to do.
 */
static int
socket_dir_check(const char *path, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char		 dir[PATH_MAX], real[PATH_MAX], *slash;
	const char	*base, *why = NULL;
	struct stat	 st;
	uid_t		 me = geteuid();
	int		 top = 1;

	if ((slash = strrchr(path, '/')) == NULL) {
		snprintf(dir, sizeof(dir), ".");
		base = path;
	} else {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		if (dir[0] == '\0')
			snprintf(dir, sizeof(dir), "/");
		base = slash + 1;
	}
	if (*base == '\0') {
		snprintf(err, errlen, "listen unix:%.256s: no socket name",
		    path);
		return -1;
	}
	if (realpath(dir, real) == NULL) {
		snprintf(err, errlen, "listen unix:%.256s: %.256s: %s", path,
		    dir, strerror(errno));
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", real);
	for (;;) {
		if (stat(dir, &st) == -1) {
			snprintf(err, errlen, "listen unix:%.256s: %.256s: "
			    "%s", path, dir, strerror(errno));
			return -1;
		}
		if (st.st_uid != me && st.st_uid != 0)
			why = "belongs to another user";
		else if ((st.st_mode & (S_IWGRP | S_IWOTH)) &&
		    (top || !(st.st_mode & S_ISVTX)))
			why = top ? "is writable by its group or by others" :
			    "is writable by others and not sticky";
		if (why != NULL) {
			snprintf(err, errlen, "listen unix:%.256s: %.256s%s "
			    "%s (uid %ld, mode %04o), so another local user could "
			    "take the socket's place and receive every "
			    "request; make the socket in a directory only "
			    "uid %ld and root can write, such as /run/tessera "
			    "(mkdir -m 0755, chown it to that user)",
			    path, dir, top ? "" : " (above the socket)", why,
			    (long)st.st_uid, (unsigned)(st.st_mode & 07777),
			    (long)me);
			return -1;
		}
		if (strcmp(dir, "/") == 0)
			break;
		slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		top = 0;
	}
	if ((size_t)snprintf(out, outlen, "%s%s%s", real,
	    strcmp(real, "/") == 0 ? "" : "/", base) >= outlen) {
		snprintf(err, errlen, "listen unix:%.256s: the path is too "
		    "long for a socket (%zu bytes at most)", path, outlen - 1);
		return -1;
	}
	return 0;
}

/* Binds "unix:PATH" (in a directory socket_dir_check accepts) or
 * "HOST:PORT". Returns the fd or -1 with err; for a unix socket
 * *unix_path is then the caller's (free) copy of the path bound. */
static int
bind_listen(const struct config *cfg, char *err, size_t errlen,
    char **unix_path)
{
	const char		*l = cfg->listen;
	struct sockaddr_un	 sun;
	struct addrinfo		 hints, *res = NULL;
	char			 host[256], *colon;
	int			 fd = -1, one = 1, rc;

	*unix_path = NULL;
	if (strncmp(l, "unix:", 5) == 0) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (l[5] == '\0') {
			snprintf(err, errlen, "listen: bad socket path");
			return -1;
		}
		if (socket_dir_check(l + 5, sun.sun_path, sizeof(sun.sun_path),
		    err, errlen) == -1)
			return -1;
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			goto syserr;
		/* A live socket means another instance: refuse. A stale
		 * one is removed. */
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			snprintf(err, errlen, "%s: another server is "
			    "listening there", sun.sun_path);
			close(fd);
			return -1;
		}
		close(fd);
		unlink(sun.sun_path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
		    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
		    chmod(sun.sun_path, (mode_t)cfg->socket_mode) == -1)
			goto syserr;
		*unix_path = strdup(sun.sun_path);
	} else {
		snprintf(host, sizeof(host), "%s", l);
		if ((colon = strrchr(host, ':')) == NULL) {
			snprintf(err, errlen, "listen: expected unix:PATH or "
			    "HOST:PORT");
			return -1;
		}
		*colon = '\0';
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		if (host[0] == '[' && colon[-1] == ']') {
			colon[-1] = '\0';
			memmove(host, host + 1, strlen(host));
		}
		if ((rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints,
		    &res)) != 0) {
			snprintf(err, errlen, "listen %s: %s", l,
			    gai_strerror(rc));
			return -1;
		}
		if ((fd = socket(res->ai_family, SOCK_STREAM, 0)) == -1 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one)) == -1 ||
		    bind(fd, res->ai_addr, res->ai_addrlen) == -1) {
			freeaddrinfo(res);
			goto syserr;
		}
		freeaddrinfo(res);
	}
	if (listen(fd, 1024) == -1)
		goto syserr;
	return fd;
syserr:
	snprintf(err, errlen, "listen %s: %s", l, strerror(errno));
	if (fd != -1)
		close(fd);
	if (*unix_path) {
		unlink(*unix_path);
		free(*unix_path);
		*unix_path = NULL;
	}
	return -1;
}

/* systemd socket activation: LISTEN_PID is us and LISTEN_FDS is 1. */
static int
systemd_socket(void)
{
	const char	*pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	if (pid == NULL || fds == NULL || atol(pid) != (long)getpid() ||
	    atoi(fds) != 1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 3;
}

/* In the child: become a worker (or, in the runner's slot, the runner)
 * and never return. */
static void
worker_main(struct config *cfg, int fd, int runner)
{
	struct worker	 w;
	char		 err[1024];
	sigset_t	 none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(0);	/* the supervisor died before prctl */
	if (runner) {
		close(fd);
		prctl(PR_SET_NAME, "tessera-runner");	/* for ps and tests */
		_exit(runner_run(cfg, 0) == 0 ? 0 : 78);
	}
	if (worker_init(&w, cfg, err, sizeof(err)) == -1) {
		log_err("worker: %s", err);
		_exit(78);
	}
	worker_run_fcgi(&w, fd);
	worker_free(&w);
	_exit(0);
}

static int
spawn(struct config *cfg, int fd, struct slot *s)
{
	pid_t	 pid;

	if ((pid = fork()) == -1) {
		log_err("fork: %s", strerror(errno));
		s->respawn_at = mono_now() + 1;
		return -1;
	}
	if (pid == 0)
		worker_main(cfg, fd, s == &slots[RUNNER]);
	s->pid = pid;
	s->gen = gen;
	s->started = mono_now();
	s->respawn_at = 0;
	return 0;
}

static int
live_workers(void)
{
	int	 i, n = 0;

	for (i = 0; i < SLOTS_MAX; i++)
		n += slots[i].pid > 0;
	return n;
}

static void
signal_all(int sig, int only_gen)
{
	int	 i;

	for (i = 0; i < SLOTS_MAX; i++)
		if (slots[i].pid > 0 && (only_gen < 0 || slots[i].gen == only_gen))
			kill(slots[i].pid, sig);
}

/* Collects dead children; schedules a respawn for current-generation
 * workers (at once, or after a second when one died young, so a worker
 * that cannot start does not spin). */
static void
reap(int stopping)
{
	pid_t	 pid;
	int	 st, i;
	double	 now = mono_now();

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < SLOTS_MAX; i++)
			if (slots[i].pid == pid)
				break;
		if (i == SLOTS_MAX)
			continue;
		slots[i].pid = 0;
		if (slots[i].gen != gen || stopping)
			continue;
		metrics_add(i == RUNNER ? M_RESTART_RUNNER :
		    M_RESTART_WORKER, 1);
		if (WIFSIGNALED(st))
			log_warn("%s %ld killed by signal %d; respawning",
			    i == RUNNER ? "runner" : "worker", (long)pid,
			    WTERMSIG(st));
		else
			log_warn("%s %ld exited with %d; respawning",
			    i == RUNNER ? "runner" : "worker", (long)pid,
			    WEXITSTATUS(st));
		slots[i].respawn_at = now - slots[i].started < 1.0 ?
		    now + 1.0 : now;
	}
}

int
serve_main(struct config *cfg, int (*reload)(struct config *))
{
	sigset_t		 set;
	siginfo_t		 si;
	struct timespec		 ts;
	struct db		 db;
	struct config		 ncfg;
	char			 err[2048], *unix_path = NULL;
	unsigned char		 pepper[PEPPER_LEN];
	int			 fd, i, sig, stopping = 0, n;
	double			 deadline = 0, now;

	/* Check the database and apply migrations once, before any worker
	 * exists, so a broken setup fails here with a clear message. */
	if (db_open(&db, cfg, 0, err, sizeof(err)) == -1) {
		log_err("%s", err);
		return 1;
	}
	/* Every host of a shared database needs the same pepper. */
	if (data_pepper(cfg, pepper, err, sizeof(err)) == -1 ||
	    data_pepper_matches(&db, pepper, err, sizeof(err)) == -1) {
		sodium_memzero(pepper, sizeof(pepper));
		log_err("%s", err);
		db_close(&db);
		return 1;
	}
	sodium_memzero(pepper, sizeof(pepper));
	db_close(&db);
	/* For the restarts it counts (the workers count the rest). */
	if (metrics_open(cfg->data_dir, err, sizeof(err)) == -1)
		log_err("metrics are off: %s", err);

	if ((fd = systemd_socket()) == -1 &&
	    (fd = bind_listen(cfg, err, sizeof(err), &unix_path)) == -1) {
		log_err("%s", err);
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	log_info("serving %s with %lld workers (pid %ld)", cfg->listen,
	    cfg->workers, (long)getpid());
	for (i = 0; i < cfg->workers; i++)
		spawn(cfg, fd, &slots[i]);
	spawn(cfg, fd, &slots[RUNNER]);

	for (;;) {
		ts.tv_sec = 0;
		ts.tv_nsec = 200 * 1000 * 1000;
		sig = sigtimedwait(&set, &si, &ts);
		now = mono_now();
		switch (sig) {
		case SIGCHLD:
			reap(stopping);
			break;
		case SIGHUP:
			if (stopping)
				break;
			/* New config (same socket), new workers; the old
			 * ones finish their request and exit. */
			if (reload(&ncfg) == -1)
				log_err("reload failed; keeping the old "
				    "configuration");
			else {
				free(ncfg.listen);
				ncfg.listen = strdup(cfg->listen);
				cfg_free(cfg);
				*cfg = ncfg;
			}
			gen++;
			signal_all(SIGTERM, gen - 1);
			n = 0;
			for (i = 0; i < RUNNER && n < cfg->workers; i++)
				if (slots[i].pid == 0) {
					spawn(cfg, fd, &slots[i]);
					n++;
				}
			/* The old runner ends its tick; a new one starts
			 * now (two never write the same mark: see
			 * lua/expiry.lua). */
			spawn(cfg, fd, &slots[RUNNER]);
			log_info("reloaded: %d new workers", n);
			break;
		case SIGTERM:
		case SIGINT:
		case SIGQUIT:
			if (!stopping) {
				log_info("stopping");
				stopping = 1;
				deadline = now + (double)cfg->shutdown_timeout;
				signal_all(SIGTERM, -1);
			}
			break;
		default:
			break;
		}
		reap(stopping);
		if (stopping) {
			if (live_workers() == 0)
				break;
			if (now >= deadline) {
				log_warn("workers still busy after %llds; "
				    "killing them", cfg->shutdown_timeout);
				signal_all(SIGKILL, -1);
				deadline = now + 5;
			}
			continue;
		}
		for (i = 0; i < SLOTS_MAX; i++) {
			if (slots[i].pid == 0 && slots[i].respawn_at > 0 &&
			    slots[i].respawn_at <= now)
				spawn(cfg, fd, &slots[i]);
		}
	}
	close(fd);
	if (unix_path) {
		unlink(unix_path);
		free(unix_path);
	}
	log_info("stopped");
	return 0;
}
