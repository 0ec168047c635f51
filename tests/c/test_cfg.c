/*
 * test_cfg.c -- the configuration loader in fcgi/lib/cfg.c: defaults, the
 * "key = value" file, TESSERA_<KEY> overrides, the data_dir argument and
 * the checks that reject bad values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tessera.h"
#include "testutil.h"

/* Every test starts and ends with no TESSERA_* variable set. */
static int
env_setup(void **state)
{
	(void)state;
	tu_clean_env();
	return 0;
}

static int
env_teardown(void **state)
{
	(void)state;
	tu_clean_env();
	return 0;
}

/* Writes a config file into the scratch dir; returns its path (static). */
static const char *
conf_file(const char *name, const char *text)
{
	static char	 p[PATH_MAX];

	tu_path(p, name);
	assert_int_equal(tu_write(p, text), 0);
	return p;
}

static void
cfg_defaults(void **state)
{
	struct config	 c;
	char		 err[256] = "";
	size_t		 n;

	(void)state;
	assert_int_equal(cfg_load(&c, NULL, "/srv/data", err, sizeof(err)), 0);
	assert_null(c.path);
	assert_int_equal(c.body_limit, 1048576);
	assert_string_equal(c.api_mount, "/api");
	assert_int_equal(c.reload, 0);
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.max_params, 1000);
	assert_int_equal(c.socket_mode, 0660);
	assert_int_equal(c.log_requests, 1);
	assert_int_equal(c.lua_memory_mb, 64);
	assert_int_equal(c.busy_timeout_ms, 5000);
	assert_int_equal(c.session_idle, 1800);
	assert_string_equal(c.brand, "Kondado");
	assert_string_equal(c.listen, "unix:/run/tessera/tessera.sock");
	assert_string_equal(c.extra_routes, "");
	assert_string_equal(c.data_dir, "/srv/data");
	/* Script directories are resolved to absolute paths. */
	assert_non_null(c.lua_dir);
	assert_non_null(c.schema_dir);
	assert_non_null(c.www_dir);
	assert_int_equal(c.lua_dir[0], '/');
	n = strlen(c.schema_dir);
	assert_true(n > 7);
	assert_string_equal(c.schema_dir + n - 7, "/schema");
	n = strlen(c.lua_dir);
	assert_string_equal(c.lua_dir + n - 4, "/lua");
	cfg_free(&c);
	assert_null(c.data_dir);
	assert_null(c.api_mount);
}

static void
cfg_file_applied(void **state)
{
	struct config	 c;
	char		 err[256] = "";
	const char	*p;

	(void)state;
	p = conf_file("good.conf",
	    "# Tessera test configuration\n"
	    "; a semicolon comment\n"
	    "\n"
	    "   \t\n"
	    "workers = 8\n"
	    "brand = \"Acme Data\"\n"
	    "  api_mount=/v1   \n"
	    "reload = yes\n"
	    "listen = \"127.0.0.1:9000\"\n"
	    "\tbody_limit\t=\t2048\r\n"
	    "socket_mode = 0600\n"
	    "extra_routes = \"\"\n"
	    "    # indented comment = ignored\n"
	    "log_requests = off");	/* no final newline */
	assert_int_equal(cfg_load(&c, p, "/d", err, sizeof(err)), 0);
	assert_non_null(c.path);
	assert_string_equal(c.path, p);
	assert_int_equal(c.workers, 8);
	assert_string_equal(c.brand, "Acme Data");
	assert_string_equal(c.api_mount, "/v1");
	assert_int_equal(c.reload, 1);
	assert_string_equal(c.listen, "127.0.0.1:9000");
	assert_int_equal(c.body_limit, 2048);
	assert_int_equal(c.socket_mode, 0600);
	assert_string_equal(c.extra_routes, "");
	assert_int_equal(c.log_requests, 0);
	/* Untouched keys keep their defaults. */
	assert_int_equal(c.max_params, 1000);
	cfg_free(&c);
}

static void
cfg_file_from_env_path(void **state)
{
	struct config	 c;
	char		 err[256] = "";

	(void)state;
	setenv("TESSERA_CONFIG", conf_file("env.conf", "workers = 3\n"), 1);
	assert_int_equal(cfg_load(&c, NULL, "/d", err, sizeof(err)), 0);
	assert_int_equal(c.workers, 3);
	assert_non_null(c.path);
	cfg_free(&c);
}

static void
cfg_unknown_key(void **state)
{
	struct config	 c;
	char		 err[256] = "";

	(void)state;
	assert_int_equal(cfg_load(&c, conf_file("typo.conf",
	    "# ok\nworkers = 2\nwrokers = 5\n"), "/d", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "wrokers"));
	assert_non_null(strstr(err, ":3:"));
	cfg_free(&c);
}

