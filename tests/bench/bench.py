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

With the PostgreSQL engine (--engines sqlite,pg, the default), the same
run also starts a PostgreSQL 15 of its own (tests/http/pg.py: a unix
socket only, fsync on, synchronous_commit on) with the same 100,000
tokens, and measures beside the SQLite cases: /api/me and the durable
webhook on one `tessera serve` host on PostgreSQL (the same worker
count), the same on two hosts on that one database behind one nginx
upstream, and the webhook with --senders (16) concurrent senders on each
engine (wrk -c16 against a host of 16 workers, one per sender). For the
PostgreSQL cases it also reads what bounds them: the CPU time of the
postgres backends beside the workers', the workers' context switches,
write transactions and WAL bytes per request, how long a WAL flush takes
(pg_stat_wal, track_wal_io_timing on), what the backends are doing
(pg_stat_activity and pg_locks every 0.1 s: running, flushing, waiting
for the writers' lock or for their worker), and, in a short counting
pass after the timed rounds, the statements of each request
(pg_stat_statements, loaded for the run but tracking only then).

Prints a table (requests/s, p50, p99, non-2xx, ratio to the baseline),
the CPU time per request of each side (nginx, the workers, PostgreSQL,
wrk), per-worker memory, the Argon2 peak of a login, CGI start-to-exit
time and the targets of step 5 and step 9. Options: --seconds N per case
per round (5), --rounds N (3), --connections N (16), --workers N (4),
--engines sqlite[,pg] (sqlite,pg), --senders N (16), --count-seconds N
per PostgreSQL case in the counting pass (2; 0: none), --pin (nginx and
wrk on CPU 0, the workers and PostgreSQL on the others: the load
generator kept off the cores it measures; the targets are judged on the
default, unpinned run), --keep (leave the work dir).

Against the peers (step 13; --peers c,php, the default): the same
/api/me check written in plain C (peers/check.c: libfcgi, SQLite,
libsodium, no Lua) and in PHP-FPM 8.2 (peers/check.php: PDO SQLite,
sodium; pm = static, opcache on), each with the same worker count behind
the same nginx, reading the store's own database file read-only and
answering the same bytes (checked before the rounds). The requests of
these "spread" cases rotate over --live (10,000) distinct live tokens
(ROTATE_LUA), of the 100,000; and for the store's size /api/me (and the
plain-C check) on a store of --small (1,000) tokens against one of --big
(1,000,000), both hosts with db_mmap_mb = --mmap (1024). Every token is a
real one (load_data: secrets and keyed BLAKE2b hashes made here, inserted
in bulk). Tessera notes a token's last use at most once a minute; before
each of its spread cases warm_up has every token used, so the timed run
measures the check alone, as the peers do. Prints the ratios to each peer
and the targets: /api/me >= 0.95 x plain C and >= 1.6 x PHP-FPM, the
/api/me ratio (to plain C) with 1,000,000 tokens within 5 % of that ratio
with 1,000; and the
webhook's deliveries/s against the append + fdatasync bound, and records/s
with arrays of 100 records.

--allocators LIST (e.g. glibc,mimalloc,jemalloc): glibc's malloc against
Debian's mimalloc and jemalloc, in one run (step 10 measured a cache of
small blocks, pool.c, this way, and removed it: bench/results.md). Each
name starts a `tessera serve` of its own on the same SQLite data, the
same build ("mimalloc" or "jemalloc" preloads that library with
LD_PRELOAD; "glibc" preloads nothing), and /api/me (Basic), the
durable webhook and the tokens page are measured on each, the allocators
alternated within each case and their order turned round by one every
round. This mode runs the SQLite engine only, leaves out the other cases
and the targets, and adds a table of the ratios per allocator, each
round's, and the workers' memory (VmRSS, VmHWM) of each host.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.join(REPO, "tessera")
sys.path.insert(0, os.path.join(REPO, "tests", "http"))
from servers import free_port, http  # noqa: E402
from tap import children  # noqa: E402

NGINX_HEAD = """
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
"""

NGINX_FRONT = """  upstream {name} {{ {servers} keepalive {k}; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ include /etc/nginx/fastcgi_params;
      fastcgi_param REQUEST_URI $request_uri; {extra}
      fastcgi_keep_conn on; fastcgi_pass {name}; }}
  }}
"""


def nginx_conf(work, fronts):
    """One nginx, one upstream and one port per front: (name, sockets,
    keepalive, port[, more fastcgi directives]). Several sockets: nginx's
    default round robin."""
    out = NGINX_HEAD.format(w=work)
    for name, socks, k, port, *extra in fronts:
        out += NGINX_FRONT.format(name=name, k=k, port=port, servers=" ".join(
            "server unix:%s;" % s for s in socks), extra="".join(extra))
    return out + "}\n"


PW = "bench password 1"


def sh(*argv, **kw):
    r = subprocess.run(argv, capture_output=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s exited with %d: %s" % (
            " ".join(argv[:3]), r.returncode,
            (r.stderr.decode(errors="replace") if isinstance(r.stderr, bytes)
             else r.stderr).strip()[-2000:]))
    return r


