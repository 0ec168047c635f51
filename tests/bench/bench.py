#!/usr/bin/env python3
"""make bench -- Tessera against a hello-world libfcgi responder, in one
run, through one nginx with the same settings for both (unix sockets,
fastcgi_keep_conn on, upstream keepalive half the worker count: a kept
connection pins a worker, so it stays below), driven by wrk
with the cases alternated so drift hits all of them alike.

Two more cases run on the hello responder as bounds: /reply sends
Tessera's own /api/me answer byte for byte with no work (what nginx and
wrk alone cost for that answer: no implementation of /api/me can beat
it), and /append appends the 1 KiB webhook body to a file and fdatasync()s
it (one durable write per request, no database, no batching).

Prints a table (requests/s, p50, p99, non-2xx, ratio to the baseline),
the CPU time per request of each side (nginx, the workers, wrk),
per-worker memory, the Argon2 peak of a login, CGI start-to-exit time and
the targets of step 5. Options: --seconds N per case per round (5),
--rounds N (3), --connections N (16), --workers N (4), --pin (nginx and
wrk on CPU 0, the workers on the others: the load generator kept off the
cores it measures; the targets are judged on the default, unpinned run),
--keep (leave the work dir).
"""

import argparse
import base64
import os
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.join(REPO, "tessera")
sys.path.insert(0, os.path.join(REPO, "tests", "http"))
from servers import free_port, http  # noqa: E402
from tap import children  # noqa: E402

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {w}/nginx.pid;
error_log {w}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {w}/body;
  fastcgi_temp_path {w}/fcgi;
  proxy_temp_path {w}/proxy;
  uwsgi_temp_path {w}/uwsgi;
  scgi_temp_path {w}/scgi;
  # The buffers of conf/nginx/tessera.conf, the configuration we ship:
  # a page of tokens (17 KB) is read from the socket in one or two reads.
  client_max_body_size 2m;
  client_body_buffer_size 256k;
  fastcgi_buffer_size 16k;
  fastcgi_buffers 16 4k;
  fastcgi_busy_buffers_size 16k;
  # keepalive stays below the worker count: a kept connection pins one
  # single-threaded worker, and with every worker pinned new connections
  # starve in the listen queue (p99 of seconds).
  upstream hello   {{ server unix:{w}/hello.sock;   keepalive {k}; }}
  upstream tessera {{ server unix:{w}/tessera.sock; keepalive {k}; }}
  server {{
    listen 127.0.0.1:{hello_port};
    location / {{ include /etc/nginx/fastcgi_params;
      fastcgi_param REQUEST_URI $request_uri;
      fastcgi_keep_conn on; fastcgi_pass hello; }}
  }}
  server {{
    listen 127.0.0.1:{app_port};
    location / {{ include /etc/nginx/fastcgi_params;
      fastcgi_param REQUEST_URI $request_uri;
      fastcgi_keep_conn on; fastcgi_pass tessera; }}
  }}
}}
"""

PW = "bench password 1"


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, **kw)


def load_data(data):
    """1,000 accounts, 100,000 tokens; the bench user has 1,000 of them."""
    sh(BIN, "init", "--data", data)
    sh(BIN, "user", "add", "--data", data, "--email", "bench@example.com",
       "--role", "admin", "--account", "Bench", input=(PW + "\n").encode())
    out = sh(BIN, "token", "add", "--data", data, "--email",
             "bench@example.com", "--description", "bench").stdout.decode()
    key = re.search(r"Token Key: (\S+)", out).group(1)
    tok = re.search(r"Token: +(\S+)", out).group(1)
    db = sqlite3.connect(os.path.join(data, "tessera.db"))
    pw_hash, bench_uid, bench_acct = db.execute(
        "SELECT password_hash, id, account_id FROM users").fetchone()
    now = int(time.time())
    users = []
    for a in range(1, 1000):
        cur = db.execute("INSERT INTO accounts (name, created_at) VALUES (?, ?)",
                         ("bench-%04d" % a, now))
        acct = cur.lastrowid
        cur = db.execute(
            "INSERT INTO users (account_id, email, email_norm, password_hash, "
            "role, created_at, updated_at) VALUES (?, ?, ?, ?, 'admin', ?, ?)",
            (acct, "u@bench-%04d.example" % a, "u@bench-%04d.example" % a,
             pw_hash, now, now))
        users.append((cur.lastrowid, acct, 99))
    # 99,000 for the other 999 (100 for the first 99, 99 for the rest), and
    # 1,000 for the bench user (999 here + the one made above): 100,000.
    users = [(u, a, 100 if i < 99 else 99) for i, (u, a, _) in enumerate(users)]
    users.append((bench_uid, bench_acct, 1000 - 1))
    rows = []
    for uid, acct, n in users:
        for i in range(n):
            rows.append((str(uuid.uuid4()), secrets.token_bytes(32),
                         "bench token %d" % i, acct, uid, now - i, now - i))
    db.executemany("INSERT INTO tokens (key, secret_hash, kind, description, "
                   "account_id, user_id, created_at, updated_at) VALUES "
                   "(?, ?, 'user', ?, ?, ?, ?, ?)", rows)
    db.commit()
    total = db.execute("SELECT count(*) FROM tokens").fetchone()[0]
    mine = db.execute("SELECT count(*) FROM tokens WHERE user_id = ?",
                      (bench_uid,)).fetchone()[0]
    db.close()
    return key, tok, total, mine


def wait_socket(path, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise RuntimeError("no socket at " + path)


def wait_ok(url, why, timeout=5):
    """Waits for url to answer 200; raises RuntimeError(why) if it never does."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if http("GET", url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(why)


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pids):
    """utime + stime of pids, in clock ticks (processes gone count 0)."""
    t = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return t


