/*
 * cfg.c -- the configuration: a declared table of keys with types,
 * defaults and bounds; a "key = value" file; TESSERA_<KEY> environment
 * overrides that win over the file.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cidr.h"
#include "lib.h"

#ifndef TESSERA_SHAREDIR
#define TESSERA_SHAREDIR "/usr/local/share/tessera"
#endif

struct cfg_key {
	const char	*name;
	enum cfg_type	 type;
	size_t		 off;
	const char	*def;
	long long	 min, max;
	int		 public;	/* readable from Lua as host.config */
};

#define S(k, d, pub)		{ #k, CFG_STR, offsetof(struct config, k), d, 0, 0, pub }
#define I(k, d, lo, hi, pub)	{ #k, CFG_INT, offsetof(struct config, k), d, lo, hi, pub }
#define B(k, d, pub)		{ #k, CFG_BOOL, offsetof(struct config, k), d, 0, 1, pub }

/* Sorted by name. Documented in conf/tessera.conf. */
static const struct cfg_key keys[] = {
	I(account_quota_mb, "0", 0, 1LL << 30, 1),
	S(api_mount, "/api", 1),
	I(body_limit, "1048576", 1024, 1LL << 30, 1),
	S(brand, "Kondado", 1),
	I(busy_timeout_ms, "5000", 0, 600000, 0),
	S(data_dir, "/var/lib/tessera", 0),
	S(database, "sqlite", 0),
	I(db_max_pages, "0", 0, 1LL << 40, 0),
	I(db_mmap_mb, "0", 0, 1LL << 20, 0),
	S(extra_routes, "", 1),
	S(listen, "unix:/run/tessera/tessera.sock", 0),
	S(log_format, "text", 0),
	B(log_requests, "1", 0),
	I(login_max_failures, "5", 1, 1000000, 1),
	I(login_window, "900", 1, 86400 * 30, 1),
	S(lua_dir, "", 0),
	I(lua_max_instructions, "50000000", 100000, 1LL << 40, 0),
	I(lua_memory_mb, "64", 4, 4096, 1),
	I(max_params, "1000", 1, 1000000, 0),
	S(metrics_allow, "127.0.0.1/32, ::1/128", 0),
	S(metrics_path, "", 0),
	I(model_max_steps, "1000000", 1, 1LL << 40, 0),
	I(model_memory_mb, "256", 1, 65536, 0),
	I(notify_backoff_seconds, "30", 1, 86400, 0),
	I(notify_connect_timeout, "5", 1, 300, 0),
	I(notify_interval, "5", 1, 3600, 0),
	I(notify_max_attempts, "8", 1, 100, 0),
	S(notify_secret_file, "", 0),
	S(notify_targets, "", 0),
	I(notify_timeout, "10", 1, 600, 0),
	S(openapi_file, "", 0),
	I(pipeline_max_failures, "3", 1, 1000, 1),
	I(rate_limit_api_ip, "50", 0, 1000000000, 1),
	I(rate_limit_api_key, "20", 0, 1000000000, 1),
	I(rate_limit_webhook_ip, "200", 0, 1000000000, 1),
	I(rate_limit_webhook_key, "100", 0, 1000000000, 1),
	I(rate_limit_webhook_records, "2000", 0, 1000000000, 1),
	B(reload, "0", 1),
	I(run_batch_records, "500", 1, 100000, 1),
	I(run_lease_seconds, "60", 2, 86400, 1),
	I(run_max_attempts, "3", 1, 100, 1),
	I(run_max_instructions, "1000000000", 100000, 1LL << 40, 0),
	I(run_memory_mb, "256", 4, 65536, 0),
	I(run_poll_ms, "1000", 0, 60000, 0),
	I(runs_per_account, "2", 1, 100000, 1),
	I(runs_total, "8", 1, 1000000, 1),
	S(schema_dir, "", 0),
	I(session_absolute, "43200", 60, 86400 * 365, 1),
	I(session_idle, "1800", 60, 86400 * 365, 1),
	I(shutdown_timeout, "10", 0, 3600, 0),
	I(socket_mode, "0660", 0, 0777, 0),
	I(token_cache_seconds, "5", 0, 3600, 0),
	I(token_check_interval, "60", 1, 86400, 0),
	I(token_default_expiry_days, "0", 0, 3660, 1),
	I(token_expiry_warning_days, "7", 0, 3660, 1),
	I(token_max_expiry_days, "0", 0, 3660, 1),
	S(trusted_proxies, "", 0),
	I(webhook_max_records, "10000", 1, 1000000, 1),
	I(workers, "4", 1, 256, 0),
	S(www_dir, "", 0),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const struct cfg_key *
key_find(const char *name)
{
	size_t	 lo = 0, hi = NKEYS, mid;
	int	 c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if ((c = strcmp(name, keys[mid].name)) == 0)
			return &keys[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Parses val for k into the struct. Returns 0 or -1 with err. */
static int
key_set(struct config *c, const struct cfg_key *k, const char *val,
    char *err, size_t errlen)
{
	char		*end, **sp, *dup;
	long long	 n;

	switch (k->type) {
	case CFG_STR:
		sp = (char **)((char *)c + k->off);
		if ((dup = strdup(val)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(*sp);
		*sp = dup;
		return 0;
	case CFG_BOOL:
		if (!strcmp(val, "1") || !strcasecmp(val, "true") ||
		    !strcasecmp(val, "yes") || !strcasecmp(val, "on"))
			n = 1;
		else if (!strcmp(val, "0") || !strcasecmp(val, "false") ||
		    !strcasecmp(val, "no") || !strcasecmp(val, "off"))
			n = 0;
		else {
			snprintf(err, errlen, "%s: expected true or false, "
			    "got \"%s\"", k->name, val);
			return -1;
		}
		*(int *)((char *)c + k->off) = (int)n;
		return 0;
	case CFG_INT:
		errno = 0;
		/* Decimal, except the octal file mode. */
		n = strtoll(val, &end,
		    strcmp(k->name, "socket_mode") == 0 ? 8 : 10);
		if (errno || end == val || *end != '\0' ||
		    n < k->min || n > k->max) {
			snprintf(err, errlen, "%s: expected a whole number "
			    "from %lld to %lld, got \"%s\"", k->name,
			    k->min, k->max, val);
			return -1;
		}
		*(long long *)((char *)c + k->off) = n;
		return 0;
	}
	return -1;
}

/* Parses a list of networks (the key name) into *out (NULL when empty). */
static int
set_nets(const char *name, const char *val, struct cidr_list **out,
    char *err, size_t errlen)
{
	struct cidr_list	*l;
	char			 msg[160];

	free(*out);
	*out = NULL;
	if (val == NULL || val[0] == '\0')
		return 0;
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (cidr_parse_list(val, l, msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: %s", name, msg);
		free(l);
		return -1;
	}
	*out = l;
	return 0;
}

static int
set_proxies(struct config *c, char *err, size_t errlen)
{
	return set_nets("trusted_proxies", c->trusted_proxies, &c->proxies,
	    err, errlen);
}

/* Whether path is prefix itself or below it ("/api", "/api/x"). */
static int
below(const char *path, const char *prefix)
{
	size_t	 n = strlen(prefix);

	return strncmp(path, prefix, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/');
}

/* log_format, and metrics_path: off (""), or a path of its own of
 * 2 to 128 bytes of / A-Z a-z 0-9 . _ - (never under the token paths,
 * where the gate would ask for a token); metrics_allow parsed. */
static int
check_observability(struct config *c, char *err, size_t errlen)
{
	const char	*p = c->metrics_path;
	size_t		 i;

	if (strcmp(c->log_format, "text") != 0 &&
	    strcmp(c->log_format, "json") != 0) {
		snprintf(err, errlen, "log_format: text or json, got \"%.64s\"",
		    c->log_format);
		return -1;
	}
	if (p[0] != '\0') {
		for (i = 0; p[i]; i++)
			if (!isalnum((unsigned char)p[i]) &&
			    strchr("/._-", p[i]) == NULL)
				break;
		if (p[0] != '/' || i < 2 || i > 128 || p[i] != '\0' ||
		    strstr(p, "//") != NULL || strstr(p, "/.") != NULL ||
		    below(p, c->api_mount) || below(p, "/webhook") ||
		    below(p, "/static")) {
			snprintf(err, errlen, "metrics_path: a path such as "
			    "/metrics (/ and A-Z a-z 0-9 . _ -, at most 128 "
			    "bytes), not under api_mount, /webhook or /static");
			return -1;
		}
	}
	return set_nets("metrics_allow", c->metrics_allow, &c->metrics_nets,
	    err, errlen);
}

int
cfg_set(struct config *c, const char *key, const char *val, char *err,
    size_t errlen)
{
	const struct cfg_key *k;

	if ((k = key_find(key)) == NULL) {
		snprintf(err, errlen, "unknown configuration key \"%s\"", key);
		return -1;
	}
	if (key_set(c, k, val, err, errlen) == -1)
		return -1;
	return strcmp(key, "trusted_proxies") == 0 ?
	    set_proxies(c, err, errlen) : 0;
}

/* Trims leading and trailing white space in place; returns the start. */
static char *
trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Reads "key = value" lines; '#' or ';' starts a comment line; a value
 * may be wrapped in double quotes. Unknown keys are errors (typos). */
static int
cfg_file(struct config *c, const char *path, char *err, size_t errlen)
{
	FILE	*f;
	char	 line[4096], *k, *v, *eq, msg[256];
	int	 lineno = 0, rc = 0;
	size_t	 vl;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path,
			    lineno);
			rc = -1;
			break;
		}
		k = trim(line);
		if (*k == '\0' || *k == '#' || *k == ';')
			continue;
		if ((eq = strchr(k, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: expected key = value",
			    path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
		vl = strlen(v);
		if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
			v[vl - 1] = '\0';
			v++;
		}
		if (cfg_set(c, k, v, msg, sizeof(msg)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}

/* Directory of the running binary into out, or "" . */
static void
exe_dir(char *out, size_t outlen)
{
	ssize_t	 n;
	char	*slash;

	n = readlink("/proc/self/exe", out, outlen - 1);
	if (n <= 0) {
		out[0] = '\0';
		return;
	}
	out[n] = '\0';
	if ((slash = strrchr(out, '/')) != NULL)
		*slash = '\0';
}

static int
is_file(const char *dir, const char *name)
{
	char		 p[PATH_MAX];
	struct stat	 st;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, name) >= sizeof(p))
		return 0;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Finds the tree the scripts come from: the binary's own directory when
 * it is a source tree (built with make, not installed), else the current
 * directory when it is one, else BIN/../share/tessera when it has the
 * scripts, else the installed share directory. */
static void
find_root(char *out, size_t outlen)
{
	char	 d[PATH_MAX], rel[PATH_MAX];

	exe_dir(d, sizeof(d));
	if (d[0] && is_file(d, "lua/app.lua") &&
	    is_file(d, "schema/queries.sql")) {
		snprintf(out, outlen, "%s", d);
		return;
	}
	if (getcwd(d, sizeof(d)) != NULL && is_file(d, "lua/app.lua") &&
	    is_file(d, "schema/queries.sql")) {
		snprintf(out, outlen, "%s", d);
		return;
	}
	/* An installed tree moved as a whole (BIN/../share/tessera: a
	 * package unpacked under another root, make install DESTDIR). */
	exe_dir(d, sizeof(d));
	if (d[0] && strlen(d) + sizeof("/../share/tessera") < sizeof(d)) {
		strcat(d, "/../share/tessera");
		if (is_file(d, "lua/app.lua") &&
		    is_file(d, "schema/queries.sql") &&
		    realpath(d, rel) != NULL) {
			snprintf(out, outlen, "%s", rel);
			return;
		}
	}
	snprintf(out, outlen, "%s", TESSERA_SHAREDIR);
}

/* Sets *sp to root/sub when it is empty. */
static int
default_dir(char **sp, const char *root, const char *sub)
{
	char	 p[PATH_MAX], *dup;

	if (*sp && **sp)
		return 0;
	snprintf(p, sizeof(p), "%s/%s", root, sub);
	if ((dup = strdup(p)) == NULL)
		return -1;
	free(*sp);
	*sp = dup;
	return 0;
}

/* Makes *sp absolute against the current directory. */
static int
absolute(char **sp)
{
	char	 cwd[PATH_MAX], p[PATH_MAX * 2], *dup;

	if (**sp == '/' || **sp == '\0')
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	snprintf(p, sizeof(p), "%s/%s", cwd, *sp);
	if ((dup = strdup(p)) == NULL)
		return -1;
	free(*sp);
	*sp = dup;
	return 0;
}

/* notify_secret_file defaults to DATA/notify.key (shown by tessera
 * config, so an operator finds the secret to give the receivers). */
static int
default_notify_secret(struct config *c, char *err, size_t errlen)
{
	char	 path[PATH_MAX];

	if (c->notify_secret_file[0] != '\0')
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/notify.key",
	    c->data_dir) >= sizeof(path))
		return snprintf(err, errlen, "data_dir: too long"), -1;
	return cfg_set(c, "notify_secret_file", path, err, errlen);
}

int
cfg_load(struct config *c, const char *path, const char *data_dir,
    char *err, size_t errlen)
{
	size_t		 i, j;
	char		 env[128], root[PATH_MAX], msg[256];
	const char	*v;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NKEYS; i++)
		if (key_set(c, &keys[i], keys[i].def, err, errlen) == -1)
			return -1;
	if (path == NULL || *path == '\0')
		path = getenv("TESSERA_CONFIG");
	if (path != NULL && *path != '\0') {
		if ((c->path = strdup(path)) == NULL)
			return -1;
		if (cfg_file(c, path, err, errlen) == -1)
			return -1;
	}
	for (i = 0; i < NKEYS; i++) {
		memcpy(env, "TESSERA_", 8);
		for (j = 0; keys[i].name[j] && j + 9 < sizeof(env); j++)
			env[8 + j] = (char)toupper(
			    (unsigned char)keys[i].name[j]);
		env[8 + j] = '\0';
		if ((v = getenv(env)) == NULL)
			continue;
		if (key_set(c, &keys[i], v, msg, sizeof(msg)) == -1) {
			snprintf(err, errlen, "%s: %s", env, msg);
			return -1;
		}
	}
	if (data_dir == NULL || *data_dir == '\0')
		data_dir = getenv("TESSERA_DATA");	/* the shortcut */
	if (data_dir != NULL && *data_dir != '\0' &&
	    cfg_set(c, "data_dir", data_dir, err, errlen) == -1)
		return -1;
	find_root(root, sizeof(root));
	if (default_dir(&c->lua_dir, root, "lua") == -1 ||
	    default_dir(&c->schema_dir, root, "schema") == -1 ||
	    default_dir(&c->www_dir, root, "www") == -1 ||
	    default_dir(&c->openapi_file, root, "docs/openapi.json") == -1 ||
	    absolute(&c->data_dir) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (c->api_mount[0] != '/' || strlen(c->api_mount) < 2 ||
	    c->api_mount[strlen(c->api_mount) - 1] == '/') {
		snprintf(err, errlen, "api_mount: a path below / (like /api): "
		    "starting with / and not ending with it");
		return -1;
	}
	if (c->token_max_expiry_days > 0 &&
	    c->token_default_expiry_days > c->token_max_expiry_days) {
		snprintf(err, errlen, "token_default_expiry_days (%lld) is "
		    "past token_max_expiry_days (%lld)",
		    c->token_default_expiry_days, c->token_max_expiry_days);
		return -1;
	}
	if (notify_targets_check(c->notify_targets, err, errlen) == -1 ||
	    default_notify_secret(c, err, errlen) == -1 ||
	    check_observability(c, err, errlen) == -1)
		return -1;
	return set_proxies(c, err, errlen);
}

/* Prints the effective configuration in the file's own format. */
void
cfg_print(const struct config *c, FILE *f)
{
	size_t		 i;
	const char	*base = (const char *)c;

	if (c->path)
		fprintf(f, "# from %s and the environment\n", c->path);
	for (i = 0; i < NKEYS; i++) {
		switch (keys[i].type) {
		case CFG_STR:
			fprintf(f, "%s = %s\n", keys[i].name,
			    *(char *const *)(base + keys[i].off));
			break;
		case CFG_INT:
			if (!strcmp(keys[i].name, "socket_mode"))
				fprintf(f, "%s = 0%llo\n", keys[i].name,
				    *(const long long *)(base + keys[i].off));
			else
				fprintf(f, "%s = %lld\n", keys[i].name,
				    *(const long long *)(base + keys[i].off));
			break;
		case CFG_BOOL:
			fprintf(f, "%s = %s\n", keys[i].name,
			    *(const int *)(base + keys[i].off) ? "true" :
			    "false");
			break;
		}
	}
}

void
cfg_each_public(const struct config *c,
    void (*fn)(void *, const char *, enum cfg_type, const void *), void *arg)
{
	size_t	 i;
	const char *v;

	for (i = 0; i < NKEYS; i++) {
		if (!keys[i].public)
			continue;
		v = (const char *)c + keys[i].off;
		fn(arg, keys[i].name, keys[i].type,
		    keys[i].type == CFG_STR ? *(const char *const *)v : v);
	}
}

void
cfg_free(struct config *c)
{
	size_t	 i;

	for (i = 0; i < NKEYS; i++)
		if (keys[i].type == CFG_STR)
			free(*(char **)((char *)c + keys[i].off));
	free(c->path);
	free(c->proxies);
	free(c->metrics_nets);
	memset(c, 0, sizeof(*c));
}