def first_token(data, env=None):
    """tessera init, the bench user and its first token (key, secret);
    env None: the SQLite engine (DATA/tessera.db)."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if k != "TESSERA_DATABASE"}
    sh(BIN, "init", "--data", data, env=env)
    sh(BIN, "user", "add", "--data", data, "--email", "bench@example.com",
       "--role", "admin", "--account", "Bench", input=(PW + "\n").encode(),
       env=env)
    out = sh(BIN, "token", "add", "--data", data, "--email",
             "bench@example.com", "--description", "bench",
             env=env).stdout.decode()
    return (re.search(r"Token Key: (\S+)", out).group(1),
            re.search(r"Token: +(\S+)", out).group(1))


B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(n, digits):
    out = []
    for _ in range(digits):
        n, r = divmod(n, 62)
        out.append(B62[r])
    return "".join(reversed(out))


def new_secret():
    """A token secret as token.c makes one: "tsr_", 32 random bytes in 43
    base62 digits, the CRC-32 of those 47 characters in 6 more."""
    s = "tsr_" + base62(int.from_bytes(os.urandom(32), "big"), 43)
    return s + base62(zlib.crc32(s.encode()), 6)


def load_data(data, total=100000, live=10000, creds=None):
    """tessera init, the bench user and its first token, 999 more accounts
    with one admin each, and tokens up to total: the bench user has 1,000
    of them (or total / 100 when that is fewer), the others the rest,
    evenly. Every token is a real one: a secret made as token.c makes it
    and its hash as token.c computes it (BLAKE2b-256 keyed with the pepper,
    which is crypto_generichash; hashlib's blake2b is the same function),
    inserted in bulk in one transaction. creds: a file to get the
    credentials (base64 of "key:secret", one a line) of `live` of the
    tokens, spread evenly over the table (every total/live-th row, so the
    pages they live on are not a few hot ones). Returns key, token, total,
    the bench user's count."""
    key, tok = first_token(data)
    with open(os.path.join(data, "pepper.key"), "rb") as f:
        pepper = f.read()
    db = sqlite3.connect(os.path.join(data, "tessera.db"))
    db.execute("PRAGMA cache_size = -262144")      # 256 MiB while loading
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
        users.append((cur.lastrowid, acct))
    # 100,000: 1,000 for the bench user (999 here + the one made above),
    # 99,000 for the other 999 (100 for the first 99, 99 for the rest).
    mine = min(1000, max(1, total // 100))
    base, extra = divmod(total - mine, 999)
    owners = [(u, a, base + (1 if i < extra else 0))
              for i, (u, a) in enumerate(users)]
    owners.append((bench_uid, bench_acct, mine - 1))
    n = sum(c for _, _, c in owners)
    step = max(1, n // live) if live else 0
    out = []
    sql = ("INSERT INTO tokens (key, secret_hash, kind, description, "
           "account_id, user_id, created_at, updated_at) VALUES "
           "(?, ?, 'user', ?, ?, ?, ?, ?)")
    rows, i = [], 0
    for uid, acct, cnt in owners:
        for j in range(cnt):
            k, sec = str(uuid.uuid4()), new_secret()
            rows.append((k, hashlib.blake2b(sec.encode(), key=pepper,
                                             digest_size=32).digest(),
                         "bench token %d" % j, acct, uid, now - j, now - j))
            if step and i % step == 0 and len(out) < live:
                out.append(base64.b64encode(("%s:%s" % (k, sec)).encode()))
            i += 1
            if len(rows) == 50000:
                db.executemany(sql, rows)
                rows = []
    db.executemany(sql, rows)
    db.commit()
    if creds:
        if len(out) < live:     # few tokens: every one, the first too
            out.append(base64.b64encode(("%s:%s" % (key, tok)).encode()))
        with open(creds, "wb") as f:
            f.write(b"\n".join(out) + b"\n")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    total = db.execute("SELECT count(*) FROM tokens").fetchone()[0]
    mine = db.execute("SELECT count(*) FROM tokens WHERE user_id = ?",
                      (bench_uid,)).fetchone()[0]
    db.close()
    return key, tok, total, mine


# The same data as load_data, made inside PostgreSQL: 999 more accounts
# with one admin each, 100 tokens each for the first 99 of them and 99
# for the rest, 999 more for the bench user (random keys and hashes).
PG_LOAD = """
WITH a AS (
  INSERT INTO accounts (name, created_at)
  SELECT 'bench-' || lpad(g::text, 4, '0'), {now} FROM generate_series(1, 999) g
  RETURNING id, name)
INSERT INTO users (account_id, email, email_norm, password_hash, role,
                   created_at, updated_at)
SELECT a.id, 'u@' || a.name || '.example', 'u@' || a.name || '.example',
       (SELECT password_hash FROM users WHERE email_norm = 'bench@example.com'),
       'admin', {now}, {now}
FROM a ORDER BY a.id;
INSERT INTO tokens (key, secret_hash, kind, description, account_id, user_id,
                    created_at, updated_at)
SELECT gen_random_uuid()::text,
       decode(md5(random()::text || u.id || '/' || i) ||
              md5(random()::text || i || '/' || u.id), 'hex'),
       'user', 'bench token ' || i, u.account_id, u.id, {now} - i, {now} - i
FROM (SELECT id, account_id,
             CASE WHEN email_norm = 'bench@example.com' THEN 999
                  WHEN row_number() OVER (ORDER BY id) <= 100 THEN 100
                  ELSE 99 END AS n
      FROM users) u, generate_series(0, u.n - 1) i;
"""


def load_pg(pg, data, env):
    """The PostgreSQL engine's database: tessera init against it, the bench
    user and token through the command line, then the bulk of the rows in
    one transaction (psql) and ANALYZE. Returns key, token, total, mine."""
    key, tok = first_token(data, env)
    pg.psql("tessera", PG_LOAD.format(now=int(time.time())), "-1")
    pg.psql("tessera", "ANALYZE;")
    total = int(pg.value("tessera", "SELECT count(*) FROM tokens"))
    mine = int(pg.value("tessera", "SELECT count(*) FROM tokens t JOIN users u "
                        "ON u.id = t.user_id WHERE u.email_norm = "
                        "'bench@example.com'"))
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
    """{pid: utime + stime in clock ticks} of the pids that are still there."""
    t = {}
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t[p] = int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return t


def machine_ticks():
    """Clock ticks all CPUs spent busy so far (/proc/stat: everything but
    idle and iowait), whoever ran."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]) - v[3] - v[4]


def ticks_used(before, after):
    """Clock ticks used between two cpu_ticks() by the processes in both."""
    return sum(after[p] - before[p] for p in before if p in after)


def io_calls(pids):
    """(read, write) system calls of pids so far (/proc/PID/io syscr and
    syscw: the read and write families, pread and pwrite included, on
    files and sockets alike; send and recv are not counted there)."""
    r = w = 0
    for p in pids:
        try:
            with open("/proc/%d/io" % p) as f:
                for line in f:
                    k, v = line.split(":")
                    if k == "syscr":
                        r += int(v)
                    elif k == "syscw":
                        w += int(v)
        except OSError:
            pass
    return r, w


def all_children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


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


# wrk's script for the spread cases: GET the URL with "Authorization:
# Basic" of each credential of a file in turn (10,000 distinct tokens, so
# no one token stays in every cache), the requests made once at the start.
# Each of wrk's threads starts at its own part of the list (setup() runs
# for each thread before its init()). With WARM, each thread stops after
# the answers to its part: one request for every token, no more.
ROTATE_LUA = """
local threads, creds, warm = %(threads)d, "%(creds)s", %(warm)s
local count = 0
function setup(thread)
  thread:set("id", count)
  count = count + 1
end
local reqs, n, i, share, seen = {}, 0, 0, 0, 0
function init(args)
  for line in io.lines(creds) do
    n = n + 1
    reqs[n] = wrk.format("GET", nil, { Authorization = "Basic " .. line })
  end
  share = math.ceil(n / threads)
  i = id * share
end
function request()
  i = i %% n + 1
  return reqs[i]
end
if warm then
  function response(status, headers, body)
    seen = seen + 1
    if seen >= share then wrk.thread:stop() end
  end
end
"""


def rotate_script(path, creds, warm=False, threads=2):
    with open(path, "w") as f:
        f.write(ROTATE_LUA % {"threads": threads, "creds": creds,
                              "warm": "true" if warm else "false"})
    return path


PHP_FPM_CONF = """[global]
pid = {w}/php-fpm.pid
error_log = {w}/php-fpm.log
daemonize = no

[bench]
{user}listen = {w}/php.sock
listen.mode = 0666
pm = static
pm.max_children = {n}
clear_env = yes
env[TESSERA_DB] = {db}
env[TESSERA_PEPPER] = {pepper}
catch_workers_output = yes
php_admin_value[opcache.enable] = 1
php_admin_value[memory_limit] = 128M
"""


def start_php_fpm(work, data, workers, log):
    """php-fpm 8.2 (Debian's, with its own php.ini and conf.d: opcache,
    PDO SQLite and sodium loaded) serving tests/bench/peers/check.php on
    WORK/php.sock: pm = static with the workers' count, opcache on,
    expose_php off (no X-Powered-By: the answer is Tessera's bytes). As
    root it runs its workers as root (-R); the database is root's."""
    fpm = shutil.which("php-fpm8.2") or "/usr/sbin/php-fpm8.2"
    if not os.path.exists(fpm):
        raise RuntimeError("no php-fpm8.2 (make deps-bench installs it)")
    with open(os.path.join(data, "pepper.key"), "rb") as f:
        pepper = f.read().hex()
    conf = os.path.join(work, "php-fpm.conf")
    root = os.getuid() == 0
    with open(conf, "w") as f:
        f.write(PHP_FPM_CONF.format(
            w=work, n=workers, db=os.path.join(data, "tessera.db"),
            pepper=pepper, user="user = root\ngroup = root\n" if root else ""))
    p = subprocess.Popen([fpm, "-F", "-y", conf, "-d", "expose_php=0"] +
                         (["-R"] if root else []), stdout=log, stderr=log,
                         start_new_session=True)
    wait_socket(os.path.join(work, "php.sock"))
    return p


def php_opcache_on(work):
    """"on" when php-fpm's workers have opcache enabled (asked through the
    pool's socket with a script of its own, not timed), else "off"."""
    probe = os.path.join(work, "opcache.php")
    with open(probe, "w") as f:
        f.write("<?php $s = opcache_get_status(false);"
                " echo ($s && $s['opcache_enabled']) ? 'on' : 'off';\n")
    os.chmod(work, 0o755)
    out = subprocess.run(["cgi-fcgi", "-bind", "-connect",
                          os.path.join(work, "php.sock")],
                         env=dict(os.environ, SCRIPT_FILENAME=probe,
                                  REQUEST_METHOD="GET"),
                         capture_output=True, text=True).stdout
    return out.rsplit("\n", 1)[-1].strip()


# ---------------------------------------------------------------- PostgreSQL

def bench_postgres_class():
    """pg.py's Postgres (fsync on, synchronous_commit on, a unix socket
    only, as the postgres user when root), with PostgreSQL's own default
    shared_buffers (128MB; pg.py's tests use 16MB), track_wal_io_timing on
    (pg_stat_wal says how long the WAL flushes take) and pg_stat_statements
    loaded but tracking nothing ("none") while the cases are timed; the
    counting pass after them turns it on ("top")."""
    from pg import Postgres

    class BenchPostgres(Postgres):
        name = "postgres-bench"

        def _more_conf(self):
            return ("shared_buffers = 128MB\n"
                    "track_wal_io_timing = on\n"
                    "shared_preload_libraries = 'pg_stat_statements'\n"
                    "pg_stat_statements.track = none\n")
    return BenchPostgres


def pg_env():
    """psql's environment: no PG* variable of ours, messages in English."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"LC_ALL": "C", "LANG": "C"})
    return env


# Read before and after each PostgreSQL case. xmax (the next transaction
# id: one is taken by each transaction that writes) and the WAL position
# are current. pg_stat_wal lags: each backend hands its counts over at
# most once a second (the last ones after 10 s idle), so a case's window
# holds part of the one before; only its whole-run ratio (time per sync,
# syncs per write transaction) is used.
PG_COUNTERS = ("xmax", "wal_lsn", "wal_sync", "wal_sync_time")
PG_COUNTERS_SQL = """
SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint,
       pg_current_wal_lsn() - '0/0'::pg_lsn, wal_sync, wal_sync_time
FROM pg_stat_wal;
"""


def pg_counters(pg):
    vals = pg.value("tessera", PG_COUNTERS_SQL).split("|")
    return {k: float(v or 0) for k, v in zip(PG_COUNTERS, vals)}


# The statements the tessera backends ran since the last reset, from
# pg_stat_statements (its counts are current): calls, total time (ms),
# and the text, one line each. The bench's own queries are left out.
PG_STATEMENTS_SQL = r"""
SELECT calls, total_exec_time,
       regexp_replace(regexp_replace(left(query, 600), '--[^\n]*', '', 'g'),
                      '\s+', ' ', 'g')
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'tessera')
  AND query NOT LIKE '%pg_stat_%' AND query NOT LIKE '%pg_current_%'
ORDER BY calls DESC, total_exec_time DESC;
"""


def pg_statements(pg):
    rows = []
    for line in pg.psql("tessera", PG_STATEMENTS_SQL).splitlines():
        parts = line.split("|", 2)
        if len(parts) == 3:
            rows.append((int(parts[0]), float(parts[1]), parts[2].strip()))
    return rows


def short_sql(q, n=48):
    """A statement's first words, for a table."""
    q = q.strip()
    return q if len(q) <= n else q[:n - 3] + "..."


class Sampler:
    """What the tessera backends are doing, every 0.1 s while a case runs:
    one psql connection of its own, one query of pg_stat_activity and
    pg_locks per sample (one line each), paused between cases. Each
    backend not idle is labelled with its wait ("Lock:advisory": waiting
    for the writers' lock; "IO:WALSync": flushing the WAL; "waiting for
    the worker": reading its worker's next message, inside a transaction
    or between the messages of one statement;
    "running": on a CPU or ready to be), prefixed "holder" when it holds
    the writers' lock (alone, or shared with other batches). Its own
    backend is left out of the CPU figures."""

    QUERY = ("SELECT coalesce(string_agg("
             "CASE WHEN l.pid IS NOT NULL THEN 'holder ' ELSE '' END || "
             "CASE WHEN a.state LIKE 'idle in transaction%' "
             "OR a.wait_event = 'ClientRead' THEN 'waiting for the worker' "
             "WHEN a.wait_event IS NULL THEN 'running' "
             "ELSE a.wait_event_type || ':' || a.wait_event END, ';'), '') "
             "FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid "
             "AND l.locktype = 'advisory' AND l.granted "
             "WHERE a.datname = 'tessera' AND a.backend_type = 'client backend' "
             "AND a.state <> 'idle' AND a.pid <> pg_backend_pid();\n")

    def __init__(self, pg, psql_bin):
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", psql_bin, "-X", "-q", "-A", "-t", "-d",
             pg.uri("tessera")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env=pg_env())
        self.backend = int(self._ask("SELECT pg_backend_pid();\n"))
        self.samples = []
        self.on = threading.Event()
        self.quit = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _ask(self, sql):
        self.proc.stdin.write(sql)
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def _run(self):
        while not self.quit:
            if not self.on.wait(0.2):
                continue
            t0 = time.monotonic()
            try:
                line = self._ask(self.QUERY)
            except (OSError, ValueError):
                return
            if self.on.is_set():
                self.samples.append([x for x in line.split(";") if x])
            time.sleep(max(0, 0.1 - (time.monotonic() - t0)))

    def begin(self):
        self.samples = []
        self.on.set()

    def end(self):
        """The samples since begin(): each a list of labels, one per
        backend that was not idle."""
        self.on.clear()
        time.sleep(0.12)
        return self.samples

    def close(self):
        self.quit = True
        self.on.clear()
        try:
            self.proc.stdin.close()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def count_sends(pids):
    """Starts counting the send and receive system calls of pids (perf
    stat on the syscall tracepoints: libpq talks to PostgreSQL with send
    and recv, libfcgi to nginx with read and write). Returns a function
    that stops it and gives {"sendto": n, "recvfrom": n}, or None when
    perf is missing or cannot count."""
    perf = shutil.which("perf")
    if not perf or not pids:
        return None
    try:
        p = subprocess.Popen([perf, "stat", "-x", ",", "-e",
                              "syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom",
                              "-p", ",".join(str(x) for x in pids)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    except OSError:
        return None
    time.sleep(0.3)     # attached before the load starts

    def stop():
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        try:
            err = p.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return None
        counts = {}
        for line in err.splitlines():
            f = line.split(",")
            if len(f) >= 3 and "sys_enter_" in f[2]:
                try:
                    counts[f[2].split("sys_enter_")[1]] = int(f[0])
                except ValueError:
                    return None      # <not supported>, <not counted>
        return counts if len(counts) == 2 else None
    return stop


def ctx_switches(pids):
    """Voluntary context switches of pids so far: a worker blocks once
    waiting for its next request, and once more for each answer it waits
    for from PostgreSQL (a round trip)."""
    n = 0
    for p in pids:
        try:
            n += status_kib(p, "voluntary_ctxt_switches")
        except OSError:
            pass
    return n


def pg_groups(pg, exclude):
    """The postmaster's processes: (backends of the tessera database,
    everything else: postmaster, WAL writer, checkpointer, ...)."""
    kids = [p for p in all_children(pg.proc.pid) if p not in exclude]
    backends = [p for p in kids if cmdline(p).startswith("postgres: postgres tessera")]
    return backends, [pg.proc.pid] + [p for p in kids if p not in backends]


def sqlite_fsyncs(data):
    """Group commit: fsyncs done so far (commit.c's counter, the 4th word)."""
    try:
        with open(os.path.join(data, "commit.map"), "rb") as f:
            return struct.unpack("<4Q", f.read(32))[3]
    except (OSError, struct.error):
        return 0


def make_pipeline(base, auth):
    def post(path, doc):
        return json.loads(http("POST", base + path, auth, json.dumps(doc))[2])["data"]["id"]
    src = post("/api/sources", {"name": "hook", "type": "webhook"})
    dst = post("/api/destinations", {"name": "lake", "type": "s3"})
    return post("/api/pipelines", {"name": "p", "type": "webhook",
                                   "source_id": src, "destination_id": dst})


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


ALLOC_LIBS = {"mimalloc": "libmimalloc.so.2", "jemalloc": "libjemalloc.so.2"}


def parse_allocators(spec):
    """--allocators: [(label, preloaded library or None)], each name
    "glibc", "mimalloc" or "jemalloc". The libraries are Debian's (make
    deps-bench)."""
    out = []
    for name in [x.strip() for x in spec.split(",") if x.strip()]:
        rest = [name]
        if name not in ("glibc",) + tuple(ALLOC_LIBS):
            raise SystemExit("--allocators: unknown %r (glibc, mimalloc, "
                             "jemalloc)" % name)
        lib = None
        if rest[0] in ALLOC_LIBS:
            found = [os.path.join(d, ALLOC_LIBS[rest[0]]) for d in
                     ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                      "/usr/lib64", "/usr/lib")
                     if os.path.exists(os.path.join(d, ALLOC_LIBS[rest[0]]))]
            if not found:
                raise SystemExit("--allocators: no %s (make deps-bench installs "
                                 "it)" % ALLOC_LIBS[rest[0]])
            lib = found[0]
        out.append((name, lib))
    return out


def check_allocator(pids, lib):
    """Each worker runs with the allocator it was started with: the
    library mapped, or no other allocator."""
    for p in pids:
        with open("/proc/%d/maps" % p) as f:
            maps = f.read()
        libs = [v for v in ALLOC_LIBS.values() if v in maps]
        want = [os.path.basename(lib)] if lib else []
        if libs != want:
            raise RuntimeError("worker %d: allocators %s; wanted %s"
                               % (p, libs, want))


class Case:
    """One measured case. side: which processes serve it (a key of the
    hosts: "hello", "sqlite", "sqlite16", "pg", "pg2", "pg16"); engine:
    None (hello), "sqlite" or "pg"."""

    def __init__(self, name, url, script=None, hdrs=(), side="sqlite",
                 conns=None, want=200, engine="sqlite", body=None):
        self.name, self.url, self.script, self.hdrs = name, url, script, hdrs
        self.side, self.conns, self.want, self.engine = side, conns, want, engine
        self.webhook = script is not None and engine is not None
        self.body = body        # what the script POSTs (the pre-check sends it)
        self.creds = None       # a spread case: its credentials file
        self.warm = None        # ... and, on Tessera, its warm-up script


def warm_up(c, conns, cpus, seconds):
    """Before a spread case on Tessera: every one of its tokens used, so
    that each has its last use noted (a write at most once a minute per
    token: api.c's touch) recently enough that none is due again before
    the timed run of `seconds` that follows ends: that run measures the
    check alone, as the peers do it. Rounds of 2 s of wrk over the tokens
    left, until none is left whose last use is older than 60 - seconds - 5
    s (a token noted less than a minute ago is not noted again, so one
    noted in the previous round waits for its minute: a few rounds more).
    c.warm: the path prefix of the round's credentials and script."""
    creds = dict((k, b) for b, k in read_creds(c.creds))
    left = list(creds)
    for _ in range(40):
        with open(c.warm + ".creds", "w") as f:
            f.write("".join(creds[k] + "\n" for k in left))
        wrk(c.url, 2, conns, rotate_script(c.warm + ".lua", c.warm + ".creds",
                                           warm=True), cpus=cpus)
        left = untouched(c.db, list(creds), int(time.time()) - 55 + seconds)
        if not left:
            return
    raise RuntimeError("%s: tokens still not noted after 80 s of warm-up" % c.name)


def read_creds(path):
    """The credentials of a spread case: [(base64 of key:secret, key)]."""
    with open(path) as f:
        lines = [x.strip() for x in f if x.strip()]
    return [(b, base64.b64decode(b).decode().split(":", 1)[0]) for b in lines]


def untouched(dbfile, keys, since):
    """The tokens of keys with no last use noted since `since` (read-only;
    Tessera writes last_used_at at most once a minute)."""
    db = sqlite3.connect("file:%s?mode=ro" % dbfile, uri=True)
    try:
        return [r[0] for r in db.execute(
            "SELECT key FROM tokens WHERE key IN (%s) AND (last_used_at IS "
            "NULL OR last_used_at < ?)" % ",".join("?" * len(keys)),
            keys + [since])]
    finally:
        db.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5,
                    help="seconds of each case in each round (5; at most 45: "
                    "the spread cases on Tessera need their tokens' last use "
                    "noted within the minute)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--workers", type=int, default=4,
                    help="workers for both sides, and for each PostgreSQL "
                    "host (tessera's default, 4)")
    ap.add_argument("--engines", default="sqlite,pg",
                    help="sqlite, or sqlite,pg (default): the PostgreSQL "
                    "cases beside the SQLite ones, in the same run")
    ap.add_argument("--senders", type=int, default=16,
                    help="concurrent senders of the webhook case run on "
                    "both engines (wrk -cN against a host of N workers)")
    ap.add_argument("--count-seconds", type=int, default=2,
                    help="seconds of each PostgreSQL case in the counting "
                    "pass after the timed rounds (pg_stat_statements on); "
                    "0: no counting pass")
    ap.add_argument("--allocators", default="",
                    help="glibc's malloc against mimalloc, jemalloc: e.g. "
                    "glibc,mimalloc,jemalloc (SQLite "
                    "engine only; see the top of this file)")
    ap.add_argument("--pin", action="store_true",
                    help="nginx and wrk on CPU 0, both backends' workers "
                    "and PostgreSQL on the other CPUs (the load generator "
                    "off the cores it measures); the targets are judged on "
                    "the default, unpinned run")
    ap.add_argument("--peers", default="c,php",
                    help="the peers measured beside Tessera's /api/me: c (the "
                    "plain-C check, tests/bench/peers/check.c), php (PHP-FPM "
                    "8.2, check.php), both (default) or none")
    ap.add_argument("--small", type=int, default=1000,
                    help="tokens in the small store of the size cases (1,000)")
    ap.add_argument("--big", type=int, default=1000000,
                    help="tokens in the big store of the size cases "
                    "(1,000,000; 0: no size cases)")
    ap.add_argument("--mmap", type=int, default=1024,
                    help="db_mmap_mb of the size cases' hosts and plain-C "
                    "peers (1024; 0: SQLite's reads); the 100,000-token "
                    "store runs with the defaults (off) on every side")
    ap.add_argument("--live", type=int, default=10000,
                    help="distinct tokens the spread cases rotate over "
                    "(10,000)")
    args = ap.parse_args()
    if not 1 <= args.seconds <= 45:
        ap.error("--seconds: 1 to 45")
    peers = [p.strip() for p in args.peers.split(",")
             if p.strip() and p.strip() != "none"]
    if not set(peers) <= {"c", "php"}:
        ap.error("--peers: c, php, c,php or none")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "sqlite" not in engines or not set(engines) <= {"sqlite", "pg"}:
        ap.error("--engines: sqlite or sqlite,pg (the PostgreSQL figures are "
                 "judged against the SQLite engine's, in the same run)")
    allocs = parse_allocators(args.allocators)
    use_pg = "pg" in engines and not allocs
    if allocs:
        peers, args.big = [], 0      # the allocator mode measures Tessera alone
    sizes = [("small", args.small), ("big", args.big)] if args.big else []
    started = time.monotonic()
    load_start = loadavg()
    cores = os.cpu_count()
    workers = args.workers
    senders = args.senders
    keepalive = max(1, workers // 2)
    work = tempfile.mkdtemp(prefix="tessera-bench-")
    os.chmod(work, 0o755)
    for d in ("body", "fcgi", "proxy", "uwsgi", "scgi"):
        os.makedirs(os.path.join(work, d))
    procs = []
    pg = sampler = None
    pg_info = {}
    try:
        hello = os.path.join(work, "hello")
        sh("cc", "-O2", "-o", hello, os.path.join(HERE, "hello.c"),
           *subprocess.run(["pkg-config", "--cflags", "--libs", "fcgi"],
                           capture_output=True, text=True).stdout.split())
        data = os.path.join(work, "data")
        print("loading 100,000 tokens across 1,000 accounts ...", flush=True)
        creds = {"sqlite": os.path.join(work, "creds-100k")}
        key, tok, total, mine = load_data(data, 100000, args.live,
                                          creds["sqlite"])
        # The size cases: the same /api/me on a store of --small and one of
        # --big tokens, each with a host of its own (and a plain-C peer).
        sdata, stotal = {}, {}
        for label, n in sizes:
            print("loading %d tokens across 1,000 accounts ..." % n, flush=True)
            sdata[label] = os.path.join(work, "data-" + label)
            creds[label] = os.path.join(work, "creds-" + label)
            stotal[label] = load_data(sdata[label], n, args.live,
                                      creds[label])[2]

        env = dict(os.environ, TESSERA_DATA=data, TESSERA_SOCKET_MODE="0666",
                   TESSERA_LOG_REQUESTS="0", TESSERA_RATE_LIMIT_API_KEY="0",
                   TESSERA_RATE_LIMIT_API_IP="0",
                   TESSERA_RATE_LIMIT_WEBHOOK_KEY="0",
                   TESSERA_RATE_LIMIT_WEBHOOK_RECORDS="0",
                   TESSERA_RATE_LIMIT_WEBHOOK_IP="0")
        env.pop("TESSERA_DATABASE", None)     # the SQLite engine: DATA/tessera.db
        log = open(os.path.join(work, "servers.log"), "ab")

        def serve(name, nworkers, henv):
            sock = "%s/%s.sock" % (work, name)
            p = subprocess.Popen([BIN, "serve", "--listen", "unix:" + sock,
                                  "--workers", str(nworkers)], env=henv,
                                 stdout=log, stderr=log, start_new_session=True)
            procs.append(p)
            wait_socket(sock)
            return p, sock

        # Every host, with its supervisor and socket; each nginx upstream
        # has hosts of its own. "sqlite16" shares the data directory (and
        # database) of "sqlite"; "pg16" and "pg2-a" the data directory of
        # "pg", "pg2-b" one of its own with the same pepper.key.
        hosts = {}
        hosts["sqlite"] = serve("tessera", workers, env)
        hosts["sqlite16"] = serve("sqlite16", senders, env)
        for label, _ in sizes:
            # db_mmap_mb on both: a million tokens are 270 MiB, far past a
            # worker's page cache; read through a map, no pread a page.
            hosts[label] = serve(label, workers, dict(
                env, TESSERA_DATA=sdata[label], TESSERA_DB_MMAP_MB=str(args.mmap)))
        # The peers: the plain-C check on each store (one process of
        # `workers` workers each), PHP-FPM on the 100,000, all reading
        # Tessera's own database files read-only.
        peer_procs = {}
        if "c" in peers:
            check = os.path.join(work, "check")
            sh("cc", "-O2", "-o", check, os.path.join(HERE, "peers", "check.c"),
               *subprocess.run(["pkg-config", "--cflags", "--libs", "fcgi",
                                "sqlite3", "libsodium"], capture_output=True,
                               text=True).stdout.split())
            for side, d in [("c", data)] + [("c-" + l, sdata[l]) for l, _ in sizes]:
                sock = "%s/%s.sock" % (work, side)
                peer_procs[side] = subprocess.Popen(
                    [check, "--db", os.path.join(d, "tessera.db"), "--pepper",
                     os.path.join(d, "pepper.key"), "--listen", "unix:" + sock,
                     "--workers", str(workers), "--mmap",
                     str(0 if side == "c" else args.mmap)],
                    env=dict(os.environ, TESSERA_SOCKET_MODE="0666"),
                    stdout=log, stderr=log, start_new_session=True)
                procs.append(peer_procs[side])
                wait_socket(sock)
        if "php" in peers:
            peer_procs["php"] = start_php_fpm(work, data, workers, log)
            procs.append(peer_procs["php"])
        # --allocators: a host per allocator, on the same data.
        for i, (label, lib) in enumerate(allocs):
            aenv = dict(env)
            aenv.pop("LD_PRELOAD", None)
            if lib:
                aenv["LD_PRELOAD"] = lib
            hosts["alloc%d" % i] = serve("alloc%d" % i, workers, aenv)

        if use_pg:
            print("starting PostgreSQL 15 and loading the same 100,000 tokens "
                  "...", flush=True)
            from pg import PG_BIN
            pg = bench_postgres_class()(os.path.join(work, "pg"))
            pg.start(timeout=60)
            uri = pg.createdb("tessera")
            penv = dict(env, TESSERA_DATABASE=uri)
            data_a = os.path.join(work, "data-pg-a")
            data_b = os.path.join(work, "data-pg-b")
            pkey, ptok, ptotal, pmine = load_pg(pg, data_a, penv)
            # Host B: its own data directory with host A's pepper.key.
            os.makedirs(data_b)
            shutil.copy(os.path.join(data_a, "pepper.key"),
                        os.path.join(data_b, "pepper.key"))
            os.chmod(os.path.join(data_b, "pepper.key"), 0o600)
            sh(BIN, "init", "--data", data_b, env=penv)
            # For the counting pass; tracking nothing until then.
            pg.psql("tessera", "CREATE EXTENSION pg_stat_statements;")
            for k in ("fsync", "synchronous_commit", "wal_sync_method",
                      "shared_buffers", "server_version", "listen_addresses"):
                pg_info[k] = pg.value("postgres", "SHOW %s" % k)
            if pg_info["fsync"] != "on" or pg_info["synchronous_commit"] != "on" \
                    or pg_info["listen_addresses"] != "":
                raise RuntimeError("PostgreSQL runs with fsync %(fsync)s, "
                                   "synchronous_commit %(synchronous_commit)s, "
                                   "listen_addresses '%(listen_addresses)s'"
                                   % pg_info)
            hosts["pg"] = serve("pg", workers, dict(penv, TESSERA_DATA=data_a))
            # The two hosts are hosts of their own, not the one-host case's:
            # nginx keeps idle connections to an upstream's servers after
            # its case (keepalive), and each pins the worker at its other
            # end, so a host behind two upstreams would serve the second
            # with fewer workers.
            hosts["pg2-a"] = serve("pg2-a", workers, dict(penv, TESSERA_DATA=data_a))
            hosts["pg2-b"] = serve("pg2-b", workers, dict(penv, TESSERA_DATA=data_b))
            hosts["pg16"] = serve("pg16", senders, dict(penv, TESSERA_DATA=data_a))
            if pkey == key:
                raise RuntimeError("one key for both engines")

        ports = {n: free_port() for n in
                 ("hello", "sqlite", "sqlite16", "pg", "pg2", "pg16") +
                 tuple("alloc%d" % i for i in range(len(allocs))) +
                 tuple(l for l, _ in sizes) + tuple(peer_procs)}
        fronts = [("hello", ["%s/hello.sock" % work], keepalive, ports["hello"]),
                  ("tessera", [hosts["sqlite"][1]], keepalive, ports["sqlite"]),
                  ("sqlite16", [hosts["sqlite16"][1]], max(1, senders // 2),
                   ports["sqlite16"])]
        fronts += [("alloc%d" % i, [hosts["alloc%d" % i][1]], keepalive,
                    ports["alloc%d" % i]) for i in range(len(allocs))]
        fronts += [(l, [hosts[l][1]], keepalive, ports[l]) for l, _ in sizes]
        # The peers behind the same nginx, with the same keepalive; PHP-FPM
        # is told which script to run.
        fronts += [(side.replace("-", "_"), ["%s/%s.sock" % (work, side)],
                    keepalive, ports[side], "fastcgi_param SCRIPT_FILENAME "
                    "%s;" % os.path.join(HERE, "peers", "check.php")
                    if side == "php" else "") for side in peer_procs]
        if use_pg:
            fronts += [("pg", [hosts["pg"][1]], keepalive, ports["pg"]),
                       # two hosts: half the workers of both, round robin
                       ("pg2", [hosts["pg2-a"][1], hosts["pg2-b"][1]],
                        max(1, workers), ports["pg2"]),
                       ("pg16", [hosts["pg16"][1]], max(1, senders // 2),
                        ports["pg16"])]
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(work, fronts))
        ngx = subprocess.Popen(["nginx", "-c", conf, "-p", work + "/"],
                               stdout=log, stderr=log, start_new_session=True)
        procs.append(ngx)
        url = {n: "http://127.0.0.1:%d" % p for n, p in ports.items()}
        hbase, base = url["hello"], url["sqlite"]
        for n in url:
            if n != "hello" and n not in peer_procs and \
                    (use_pg or not n.startswith("pg")):
                wait_ok(url[n] + "/healthz", "tessera (%s) behind nginx does not "
                        "answer; see %s/nginx-error.log and servers.log" % (n, work))
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
        app = hosts["sqlite"][0]

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
                             capture_output=True, text=True, env=env).stdout
        other = re.search(r"Token: +(\S+)", bad).group(1)
        wrong = "Authorization: Basic " + base64.b64encode(
            ("%s:%s" % (key, other)).encode()).decode()
        body = '{"event":"bench","payload":"%s","n":1}' % ("x" * 980)
        sh(BIN, "token", "add", "--data", data, "--email", "bench@example.com",
           "--description", "unused", env=env)
        # The webhook pipeline, on each engine.
        auth = {"Authorization": basic.split(": ", 1)[1],
                "Content-Type": "application/json"}
        pl = make_pipeline(base, auth)
        script = os.path.join(work, "post.lua")
        with open(script, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = [[%s]]\n'
                    'wrk.headers["Content-Type"] = "application/json"\n' % body)
        # 100 records of about 100 bytes in one array (10 KiB a delivery).
        body100 = "[%s]" % ",".join('{"event":"bench","n":%d,"payload":"%s"}'
                                    % (i, "y" * 64) for i in range(100))
        script100 = os.path.join(work, "post100.lua")
        with open(script100, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = [=[%s]=]\n'
                    'wrk.headers["Content-Type"] = "application/json"\n' % body100)
        if use_pg:
            pbasic = "Authorization: Basic " + base64.b64encode(
                ("%s:%s" % (pkey, ptok)).encode()).decode()
            ppl = make_pipeline(url["pg"], {"Authorization": pbasic.split(": ", 1)[1],
                                            "Content-Type": "application/json"})

        hook = "/webhook?pipeline_id=%d"
        S = "webhook, %d senders, %%s (%d workers)" % (senders, senders)
        cases = [
            Case("baseline hello", hbase + "/", side="hello", engine=None),
            Case("/api/me Basic", base + "/api/me", hdrs=(basic,)),
        ]
        if use_pg:
            cases += [
                Case("/api/me Basic, PostgreSQL", url["pg"] + "/api/me",
                     hdrs=(pbasic,), side="pg", engine="pg"),
                Case("/api/me Basic, PostgreSQL, 2 hosts", url["pg2"] + "/api/me",
                     hdrs=(pbasic,), side="pg2", engine="pg")]
        cases += [
            Case("/api/me query", base + "/api/me?key=%s&token=%s" % (key, tok)),
            Case("/api/me wrong secret", base + "/api/me", hdrs=(wrong,), want=401),
            Case("webhook 1 KiB durable", base + hook % pl, script, (basic,)),
        ]
        if use_pg:
            cases += [
                Case("webhook 1 KiB durable, PostgreSQL", url["pg"] + hook % ppl,
                     script, (pbasic,), side="pg", engine="pg"),
                Case("webhook 1 KiB durable, PostgreSQL, 2 hosts",
                     url["pg2"] + hook % ppl, script, (pbasic,), side="pg2",
                     engine="pg")]
        cases += [Case(S % "SQLite", url["sqlite16"] + hook % pl, script,
                       (basic,), side="sqlite16", conns=senders)]
        if use_pg:
            cases += [Case(S % "PostgreSQL", url["pg16"] + hook % ppl, script,
                           (pbasic,), side="pg16", conns=senders, engine="pg")]
        cases += [
            Case("tokens page, %d tokens" % mine, base + "/settings/tokens",
                 hdrs=("Cookie: " + session,)),
            Case("bound: /api/me's answer, no work", hbase + "/reply",
                 side="hello", engine=None),
            Case("bound: 1 KiB append + fdatasync", hbase + "/append", script,
                 side="hello", engine=None),
            Case("webhook, arrays of 100 records, durable", base + hook % pl,
                 script100, (basic,), body=body100),
        ]
        # Against the peers, and the store's size: /api/me with the
        # requests spread over --live distinct tokens (rotate.lua), on
        # Tessera and on each peer, the cases of one store side by side.
        stores = [] if allocs else [("sqlite", "c", "php", creds["sqlite"], total)] + [
            (l, "c-" + l, None, creds[l], stotal[l]) for l, _ in sizes]
        spread = {}
        for side, cside, pside, cfile, ntok in stores:
            live = len(read_creds(cfile))
            what = "%s of %s tokens" % (format(live, ","), format(ntok, ","))
            for name, sd in (("/api/me", side), ("plain C", cside),
                             ("PHP-FPM", pside)):
                if sd is None or sd not in url:
                    continue
                c = Case("%s, %s" % (name, what), url[sd] + "/api/me",
                         rotate_script(os.path.join(work, "rot-%s.lua" % sd),
                                       cfile), side=sd)
                c.webhook, c.creds = False, cfile
                if sd == side:      # Tessera: every token's last use noted first
                    c.warm = os.path.join(work, "warm-" + sd)
                    c.db = os.path.join(data if side == "sqlite" else
                                        sdata[side], "tessera.db")
                cases.append(c)
                spread[(side, name)] = c
        # --allocators: the three cases on each allocator's host instead,
        # in groups (one case, every allocator), turned round each round.
        kinds = (("/api/me Basic", "/api/me", None, (basic,)),
                 ("webhook 1 KiB durable", hook % pl, script, (basic,)),
                 ("tokens page, %d tokens" % mine, "/settings/tokens", None,
                  ("Cookie: " + session,)))
        agroups = []
        if allocs:
            agroups = [[Case("%s [%s]" % (k, label), url["alloc%d" % i] + path,
                            scr, hdrs, side="alloc%d" % i)
                       for i, (label, _) in enumerate(allocs)]
                      for k, path, scr, hdrs in kinds]
            cases = [cases[0]] + [c for g in agroups for c in g]

        def order(r):
            """Round r's order of the cases: each allocator group turned
            round by r, so no allocator always runs first."""
            if not agroups:
                return cases
            return [cases[0]] + [c for g in agroups for c in
                                 g[r % len(g):] + g[:r % len(g)]]
        # Each case answers what it should before it is measured.
        for c in cases:
            h = dict(x.split(": ", 1) for x in c.hdrs)
            if c.creds:         # a spread case: its first and last tokens
                cr = read_creds(c.creds)
                got = [http("GET", c.url, {"Authorization": "Basic " + b})
                       for b, _ in (cr[0], cr[-1])]
                if c.side in peer_procs:    # the peer answers Tessera's bytes
                    tess = url["sqlite" if c.side in ("c", "php") else c.side[2:]]
                    me = http("GET", tess + "/api/me",
                              {"Authorization": "Basic " + cr[0][0]})
                    if got[0][2] != me[2]:
                        raise RuntimeError("%s answers %r, Tessera %r" % (
                            c.name, got[0][2][:200], me[2][:200]))
                st = max(g[0] for g in got)
            elif c.script:
                h["Content-Type"] = "application/json"
                st = http("POST", c.url, h, c.body or body)[0]
            else:
                st = http("GET", c.url, h)[0]
            if st != c.want:
                raise RuntimeError("%s answers %d, not %d" % (c.name, st, c.want))
        opcache = php_opcache_on(work) if "php" in peer_procs else ""
        results = {c.name: [] for c in cases}
        # CPU time of each side per request (from /proc): where a case's
        # time goes on a machine whose cores the web server, the load
        # generator, the workers and PostgreSQL share.
        hz = os.sysconf("SC_CLK_TCK")
        side_pids = {"hello": children(hel.pid)}
        for n, (p, _) in hosts.items():
            side_pids[n] = children(p.pid)
        for n, p in peer_procs.items():
            side_pids[n] = children(p.pid)
        for i, (label, lib) in enumerate(allocs):
            check_allocator(side_pids["alloc%d" % i], lib)
        if use_pg:
            side_pids["pg2"] = side_pids["pg2-a"] + side_pids["pg2-b"]
            sampler = Sampler(pg, os.path.join(PG_BIN, "psql"))
        ngx_pids = [ngx.pid] + children(ngx.pid)
        wrk_cpus = None
        if args.pin:
            if cores < 2:
                raise RuntimeError("--pin needs at least 2 CPUs")
            wrk_cpus = {0}
            rest = set(range(1, cores))
            for pid in ngx_pids:
                os.sched_setaffinity(pid, wrk_cpus)
            pinned = [hel.pid] + side_pids["hello"]
            for n, (p, _) in hosts.items():
                pinned += [p.pid] + side_pids[n]
            for n, p in peer_procs.items():
                pinned += [p.pid] + side_pids[n]
            if pg:
                pinned += [pg.proc.pid] + all_children(pg.proc.pid)
            for pid in pinned:
                os.sched_setaffinity(pid, rest)
        print("measuring %d cases, %d rounds of %d s (load average %s) ..."
              % (len(cases), args.rounds, args.seconds, loadavg()), flush=True)
        for r in range(args.rounds):
            for c in order(r):
                pgc = pg_b = None
                if c.engine == "pg":
                    pgc = pg_counters(pg)
                    pg_b = pg_groups(pg, {sampler.backend})
                    sampler.begin()
                if c.warm:
                    warm_up(c, args.connections, wrk_cpus, args.seconds)
                fs0 = sqlite_fsyncs(data) if c.webhook and c.engine == "sqlite" else 0
                groups = {"nginx": ngx_pids, "app": side_pids[c.side]}
                if pg_b:
                    groups["pg"], groups["pgo"] = pg_b
                b = {k: cpu_ticks(v) for k, v in groups.items()}
                io0 = io_calls(groups["app"])
                cs0 = ctx_switches(groups["app"])
                m0, t0 = machine_ticks(), time.monotonic()
                res = wrk(c.url, args.seconds, c.conns or args.connections,
                          c.script, c.hdrs, wrk_cpus)
                res["machine"] = (machine_ticks() - m0) / hz / (time.monotonic() - t0)
                a = {k: cpu_ticks(v) for k, v in groups.items()}
                io1 = io_calls(groups["app"])
                cs1 = ctx_switches(groups["app"])
                n = max(res["requests"], 1)
                res["cpu_us"] = {k: ticks_used(b[k], a[k]) / hz * 1e6 / n
                                 for k in a}
                res["cpu_us"]["wrk"] = res["wrk_cpu"] * 1e6 / n
                res["reads"] = (io1[0] - io0[0]) / n
                res["writes"] = (io1[1] - io0[1]) / n
                res["switches"] = (cs1 - cs0) / n
                if c.webhook and c.engine == "sqlite":
                    res["fsyncs"] = (sqlite_fsyncs(data) - fs0) / n
                if pgc:
                    res["samples"] = sampler.end()
                    after = pg_counters(pg)
                    res["pg"] = {k: after[k] - pgc[k] for k in pgc}
                results[c.name].append(res)

        # The counting pass (PostgreSQL): pg_stat_statements on, then each
        # PostgreSQL case again for --count-seconds, with the statements
        # counted from a reset (its counts are current, not lagging) and
        # the workers' sends and receives counted by perf when it can.
        counted = {}
        if use_pg and args.count_seconds > 0:
            pg.psql("postgres", "ALTER SYSTEM SET pg_stat_statements.track = 'top';\n"
                    "SELECT pg_reload_conf();")
            # A backend applies a reload after its next statement: one
            # second of load through each PostgreSQL front first.
            warmed = set()
            for c in cases:
                if c.engine == "pg" and c.side not in warmed:
                    warmed.add(c.side)
                    wrk(c.url, 1, c.conns or args.connections, c.script, c.hdrs,
                        wrk_cpus)
            counted = {}
            for c in cases:
                if c.engine != "pg":
                    continue
                pg.psql("tessera", "SELECT pg_stat_statements_reset();")
                stop = count_sends(side_pids[c.side])
                res = wrk(c.url, args.count_seconds, c.conns or args.connections,
                          c.script, c.hdrs, wrk_cpus)
                counted[c.name] = (res, pg_statements(pg), stop() if stop else None)
            pg.psql("postgres", "ALTER SYSTEM RESET pg_stat_statements.track;\n"
                    "SELECT pg_reload_conf();")
        rss = [(p, status_kib(p, "VmRSS"), status_kib(p, "VmHWM"))
               for p in children(app.pid)]
        alloc_rss = [[(status_kib(p, "VmRSS"), status_kib(p, "VmHWM"))
                      for p in side_pids["alloc%d" % i]]
                     for i in range(len(allocs))]
        pg_rss = [status_kib(p, "VmRSS") for p in side_pids["pg"]] if use_pg else []

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
        fsyncs = sqlite_fsyncs(data)
        if use_pg:
            pg_records = int(pg.value("tessera", "SELECT count(*) FROM records"))
    finally:
        if sampler:
            sampler.close()
        for p in reversed(procs):
            try:
                os.killpg(p.pid, 15)
                p.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if pg:
            pg.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    load_end = loadavg()
    took = time.monotonic() - started

    def medf(name, f):
        return statistics.median(f(r) for r in results[name])

    med = {k: {f: statistics.median(r[f] for r in v) for f in
               ("rps", "p50", "p99")} for k, v in results.items()}
    base_rps = med["baseline hello"]["rps"]
    print()
    print("Tessera bench, %s, %d cores, %d workers each, nginx keepalive %d, "
          "wrk -t2 -c%d, %d rounds x %ds per case (medians)" % (
              time.strftime("%Y-%m-%d"), cores, workers, keepalive,
              args.connections, args.rounds, args.seconds))
    print("%d tokens in %d accounts" % (total, 1000))
    print("pinned: nginx and wrk on CPU 0, the workers%s on CPUs 1-%d" %
          (" and PostgreSQL" if use_pg else "", cores - 1) if args.pin else
          "unpinned: nginx, wrk%s and the workers share the %d cores" % (
              ", PostgreSQL" if use_pg else "", cores))
    if use_pg:
        print("PostgreSQL %s on a unix socket only (listen_addresses ''): fsync %s, "
              "synchronous_commit %s, wal_sync_method %s, shared_buffers %s; "
              "%d tokens" % (
                  pg_info["server_version"], pg_info["fsync"],
                  pg_info["synchronous_commit"], pg_info["wal_sync_method"],
                  pg_info["shared_buffers"], ptotal))
        print("PostgreSQL, 2 hosts: two `tessera serve` of %d workers each (not "
              "the one-host case's) on the one database, behind one nginx upstream "
              "(round robin, keepalive %d); the %d workers, their %d postgres backends, nginx and wrk "
              "share the %d cores%s" % (workers, max(1, workers), 2 * workers,
                                        2 * workers, cores,
                                        " (pinned as above)" if args.pin else
                                        ", nothing pinned"))
    print("%d senders: wrk -c%d against a host of %d workers per engine (one "
          "worker per sender), nginx keepalive %d" % (senders, senders, senders,
                                                     max(1, senders // 2)))
    print("load average (1, 5, 15 min): %s at the start, %s at the end; "
          "whole run %.0f s" % (load_start, load_end, took))
    print()
    print("| case | req/s | p50 ms | p99 ms | non-2xx | x baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    for c in cases:
        m = med[c.name]
        non2xx = sum(r["non2xx"] for r in results[c.name])
        reqs = sum(r["requests"] for r in results[c.name])
        errs = [r["errors"] for r in results[c.name] if r["errors"]]
        print("| %s | %.0f | %.2f | %.2f | %d of %d%s | %.2f |" % (
            c.name, m["rps"], m["p50"], m["p99"], non2xx, reqs,
            " (socket errors: %s)" % "; ".join(errs) if errs else "",
            m["rps"] / base_rps))
    print()
    print("CPU time per request, microseconds (medians%s; cores busy: req/s x "
          "sum, what these processes used; machine busy: what every process "
          "used meanwhile (/proc/stat), the bench's own and anyone else's):" % (
              "" if args.pin else "; all sides share the %d cores" % cores))
    print()
    if use_pg:
        print("| case | web server | app workers | postgres backends | "
              "postgres, other | wrk | sum | cores busy | machine busy |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    else:
        print("| case | web server | app workers | wrk | sum | cores busy | "
              "machine busy |")
        print("|---|---:|---:|---:|---:|---:|---:|")
    for c in cases:
        keys = ("nginx", "app", "pg", "pgo", "wrk") if c.engine == "pg" else \
            ("nginx", "app", "wrk")
        v = {k: medf(c.name, lambda r: r["cpu_us"][k]) for k in keys}
        cols = ["%.1f" % v[k] if k in v else "" for k in
                (("nginx", "app", "pg", "pgo", "wrk") if use_pg else keys)]
        print("| %s | %s | %.1f | %.2f | %.2f |" % (
            c.name, " | ".join(cols), sum(v.values()),
            sum(v.values()) * med[c.name]["rps"] / 1e6, medf(c.name, lambda r: r["machine"])))
    print()
    print("Store work per request (medians). Worker: voluntary context switches "
          "(it blocks once for its next request and once per answer it awaits "
          "from PostgreSQL) and read()/write() calls (FastCGI and SQLite's file "
          "I/O; libpq's send/recv are not counted there). PostgreSQL: "
          "transaction ids taken (one by each transaction that writes) and WAL "
          "written, both exact:")
    print()
    print("| case | worker switches | worker reads | worker writes | "
          "transaction ids | WAL KiB | SQLite fsyncs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for c in cases:
        if c.engine is None:
            continue
        cols = ["%.2f" % medf(c.name, lambda r: r[k])
                for k in ("switches", "reads", "writes")]
        if c.engine == "pg":
            cols += ["%.2f" % medf(c.name, lambda r: r["pg"]["xmax"] / max(r["requests"], 1)),
                     "%.2f" % medf(c.name, lambda r: r["pg"]["wal_lsn"] / 1024 /
                                   max(r["requests"], 1)), ""]
        else:
            cols += ["", "", "%.2f" % medf(c.name, lambda r: r["fsyncs"])
                     if c.webhook else ""]
        print("| %s | %s |" % (c.name, " | ".join(cols)))
    if use_pg:
        tot = {k: sum(r["pg"][k] for c in cases if c.engine == "pg"
                      for r in results[c.name]) for k in PG_COUNTERS}
        print()
        hooks = sum(r["requests"] for c in cases if c.engine == "pg" and c.webhook
                    for r in results[c.name])
        print("PostgreSQL's WAL flushes over every timed PostgreSQL case "
              "(pg_stat_wal, track_wal_io_timing on): %d syncs for %d deliveries "
              "(%.2f each) and %d transaction ids, %.3f ms per sync" % (
                  tot["wal_sync"], hooks, tot["wal_sync"] / max(hooks, 1), tot["xmax"],
                  tot["wal_sync_time"] / max(tot["wal_sync"], 1)))
        print()
        print("What the tessera backends were doing (pg_stat_activity and pg_locks "
              "every 0.1 s; mean backends per sample in each state, idle ones not "
              "counted; \"holder\": a backend holding the writers' advisory "
              "lock, alone or shared; the last column: share of samples in which "
              "some backend held it):")
        print()
        seen = {}
        for c in cases:
            for r in results[c.name]:
                for smp in r.get("samples", []):
                    for st in smp:
                        seen[st] = seen.get(st, 0) + 1
        states = sorted(seen, key=lambda st: (-seen[st], st))
        print("| case | samples | " + " | ".join(states) + " | lock held |")
        print("|---|---:|" + "---:|" * (len(states) + 1))
        for c in cases:
            if c.engine != "pg":
                continue
            smps = [smp for r in results[c.name] for smp in r["samples"]]
            n = max(len(smps), 1)
            held = sum(1 for smp in smps if any(x.startswith("holder") for x in smp))
            print("| %s | %d | %s | %.0f %% |" % (c.name, len(smps), " | ".join(
                "%.2f" % (sum(smp.count(st) for smp in smps) / n) for st in states),
                100.0 * held / n))
        if counted:
            print()
            print("Statements per request (counting pass: each PostgreSQL case "
                  "again for %d s with pg_stat_statements tracking, counted from "
                  "a reset; the workers' send and recv calls counted by perf: a "
                  "pipelined transaction is one send for several statements):"
                  % args.count_seconds)
            for c in cases:
                if c.name not in counted:
                    continue
                res, rows, sends = counted[c.name]
                n = max(res["requests"], 1)
                rows = [x for x in rows if x[0] / n >= 0.01]
                print()
                print("%s: %.0f req/s in this pass; a request: %.2f statements, "
                      "%.2f ms of statement time, %s" % (
                          c.name, res["rps"], sum(x[0] for x in rows) / n,
                          sum(t for _, t, _ in rows) / n,
                          "%.2f sends and %.2f receives by its worker" % (
                              sends["sendto"] / n, sends["recvfrom"] / n)
                          if sends else "sends not counted (no perf)"))
                print()
                if not rows:
                    print("(no statement)")
                    continue
                print("| statement | per request | mean ms |")
                print("|---|---:|---:|")
                for calls, t, q in rows:
                    print("| %s | %.2f | %.3f |" % (short_sql(q).replace("|", "\\|"),
                                                    calls / n, t / max(calls, 1)))
    if allocs:
        print()
        print("Allocators (--allocators; "
              "mimalloc, jemalloc: Debian's, by LD_PRELOAD). x baseline, the "
              "median and each round's; each allocator's req/s against the "
              "first's in the same round (median, lowest-highest); the "
              "workers' CPU a request (µs, median):")
        print()
        print("| case | " + " | ".join(a[0] for a in allocs) + " |")
        print("|---|" + "---:|" * len(allocs))
        base_r = [x["rps"] for x in results["baseline hello"]]
        for g in agroups:
            cells = []
            for c in g:
                per = [x["rps"] / b for x, b in zip(results[c.name], base_r)]
                cells.append("**%.3f** (%s)" % (med[c.name]["rps"] / base_rps,
                                                ", ".join("%.2f" % v for v in per)))
            print("| %s | %s |" % (g[0].name.rsplit(" [", 1)[0], " | ".join(cells)))
        # Paired: each allocator against the first in the same round (the
        # cases of a group run one after the other, so the machine's drift
        # between them is smaller than between a case and the baseline).
        for g in agroups:
            cells = []
            for c in g:
                per = [x["rps"] / y["rps"] for x, y in
                       zip(results[c.name], results[g[0].name])]
                cells.append("%.3f (%.2f-%.2f)" % (statistics.median(per),
                                                   min(per), max(per)))
            print("| %s, x %s in the round | %s |" % (
                g[0].name.rsplit(" [", 1)[0], allocs[0][0], " | ".join(cells)))
        for g in agroups:
            print("| %s, worker µs | %s |" % (
                g[0].name.rsplit(" [", 1)[0], " | ".join(
                    "%.1f" % medf(c.name, lambda r: r["cpu_us"]["app"]) for c in g)))
        print()
        print("Workers' memory after the rounds, MiB (min-max of %d workers):" % workers)
        print()
        print("| allocator | VmRSS | VmHWM (peak) |")
        print("|---|---:|---:|")
        for (label, _), mem in zip(allocs, alloc_rss):
            print("| %s | %.1f-%.1f | %.1f-%.1f |" % (
                label, min(m[0] for m in mem) / 1024, max(m[0] for m in mem) / 1024,
                min(m[1] for m in mem) / 1024, max(m[1] for m in mem) / 1024))
    print()
    for p, r, hwm in rss:
        print("worker %d: VmRSS %.1f MiB (peak VmHWM %.1f MiB)" % (p, r / 1024, hwm / 1024))
    print("login: %.0f ms; worker peak before %.1f MiB, after %.1f MiB (Argon2id "
          "64 MiB, given back)" % (login_ms, hwm_before / 1024, hwm_after / 1024))
    print("CGI /healthz, process start to exit: median %.1f ms (of %d)" % (cgi_ms, len(cgi)))
    print("webhook records stored: %d; WAL fsyncs in the whole run: %d "
          "(group commit: %.2f per record)" % (n_records, fsyncs,
                                               fsyncs / max(n_records, 1)))
    if use_pg:
        print("PostgreSQL host's workers: VmRSS %.1f-%.1f MiB; webhook records "
              "stored in PostgreSQL: %d" % (min(pg_rss) / 1024, max(pg_rss) / 1024,
                                            pg_records))
    print()
    if allocs:
        return 0        # the targets are judged on the default run
    def rounds(a, b):
        """Each round's req/s of case a against case b."""
        return ", ".join("%.0f/%.0f" % (x["rps"], y["rps"])
                         for x, y in zip(results[a], results[b]))

    # Against the peers: each store's /api/me beside its peers, as
    # medians of the rounds and as the median of each round's ratio (the
    # cases of a store run one after the other in a round).
    def paired(a, b):
        """Each round's req/s of case a over case b: (median, min, max)."""
        v = [x["rps"] / y["rps"] for x, y in zip(results[a.name], results[b.name])]
        return statistics.median(v), min(v), max(v)

    peer_targets = []
    if spread:
        print("Against the peers: GET /api/me with the requests spread over "
              "distinct live tokens (a wrk script rotating the Authorization "
              "header), the same worker count (%d) on each side, behind the "
              "same nginx. Plain C: tests/bench/peers/check.c (libfcgi, "
              "SQLite, libsodium); PHP-FPM %s: tests/bench/peers/check.php "
              "(pm = static, opcache %s). Each reads the store's own database "
              "file read-only and answers the same bytes. Tessera's tokens "
              "had their last use noted just before each timed run (see "
              "warm_up). Ratios: of medians; in brackets, the median of each "
              "round's ratio, lowest-highest:" % (
                  workers, "8.2" if "php" in peer_procs else "(not run)",
                  opcache or "-"))
        print()
        print("| store | /api/me req/s | plain C req/s | PHP-FPM req/s | "
              "/api/me ÷ plain C | /api/me ÷ PHP-FPM | /api/me x baseline |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for side, cside, pside, cfile, ntok in stores:
            me = spread[(side, "/api/me")]
            cells = [("%.0f" % med[me.name]["rps"])]
            ratios = []
            for name in ("plain C", "PHP-FPM"):
                pc = spread.get((side, name))
                cells.append("%.0f" % med[pc.name]["rps"] if pc else "")
                if pc:
                    m, lo, hi = paired(me, pc)
                    ratios.append("**%.2f** (%.2f, %.2f-%.2f)" % (
                        med[me.name]["rps"] / med[pc.name]["rps"], m, lo, hi))
                else:
                    ratios.append("")
            print("| %s | %s | %s | %.2f |" % (
                me.name.split(", ", 1)[1], " | ".join(cells), " | ".join(ratios),
                med[me.name]["rps"] / base_rps))
        print()
        me100 = spread[("sqlite", "/api/me")]
        for name, want in (("plain C", 0.95), ("PHP-FPM", 1.6)):
            pc = spread.get(("sqlite", name))
            if pc:
                r = med[me100.name]["rps"] / med[pc.name]["rps"]
                peer_targets.append((
                    "/api/me >= %.2f x %s (%s)" % (want, name,
                                                   me100.name.split(", ", 1)[1]),
                    r >= want, "%.0f against %.0f req/s: %.3f x; rounds %s" % (
                        med[me100.name]["rps"], med[pc.name]["rps"], r,
                        rounds(me100.name, pc.name))))
        if sizes:
            # The target is the /api/me ratio (to the plain-C check on the
            # same store) with --big tokens against that ratio with
            # --small: what the store's size costs Tessera beyond what it
            # costs any check. Without the plain-C peer, /api/me's own
            # req/s are compared (stricter: the size's cost to everyone).
            small, big = spread[("small", "/api/me")], spread[("big", "/api/me")]
            raw = med[big.name]["rps"] / med[small.name]["rps"]
            cs, cb = spread.get(("small", "plain C")), spread.get(("big", "plain C"))
            if cs and cb:
                rs = med[small.name]["rps"] / med[cs.name]["rps"]
                rb = med[big.name]["rps"] / med[cb.name]["rps"]
                r = rb / rs
                _, lo, hi = paired(big, cb)
                _, lo2, hi2 = paired(small, cs)
                why = ("/api/me ÷ plain C %.3f with %s and %.3f with %s: %.3f x "
                       "(each round's ratio: %.3f-%.3f and %.3f-%.3f); /api/me "
                       "alone %.0f against %.0f req/s (%.3f x), plain C alone "
                       "%.3f x" % (rb, format(stotal["big"], ","), rs,
                                   format(stotal["small"], ","), r, lo, hi, lo2, hi2,
                                   med[big.name]["rps"], med[small.name]["rps"], raw,
                                   med[cb.name]["rps"] / med[cs.name]["rps"]))
                what = "/api/me ÷ plain C"
            else:
                r = raw
                m, lo, hi = paired(big, small)
                why = "%.0f against %.0f req/s: %.3f x (each round: %.3f, %.3f-%.3f)" % (
                    med[big.name]["rps"], med[small.name]["rps"], r, m, lo, hi)
                what = "/api/me"
            peer_targets.append(("%s, %s tokens within 5 %% of %s" % (
                what, format(stotal["big"], ","), format(stotal["small"], ",")),
                abs(r - 1) <= 0.05, why))
    hooked = "webhook 1 KiB durable"
    bound = "bound: 1 KiB append + fdatasync"
    arr = "webhook, arrays of 100 records, durable"
    print("Webhooks: %.0f deliveries/s durable, %.2f x the bare append + "
          "fdatasync bound (%.0f/s; rounds %s); arrays of 100 records: %.0f "
          "deliveries/s, %.0f records/s" % (
              med[hooked]["rps"], med[hooked]["rps"] / med[bound]["rps"],
              med[bound]["rps"], rounds(hooked, bound), med[arr]["rps"],
              100 * med[arr]["rps"]))
    print()
    non2xx_ok = all(sum(r["non2xx"] for r in results[c.name]) == 0 for c in cases
                    if c.want == 200) and \
        all(r["non2xx"] == r["requests"] for c in cases if c.want != 200
            for r in results[c.name])
    targets = [
        ("/api/me Basic >= 0.85 x baseline", med["/api/me Basic"]["rps"] / base_rps >= 0.85, ""),
        ("webhook durable >= 0.30 x baseline",
         med["webhook 1 KiB durable"]["rps"] / base_rps >= 0.30, ""),
        ("tokens page >= 0.25 x baseline",
         med["tokens page, %d tokens" % mine]["rps"] / base_rps >= 0.25, ""),
        ("worker VmRSS <= 16 MiB", max(r for _, r, _ in rss) <= 16 * 1024, ""),
        ("CGI /healthz <= 15 ms", cgi_ms <= 15, ""),
        ("non-2xx only in the wrong-secret case (all 401)", non2xx_ok, ""),
    ]
    if use_pg:
        me_s, me_p = med["/api/me Basic"]["rps"], med["/api/me Basic, PostgreSQL"]["rps"]
        wh_s, wh_p = med[S % "SQLite"]["rps"], med[S % "PostgreSQL"]["rps"]
        targets += [
            ("/api/me on PostgreSQL >= 0.9 x the SQLite engine", me_p >= 0.9 * me_s,
             "%.0f against %.0f req/s: %.2f x; rounds %s" % (
                 me_p, me_s, me_p / me_s, rounds("/api/me Basic, PostgreSQL",
                                                 "/api/me Basic"))),
            ("webhook deliveries/s, %d senders: PostgreSQL >= SQLite" % senders,
             wh_p >= wh_s, "%.0f against %.0f: %.2f x; rounds %s" % (
                 wh_p, wh_s, wh_p / wh_s, rounds(S % "PostgreSQL", S % "SQLite"))),
        ]
    targets += peer_targets
    for name, good, why in targets:
        print("%-55s %s%s" % (name, "met" if good else "MISSED",
                               " (%s)" % why if why else ""))
    return 0 if all(g for _, g, _ in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
