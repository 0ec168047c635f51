/*
 * cli_help.c -- the command table: what "tessera --help" and "tessera CMD
 * [SUB] --help" print, and what main.c dispatches and allows. One place
 * for the synopsis and the per-command text (cli_help.h).
 */
#include <ctype.h>
#include <string.h>

#include "cli_help.h"

/* Every command takes these. */
static const struct cli_opt common[] = {
	{ "config", "FILE", "the configuration file (default "
	    "$TESSERA_CONFIG; TESSERA_* variables override it)", 0 },
	{ "data", "DIR", "the data directory: database, pepper "
	    "(default $TESSERA_DATA, else the configuration's data_dir)", 0 },
	{ "help", NULL, "print this help and exit", 0 },
	{ NULL, NULL, NULL, 0 }
};

static const struct cli_opt none[] = { { NULL, NULL, NULL, 0 } };

static const struct cli_opt serve_o[] = {
	{ "listen", "unix:PATH|HOST:PORT", "where to listen for FastCGI "
	    "(default: the configuration's listen)", 0 },
	{ "workers", "N", "how many worker processes to keep", 0 },
	{ NULL, NULL, NULL, 0 }
};

static const struct cli_opt runner_o[] = {
	{ "once", NULL, "do the due work once and exit", 0 },
	{ NULL, NULL, NULL, 0 }
};

static const struct cli_opt user_add_o[] = {
	{ "email", "E", "the new user's email (required; also the login)", 1 },
	{ "role", "admin|member", "the user's role (default member)", 0 },
	{ "account", "NAME", "the account, created when new (default "
	    "\"Default\")", 0 },
	{ NULL, NULL, NULL, 0 }
};

static const struct cli_opt user_who_o[] = {
	{ "email", "E", "the user, instead of the operand E", 0 },
	{ NULL, NULL, NULL, 0 }
};

static const struct cli_opt token_add_o[] = {
	{ "email", "E", "the active user the token acts for (required)", 1 },
	{ "description", "D", "what the token is for: 1 to 200 characters "
	    "(required)", 1 },
	{ "scopes", "A,B", "what it may do (default: every user scope but "
	    "tokens:write): objects:read, objects:write, pipelines:run, "
	    "webhook:write, records:read, tokens:read, tokens:write", 0 },
	{ "expires-in-days", "N", "days until it expires, 0 for never "
	    "(the configured default and maximum hold)", 0 },
	{ "allowed-ips", "CIDR,...", "the addresses it may be used from "
	    "(default: any)", 0 },
	{ NULL, NULL, NULL, 0 }
};

static const struct cli_opt token_via_o[] = {
	{ "account", "NAME", "the account (required)", 1 },
	{ "destination", "NAME", "the Via destination, made when new "
	    "(required)", 1 },
	{ "email", "E", "the user who owns the token (default: the account's "
	    "first active admin)", 0 },
	{ "description", "D", "what it is for (default: the destination's "
	    "name)", 0 },
	{ "expires-in-days", "N", "days until it expires, 0 for never", 0 },
	{ "allowed-ips", "CIDR,...", "the addresses it may be used from", 0 },
	{ NULL, NULL, NULL, 0 }
};

static const struct cli_opt token_list_o[] = {
	{ "email", "E", "only the tokens of this user", 0 },
	{ "account", "NAME", "only the tokens of this account", 0 },
	{ "kind", "user|via", "only tokens of this kind", 0 },
	{ "all", NULL, "also the tokens of disabled users and accounts", 0 },
	{ NULL, NULL, NULL, 0 }
};

static const struct cli_opt token_rotate_o[] = {
	{ "grace-seconds", "N", "how long the old secret keeps working, 0 to "
	    "604800 (default 86400)", 0 },
	{ NULL, NULL, NULL, 0 }
};

