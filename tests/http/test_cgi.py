"""Plain CGI: one request from the environment and stdin, as a CGI server
(Apache mod_cgi, lighttpd mod_cgi, thttpd) runs it."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import BIN, Tap, app_env, body_json, init_data, scratch  # noqa: E402


def cgi(env, body=b""):
    base = {"PATH": "/usr/bin:/bin", "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1"}
    base.update(env)
    r = subprocess.run([BIN], env=base, input=body, capture_output=True,
                       timeout=20)
    head, _, payload = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1]) if lines[0].startswith("Status:") else 0
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return r.returncode, status, headers, payload, r.stderr


def main():
    t = Tap()
    work = scratch("cgi")
    data = init_data(os.path.join(work, "data"))
    env = app_env(data)

    rc, status, headers, body, err = cgi(dict(env, REQUEST_METHOD="GET",
                                              REQUEST_URI="/healthz"))
    t.eq(rc, 0, "CGI exits 0")
    t.eq(status, 200, "CGI GET /healthz")
    t.eq(body, b'{"data":{"db":"ok"},"success":true}', "CGI health body")
    t.eq(headers.get("Content-Length"), str(len(body)), "Content-Length")
    t.has(err, b"GET /healthz 200", "request logged to stderr")

    payload = b"desc=one+two&x=%E2%9C%93"
    form_env = dict(env, REQUEST_METHOD="POST", REQUEST_URI="/_test/echo/c",
                    CONTENT_TYPE="application/x-www-form-urlencoded",
                    CONTENT_LENGTH=str(len(payload)))
    rc, status, headers, body, err = cgi(form_env, payload)
    t.eq(status, 403, "CGI POST without the CSRF pair -> 403")
    tok = "T" * 43   # double-submit: the cookie and the header agree
    rc, status, headers, body, err = cgi(dict(
        form_env, HTTP_COOKIE="tessera_csrf=" + tok,
        HTTP_X_CSRF_TOKEN=tok), payload)
    doc = body_json(body) or {}
    t.eq(status, 200, "CGI POST with a form body from stdin")
    t.eq((doc.get("data") or {}).get("form"), {"desc": "one two", "x": "✓"},
         "form fields decoded")

    rc, status, headers, body, err = cgi(dict(
        env, REQUEST_METHOD="GET", SCRIPT_NAME="/app.cgi",
        PATH_INFO="/../healthz", QUERY_STRING="a=1"))
    t.eq(status, 404, "without REQUEST_URI: SCRIPT_NAME + PATH_INFO is the path")

    rc, status, headers, body, err = cgi(dict(
        env, REQUEST_METHOD="GET", SCRIPT_NAME="", PATH_INFO="/healthz"))
    t.eq(status, 200, "PATH_INFO alone routes")

    rc, status, headers, body, err = cgi(dict(
        env, REQUEST_METHOD="POST", REQUEST_URI="/webhook",
        CONTENT_TYPE="application/json", CONTENT_LENGTH=str(2 * 1024 * 1024)))
    t.eq(status, 413, "CGI body over the limit is 413 before reading")
    t.eq((body_json(body) or {}).get("error"), "PAYLOAD_TOO_LARGE",
         "with the JSON envelope")

    rc, status, headers, body, err = cgi(dict(
        env, REQUEST_METHOD="GET", REQUEST_URI="/healthz",
        TESSERA_DATA=os.path.join(work, "missing")))
    t.eq(status, 500, "an uninitialised data dir answers 500")
    t.has(err, b"tessera init", "and the log says what to run")

    # Process start to exit, the figure `make bench` also reports.
    times = []
    for _ in range(20):
        t0 = time.monotonic()
        cgi(dict(env, REQUEST_METHOD="GET", REQUEST_URI="/healthz"))
        times.append(time.monotonic() - t0)
    times.sort()
    print("# CGI /healthz: median %.1f ms, best %.1f ms" %
          (times[10] * 1000, times[0] * 1000))
    t.ok(times[10] < 1.0, "CGI /healthz median under 1 s (sanity bound)")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
