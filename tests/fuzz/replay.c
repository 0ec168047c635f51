/*
 * replay.c -- runs a libFuzzer harness without libFuzzer: calls
 * LLVMFuzzerInitialize (when the harness has one) and then
 * LLVMFuzzerTestOneInput once per file named on the command line or found
 * (recursively, hidden files skipped) in a directory named there.
 *
 *	replay_NAME [-n FIRST] PATH...
 *
 * Prints TAP: "ok N - NAME: K inputs" per PATH, numbered from FIRST (1).
 * A harness that finds a bug aborts (or a sanitizer ends the process);
 * stderr then names the input, and the caller counts the exit status.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef HARNESS
#define HARNESS "harness"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int LLVMFuzzerInitialize(int *, char ***) __attribute__((weak));
void __sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));

static char	 current[4096];	/* the input being run, for the crash note */

static void
note_crash(void)
{
	static const char pre[] = "replay: " HARNESS " failed on ";

	if (current[0] == '\0')
		return;
	(void)!write(2, pre, sizeof(pre) - 1);
	(void)!write(2, current, strlen(current));
	(void)!write(2, "\n", 1);
}

static void
on_signal(int sig)
{
	note_crash();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
run_file(const char *path, size_t *count)
{
	FILE		*f;
	uint8_t		*data = NULL, *nd;
	size_t		 len = 0, cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((nd = realloc(data, cap)) == NULL) {
				fprintf(stderr, "replay: out of memory\n");
				free(data);
				fclose(f);
				return -1;
			}
			data = nd;
		}
		if ((n = fread(data + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	snprintf(current, sizeof(current), "%s", path);
	/* An exact-size copy, so ASan sees reads past the end. */
	nd = len ? malloc(len) : NULL;
	if (len && nd == NULL) {
		free(data);
		return -1;
	}
	if (len)
		memcpy(nd, data, len);
	free(data);
	LLVMFuzzerTestOneInput(nd ? nd : (const uint8_t *)"", len);
	free(nd);
	current[0] = '\0';
	(*count)++;
	return 0;
}

static int
cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every file under path, in name order. */
static int
run_path(const char *path, size_t *count)
{
	struct stat	 st;
	DIR		*d;
	struct dirent	*e;
	char		**names = NULL, **nn, full[4096];
	size_t		 n = 0, cap = 0, i;
	int		 rc = 0;

	if (stat(path, &st) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path, count);
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nn = realloc(names, cap * sizeof(*nn))) == NULL) {
				rc = -1;
				break;
			}
			names = nn;
		}
		if ((names[n] = strdup(e->d_name)) == NULL) {
			rc = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp);
	for (i = 0; i < n; i++) {
		if (rc == 0) {
			snprintf(full, sizeof(full), "%s/%s", path, names[i]);
			rc = run_path(full, count);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	long	 num = 1;
	size_t	 count;
	int	 i = 1, failed = 0;

	if (argc > 2 && strcmp(argv[1], "-n") == 0) {
		num = strtol(argv[2], NULL, 10);
		i = 3;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: %s [-n FIRST] file|dir...\n", argv[0]);
		return 2;
	}
	/* Under a sanitizer its own handlers report the fault (with a stack)
	 * and call note_crash; otherwise a signal handler does. */
	signal(SIGABRT, on_signal);
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(note_crash);
	else {
		signal(SIGSEGV, on_signal);
		signal(SIGBUS, on_signal);
		signal(SIGFPE, on_signal);
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (; i < argc; i++, num++) {
		count = 0;
		if (run_path(argv[i], &count) == -1) {
			printf("not ok %ld - %s: cannot read %s\n", num,
			    HARNESS, argv[i]);
			failed = 1;
		} else if (count == 0) {
			printf("not ok %ld - %s: no inputs in %s\n", num,
			    HARNESS, argv[i]);
			failed = 1;
		} else
			printf("ok %ld - %s: %zu inputs\n", num, HARNESS,
			    count);
		fflush(stdout);
	}
	return failed;
}
