/*
 * test_cli_help.c -- the command table (fcgi/process/cli_help.c): every
 * entry has a summary and explains each option; every group has
 * subcommands and every subcommand a group; no entry twice; cli_find
 * finds each; the usage names every command; the help of each names it
 * and its options; cli_allows takes the common options and refuses
 * others'.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "process/cli_help.h"

/* What f(out, c) prints, in a buffer the caller frees. */
static char *
printed(void (*usage)(FILE *), const struct cli_cmd *c)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (usage)
		usage(f);
	else
		cli_help(f, c);
	fclose(f);
	return buf;
}

static void
t_entries(void **state)
{
	const struct cli_cmd	*c, *d;
	const struct cli_opt	*o;
	int			 i, j, subs;

	(void)state;
	for (i = 0; (c = cli_entry(i)) != NULL; i++) {
		assert_non_null(c->summary);
		assert_true(strlen(c->summary) > 5);
		assert_non_null(c->operands);
		assert_true(c->min_operands <= c->max_operands);
		for (o = c->opts; o->name; o++) {
			assert_non_null(o->meaning);
			assert_true(strlen(o->meaning) > 5);
			assert_null(strchr(o->name, '='));
		}
		assert_ptr_equal(cli_find(c->cmd, c->sub), c);
		for (j = 0; (d = cli_entry(j)) != NULL; j++)
			if (j != i && strcmp(c->cmd, d->cmd) == 0)
				assert_false((c->sub == NULL && d->sub == NULL) ||
				    (c->sub && d->sub &&
				    strcmp(c->sub, d->sub) == 0));
		if (c->sub)	/* a subcommand of a group */
			assert_true(cli_find(c->cmd, NULL) &&
			    cli_find(c->cmd, NULL)->group);
		if (!c->group)
			continue;
		for (subs = 0, j = 0; (d = cli_entry(j)) != NULL; j++)
			subs += d->sub && strcmp(d->cmd, c->cmd) == 0;
		assert_true(subs > 0);
	}
	assert_true(i > 20);
	assert_null(cli_find("nosuch", NULL));
	assert_null(cli_find("token", "nosuch"));
}

static void
t_usage_and_help(void **state)
{
	const struct cli_cmd	*c;
	const struct cli_opt	*o;
	char			*usage, *help, want[128];
	int			 i;

	(void)state;
	usage = printed(cli_usage, NULL);
	for (i = 0; (c = cli_entry(i)) != NULL; i++) {
		snprintf(want, sizeof(want), "tessera %s%s%s", c->cmd,
		    c->sub ? " " : "", c->sub ? c->sub : "");
		if (!c->group && strstr(usage, want) == NULL)
			fail_msg("the usage does not name %s", want);
		help = printed(NULL, c);
		snprintf(want, sizeof(want), "usage: tessera %s%s%s", c->cmd,
		    c->sub ? " " : "", c->sub ? c->sub : "");
		if (strncmp(help, want, strlen(want)) != 0)
			fail_msg("the help of %s starts \"%.40s\"", want, help);
		for (o = c->opts; o->name; o++) {
			snprintf(want, sizeof(want), "\n  --%s", o->name);
			if (strstr(help, want) == NULL)
				fail_msg("the help of %s %s lacks --%s", c->cmd,
				    c->sub ? c->sub : "", o->name);
		}
		free(help);
	}
	free(usage);
}

static void
t_allows(void **state)
{
	const struct cli_cmd	*list = cli_find("token", "list");
	const struct cli_cmd	*serve = cli_find("serve", NULL);

	(void)state;
	assert_non_null(list);
	assert_non_null(serve);
	assert_true(cli_allows(list, "data"));
	assert_true(cli_allows(list, "config"));
	assert_true(cli_allows(list, "help"));
	assert_true(cli_allows(list, "kind"));
	assert_true(cli_allows(list, "all"));
	assert_false(cli_allows(list, "csv"));
	assert_false(cli_allows(list, "listen"));
	assert_true(cli_allows(serve, "listen"));
	assert_false(cli_allows(serve, "kind"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_entries),
		cmocka_unit_test(t_usage_and_help),
		cmocka_unit_test(t_allows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
