/*
 * cli_help.h -- the command table of the tessera command (cli_help.c):
 * every command and subcommand, its synopsis, its options with their
 * meaning. main.c dispatches only what this table knows, checks the
 * options given against it and prints its help from it, so the usage
 * and the per-command text cannot drift apart.
 */
#ifndef CLI_HELP_H
#define CLI_HELP_H

#include <stdio.h>

/* One option of a command: "--name ARG" (arg NULL: a flag). */
struct cli_opt {
	const char	*name;		/* without the "--" */
	const char	*arg;		/* "E", "N", ... or NULL */
	const char	*meaning;
	int		 required;	/* 1: shown without brackets */
};

/* One command ("serve"), or one subcommand ("token", "list"). A group
 * ("token" alone) has sub NULL and no options: its help lists its
 * subcommands. */
struct cli_cmd {
	const char	*cmd;
	const char	*sub;		/* NULL: a command without subcommands,
					 * or the group's own entry */
	int		 group;		/* 1: cmd has subcommands */
	const char	*operands;	/* after the name: "KEY", "FILE...", "" */
	int		 min_operands, max_operands;
	const char	*summary;	/* one line */
	const char	*text;		/* more, or NULL */
	const struct cli_opt *opts;	/* ends with { NULL } */
};

/* The entry for cmd (and sub, NULL for a command's own entry); NULL when
 * there is none. */
const struct cli_cmd *cli_find(const char *cmd, const char *sub);
/* The i-th entry (0, 1, ...), NULL past the last. */
const struct cli_cmd *cli_entry(int i);
/* 1 when option name (without "--") is allowed for c (the options every
 * command takes included). */
int	 cli_allows(const struct cli_cmd *c, const char *name);
/* Prints the general usage: every command's synopsis. */
void	 cli_usage(FILE *);
/* Prints the help of c: synopsis, options with their meaning, text; for
 * a group, its subcommands. */
void	 cli_help(FILE *, const struct cli_cmd *c);

#endif /* CLI_HELP_H */