static void
cfg_bad_lines(void **state)
{
	struct config	 c;
	char		 err[256] = "";

	(void)state;
	/* Not "key = value". */
	assert_int_equal(cfg_load(&c, conf_file("noeq.conf",
	    "workers 4\n"), "/d", err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":1:"));
	cfg_free(&c);
	/* An empty file is just the defaults. */
	assert_int_equal(cfg_load(&c, conf_file("empty.conf", ""), "/d", err,
	    sizeof(err)), 0);
	assert_int_equal(c.workers, 4);
	cfg_free(&c);
	/* A missing file is an error, not silently the defaults. */
	err[0] = '\0';
	assert_int_equal(cfg_load(&c, "/nonexistent/tessera.conf", "/d", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/tessera.conf"));
	cfg_free(&c);
}

static void
cfg_bad_integers(void **state)
{
	static const char *const bad[] = {
		"workers = 4x\n",
		"workers = x4\n",
		"workers = \n",
		"workers = 4.0\n",
		"workers = 0\n",		/* below 1 */
		"workers = 257\n",		/* above 256 */
		"workers = -1\n",
		"workers = 99999999999999999999999\n",	/* overflow */
		"body_limit = 1023\n",
		"body_limit = 1073741825\n",
		"socket_mode = 01000\n",
	};
	struct config	 c;
	char		 err[256];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(cfg_load(&c, conf_file("int.conf", bad[i]),
		    "/d", err, sizeof(err)), -1);
		/* The message names the key and the line. */
		assert_non_null(strstr(err, bad[i][0] == 'w' ? "workers" :
		    bad[i][0] == 'b' ? "body_limit" : "socket_mode"));
		assert_non_null(strstr(err, ":1:"));
		cfg_free(&c);
	}
	/* The bounds themselves are accepted. */
	assert_int_equal(cfg_load(&c, conf_file("int.conf",
	    "workers = 256\nbody_limit = 1024\n"), "/d", err, sizeof(err)), 0);
	assert_int_equal(c.workers, 256);
	assert_int_equal(c.body_limit, 1024);
	cfg_free(&c);
}

static void
cfg_bool_words(void **state)
{
	static const char *const yes[] = { "true", "yes", "on", "1", "TRUE",
	    "Yes", "ON" };
	static const char *const no[] = { "false", "no", "off", "0", "FALSE",
	    "No", "Off" };
	static const char *const junk[] = { "", "2", "y", "enabled", "truee",
	    " true", "-1" };
	struct config	 c;
	char		 err[256] = "";
	size_t		 i;

	(void)state;
	assert_int_equal(cfg_load(&c, NULL, "/d", err, sizeof(err)), 0);
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		c.reload = 0;
		assert_int_equal(cfg_set(&c, "reload", yes[i], err,
		    sizeof(err)), 0);
		assert_int_equal(c.reload, 1);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		c.reload = 1;
		assert_int_equal(cfg_set(&c, "reload", no[i], err,
		    sizeof(err)), 0);
		assert_int_equal(c.reload, 0);
	}
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		c.reload = 1;
		err[0] = '\0';
		assert_int_equal(cfg_set(&c, "reload", junk[i], err,
		    sizeof(err)), -1);
		assert_int_equal(c.reload, 1);		/* unchanged */
		assert_non_null(strstr(err, "reload"));
	}
	/* Also through the file. */
	cfg_free(&c);
	assert_int_equal(cfg_load(&c, conf_file("b.conf",
	    "reload = On\nlog_requests = NO\n"), "/d", err, sizeof(err)), 0);
	assert_int_equal(c.reload, 1);
	assert_int_equal(c.log_requests, 0);
	cfg_free(&c);
}

static void
cfg_env_overrides_file(void **state)
{
	struct config	 c;
	char		 err[256] = "";
	const char	*p;

	(void)state;
	p = conf_file("e.conf", "workers = 8\nbrand = FromFile\n"
	    "reload = false\n");
	setenv("TESSERA_WORKERS", "12", 1);
	setenv("TESSERA_RELOAD", "yes", 1);
	setenv("TESSERA_API_MOUNT", "/v2", 1);
	assert_int_equal(cfg_load(&c, p, "/d", err, sizeof(err)), 0);
	assert_int_equal(c.workers, 12);
	assert_int_equal(c.reload, 1);
	assert_string_equal(c.api_mount, "/v2");
	assert_string_equal(c.brand, "FromFile");	/* not overridden */
	cfg_free(&c);

	/* A bad override is an error naming the variable. */
	setenv("TESSERA_WORKERS", "lots", 1);
	err[0] = '\0';
	assert_int_equal(cfg_load(&c, p, "/d", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "TESSERA_WORKERS"));
	cfg_free(&c);
	/* Lower-case variable names are not the override. */
	unsetenv("TESSERA_WORKERS");
	setenv("tessera_workers", "99", 1);
	assert_int_equal(cfg_load(&c, p, "/d", err, sizeof(err)), 0);
	assert_int_equal(c.workers, 8);
	unsetenv("tessera_workers");
	cfg_free(&c);
}

