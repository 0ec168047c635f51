/*
 * hello.c -- the smallest useful libfcgi responder.
 *
 * Baseline for the benchmark and a stand-in backend for the web server
 * configuration tests.  It answers every request with "hello\n"; for the
 * path /echo (or any request with the header "X-Echo: 1") it also prints a few
 * CGI parameters, the body size and $TESSERA_CONFIG of its own environment, so
 * a test can see what the front web server passed on.
 *
 *   hello                        serve on fd 0 (spawned by the web server)
 *   hello --listen unix:PATH     bind PATH itself (mode: $TESSERA_SOCKET_MODE, octal,
 *                                default 0660)
 *   ... --workers N              pre-fork N processes on that socket (the bench
 *                                runs it with tessera's worker count); they
 *                                die with the parent
 *   ... --reply FILE             GET /reply answers FILE's bytes as they are
 *                                (headers, blank line, body): the bench gives
 *                                it Tessera's own /api/me answer, to measure
 *                                what sending that answer costs with no work
 *   ... --append FILE            POST /append appends the body to FILE and
 *                                fdatasync()s it before answering: one durable
 *                                write per request, no database
 *
 * Build: cc -O2 -o hello hello.c $(pkg-config --cflags --libs fcgi)
 */
#define _POSIX_C_SOURCE 200809L
#include <fcgiapp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const echoed[] = {
	"REQUEST_METHOD", "REQUEST_URI", "QUERY_STRING", "SCRIPT_NAME", "PATH_INFO",
	"CONTENT_TYPE", "CONTENT_LENGTH", "REMOTE_ADDR", "SERVER_PORT", "HTTPS",
	"HTTP_HOST", "HTTP_AUTHORIZATION", NULL
};

int main(int argc, char **argv)
{
	FCGX_Request req;
	const char *listen = NULL, *reply_file = NULL, *append_file = NULL;
	char *reply = NULL;
	size_t reply_len = 0;
	int fd = 0, workers = 1, afd = -1;

	/* Accepts tessera's "serve --listen unix:PATH --workers N" spelling too
	 * so the test harness and the bench can drive either. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			listen = argv[++i];
		else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
			workers = atoi(argv[++i]);
		else if (strcmp(argv[i], "--reply") == 0 && i + 1 < argc)
			reply_file = argv[++i];
		else if (strcmp(argv[i], "--append") == 0 && i + 1 < argc)
			append_file = argv[++i];
		else if (strcmp(argv[i], "serve") != 0)
			return fprintf(stderr, "usage: %s [--listen unix:PATH]\n", argv[0]), 2;
	}
	if (reply_file) {
		FILE *f = fopen(reply_file, "rb");

		if (f == NULL || (reply = malloc(65536)) == NULL)
			return perror(reply_file), 1;
		reply_len = fread(reply, 1, 65536, f);
		fclose(f);
		if (reply_len == 65536)
			return fprintf(stderr, "%s: 64 KiB or more\n",
			    reply_file), 1;
	}
	if (append_file && (afd = open(append_file, O_WRONLY | O_APPEND |
	    O_CREAT | O_CLOEXEC, 0600)) == -1)
		return perror(append_file), 1;
	if (FCGX_Init() != 0)
		return 1;
	if (listen) {
		const char *mode = getenv("TESSERA_SOCKET_MODE");
		if (strncmp(listen, "unix:", 5) != 0)
			return fprintf(stderr, "hello: only unix:PATH\n"), 2;
		unlink(listen + 5);
		if ((fd = FCGX_OpenSocket(listen + 5, 64)) < 0)
			return perror("hello: listen"), 1;
		chmod(listen + 5, mode ? (mode_t)strtol(mode, NULL, 8) : 0660);
	}
	if (listen && workers > 1) {
		/* The parent only waits; SIGTERM to it ends the children. */
		for (int i = 0; i < workers; i++) {
			pid_t pid = fork();
			if (pid == 0) {
				prctl(PR_SET_PDEATHSIG, SIGTERM);
				goto serve;
			}
		}
		while (wait(NULL) > 0)
			;
		return 0;
	}
serve:
	FCGX_InitRequest(&req, fd, 0);
	while (FCGX_Accept_r(&req) >= 0) {
		const char *uri = FCGX_GetParam("REQUEST_URI", req.envp);
		char buf[65536], spill[8192];
		long n, total = 0;

		/* Drain the body and count it; with --append, the first
		 * 64 KiB - 1 bytes are kept (past that, /append refuses it). */
		for (;;) {
			if (afd != -1 && total < (long)sizeof buf - 1)
				n = FCGX_GetStr(buf + total,
				    (int)(sizeof buf - 1 - (size_t)total), req.in);
			else
				n = FCGX_GetStr(spill, (int)sizeof spill, req.in);
			if (n <= 0)
				break;
			total += n;
		}
		if (reply && uri && strcmp(uri, "/reply") == 0) {
			FCGX_PutStr(reply, (int)reply_len, req.out);
			FCGX_Finish_r(&req);
			continue;
		}
		if (afd != -1 && uri && strncmp(uri, "/append", 7) == 0) {
			int ok = total < (long)sizeof buf - 1;

			buf[ok ? total : 0] = '\n';
			ok = ok && write(afd, buf, (size_t)total + 1) == total + 1 &&
			    fdatasync(afd) == 0;
			FCGX_PutS(ok ? "Content-Type: application/json\r\n\r\n"
			    "{\"success\":true}" : "Status: 500 Internal Server Error\r\n"
			    "Content-Type: text/plain\r\n\r\nappend failed\n", req.out);
			FCGX_Finish_r(&req);
			continue;
		}
		FCGX_PutS("Content-Type: text/plain\r\n\r\nhello\n", req.out);
		if ((uri && strncmp(uri, "/echo", 5) == 0 && (uri[5] == '\0' || uri[5] == '?')) ||
		    FCGX_GetParam("HTTP_X_ECHO", req.envp)) {
			for (int i = 0; echoed[i]; i++) {
				const char *v = FCGX_GetParam(echoed[i], req.envp);
				FCGX_FPrintF(req.out, "%s=%s\n", echoed[i], v ? v : "(unset)");
			}
			FCGX_FPrintF(req.out, "BODY_BYTES=%ld\nenv.TESSERA_CONFIG=%s\n", total,
				     getenv("TESSERA_CONFIG") ? getenv("TESSERA_CONFIG") : "(unset)");
		}
		FCGX_Finish_r(&req);
	}
	return 0;
}
