"""What every front (lighttpd, nginx, Apache mod_proxy_fcgi, Apache
mod_fcgid, each from its shipped file in conf/) exposes by itself:

- its access logs never hold a secret sent in a query string
  (?key=K&token=SECRET on the API and the webhook, also with the name
  percent-encoded), nor the secret of a Basic credential; its error logs
  neither while the app is up; every log file the servers wrote is read;
- everything it answers itself -- a static file, a missing one, a
  directory, its own 413, its answer while the app is down -- carries
  the security headers (a CSP with frame-ancestors, X-Frame-Options,
  nosniff, Referrer-Policy), and an error is never cacheable;
- the app's own answers pass through with their headers once, not twice.

Known and documented (README, Deployment): nginx and lighttpd write the
whole request target into their *error* log when they cannot hand a
request to the app (and nginx when it refuses a body as too large); those
lines are reported as skipped, not hidden."""

import base64
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import (ApacheFcgid, ApacheProxyFcgi, Lighttpd, Nginx,  # noqa: E402
                     TesseraServe, _session_members, free_port, http)
from tap import BIN, Tap, app_env, init_data, scratch, wait_for  # noqa: E402

MiB = 1024 * 1024
# Sent while the app is up (no log may hold it), and with requests the
# front answers itself or cannot pass on (no access log may hold it).
UP = "UpSecret7f3a9c"
DOWN = "DownSecret51be02"
FRONT_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options",
                 "X-Frame-Options", "Referrer-Policy")


def secret_requests(base, secret):
    """Credentials in the query (as the API allows), in a percent-encoded
    name, and in Basic: each a request the app answers."""
    basic = base64.b64encode(("key-%s:%s" % (secret[:4], secret)).encode()).decode()
    hook = "/webhook?pipeline_id=1&key=K&token=" + secret
    reqs = [("GET", "/api/me?key=K&token=" + secret, {}, None),
            ("GET", "/api/me?key=K&%74oken=" + secret, {}, None),
            ("POST", hook, {"Content-Type": "application/json"}, b'{"a": 1}'),
            ("GET", "/api/me", {"Authorization": "Basic " + basic}, None)]
    for method, path, headers, body in reqs:
        try:
            http(method, base + path, headers, body, timeout=10)
        except OSError:
            pass


def check_front_answer(t, label, status, hdrs, want_status, cacheable=False):
    """A response the front made itself."""
    t.ok(status in want_status, "%s -> %s" % (label, "/".join(map(str, want_status))),
         "got %s" % status)
    missing = [h for h in FRONT_HEADERS if len(hdrs.get_all(h) or []) != 1]
    t.ok(not missing, label + ": the security headers, once each", "missing: %s" % missing)
    t.has(hdrs.get("Content-Security-Policy") or "", "frame-ancestors 'none'",
          label + ": CSP forbids framing")
    t.eq(hdrs.get("X-Content-Type-Options"), "nosniff", label + ": nosniff")
    cc = ", ".join(hdrs.get_all("Cache-Control") or [])
    if cacheable:
        t.ok("max-age" in cc and "no-store" not in cc, label + ": cacheable for a while", cc)
    else:
        t.ok("no-store" in cc and "public" not in cc and "max-age" not in cc,
             label + ": never stored by a cache", cc or "(no Cache-Control)")


def front_answers(t, front, base):
    """Static files and the front's own errors, while the app is up."""
    status, hdrs, _ = http("GET", base + "/static/app.css")
    check_front_answer(t, front + ": static file", status, hdrs, (200,), cacheable=True)
    status, hdrs, _ = http("GET", base + "/static/no-such-file.css")
    check_front_answer(t, front + ": missing static file", status, hdrs, (404,))
    status, hdrs, _ = http("GET", base + "/static/")
    check_front_answer(t, front + ": the static directory", status, hdrs, (403, 404))
    # Over the front's own body limit (2 MiB); the secret rides along.
    status, hdrs, _ = http("POST", base + "/static/app.css?key=K&token=" + DOWN,
                           {"Content-Type": "application/octet-stream"}, b"x" * (3 * MiB))
    check_front_answer(t, front + ": its own 413", status, hdrs, (413,))


def app_answers(t, front, base):
    """The app's answers pass through with the app's headers, not the
    front's added on top."""
    status, hdrs, _ = http("GET", base + "/healthz")
    t.eq(status, 200, front + ": /healthz")
    t.eq(hdrs.get_all("Content-Security-Policy"), ["default-src 'none'; frame-ancestors 'none'"],
         front + ": a JSON answer keeps its one CSP")
    t.eq(hdrs.get_all("X-Frame-Options"), None,
         front + ": a JSON answer gets no X-Frame-Options from the front")
    t.eq(hdrs.get_all("Cache-Control"), ["no-store"], front + ": a JSON answer, one Cache-Control")
    status, hdrs, _ = http("GET", base + "/login")
    t.eq(len(hdrs.get_all("Content-Security-Policy") or []), 1, front + ": a page keeps its one CSP")
    t.has(hdrs.get("Content-Security-Policy") or "", "script-src 'self'",
          front + ": a page's CSP is the app's")
    status, hdrs, _ = http("GET", base + "/no/such/page")
    t.ok(status == 404 and "text/html; charset=utf-8" == hdrs.get("Content-Type")
         and len(hdrs.get_all("Content-Security-Policy") or []) == 1,
         front + ": the app's own 404 passes through", "%s %s" % (status, hdrs.get("Content-Type")))


