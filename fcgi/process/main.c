/*
 * main.c -- the tessera command: picks the serving mode or runs an admin
 * subcommand.
 *
 *	tessera                      FastCGI on fd 0 (spawned by a web
 *	                             server), or one CGI request
 *	tessera serve [--listen L] [--workers N]
 *	tessera runner [--once]      queued runs and the periodic work
 *	tessera user ... | token ... the administrator's command line
 *	tessera init                 create the data dir, pepper, database
 *	tessera migrate              apply pending migrations, say the version
 *	tessera config               print the effective configuration
 *	tessera lua-test FILE...     run Lua tests in the sandboxed host
 *	tessera version
 *
 * Every subcommand takes --config FILE (or $TESSERA_CONFIG) and
 * --data DIR (or $TESSERA_DATA).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "domain/domain.h"
#include "http/http.h"
#include "lib/lib.h"
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
	int		 once;
	char		**args;		/* operands left over */
	int		 nargs;
};

static void
usage(FILE *f)
{
	fputs("usage: tessera [serve|runner|init|migrate|config|user|token|"
	    "lua-test|version] "
	    "[--config FILE] [--data DIR]\n"
	    "  tessera serve [--listen unix:PATH|HOST:PORT] [--workers N]\n"
	    "  tessera runner [--once]      queued runs and the periodic work "
	    "(token expiry\n"
	    "                               hooks) for deployments where the "
	    "web server spawns tessera\n"
	    "  tessera migrate              apply pending migrations (either "
	    "engine) and say the version\n"
	    "  tessera init                 create data dir, pepper and "
	    "database\n"
	    "  tessera config               print the effective "
	    "configuration\n"
	    "  tessera user add --email E [--role admin|member] "
	    "[--account NAME]\n"
	    "  tessera user list | disable E | enable E | passwd E\n"
	    "  tessera token add --email E --description D [--scopes A,B]\n"
	    "                    [--expires-in-days N] [--allowed-ips "
	    "CIDR,...]\n"
	    "  tessera token add-via --account NAME --destination NAME "
	    "[--email E] [--description D]\n"
	    "                    [--expires-in-days N] [--allowed-ips "
	    "CIDR,...]\n"
	    "  tessera token rotate KEY [--grace-seconds N]\n"
	    "  tessera token activate KEY | deactivate KEY | show KEY\n"
	    "                               (passwords: piped stdin, else "
	    "generated and printed)\n"
	    "  tessera lua-test FILE...     run Lua tests inside the "
	    "sandboxed host\n"
	    "With no subcommand, tessera serves FastCGI on fd 0 when a web "
	    "server spawned it\n"
	    "(lighttpd bin-path, mod_fcgid, spawn-fcgi), or one CGI request "
	    "when GATEWAY_INTERFACE is set.\n", f);
}

/* Parses "--name value" and "--name=value" options; the rest are
 * operands. Returns 0 or -1 (message printed). */
static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct { const char *name; size_t off; } known[] = {
		{ "account", offsetof(struct opts, account) },
		{ "allowed-ips", offsetof(struct opts, allowed_ips) },
		{ "config",  offsetof(struct opts, config) },
		{ "data",    offsetof(struct opts, data) },
		{ "description", offsetof(struct opts, description) },
		{ "destination", offsetof(struct opts, destination) },
		{ "email",   offsetof(struct opts, email) },
		{ "expires-in-days", offsetof(struct opts, expires_in_days) },
		{ "grace-seconds", offsetof(struct opts, grace_seconds) },
		{ "listen",  offsetof(struct opts, listen) },
		{ "role",    offsetof(struct opts, role) },
		{ "scopes",  offsetof(struct opts, scopes) },
		{ "workers", offsetof(struct opts, workers) },
	};
	int		 i;
	size_t		 k, n;
	const char	*a, *val;

	o->args = calloc((size_t)argc + 1, sizeof(char *));
	for (i = 0; i < argc; i++) {
		a = argv[i];
		if (strncmp(a, "--", 2) != 0) {
			o->args[o->nargs++] = argv[i];
			continue;
		}
		if (strcmp(a, "--once") == 0) {
			o->once = 1;
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
			break;
		}
		if (k == sizeof(known) / sizeof(known[0])) {
			fprintf(stderr, "tessera: unknown or incomplete "
			    "option %s\n", a);
			return -1;
		}
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
		usage(stderr);
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

int
main(int argc, char **argv)
{
	struct opts	*op = &opts;
	struct config	 cfg;
	char		 err[1024];
	const char	*cmd;
	int		 i, rc = 0;

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
	if (op->nargs == 0)
		return run_spawned(op);
	cmd = op->args[0];
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("tessera %s\n", TESSERA_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	if (load(&cfg, op) == -1) {
		cfg_free(&cfg);		/* what was set before the error */
		free(op->args);
		return 1;
	}
	if (!strcmp(cmd, "serve") && op->nargs == 1) {
		rc = serve_main(&cfg, reload_cfg);
	} else if (!strcmp(cmd, "runner") && op->nargs == 1) {
		rc = runner_run(&cfg, op->once) == 0 ? 0 : 1;
	} else if (!strcmp(cmd, "init") && op->nargs == 1) {
		if (data_init(&cfg, err, sizeof(err)) == -1) {
			fprintf(stderr, "tessera init: %s\n", err);
			rc = 1;
		} else
			printf("initialised %s\n", cfg.data_dir);
	} else if (!strcmp(cmd, "migrate") && op->nargs == 1) {
		rc = migrate_cmd(&cfg);
	} else if (!strcmp(cmd, "config") && op->nargs == 1) {
		cfg_print(&cfg, stdout);
	} else if (!strcmp(cmd, "user") && op->nargs >= 2 && op->nargs <= 3) {
		rc = cli_user(&cfg, op->args[1],
		    op->nargs == 3 ? op->args[2] : op->email, op->role,
		    op->account);
	} else if (!strcmp(cmd, "token") && op->nargs >= 2 && op->nargs <= 3) {
		struct cli_token_opts to = {
			.sub = op->args[1],
			.key = op->nargs == 3 ? op->args[2] : NULL,
			.account = op->account, .destination = op->destination,
			.email = op->email, .description = op->description,
			.scopes = op->scopes,
			.expires_in_days = op->expires_in_days,
			.allowed_ips = op->allowed_ips,
			.grace_seconds = op->grace_seconds,
		};

		rc = cli_token(&cfg, &to);
	} else if (!strcmp(cmd, "lua-test") && op->nargs >= 2) {
		for (i = 1; i < op->nargs; i++)
			if (lua_test_run(&cfg, op->args[i]) != 0)
				rc = 1;
	} else {
		usage(stderr);
		rc = 2;
	}
	cfg_free(&cfg);
	free(op->args);
	return rc;
}