static const struct cli_opt audit_list_o[] = {
	{ "account", "NAME", "only this account's events", 0 },
	{ "email", "E", "only the events done by this user (on a page, "
	    "or through one of their tokens)", 0 },
	{ "action", "A", "only this action, e.g. token.created", 0 },
	{ "since", "YYYY-MM-DD", "from the start of this day (UTC)", 0 },
	{ "until", "YYYY-MM-DD", "to the end of this day (UTC)", 0 },
	{ "limit", "N", "at most N events, 1 to 100000 (default 100)", 0 },
	{ "csv", NULL, "CSV (RFC 4180) with a header row instead of a table", 0 },
	{ NULL, NULL, NULL, 0 }
};

static const struct cli_opt backup_o[] = {
	{ "to", "FILE", "where the copy goes (required; mode 0600)", 1 },
	{ "force", NULL, "replace FILE when it exists", 0 },
	{ NULL, NULL, NULL, 0 }
};

static const struct cli_opt restore_o[] = {
	{ "from", "FILE", "the backup to restore (required)", 1 },
	{ NULL, NULL, NULL, 0 }
};

#define DEACTIVATE_TEXT \
	"Deactivating a token also deactivates every token made from it " \
	"(lineage), as on the tokens page and in the API. Audited."
#define ACTIVATE_TEXT \
	"Refused while the token it was made from is off: activate that one " \
	"first. Audited."

