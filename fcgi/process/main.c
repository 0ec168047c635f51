/*
 * main.c -- the tessera command: picks the serving mode or runs an admin
 * subcommand. The commands, their options and their help are one table,
 * cli_help.c: "tessera --help" prints it, and only what it names is run.
 *
 *	tessera                      FastCGI on fd 0 (spawned by a web
 *	                             server), or one CGI request
 *	tessera serve | runner | init | migrate | config | version
 *	tessera user ... | token ... | audit list   the command line
 *	tessera backup | restore     the SQLite database copied out and in
 *	tessera lua-test FILE...     Lua tests in the sandboxed host
 *	tessera help [CMD [SUB]], tessera [CMD [SUB]] --help
 *
 * Every subcommand takes --config FILE (or $TESSERA_CONFIG) and
 * --data DIR (or $TESSERA_DATA). Exit status: 0 done, 1 failed, 2 a
 * usage error (an unknown command or option, named on stderr).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "domain/domain.h"
#include "http/http.h"
#include "lib/lib.h"
#include "cli_help.h"
#include "process.h"
#include "store/store.h"

extern char **environ;

struct opts {
	const char	*config;
	const char	*data;
	const char	*listen;
	const char	*workers;
	const char	*email;
	const char	*role;
	const char	*account;
	const char	*destination;
	const char	*description;
	const char	*scopes;
	const char	*expires_in_days;
	const char	*allowed_ips;
	const char	*grace_seconds;
	const char	*kind;
	const char	*action;
	const char	*since;
	const char	*until;
	const char	*limit;
	const char	*to;
	const char	*from;
	int		 once, all, csv, help, version, force;
	char		**args;		/* operands left over */
	int		 nargs;
	const char	**given;	/* the names of the options given */
	int		 ngiven;
};

/* Parses "--name value" and "--name=value" options and the flags; the
 * rest are operands. Whether the command takes them is checked later
 * against the command table (cli_help.c). Returns 0 or -1 (message
 * printed). */
static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct { const char *name; size_t off; } known[] = {
		{ "account", offsetof(struct opts, account) },
		{ "action",  offsetof(struct opts, action) },
		{ "allowed-ips", offsetof(struct opts, allowed_ips) },
		{ "config",  offsetof(struct opts, config) },
		{ "data",    offsetof(struct opts, data) },
		{ "description", offsetof(struct opts, description) },
		{ "destination", offsetof(struct opts, destination) },
		{ "email",   offsetof(struct opts, email) },
		{ "expires-in-days", offsetof(struct opts, expires_in_days) },
		{ "from",    offsetof(struct opts, from) },
		{ "grace-seconds", offsetof(struct opts, grace_seconds) },
		{ "kind",    offsetof(struct opts, kind) },
		{ "limit",   offsetof(struct opts, limit) },
		{ "listen",  offsetof(struct opts, listen) },
		{ "role",    offsetof(struct opts, role) },
		{ "scopes",  offsetof(struct opts, scopes) },
		{ "since",   offsetof(struct opts, since) },
		{ "to",      offsetof(struct opts, to) },
		{ "until",   offsetof(struct opts, until) },
		{ "workers", offsetof(struct opts, workers) },
	};
	static const struct { const char *name; size_t off; } flags[] = {
		{ "all",     offsetof(struct opts, all) },
		{ "csv",     offsetof(struct opts, csv) },
		{ "force",   offsetof(struct opts, force) },
		{ "help",    offsetof(struct opts, help) },
		{ "once",    offsetof(struct opts, once) },
		{ "version", offsetof(struct opts, version) },
	};
	int		 i;
	size_t		 k, f, n;
	const char	*a, *val;

	o->args = calloc((size_t)argc + 1, sizeof(char *));
	o->given = calloc((size_t)argc + 1, sizeof(char *));
	if (o->args == NULL || o->given == NULL)
		return -1;
	for (i = 0; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "-h") == 0)
			a = "--help";
		if (strncmp(a, "--", 2) != 0) {
			o->args[o->nargs++] = argv[i];
			continue;
		}
		for (f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
			if (strcmp(a + 2, flags[f].name) == 0)
				break;
		if (f < sizeof(flags) / sizeof(flags[0])) {
			*(int *)((char *)o + flags[f].off) = 1;
			o->given[o->ngiven++] = flags[f].name;
			continue;
		}
		for (k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
			n = strlen(known[k].name);
			if (strncmp(a + 2, known[k].name, n) != 0)
				continue;
			if (a[2 + n] == '=')
				val = a + 3 + n;
			else if (a[2 + n] == '\0' && i + 1 < argc)
				val = argv[++i];
			else
				continue;
			*(const char **)((char *)o + known[k].off) = val;
			o->given[o->ngiven++] = known[k].name;
			break;
		}
		if (k < sizeof(known) / sizeof(known[0]))
			continue;
		n = strcspn(a + 2, "=");
		for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			if (strlen(known[k].name) == n &&
			    strncmp(a + 2, known[k].name, n) == 0)
				break;
		fprintf(stderr, "tessera: %s %.*s; see tessera --help\n",
		    k < sizeof(known) / sizeof(known[0]) ? "no value for option" :
		    "unknown option", (int)n + 2, a);
		return -1;
	}
	return 0;
}