static void
cfg_data_dir_precedence(void **state)
{
	struct config	 c;
	char		 err[256] = "";
	const char	*p;

	(void)state;
	p = conf_file("dd.conf", "data_dir = /from/file\n");
	assert_int_equal(cfg_load(&c, p, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.data_dir, "/from/file");
	cfg_free(&c);

	setenv("TESSERA_DATA_DIR", "/from/env_key", 1);
	assert_int_equal(cfg_load(&c, p, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.data_dir, "/from/env_key");
	cfg_free(&c);

	/* The TESSERA_DATA shortcut. */
	setenv("TESSERA_DATA", "/from/shortcut", 1);
	assert_int_equal(cfg_load(&c, p, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.data_dir, "/from/shortcut");
	cfg_free(&c);
	assert_int_equal(cfg_load(&c, p, "", err, sizeof(err)), 0);
	assert_string_equal(c.data_dir, "/from/shortcut");
	cfg_free(&c);

	/* The argument wins over everything. */
	assert_int_equal(cfg_load(&c, p, "/from/arg", err, sizeof(err)), 0);
	assert_string_equal(c.data_dir, "/from/arg");
	cfg_free(&c);
}

static void
cfg_relative_data_dir(void **state)
{
	struct config	 c;
	char		 err[256] = "", cwd[PATH_MAX], want[PATH_MAX * 2];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/rel/data", cwd);
	assert_int_equal(cfg_load(&c, NULL, "rel/data", err, sizeof(err)), 0);
	assert_string_equal(c.data_dir, want);
	cfg_free(&c);
	/* From the file and the environment too. */
	setenv("TESSERA_DATA", "var", 1);
	snprintf(want, sizeof(want), "%s/var", cwd);
	assert_int_equal(cfg_load(&c, NULL, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.data_dir, want);
	cfg_free(&c);
}

static void
cfg_api_mount_checked(void **state)
{
	/* "/" too: every path would be a token path, the pages included. */
	static const char *const bad[] = { "api", "/api/", "", "//", "/" };
	struct config	 c;
	char		 err[256];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("TESSERA_API_MOUNT", bad[i], 1);
		err[0] = '\0';
		assert_int_equal(cfg_load(&c, NULL, "/d", err, sizeof(err)),
		    -1);
		assert_non_null(strstr(err, "api_mount"));
		cfg_free(&c);
	}
	/* The same through the file. */
	unsetenv("TESSERA_API_MOUNT");
	assert_int_equal(cfg_load(&c, conf_file("m.conf",
	    "api_mount = api\n"), "/d", err, sizeof(err)), -1);
	cfg_free(&c);
	/* Nested mounts are fine. */
	setenv("TESSERA_API_MOUNT", "/svc/api", 1);
	assert_int_equal(cfg_load(&c, NULL, "/d", err, sizeof(err)), 0);
	assert_string_equal(c.api_mount, "/svc/api");
	cfg_free(&c);
}

static void
cfg_set_keys(void **state)
{
	struct config	 c;
	char		 err[256] = "";

	(void)state;
	assert_int_equal(cfg_load(&c, NULL, "/d", err, sizeof(err)), 0);
	assert_int_equal(cfg_set(&c, "brand", "Other", err, sizeof(err)), 0);
	assert_string_equal(c.brand, "Other");
	assert_int_equal(cfg_set(&c, "brand", "", err, sizeof(err)), 0);
	assert_string_equal(c.brand, "");
	assert_int_equal(cfg_set(&c, "max_params", "20000", err, sizeof(err)),
	    0);
	assert_int_equal(c.max_params, 20000);
	assert_int_equal(cfg_set(&c, "max_params", "0", err, sizeof(err)), -1);
	assert_int_equal(c.max_params, 20000);		/* unchanged */
	err[0] = '\0';
	assert_int_equal(cfg_set(&c, "no_such_key", "1", err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "no_such_key"));
	/* Names are exact: no case folding, no prefixes. */
	assert_int_equal(cfg_set(&c, "Workers", "2", err, sizeof(err)), -1);
	assert_int_equal(cfg_set(&c, "work", "2", err, sizeof(err)), -1);
	assert_int_equal(cfg_set(&c, "", "2", err, sizeof(err)), -1);
	assert_int_equal(c.workers, 4);
	/* Every key in the table can be found (first, last, middle). */
	assert_int_equal(cfg_set(&c, "api_mount", "/q", err, sizeof(err)), 0);
	assert_int_equal(cfg_set(&c, "www_dir", "/w", err, sizeof(err)), 0);
	assert_int_equal(cfg_set(&c, "lua_memory_mb", "8", err, sizeof(err)),
	    0);
	assert_string_equal(c.api_mount, "/q");
	assert_string_equal(c.www_dir, "/w");
	assert_int_equal(c.lua_memory_mb, 8);
	/* A tiny error buffer is not overrun. */
	{
		char	 small[8];

		memset(small, 'Z', sizeof(small));
		assert_int_equal(cfg_set(&c, "no_such_key", "1", small, 5), -1);
		assert_int_equal(small[4], '\0');
		assert_int_equal(small[5], 'Z');
	}
	cfg_free(&c);
}

static void
cfg_long_line(void **state)
{
	struct config	 c;
	char		 err[256] = "", *text;

	(void)state;
	text = malloc(10000);
	assert_non_null(text);
	memcpy(text, "brand = ", 8);
	memset(text + 8, 'b', 9000);
	memcpy(text + 9008, "\n", 2);
	assert_int_equal(cfg_load(&c, conf_file("long.conf", text), "/d", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, ":1:"));
	free(text);
	cfg_free(&c);
}

/* notify_targets is checked whole at load; a name is looked
 * up exactly; the secret file defaults to DATA/notify.key. */
static void
cfg_notify_targets(void **state)
{
	static const char *const bad[] = {
		"x=ftp://example.com/", "Bad=http://example.com/", "nourl",
		"x=http://", "x=http:///path", "=http://example.com/",
		"x=https://exa mple.com/",
		"a_name_longer_than_sixty_four_characters_is_refused_by_the_config"
		"_x=http://e/",
	};
	struct config	 c;
	char		 err[256] = "", url[NOTIFY_URL_MAX + 1];
	size_t		 i;

	(void)state;
	assert_int_equal(cfg_load(&c, NULL, "/srv/data", err, sizeof(err)), 0);
	assert_string_equal(c.notify_secret_file, "/srv/data/notify.key");
	assert_string_equal(c.notify_targets, "");
	assert_int_equal(c.notify_interval, 5);
	assert_int_equal(c.notify_max_attempts, 8);
	assert_int_equal(notify_target(c.notify_targets, "x", url,
	    sizeof(url)), 0);
	cfg_free(&c);

	setenv("TESSERA_NOTIFY_TARGETS", " a=http://h:1/p,b_2=https://h/q?x=1"
	    "\n\tc=http://[::1]:8/ ", 1);
	setenv("TESSERA_NOTIFY_SECRET_FILE", "/etc/tessera/notify.key", 1);
	assert_int_equal(cfg_load(&c, NULL, "/srv/data", err, sizeof(err)), 0);
	assert_string_equal(c.notify_secret_file, "/etc/tessera/notify.key");
	assert_int_equal(notify_target(c.notify_targets, "b_2", url,
	    sizeof(url)), 1);
	assert_string_equal(url, "https://h/q?x=1");
	assert_int_equal(notify_target(c.notify_targets, "c", url,
	    sizeof(url)), 1);
	assert_string_equal(url, "http://[::1]:8/");
	assert_int_equal(notify_target(c.notify_targets, "a", NULL, 0), 1);
	assert_int_equal(notify_target(c.notify_targets, "b", url,
	    sizeof(url)), 0);
	cfg_free(&c);
	unsetenv("TESSERA_NOTIFY_SECRET_FILE");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("TESSERA_NOTIFY_TARGETS", bad[i], 1);
		err[0] = '\0';
		assert_int_equal(cfg_load(&c, NULL, "/srv/data", err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "notify_targets"));
		cfg_free(&c);
	}
	unsetenv("TESSERA_NOTIFY_TARGETS");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
		T(cfg_defaults),
		T(cfg_file_applied),
		T(cfg_file_from_env_path),
		T(cfg_unknown_key),
		T(cfg_bad_lines),
		T(cfg_bad_integers),
		T(cfg_bool_words),
		T(cfg_env_overrides_file),
		T(cfg_data_dir_precedence),
		T(cfg_relative_data_dir),
		T(cfg_api_mount_checked),
		T(cfg_set_keys),
		T(cfg_long_line),
		T(cfg_notify_targets),
#undef T
	};
	int	 rc;

	tu_tmp_init("test_cfg");
	rc = cmocka_run_group_tests_name("cfg", tests, NULL, NULL);
	tu_tmp_done();
	return rc;
}