def wrk(url, seconds, conns, script=None, headers=(), cpus=None):
    argv = ["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds, "--latency",
            "--timeout", "5s"]
    for h in headers:
        argv += ["-H", h]
    if script:
        argv += ["-s", script]
    before = os.times()
    out = subprocess.run(argv + [url], capture_output=True, text=True,
                         preexec_fn=(lambda: os.sched_setaffinity(0, cpus))
                         if cpus else None, check=True).stdout
    after = os.times()
    wrk_cpu = (after.children_user - before.children_user +
               after.children_system - before.children_system)

    def lat(p):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": lat(50), "p99": lat(99), "requests": reqs,
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "errors": errors.group(1).strip() if errors else "",
            "wrk_cpu": wrk_cpu}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--workers", type=int, default=4,
                    help="workers for both sides (tessera's default, 4)")
    ap.add_argument("--pin", action="store_true",
                    help="nginx and wrk on CPU 0, both backends' workers on "
                    "the other CPUs (the load generator off the cores it "
                    "measures); the targets are judged on the default, "
                    "unpinned run")
    args = ap.parse_args()
    cores = os.cpu_count()
    workers = args.workers
    keepalive = max(1, workers // 2)
    work = tempfile.mkdtemp(prefix="tessera-bench-")
    os.chmod(work, 0o755)
    for d in ("body", "fcgi", "proxy", "uwsgi", "scgi"):
        os.makedirs(os.path.join(work, d))
    procs = []
    try:
        hello = os.path.join(work, "hello")
        sh("cc", "-O2", "-o", hello, os.path.join(HERE, "hello.c"),
           *subprocess.run(["pkg-config", "--cflags", "--libs", "fcgi"],
                           capture_output=True, text=True).stdout.split())
        data = os.path.join(work, "data")
        print("loading 100,000 tokens across 1,000 accounts ...", flush=True)
        key, tok, total, mine = load_data(data)

        env = dict(os.environ, TESSERA_DATA=data, TESSERA_SOCKET_MODE="0666",
                   TESSERA_LOG_REQUESTS="0", TESSERA_RATE_LIMIT_API_KEY="0",
                   TESSERA_RATE_LIMIT_API_IP="0",
                   TESSERA_RATE_LIMIT_WEBHOOK_KEY="0",
                   TESSERA_RATE_LIMIT_WEBHOOK_RECORDS="0",
                   TESSERA_RATE_LIMIT_WEBHOOK_IP="0")
        log = open(os.path.join(work, "servers.log"), "ab")
        app = subprocess.Popen([BIN, "serve", "--listen", "unix:%s/tessera.sock" % work,
                                "--workers", str(workers)], env=env, stdout=log,
                               stderr=log, start_new_session=True)
        procs.append(app)
        wait_socket(os.path.join(work, "tessera.sock"))
        hello_port, app_port = free_port(), free_port()
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(w=work, k=keepalive, hello_port=hello_port,
                                      app_port=app_port))
        ngx = subprocess.Popen(["nginx", "-c", conf, "-p", work + "/"],
                               stdout=log, stderr=log, start_new_session=True)
        procs.append(ngx)
        hbase = "http://127.0.0.1:%d" % hello_port
        base = "http://127.0.0.1:%d" % app_port
        wait_ok(base + "/healthz", "tessera behind nginx does not answer; see "
                "%s/nginx-error.log and servers.log" % work)
        basic = "Authorization: Basic " + base64.b64encode(
            ("%s:%s" % (key, tok)).encode()).decode()
        # Tessera's /api/me answer as a FastCGI responder writes it (the
        # headers nginx adds itself left out), for the hello's /reply.
        s, h, me_body = http("GET", base + "/api/me",
                             {"Authorization": basic.split(": ", 1)[1]})
        reply = os.path.join(work, "reply")
        with open(reply, "wb") as f:
            f.write(b"Status: 200 OK\r\n")
            for k, v in h.items():
                if k.lower() not in ("server", "date", "connection",
                                     "transfer-encoding"):
                    f.write(("%s: %s\r\n" % (k, v)).encode())
            f.write(b"\r\n" + me_body)
        hel = subprocess.Popen([hello, "--listen", "unix:%s/hello.sock" % work,
                                "--workers", str(workers), "--reply", reply,
                                "--append", os.path.join(work, "append.log")],
                               env=dict(os.environ, TESSERA_SOCKET_MODE="0666"),
                               stdout=log, stderr=log, start_new_session=True)
        procs.append(hel)
        wait_socket(os.path.join(work, "hello.sock"))
        wait_ok(hbase + "/", "hello behind nginx does not answer; see "
                "%s/servers.log" % work)

        # A session for the tokens page (one Argon2 hash: the login peak).
        wpids = children(app.pid)
        hwm_before = max(status_kib(p, "VmHWM") for p in wpids)
        s, h, _ = http("GET", base + "/login")
        csrf_cookie = h.get("Set-Cookie").split(";")[0]
        ctok = csrf_cookie.split("=", 1)[1]
        t0 = time.monotonic()
        s, h, _ = http("POST", base + "/login", {
            "Cookie": csrf_cookie, "Content-Type":
            "application/x-www-form-urlencoded"}, urllib.parse.urlencode(
                {"email": "bench@example.com", "password": PW, "csrf": ctok}))
        login_ms = (time.monotonic() - t0) * 1000
        session = [c.split(";")[0] for c in h.get_all("Set-Cookie")
                   if c.startswith("tessera=")][0]
        hwm_after = max(status_kib(p, "VmHWM") for p in wpids)

        # A wrong secret with a valid checksum, so it reaches the lookup.
        bad = subprocess.run([BIN, "token", "add", "--data", data, "--email",
                              "bench@example.com", "--description", "x"],
                             capture_output=True, text=True).stdout
        other = re.search(r"Token: +(\S+)", bad).group(1)
        wrong = "Authorization: Basic " + base64.b64encode(
            ("%s:%s" % (key, other)).encode()).decode()
        body = '{"event":"bench","payload":"%s","n":1}' % ("x" * 980)
        sh(BIN, "token", "add", "--data", data, "--email", "bench@example.com",
           "--description", "unused")
        # The webhook pipeline.
        auth = {"Authorization": basic.split(": ", 1)[1],
                "Content-Type": "application/json"}
        import json
        src = json.loads(http("POST", base + "/api/sources", auth,
                              '{"name":"hook","type":"webhook"}')[2])["data"]["id"]
        dst = json.loads(http("POST", base + "/api/destinations", auth,
                              '{"name":"lake","type":"s3"}')[2])["data"]["id"]
        pl = json.loads(http("POST", base + "/api/pipelines", auth, json.dumps(
            {"name": "p", "type": "webhook", "source_id": src,
             "destination_id": dst}))[2])["data"]["id"]
        script = os.path.join(work, "post.lua")
        with open(script, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = [[%s]]\n'
                    'wrk.headers["Content-Type"] = "application/json"\n' % body)

        cases = [
            ("baseline hello", hbase + "/", None, ()),
            ("/api/me Basic", base + "/api/me", None, (basic,)),
            ("/api/me query", base + "/api/me?key=%s&token=%s" % (key, tok), None, ()),
            ("/api/me wrong secret", base + "/api/me", None, (wrong,)),
            ("webhook 1 KiB durable", base + "/webhook?pipeline_id=%d" % pl,
             script, (basic,)),
            ("tokens page, %d tokens" % mine, base + "/settings/tokens", None,
             ("Cookie: " + session,)),
            ("bound: /api/me's answer, no work", hbase + "/reply", None, ()),
            ("bound: 1 KiB append + fdatasync", hbase + "/append", script, ()),
        ]
        # Each case answers what it should before it is measured.
        for name, url, scr, hdrs in cases:
            h = dict(x.split(": ", 1) for x in hdrs)
            if scr:
                h["Content-Type"] = "application/json"
                st = http("POST", url, h, body)[0]
            else:
                st = http("GET", url, h)[0]
            want = 401 if "wrong" in name else 200
            if st != want:
                raise RuntimeError("%s answers %d, not %d" % (name, st, want))
        results = {c[0]: [] for c in cases}
        # CPU time of each side per request (from /proc): where a case's
        # time goes on a machine whose cores the web server, the load
        # generator and the workers share.
        hz = os.sysconf("SC_CLK_TCK")
        groups = {"nginx": [ngx.pid] + children(ngx.pid),
                  "app": children(app.pid), "hello": children(hel.pid)}
        wrk_cpus = None
        if args.pin:
            if cores < 2:
                raise RuntimeError("--pin needs at least 2 CPUs")
            wrk_cpus = {0}
            rest = set(range(1, cores))
            for pid in groups["nginx"]:
                os.sched_setaffinity(pid, wrk_cpus)
            for pid in [app.pid, hel.pid] + groups["app"] + groups["hello"]:
                os.sched_setaffinity(pid, rest)
        for r in range(args.rounds):
            for name, url, scr, hdrs in cases:
                b = {k: cpu_ticks(v) for k, v in groups.items()}
                res = wrk(url, args.seconds, args.connections, scr, hdrs,
                          wrk_cpus)
                a = {k: cpu_ticks(v) for k, v in groups.items()}
                n = max(res["requests"], 1)
                res["cpu_us"] = {k: (a[k] - b[k]) / hz * 1e6 / n for k in a}
                res["cpu_us"]["wrk"] = res["wrk_cpu"] * 1e6 / n
                results[name].append(res)
        rss = [(p, status_kib(p, "VmRSS"), status_kib(p, "VmHWM"))
               for p in children(app.pid)]

        # CGI: process start to exit for one /healthz.
        cgi_env = dict(env, GATEWAY_INTERFACE="CGI/1.1", REQUEST_METHOD="GET",
                       REQUEST_URI="/healthz", REMOTE_ADDR="127.0.0.1")
        cgi = []
        for _ in range(41):
            t0 = time.monotonic()
            subprocess.run([BIN], env=cgi_env, capture_output=True, check=True)
            cgi.append((time.monotonic() - t0) * 1000)
        cgi_ms = statistics.median(cgi)
        n_records = sqlite3.connect(os.path.join(data, "tessera.db")).execute(
            "SELECT count(*) FROM records").fetchone()[0]
        # Group commit: fsyncs done (commit.c's counter, the 4th word).
        import struct
        with open(os.path.join(data, "commit.map"), "rb") as f:
            fsyncs = struct.unpack("<4Q", f.read(32))[3]
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, 15)
                p.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    med = {k: {f: statistics.median(r[f] for r in v) for f in
               ("rps", "p50", "p99")} for k, v in results.items()}
    base_rps = med["baseline hello"]["rps"]
    print()
    print("Tessera bench, %s, %d cores, %d workers each, nginx keepalive %d, "
          "wrk -t2 -c%d, %d rounds x %ds per case (medians)" % (
              time.strftime("%Y-%m-%d"), cores, workers, keepalive,
              args.connections, args.rounds, args.seconds))
    print("%d tokens in %d accounts" % (total, 1000))
    print("pinned: nginx and wrk on CPU 0, the workers on CPUs 1-%d" %
          (cores - 1) if args.pin else
          "unpinned: nginx, wrk and the workers share the %d cores" % cores)
    print()
    print("| case | req/s | p50 ms | p99 ms | non-2xx | x baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, *_ in cases:
        m = med[name]
        non2xx = sum(r["non2xx"] for r in results[name])
        reqs = sum(r["requests"] for r in results[name])
        errs = [r["errors"] for r in results[name] if r["errors"]]
        print("| %s | %.0f | %.2f | %.2f | %d of %d%s | %.2f |" % (
            name, m["rps"], m["p50"], m["p99"], non2xx, reqs,
            " (socket errors: %s)" % "; ".join(errs) if errs else "",
            m["rps"] / base_rps))
    print()
    print("CPU time per request, microseconds (medians%s):" % (
        "" if args.pin else "; all sides share the %d cores" % cores))
    print()
    print("| case | web server | app workers | wrk | sum |")
    print("|---|---:|---:|---:|---:|")
    for name, *_ in cases:
        side = "hello" if name == "baseline hello" or \
            name.startswith("bound") else "app"
        c = {k: statistics.median(r["cpu_us"][k] for r in results[name])
             for k in ("nginx", side, "wrk")}
        print("| %s | %.1f | %.1f | %.1f | %.1f |" % (
            name, c["nginx"], c[side], c["wrk"], sum(c.values())))
    print()
    for p, r, hwm in rss:
        print("worker %d: VmRSS %.1f MiB (peak VmHWM %.1f MiB)" % (p, r / 1024, hwm / 1024))
    print("login: %.0f ms; worker peak before %.1f MiB, after %.1f MiB (Argon2id "
          "64 MiB, given back)" % (login_ms, hwm_before / 1024, hwm_after / 1024))
    print("CGI /healthz, process start to exit: median %.1f ms (of %d)" % (cgi_ms, len(cgi)))
    print("webhook records stored: %d; WAL fsyncs in the whole run: %d "
          "(group commit: %.2f per record)" % (n_records, fsyncs,
                                               fsyncs / max(n_records, 1)))
    print()
    targets = [
        ("/api/me Basic >= 0.85 x baseline", med["/api/me Basic"]["rps"] / base_rps >= 0.85),
        ("webhook durable >= 0.30 x baseline",
         med["webhook 1 KiB durable"]["rps"] / base_rps >= 0.30),
        ("tokens page >= 0.25 x baseline",
         med["tokens page, %d tokens" % mine]["rps"] / base_rps >= 0.25),
        ("worker VmRSS <= 16 MiB", max(r for _, r, _ in rss) <= 16 * 1024),
        ("CGI /healthz <= 15 ms", cgi_ms <= 15),
        ("non-2xx only in the wrong-secret case (all 401)",
         all(sum(r["non2xx"] for r in results[n]) == 0 for n, *_ in cases
             if n != "/api/me wrong secret") and
         all(r["non2xx"] == r["requests"] for r in results["/api/me wrong secret"])),
    ]
    for name, good in targets:
        print("%-50s %s" % (name, "met" if good else "MISSED"))
    return 0 if all(g for _, g in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