/* True when fd 0 is a listening socket (the FastCGI spec's
 * FCGI_LISTENSOCK_FILENO). */
static int
fd0_is_listener(void)
{
	int		 v = 0;
	socklen_t	 len = sizeof(v);

	return getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v;
}

static int
load(struct config *cfg, const struct opts *o)
{
	char	 err[1024];

	if (cfg_load(cfg, o->config, o->data, err, sizeof(err)) == -1) {
		fprintf(stderr, "tessera: %s\n", err);
		log_err("configuration: %s", err);
		return -1;
	}
	log_set_json(strcmp(cfg->log_format, "json") == 0);
	if (o->listen && cfg_set(cfg, "listen", o->listen, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "tessera: %s\n", err);
		return -1;
	}
	if (o->workers && cfg_set(cfg, "workers", o->workers, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "tessera: --%s\n", err);
		return -1;
	}
	return 0;
}

static struct opts	opts;

/* Reads the configuration again with the same options (serve's SIGHUP). */
static int
reload_cfg(struct config *cfg)
{
	return load(cfg, &opts);
}

/* tessera migrate: opening the database applies what is pending (each
 * applied migration is logged); then the version it is at. */
static int
migrate_cmd(const struct config *cfg)
{
	struct db	 db;
	struct dbq	*q;
	char		 err[1024];
	long long	 v = -1;
	const char	*engine;

	if (db_open(&db, cfg, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "tessera migrate: %s\n", err);
		return 1;
	}
	engine = db_remote(&db) ? "postgresql" : "sqlite";
	if ((q = db_query(&db, "schema_version")) != NULL &&
	    db_step(q) == DB_ROW)
		v = db_col_int(q, 0);
	if (q != NULL)
		db_reset(q);
	db_close(&db);
	if (v < 0) {
		fprintf(stderr, "tessera migrate: no schema version\n");
		return 1;
	}
	printf("schema version %lld (%s)\n", v, engine);
	return 0;
}

