/*
 * process.h -- the processes and the program: a worker serving requests
 * (worker_), the supervisor (serve_), the runner, the command line (cli_)
 * and tessera lua-test.
 */
#ifndef PROCESS_H
#define PROCESS_H

#include "domain/domain.h"
#include "http/http.h"
#include "bridge/lhost.h"
#include "lib/lib.h"
#include "store/store.h"

#define TESSERA_VERSION "0.1.0"

/* ----------------------------------------------------------- luatest.c */

/* tessera lua-test FILE: runs a Lua test file in a sandboxed state beside
 * a whole app (a worker) it can send requests to. The exit status. */
int		 lua_test_run(const struct config *, const char *file);

/* --------------------------------------------------------------- worker */

/* What one serving process owns: config (borrowed), db, Lua. */
struct worker {
	struct config	*cfg;
	struct db	 db;
	struct rl_map	*rl;		/* NULL: no rate limits */
	struct group_commit *gc;	/* NULL: no group commit */
	struct writer	*wr;		/* NULL: no writers' queue */
	unsigned char	 pepper[PEPPER_LEN];
	struct lhost_slot ls;		/* the Lua state (lhost_reload.c) */
	unsigned long	 served;
};

int	 worker_init(struct worker *, struct config *, char *err, size_t);
void	 worker_handle(struct worker *, struct conn *);
/* The worker's Lua state made current (reload, last good version kept;
 * who prefixes its log lines). NULL when no version of the scripts
 * loads. */
struct lhost *worker_refresh(struct worker *, const char *who);
/* Serves FastCGI on listen_fd until told to stop. */
int	 worker_run_fcgi(struct worker *, int listen_fd);
/* Serves the one CGI request in the environment. */
int	 worker_run_cgi(struct worker *, char **envp);
void	 worker_free(struct worker *);

/* ---------------------------------------------------------------- serve */

/* The supervisor: binds cfg->listen (or takes a systemd socket), forks
 * cfg->workers workers, respawns, reloads on SIGHUP (reading the
 * configuration again with reload(), which returns 0 or -1), stops on
 * SIGTERM. */
int	 serve_main(struct config *, int (*reload)(struct config *));

/* --------------------------------------------------------------- runner */

/* The runner (runner.c): app.tick() every token_check_interval seconds
 * until SIGTERM, or once. 0, or -1 when the setup or the (last) tick
 * failed. */
int	 runner_run(struct config *, int once);

/* --------------------------------------------------------------- notify */

/* One notification as notify.c sends it (all borrowed). */
struct notify_msg {
	long long	 id;		/* the outbox row: X-Tessera-Delivery */
	const char	*event;		/* its name: X-Tessera-Event */
	const char	*url;
	const char	*body;
	size_t		 len;
	const char	*timestamp;	/* Unix seconds: X-Tessera-Timestamp */
	const char	*signature;	/* "sha256=<hex>" */
	long		 connect_timeout, timeout;	/* seconds */
};

/* POSTs m (notify_send.c). 0 with the HTTP status in *status, or -1
 * (no answer: refused, timed out, bad URL) with err. */
int	 notify_send(const struct notify_msg *m, long *status, char *err,
	    size_t errlen);
/* Delivers the outbox's due messages (notify.c): claims each with a
 * lease, signs and sends it, and marks it delivered, due again later, or
 * failed with an audit row. Spends at most about notify_timeout seconds
 * a call. The number of messages sent, or -1 when it could not start
 * (no signing secret, the database failing; logged). */
int	 notify_deliver(struct worker *, long long now);

/* ------------------------------------------------------------------ cli */

/* tessera user add|list|disable|enable|passwd. Returns the exit status. */
int	 cli_user(struct config *, const char *sub, const char *email,
	    const char *role, const char *account);

/* The options of "tessera token SUB [KEY]" (NULL: not given). */
struct cli_token_opts {
	const char	*sub;
	const char	*key;
	const char	*account;
	const char	*destination;
	const char	*email;
	const char	*description;
	const char	*scopes;
	const char	*expires_in_days;
	const char	*allowed_ips;
	const char	*grace_seconds;
	const char	*kind;		/* token list: "user", "via" */
	int		 all;		/* token list: disabled users too */
};

/* tessera token add|add-via|list|show|rotate|activate|deactivate|enable|
 * disable. Returns the exit status. */
int	 cli_token(struct config *, const struct cli_token_opts *);
/* tessera token list (cli_token_list.c), on an open database. The exit
 * status. */
int	 cli_token_list(struct db *, const struct cli_token_opts *);

/* tessera token check [TOKEN]: the token from standard input (or the
 * operand); online: look it up too. The exit status: 0 well-formed or
 * live, 1 malformed, 2 usage, 3 not live, 4 cannot tell
 * (cli_token_check.c). */
int	 cli_token_check(struct config *, const char *operand, int online);

/* tessera backup --to FILE [--force], tessera restore --from FILE
 * (cli_backup.c). The exit status. */
int	 cli_backup(struct config *, const char *to, int force);
int	 cli_restore(struct config *, const char *from);

/* The options of "tessera audit list" (NULL: not given). */
struct cli_audit_opts {
	const char	*account;
	const char	*email;
	const char	*action;
	const char	*since;		/* YYYY-MM-DD */
	const char	*until;		/* YYYY-MM-DD */
	const char	*limit;
	int		 csv;
};

/* tessera audit list (cli_audit.c). Returns the exit status. */
int	 cli_audit(struct config *, const struct cli_audit_opts *);

#endif /* PROCESS_H */
