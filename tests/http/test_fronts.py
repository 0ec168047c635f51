"""The same request table through every front: lighttpd (bin-path, the
app spawned with its socket on fd 0), nginx and Apache mod_proxy_fcgi (in
front of `tessera serve`), Apache mod_fcgid (spawning the app). Each uses
the shipped file in conf/."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import (ApacheFcgid, ApacheProxyFcgi, Lighttpd, Nginx,  # noqa: E402
                     TesseraServe, free_port, http)
from tap import BIN, Tap, app_env, body_json, init_data, scratch  # noqa: E402

MiB = 1024 * 1024
HEALTH = b'{"data":{"db":"ok"},"success":true}'

# (name, method, path, headers, body, status, checks)
# checks: dict with "ctype" (prefix of Content-Type), "body" (exact),
# "json" (dict of expected top-level values), "has"/"hasnt" (substrings),
# "header" (name, value).
CASES = [
    ("health", "GET", "/healthz", {}, None, 200,
     {"ctype": "application/json", "body": HEALTH}),
    ("health HEAD", "HEAD", "/healthz", {}, None, 200, {"body": b""}),
    ("unknown page", "GET", "/no/such/page", {}, None, 404,
     {"ctype": "text/html", "has": b"Not found"}),
    ("API path without credentials", "GET", "/api/nothing", {}, None, 401,
     {"json": {"success": False, "error": "INVALID_TOKEN"}}),
    ("wrong method", "POST", "/healthz", {"Content-Type": "text/plain"}, b"x",
     405, {"header": ("Allow", "GET, HEAD")}),
    ("API without credentials, any method", "DELETE", "/api/x/y", {}, None,
     401, {"json": {"success": False}}),
    ("Lua error", "GET", "/_test/error", {}, None, 500,
     {"hasnt": b"boom"}),
    ("Lua error, JSON client", "GET", "/_test/error",
     {"Accept": "application/json"}, None, 500,
     {"json": {"success": False, "error": "INTERNAL_ERROR"}}),
    ("body over the limit", "POST", "/webhook?pipeline_id=1",
     {"Content-Type": "application/json"}, b"[" + b" " * MiB + b"]", 413,
     {"json": {"success": False, "error": "PAYLOAD_TOO_LARGE"}}),
    ("body at the limit", "POST", "/_test/echo/big",
     {"Content-Type": "application/octet-stream"}, b"a" * (MiB - 200), 200,
     {"json": {"success": True}}),
    ("form body", "POST", "/_test/echo/f?x=1&x=2",
     {"Content-Type": "application/x-www-form-urlencoded"},
     b"desc=caf%C3%A9+bar&e=", 200,
     {"has": "café bar".encode()}),
    ("bad escape in query", "GET", "/_test/echo/q?a=%zz", {}, None, 400, {}),
    ("invalid UTF-8 in query", "GET", "/_test/echo/q?a=%C0%AF", {}, None,
     400, {}),
    ("int64 exact", "GET", "/_test/int64", {}, None, 200,
     {"has": b'"big":9007199254740993'}),
    ("static file", "GET", "/static/app.css", {}, None, 200,
     {"ctype": "text/css"}),
    ("security headers", "GET", "/healthz", {}, None, 200,
     {"header": ("X-Content-Type-Options", "nosniff")}),
]


def csrf_pair(base):
    """A browser's pre-session CSRF pair: the cookie from GET /login and
    the same token for X-CSRF-Token."""
    _, hdrs, _ = http("GET", base + "/login")
    tok = (hdrs.get("Set-Cookie") or "").split(";")[0].split("=", 1)[1]
    return {"Cookie": "tessera_csrf=" + tok, "X-CSRF-Token": tok}


def check(t, front, base, case, csrf):
    name, method, path, headers, body, want, checks = case
    label = "%s: %s" % (front, name)
    if method == "POST":
        headers = dict(csrf, **headers)
    try:
        status, hdrs, got = http(method, base + path, headers, body)
    except OSError as e:
        t.ok(False, label, "request failed: %s" % e)
        return
    good = t.eq(status, want, label + " -> %d" % want)
    if "ctype" in checks:
        t.ok((hdrs.get("Content-Type") or "").startswith(checks["ctype"]),
             label + ": Content-Type", hdrs.get("Content-Type"))
    if "body" in checks:
        t.eq(got, checks["body"], label + ": body")
    if "json" in checks:
        doc = body_json(got) or {}
        for k, v in checks["json"].items():
            t.eq(doc.get(k), v, label + ": JSON %s" % k)
    if "has" in checks:
        t.has(got, checks["has"], label + ": body has %r" % checks["has"][:30])
    if "hasnt" in checks:
        t.hasnt(got, checks["hasnt"], label + ": body lacks %r" % checks["hasnt"])
    if "header" in checks:
        h, v = checks["header"]
        t.eq(hdrs.get(h), v, label + ": %s" % h)
    if not good:
        print("# body: %r" % got[:300])


def run_cases(t, front, base, logfile):
    csrf = csrf_pair(base)
    for case in CASES:
        check(t, front, base, case, csrf)
    status, _, _ = http("POST", base + "/_test/echo/x", {
        "Content-Type": "application/x-www-form-urlencoded"}, b"a=1")
    t.eq(status, 403, front + ": a POST without the CSRF token -> 403")
    # The secret in a query string never reaches the log.
    http("GET", base + "/_test/echo/s?key=k1&token=SECRET-IN-QUERY")
    with open(logfile, "rb") as f:
        log = f.read()
    t.has(log, b"/_test/echo/s?key=k1&token=[scrubbed]",
          front + ": request logged with token scrubbed")
    t.hasnt(log, b"SECRET-IN-QUERY", front + ": the secret is not in the log")
    t.has(log, b"stack traceback", front + ": Lua errors logged with traceback")


def main():
    t = Tap()
    work = scratch("fronts")

    # lighttpd spawning tessera (mode A: socket on fd 0).
    data = init_data(os.path.join(work, "data-lighttpd"))
    with Lighttpd(os.path.join(work, "lighttpd"), free_port(), BIN,
                  env=app_env(data)) as web:
        run_cases(t, "lighttpd", web.base_url, web.log_path)

    # nginx and Apache mod_proxy_fcgi in front of one `tessera serve`.
    data = init_data(os.path.join(work, "data-serve"))
    sock = os.path.join(work, "serve", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    with TesseraServe(os.path.join(work, "serve"), BIN, sock, workers=2,
                      env=app_env(data)) as app:
        with Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
            run_cases(t, "nginx", web.base_url, app.log_path)
        with ApacheProxyFcgi(os.path.join(work, "apache-proxy"), free_port(),
                             sock) as web:
            run_cases(t, "apache proxy_fcgi", web.base_url, app.log_path)

    # Apache mod_fcgid spawning tessera (runs as www-data).
    data = init_data(os.path.join(work, "data-fcgid"))
    with ApacheFcgid(os.path.join(work, "fcgid"), free_port(), BIN,
                     env=app_env(data)) as web:
        run_cases(t, "apache fcgid", web.base_url,
                  os.path.join(web.workdir, "apache-error.log"))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