static const struct cli_cmd cmds[] = {
	{ "serve", NULL, 0, "", 0, 0, "run the FastCGI supervisor: workers "
	    "and the runner",
	    "Binds the socket, pre-forks the workers, respawns any that die, "
	    "reloads on SIGHUP, stops on SIGTERM.", serve_o },
	{ "runner", NULL, 0, "", 0, 0, "run queued runs and the periodic work "
	    "(token expiry hooks, notifications)",
	    "For deployments where the web server spawns tessera; serve keeps "
	    "its own runner.", runner_o },
	{ "init", NULL, 0, "", 0, 0, "create the data directory, the pepper "
	    "and the database", NULL, none },
	{ "migrate", NULL, 0, "", 0, 0, "apply pending migrations (either "
	    "engine) and print the schema version", NULL, none },
	{ "config", NULL, 0, "", 0, 0, "print the effective configuration",
	    NULL, none },
	{ "user", NULL, 1, "SUBCOMMAND", 0, 0, "manage people", NULL, none },
	{ "user", "add", 0, "", 0, 0, "add a user",
	    "The password comes from standard input when it is a pipe (one "
	    "line, 8 to 1024 characters), else one is generated and printed "
	    "once. Audited.", user_add_o },
	{ "user", "list", 0, "", 0, 0, "list every user: email, role, active, "
	    "created, account", NULL, none },
	{ "user", "disable", 0, "E", 0, 1, "disable a user: their sessions "
	    "end and their tokens stop at once", "Audited.", user_who_o },
	{ "user", "enable", 0, "E", 0, 1, "enable a disabled user again",
	    "Audited.", user_who_o },
	{ "user", "passwd", 0, "E", 0, 1, "set a user's password (ends their "
	    "sessions)", "The password comes as with user add. Audited.",
	    user_who_o },
	{ "token", NULL, 1, "SUBCOMMAND", 0, 0, "manage API tokens", NULL,
	    none },
	{ "token", "add", 0, "", 0, 0, "make a user token; its key and secret "
	    "are printed once",
	    "Only a hash of the secret is kept. Audited.", token_add_o },
	{ "token", "add-via", 0, "", 0, 0, "make a Via token for a "
	    "destination; printed once", "Audited.", token_via_o },
	{ "token", "list", 0, "", 0, 0, "list tokens: key, kind, active, "
	    "description, scopes, expires, last used",
	    "Newest first; the tokens of active users of active accounts "
	    "unless --all. Never a secret.", token_list_o },
	{ "token", "show", 0, "KEY", 1, 1, "show one token (never its secret)",
	    NULL, none },
	{ "token", "rotate", 0, "KEY", 1, 1, "give a token a new secret, "
	    "printed once", "Audited.", token_rotate_o },
	{ "token", "activate", 0, "KEY", 1, 1, "switch a token on",
	    ACTIVATE_TEXT, none },
	{ "token", "deactivate", 0, "KEY", 1, 1, "switch a token off, and "
	    "the tokens made from it", DEACTIVATE_TEXT, none },
	{ "token", "enable", 0, "KEY", 1, 1, "the same as token activate",
	    ACTIVATE_TEXT, none },
	{ "token", "disable", 0, "KEY", 1, 1, "the same as token deactivate",
	    DEACTIVATE_TEXT, none },
	{ "token", "check", 0, "[TOKEN]", 0, 1, "is a string a well-formed "
	    "token, and a live one? never prints it",
	    "The string comes from standard input (one line; an operand "
	    "would be in the process list). Offline: its prefix, length, "
	    "alphabet and checksum. With --data, --config, TESSERA_DATA, "
	    "TESSERA_CONFIG or TESSERA_DATABASE also whether it is live: it "
	    "exists, is on, has not expired, and its user and account are "
	    "active (a live one is named by its key). Exit status: 0 "
	    "well-formed (offline) or live, 1 malformed, 2 nothing to check, "
	    "3 well-formed but not live, 4 the database could not be read.",
	    none },
	{ "audit", NULL, 1, "SUBCOMMAND", 0, 0, "read the audit log", NULL,
	    none },
	{ "audit", "list", 0, "", 0, 0, "list audit events, newest first: "
	    "time, account, who, action, object, ip, detail",
	    "Who is \"user@x\", \"user@x via token KEY\" or \"command line\" "
	    "(what tessera user and tessera token did; ip \"cli\").",
	    audit_list_o },
	{ "backup", NULL, 0, "", 0, 0, "copy the SQLite database while the "
	    "service runs (PostgreSQL: use pg_dump)",
	    "A consistent copy of one moment (VACUUM INTO from a read "
	    "transaction: writers go on), written beside FILE and renamed "
	    "into place, mode 0600. An existing FILE is kept unless --force. "
	    "DATA/pepper.key is not in it: keep a copy of that file apart.",
	    backup_o },
	{ "restore", NULL, 0, "", 0, 0, "replace the SQLite database with a "
	    "backup (the service stopped)",
	    "Checks the file first (SQLite's integrity_check, the Tessera "
	    "schema, a schema version this tessera knows) and that DATA has "
	    "the pepper.key the backup's tokens were made with; refuses while "
	    "any process has the database open (stop tessera and its runner "
	    "first). The copy is renamed over DATA/tessera.db in one step; "
	    "pending migrations are applied.", restore_o },
	{ "lua-test", NULL, 0, "FILE...", 1, 1000, "run Lua test files inside "
	    "the sandboxed host", NULL, none },
	{ "version", NULL, 0, "", 0, 0, "print the version", NULL, none },
	{ "help", NULL, 0, "[COMMAND [SUBCOMMAND]]", 0, 2, "print the help of "
	    "tessera or of one command", NULL, none },
};

#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

const struct cli_cmd *
cli_find(const char *cmd, const char *sub)
{
	size_t	 i;

	for (i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].cmd, cmd) == 0 &&
		    (sub == NULL ? cmds[i].sub == NULL :
		    cmds[i].sub != NULL && strcmp(cmds[i].sub, sub) == 0))
			return &cmds[i];
	return NULL;
}

const struct cli_cmd *
cli_entry(int i)
{
	return i >= 0 && (size_t)i < NCMDS ? &cmds[i] : NULL;
}