/* Web-server modes: FastCGI on fd 0, or a single CGI request. */
static int
run_spawned(const struct opts *o)
{
	struct config	 cfg;
	struct worker	 w;
	struct resp	 resp = { .status = 500 };
	struct conn	 c = { .envp = environ };
	char		 err[1024] = "";
	int		 fcgi = fd0_is_listener(), rc;

	if (!fcgi && getenv("GATEWAY_INTERFACE") == NULL) {
		cli_usage(stderr);
		return 2;
	}
	if (load(&cfg, o) == -1 ||
	    worker_init(&w, &cfg, err, sizeof(err)) == -1) {
		if (cfg.data_dir)
			log_err("%s", err);
		cfg_free(&cfg);
		if (!fcgi) {
			/* Tell the CGI client something useful. */
			resp_error(&resp, 500, "INTERNAL_ERROR",
			    "service not initialised", 0);
			resp_write(&resp, &c, 0);
			resp_free(&resp);
		}
		return 1;
	}
	rc = fcgi ? worker_run_fcgi(&w, 0) : worker_run_cgi(&w, environ);
	worker_free(&w);
	cfg_free(&cfg);
	return rc == 0 ? 0 : 1;
}

/* Finds the command the operands name and checks its options and
 * operands against the command table. Returns the entry, or NULL with a
 * one-line message printed (exit status 2). *first: the index of the
 * command's first operand. */
static const struct cli_cmd *
resolve(const struct opts *o, int *first)
{
	const struct cli_cmd	*c, *s;
	const char		*cmd = o->args[0];
	int			 i, n;

	if ((c = cli_find(cmd, NULL)) == NULL) {
		fprintf(stderr, "tessera: unknown command \"%s\"; see tessera "
		    "--help\n", cmd);
		return NULL;
	}
	*first = 1;
	if (c->group && (o->nargs > 1 || !o->help)) {
		if (o->nargs < 2) {
			fprintf(stderr, "tessera %s: a subcommand is needed; "
			    "see tessera --help\n", cmd);
			return NULL;
		}
		if ((s = cli_find(cmd, o->args[1])) == NULL) {
			fprintf(stderr, "tessera %s: unknown subcommand \"%s\"; "
			    "see tessera --help\n", cmd, o->args[1]);
			return NULL;
		}
		c = s;
		*first = 2;
	}
	for (i = 0; i < o->ngiven; i++)
		if (!cli_allows(c, o->given[i])) {
			fprintf(stderr, "tessera %s%s%s: unknown option --%s; see "
			    "tessera --help\n", c->cmd, c->sub ? " " : "",
			    c->sub ? c->sub : "", o->given[i]);
			return NULL;
		}
	n = o->nargs - *first;
	if (!o->help && (n < c->min_operands || n > c->max_operands)) {
		fprintf(stderr, "tessera %s%s%s: %s%s; see tessera --help\n",
		    c->cmd, c->sub ? " " : "", c->sub ? c->sub : "",
		    n > c->max_operands ? "unexpected operand " : "expects ",
		    n > c->max_operands ? o->args[*first + c->max_operands] :
		    c->operands);
		return NULL;
	}
	return c;
}

/* tessera help [COMMAND [SUBCOMMAND]]. */
static int
help_cmd(const struct opts *o)
{
	const struct cli_cmd	*c;

	if (o->nargs == 1) {
		cli_usage(stdout);
		return 0;
	}
	c = cli_find(o->args[1], o->nargs > 2 ? o->args[2] : NULL);
	if (c == NULL || o->nargs > 3) {
		fprintf(stderr, "tessera help: unknown command \"%s%s%s\"; see "
		    "tessera --help\n", o->args[1], o->nargs > 2 ? " " : "",
		    o->nargs > 2 ? o->args[2] : "");
		return 2;
	}
	cli_help(stdout, c);
	return 0;
}

/* Runs the command c names (its operands from args[first]). The exit
 * status. */
