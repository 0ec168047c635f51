"""Sustained load: `wrk -t2 -c256 -d60s --timeout 10s` on GET /api/me
(Basic credentials, rate limits off) through nginx in front of
`tessera serve`.  Every request must succeed: zero non-2xx, zero socket
errors (connect, read, write, timeout).  Reports requests/s, p50 and p99.

Settings for 256 connections: nginx keeps its one worker process (the
site file's upstream keepalive 1 is per nginx worker, and must stay below
tessera's worker count) but gets worker_connections 4096, since each client
connection in flight also holds an upstream connection (256 + 256 > the
harness's 512).  tessera runs 8 workers; its listen backlog (1024) holds
the connections nginx opens while every worker is busy."""

import base64
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import (BIN, Tap, add_user, app_env, children,  # noqa: E402
                 init_data, scratch, tessera)

WORKERS = 8
CONNS = 256
SECONDS = 60
NGINX_CONNECTIONS = 4096


class LoadNginx(Nginx):
    """The harness's nginx with room for CONNS clients and their upstream
    connections."""

    def _prepare(self):
        argv, env = super()._prepare()
        conf = self._path("nginx.conf")
        with open(conf) as f:
            text = f.read()
        old = "events { worker_connections 512; }"
        if old not in text:
            raise RuntimeError("nginx.conf: %r not found" % old)
        text = text.replace(old, "worker_rlimit_nofile %d;\nevents { "
                            "worker_connections %d; }"
                            % (NGINX_CONNECTIONS * 2, NGINX_CONNECTIONS))
        with open(conf, "w") as f:
            f.write(text)
        return argv, env


def run_wrk(url, basic):
    argv = ["wrk", "-t2", "-c%d" % CONNS, "-d%ds" % SECONDS, "--timeout", "10s",
            "--latency", "-H", "Authorization: " + basic, url]
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           timeout=SECONDS + 60)
        return r.stdout
    except subprocess.TimeoutExpired as e:
        return (e.stdout or "") + "\n(wrk timed out)"


def parse(out):
    def ms(p):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, out, re.M)
        if not m:
            return None
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    reqs = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                     r"timeout (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {
        "requests": int(reqs.group(1)) if reqs else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": dict(zip(("connect", "read", "write", "timeout"),
                           map(int, errs.groups()))) if errs else
        dict.fromkeys(("connect", "read", "write", "timeout"), 0),
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": ms(50), "p99": ms(99),
    }


def main():
    t = Tap()
    work = scratch("hard-load")
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", "correct horse battery", role="admin")
    out = tessera(data, "token", "add", "--email", "ana@example.com",
                  "--description", "load").stdout.decode()
    key = re.search(r"Token Key: (\S+)", out).group(1)
    tok = re.search(r"Token: +(\S+)", out).group(1)
    basic = "Basic " + base64.b64encode(("%s:%s" % (key, tok)).encode()).decode()
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    env = app_env(data, TESSERA_RATE_LIMIT_API_KEY=0, TESSERA_RATE_LIMIT_API_IP=0)
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=WORKERS,
                      env=env) as app, \
            LoadNginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        url = web.base_url + "/api/me"
        t.eq(http("GET", url, {"Authorization": basic})[0], 200,
             "GET /api/me answers 200")
        before = set(children(app.pid))
        text = run_wrk(url, basic)
        with open(os.path.join(work, "wrk.txt"), "w") as f:
            f.write(text)
        r = parse(text)
        after = set(children(app.pid))
        errs = r["errors"]
        print("# wrk -t2 -c%d -d%ds: %d requests, %.0f requests/s, p50 %s ms, "
              "p99 %s ms" % (CONNS, SECONDS, r["requests"], r["rps"],
                            r["p50"], r["p99"]))
        print("# non-2xx %d; socket errors: %s; tessera workers %d, replaced "
              "during the run: %d" % (r["non2xx"], ", ".join(
                  "%s %d" % kv for kv in errs.items()), WORKERS,
                  len(before - after)))
        t.ok(r["requests"] > 0 and r["p99"] is not None, "wrk ran", text)
        t.eq(r["non2xx"], 0, "zero non-2xx responses")
        t.eq(errs, dict.fromkeys(("connect", "read", "write", "timeout"), 0),
             "zero socket errors")
        t.eq(len(before - after), 0, "no worker died under load")
        nginx_errors = []
        try:
            with open(os.path.join(web.workdir, "nginx-error.log")) as f:
                nginx_errors = [line.strip() for line in f
                                if "[error]" in line or "[alert]" in line
                                or "[crit]" in line]
        except OSError:
            pass
        print("# nginx error log: %d error/alert lines" % len(nginx_errors))
        for line in nginx_errors[:5]:
            print("#   " + line[:200])
    return t.done()


if __name__ == "__main__":
    # A runner's timeout (SIGTERM) still stops the servers, by the with-blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