int
cli_allows(const struct cli_cmd *c, const char *name)
{
	const struct cli_opt	*o;

	for (o = common; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return 1;
	for (o = c->opts; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return 1;
	return 0;
}

/* "tessera token list [--email E] ..." (no final newline), its lines
 * cut before 78 columns and continued under the subcommand; indent: the
 * columns before it. */
static void
synopsis(FILE *f, const struct cli_cmd *c, int indent)
{
	const struct cli_opt	*o;
	char			 word[96];
	int			 col, start;

	col = indent + fprintf(f, "tessera %s%s%s%s%s", c->cmd,
	    c->sub ? " " : "", c->sub ? c->sub : "", *c->operands ? " " : "",
	    c->operands);
	start = indent + 9 + (int)strlen(c->cmd);
	for (o = c->opts; o->name; o++) {
		snprintf(word, sizeof(word), "%s--%s%s%s%s", o->required ?
		    "" : "[", o->name, o->arg ? " " : "", o->arg ? o->arg : "",
		    o->required ? "" : "]");
		if (col + 1 + (int)strlen(word) > 78)
			col = fprintf(f, "\n%*s", start - 1, "") - 1;
		col += fprintf(f, " %s", word);
	}
}

void
cli_usage(FILE *f)
{
	size_t	 i;

	fputs("usage: tessera COMMAND [SUBCOMMAND] [OPTIONS] "
	    "[--config FILE] [--data DIR]\n\n", f);
	for (i = 0; i < NCMDS; i++) {
		if (cmds[i].group)
			continue;
		fputs("  ", f);
		synopsis(f, &cmds[i], 2);
		fputc('\n', f);
	}
	fputs("\nWith no command, tessera serves FastCGI on fd 0 when a web "
	    "server spawned it\n(lighttpd bin-path, mod_fcgid, spawn-fcgi), or "
	    "one CGI request when\nGATEWAY_INTERFACE is set.\n"
	    "\"tessera help COMMAND [SUBCOMMAND]\" or \"tessera COMMAND "
	    "[SUBCOMMAND] --help\"\nexplains one command and its options. "
	    "Exit status: 0 done, 1 failed, 2 usage.\n", f);
}

/* Prints text from column col on, its words wrapped before column 78
 * and continued at column indent; then a newline. */
static void
wrap(FILE *f, const char *text, int col, int indent)
{
	const char	*p = text;
	int		 n;

	while (*p) {
		n = (int)strcspn(p, " ");
		if (col > indent && col + 1 + n > 78)
			col = fprintf(f, "\n%*s", indent, "") - 1;
		else if (col > indent)
			col += fprintf(f, " ");
		col += fprintf(f, "%.*s", n, p);
		p += n;
		p += strspn(p, " ");
	}
	fputc('\n', f);
}

/* Prints "  --name ARG" and the meaning, for a list of options. */
static void
options(FILE *f, const struct cli_opt *o)
{
	char	 left[64];

	for (; o->name; o++) {
		snprintf(left, sizeof(left), "--%s%s%s", o->name,
		    o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(f, "  %-26s ", left);
		wrap(f, o->meaning, 29 + (strlen(left) > 26 ?
		    (int)strlen(left) - 26 : 0), 29);
	}
}

void
cli_help(FILE *f, const struct cli_cmd *c)
{
	size_t	 i;

	if (c->group) {
		fprintf(f, "usage: tessera %s SUBCOMMAND [OPTIONS]\n\n%c%s.\n\n"
		    "Subcommands:\n", c->cmd, toupper((unsigned char)
		    c->summary[0]), c->summary + 1);
		for (i = 0; i < NCMDS; i++)
			if (cmds[i].sub && strcmp(cmds[i].cmd, c->cmd) == 0)
				fprintf(f, "  %-11s %s\n", cmds[i].sub,
				    cmds[i].summary);
		fprintf(f, "\n\"tessera %s SUBCOMMAND --help\" explains one.\n",
		    c->cmd);
		return;
	}
	fputs("usage: ", f);
	synopsis(f, c, 7);
	fprintf(f, "\n\n%c%s.", toupper((unsigned char)c->summary[0]),
	    c->summary + 1);
	fputc('\n', f);
	if (c->text)
		wrap(f, c->text, 0, 0);
	fputs("\nOptions:\n", f);
	options(f, c->opts);
	options(f, common);
}