def app_down(t, front, base):
    """The front's answer while the app cannot be reached."""
    got = []
    for path in ("/healthz", "/api/me?key=K&token=" + DOWN):
        status, hdrs, _ = http("GET", base + path, timeout=20)
        got.append((status, hdrs))
    for i, (status, hdrs) in enumerate(got):
        check_front_answer(t, "%s: app down (%d)" % (front, i + 1), status, hdrs, (500, 502, 503))
    # And the webhook, with its secret, for the logs.
    try:
        http("POST", base + "/webhook?pipeline_id=1&key=K&token=" + DOWN,
             {"Content-Type": "application/json"}, b"{}", timeout=20)
    except OSError:
        pass


def take_app_away(server, link):
    """Spawned fronts: the app binary becomes /bin/false and the running
    app processes are killed (by pid), so every new one dies at once."""
    tmp = link + ".new"
    os.symlink("/bin/false", tmp)
    os.replace(tmp, link)
    real = os.path.realpath(BIN)
    for pid, state in _session_members(server.pid):
        try:
            if state != "Z" and os.readlink("/proc/%d/exe" % pid) == real:
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def log_files(*dirs):
    """Every file the servers and the app wrote as a log: name ends in
    .log or .out, anywhere under dirs."""
    found = []
    for top in dirs:
        for base, _, files in os.walk(top):
            for name in files:
                if name.endswith((".log", ".out")):
                    found.append(os.path.join(base, name))
    return sorted(found)


def grep_logs(t, front, files, error_logs, leaky_error_logs):
    """UP may be in no file; DOWN in no file but the known error logs."""
    t.ok(files, front + ": found its log files", files)
    for path in files:
        with open(path, "rb") as f:
            text = f.read()
        name = os.path.relpath(path, os.path.dirname(os.path.dirname(path)))
        t.hasnt(text, UP.encode(), "%s: %s holds no secret sent while the app was up"
                % (front, name))
        if path in leaky_error_logs:
            if DOWN.encode() in text:
                t.skip("%s: %s holds no secret of a request it could not pass on" % (front, name),
                       "known: this server logs the whole request target of such a request "
                       "in its error log (README, Deployment)")
            else:
                t.ok(True, "%s: %s holds no secret of a request it could not pass on"
                     % (front, name))
        else:
            kind = "error log" if path in error_logs else "log"
            t.hasnt(text, DOWN.encode(), "%s: %s (%s) holds no secret of a request it "
                    "answered itself or could not pass on" % (front, name, kind))


def spawned_bin(workdir):
    """A link to the tessera binary in workdir, for take_app_away()."""
    os.makedirs(workdir, exist_ok=True)
    link = os.path.join(workdir, "tessera-bin")
    os.symlink(BIN, link)
    return link


def main():
    t = Tap()
    work = scratch("fronts-exposure")

    # lighttpd spawning tessera; its access log in a file of its own (the
    # default is stderr, which is also its error log).
    data = init_data(os.path.join(work, "data-lighttpd"))
    lw = os.path.join(work, "lighttpd")
    link = spawned_bin(lw)
    web = Lighttpd(lw, free_port(), link,
                   env=dict(app_env(data), TESSERA_ACCESS_LOG=os.path.join(lw, "access.log")))
    with web:
        front_answers(t, "lighttpd", web.base_url)
        app_answers(t, "lighttpd", web.base_url)
        secret_requests(web.base_url, UP)
        take_app_away(web, link)
        app_down(t, "lighttpd", web.base_url)
    grep_logs(t, "lighttpd", log_files(lw), [web.log_path], [web.log_path])

    # nginx and Apache mod_proxy_fcgi in front of one `tessera serve`,
    # which is then stopped.
    data = init_data(os.path.join(work, "data-serve"))
    sw = os.path.join(work, "serve")
    os.makedirs(sw)
    nw, aw = os.path.join(work, "nginx"), os.path.join(work, "apache-proxy")
    with TesseraServe(sw, BIN, os.path.join(sw, "tessera.sock"), workers=2,
                      env=app_env(data)) as app, \
            Nginx(nw, free_port(), app.socket_path) as nginx, \
            ApacheProxyFcgi(aw, free_port(), app.socket_path) as apache:
        for front, web in (("nginx", nginx), ("apache proxy_fcgi", apache)):
            front_answers(t, front, web.base_url)
            app_answers(t, front, web.base_url)
            secret_requests(web.base_url, UP)
        app.stop()
        t.ok(wait_for(lambda: not os.path.exists(app.socket_path), 10), "the app is stopped")
        for front, web in (("nginx", nginx), ("apache proxy_fcgi", apache)):
            app_down(t, front, web.base_url)
    nginx_error = os.path.join(nw, "nginx-error.log")
    grep_logs(t, "nginx", log_files(nw, sw), [nginx_error, os.path.join(nw, "nginx.out")],
              [nginx_error])
    grep_logs(t, "apache proxy_fcgi", log_files(aw),
              [os.path.join(aw, "apache-error.log"), os.path.join(aw, "apache-proxy-fcgi.out")], [])

    # Apache mod_fcgid spawning tessera.
    data = init_data(os.path.join(work, "data-fcgid"))
    fw = os.path.join(work, "fcgid")
    link = spawned_bin(fw)
    with ApacheFcgid(fw, free_port(), link, env=app_env(data)) as web:
        front_answers(t, "apache fcgid", web.base_url)
        app_answers(t, "apache fcgid", web.base_url)
        secret_requests(web.base_url, UP)
        take_app_away(web, link)
        app_down(t, "apache fcgid", web.base_url)
    grep_logs(t, "apache fcgid", log_files(fw),
              [os.path.join(fw, "apache-error.log"), os.path.join(fw, "apache-fcgid.out")], [])
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