static int
dispatch(struct config *cfg, const struct cli_cmd *c, struct opts *op,
    int first)
{
	const char	*cmd = c->cmd, *arg = op->args[first];
	char		 err[1024];
	int		 i, rc = 0;

	if (!strcmp(cmd, "serve"))
		return serve_main(cfg, reload_cfg);
	if (!strcmp(cmd, "runner"))
		return runner_run(cfg, op->once) == 0 ? 0 : 1;
	if (!strcmp(cmd, "init")) {
		if (data_init(cfg, err, sizeof(err)) == -1) {
			fprintf(stderr, "tessera init: %s\n", err);
			return 1;
		}
		printf("initialised %s\n", cfg->data_dir);
		return 0;
	}
	if (!strcmp(cmd, "migrate"))
		return migrate_cmd(cfg);
	if (!strcmp(cmd, "config")) {
		cfg_print(cfg, stdout);
		return 0;
	}
	if (!strcmp(cmd, "user"))
		return cli_user(cfg, c->sub, arg ? arg : op->email, op->role,
		    op->account);
	if (!strcmp(cmd, "token") && !strcmp(c->sub, "check"))
		return cli_token_check(cfg, arg, op->data != NULL ||
		    op->config != NULL || getenv("TESSERA_DATA") != NULL ||
		    getenv("TESSERA_CONFIG") != NULL ||
		    getenv("TESSERA_DATABASE") != NULL);
	if (!strcmp(cmd, "backup"))
		return cli_backup(cfg, op->to, op->force);
	if (!strcmp(cmd, "restore"))
		return cli_restore(cfg, op->from);
	if (!strcmp(cmd, "token")) {
		struct cli_token_opts to = {
			.sub = c->sub, .key = arg,
			.account = op->account, .destination = op->destination,
			.email = op->email, .description = op->description,
			.scopes = op->scopes,
			.expires_in_days = op->expires_in_days,
			.allowed_ips = op->allowed_ips,
			.grace_seconds = op->grace_seconds,
			.kind = op->kind, .all = op->all,
		};

		return cli_token(cfg, &to);
	}
	if (!strcmp(cmd, "audit")) {
		struct cli_audit_opts ao = {
			.account = op->account, .email = op->email,
			.action = op->action, .since = op->since,
			.until = op->until, .limit = op->limit, .csv = op->csv,
		};

		return cli_audit(cfg, &ao);
	}
	if (!strcmp(cmd, "lua-test")) {
		for (i = first; i < op->nargs; i++)
			if (lua_test_run(cfg, op->args[i]) != 0)
				rc = 1;
		return rc;
	}
	/* A command in the table but not here: a defect, said plainly. */
	fprintf(stderr, "tessera %s: not implemented\n", cmd);
	return 1;
}

int
main(int argc, char **argv)
{
	struct opts	*op = &opts;
	struct config	 cfg;
	const struct cli_cmd *c;
	int		 first, rc;

	log_open();
	db_init_library();
	if (getenv("TESSERA_TEST_CLOCK_FILE") != NULL)
		log_warn("TESSERA_TEST_CLOCK_FILE is set: the clock is read "
		    "from %s (for tests only)",
		    getenv("TESSERA_TEST_CLOCK_FILE"));
	if (sodium_init() < 0) {
		log_err("libsodium failed to initialise");
		return 1;
	}
	if (parse_opts(argc - 1, argv + 1, op) == -1)
		return 2;
	if (op->nargs == 0 && op->version && op->ngiven == 1) {
		printf("tessera %s\n", TESSERA_VERSION);
		return 0;
	}
	if (op->nargs == 0 && op->help) {
		cli_usage(stdout);
		return 0;
	}
	if (op->nargs == 0)
		return run_spawned(op);
	if ((c = resolve(op, &first)) == NULL)
		return 2;
	if (op->help) {
		cli_help(stdout, c);
		return 0;
	}
	if (!strcmp(c->cmd, "help"))
		return help_cmd(op);
	if (!strcmp(c->cmd, "version")) {
		printf("tessera %s\n", TESSERA_VERSION);
		return 0;
	}
	if (load(&cfg, op) == -1) {
		cfg_free(&cfg);		/* what was set before the error */
		free(op->args);
		free(op->given);
		return 1;
	}
	rc = dispatch(&cfg, c, op, first);
	cfg_free(&cfg);
	free(op->args);
	free(op->given);
	return rc;
}
