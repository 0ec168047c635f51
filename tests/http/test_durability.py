"""Durability: webhooks posted in a loop while workers are killed with
SIGKILL mid-stream; every delivery that was answered 200 must be in the
database afterwards."""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from apiclient import Db  # noqa: E402
from client import Client  # noqa: E402
from tap import (BIN, FIXTURES, NO_LIMITS, Tap, WebhookLoad, add_user, api_user,  # noqa: E402
                 app_env, children, engine, init_data, scratch, tessera,
                 webhook_pipeline)


def main():
    t = Tap()
    work = scratch("durability")
    data = init_data(os.path.join(work, "data"))
    key, tok, auth = api_user(data)
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    env = app_env(data, **NO_LIMITS)
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2,
                      env=env) as app, \
            Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url

        pid = webhook_pipeline(base, auth)
        t.ok(pid is not None, "webhook pipeline created")

        load = WebhookLoad(base, auth, pid)
        kills = 0
        for _ in range(10):
            time.sleep(0.5)
            for victim in children(app.pid)[:1]:
                try:
                    os.kill(victim, signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
        load.stop()
        acked = load.acked
        stored = {json.loads(r[0])["rid"] for r in
                  Db(data).all("SELECT data FROM records WHERE pipeline_id = ?", pid)}
        missing = [r for r in acked if r not in stored]
        print("# webhooks: %d acknowledged, %d stored, %d failed or cut, "
              "%d workers killed" % (len(acked), len(stored),
                                     sum(load.failed.values()), kills))
        t.ok(kills >= 5, "workers were killed mid-stream (%d)" % kills)
        t.ok(len(acked) > 100, "the loop kept being served (%d acked)" % len(acked))
        t.eq(missing, [], "every acknowledged webhook is stored")
        t.ok(len(stored) >= len(acked), "nothing acknowledged was lost")
        t.eq(http("GET", base + "/healthz")[0], 200, "service answers afterwards")
    fsync_before_answer(t, work, data, auth, pid)
    return t.done()


def traced(t, app, work, label, request, want):
    """strace the workers through one request: what it wrote reaches the
    WAL, the WAL is fsynced, and only then is the answer written. The
    request's status must be want. On PostgreSQL the request is made and
    its answer checked; the WAL traced is SQLite's file (PostgreSQL's
    commit is durable at COMMIT, which http-pg/test_durability shows: every
    acknowledged delivery stored although workers die)."""
    if engine() == "postgresql":
        t.eq(request(), want, "%s answered %d" % (label, want))
        t.skip("%s: the WAL is fsynced after the write and before the answer" % label,
               "SQLite's file")
        return
    out = os.path.join(work, "strace-%s.txt" % label.replace(" ", "-"))
    workers = children(app.pid)
    tracer = subprocess.Popen(
        ["strace", "-y", "-e", "trace=pwrite64,write,fsync,fdatasync", "-o",
         out, "-ff"] + sum((["-p", str(w)] for w in workers), []),
        stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    st = request()
    time.sleep(0.3)
    tracer.terminate()
    tracer.wait()
    good, seen = False, []
    for name in os.listdir(work):
        if not name.startswith(os.path.basename(out)):
            continue
        with open(os.path.join(work, name)) as f:
            lines = f.read().splitlines()
        wal = [i for i, l in enumerate(lines) if l.startswith("pwrite64(") and "-wal>" in l]
        sync = [i for i, l in enumerate(lines) if l.startswith(("fdatasync(", "fsync(")) and "-wal>" in l]
        ans = [i for i, l in enumerate(lines) if l.startswith("write(") and "socket:" in l and "Status: " in l]
        if wal and ans:
            seen.append("WAL write at %d, fsync at %s, answer at %d" % (
                wal[-1], sync[-1] if sync else "-", ans[-1]))
            good = bool(sync) and wal[-1] < sync[-1] < ans[-1]
    print("# %s: %s" % (label, "; ".join(seen) or "no WAL write seen"))
    t.eq(st, want, "%s answered %d" % (label, want))
    t.ok(good, "%s: the WAL is fsynced after the write and before the answer" % label)


QUIET_HOOKS = """-- An operator's hooks that write nothing (the default ones write the
-- audit log, whose own commit would sync the WAL for the host's writes).
local M = {}
function M.fire(name, ev) host.log("info", "event " .. name) end
return M
"""


def fsync_before_answer(t, work, data, auth, pid):
    """Every kind of write the service makes is durable before its answer:
    a webhook, a login (its session), a failed login (its counters), a
    logout, a token's first use (its last-used stamp). The hooks write
    nothing here, so no audit row's commit syncs the host's writes by
    chance: the store must."""
    if not shutil.which("strace"):
        t.skip("fsync before the answer", "strace not installed")
        return
    quiet = os.path.join(work, "quiet")
    os.makedirs(quiet)
    with open(os.path.join(quiet, "hooks.lua"), "w") as f:
        f.write(QUIET_HOOKS)
    sock = os.path.join(work, "app2", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    env = app_env(data, lua_dir=quiet + ":" + FIXTURES, **NO_LIMITS)
    with TesseraServe(os.path.join(work, "app2"), BIN, sock, workers=2,
                      env=env) as app, \
            Nginx(os.path.join(work, "nginx2"), free_port(), sock) as web:
        traced_writes(t, app, web.base_url, work, data, auth, pid)
        with open(app.log_path, errors="replace") as f:
            log = f.read()
    t.ok("event login" in log and "event logout" in log,
         "the quiet hooks ran (and wrote nothing)")
    t.ok("not synced by the store" not in log,
         "no answer found a write the store had not synced")


def traced_writes(t, app, base, work, data, auth, pid):
    traced(t, app, work, "webhook", lambda: http(
        "POST", base + "/webhook?pipeline_id=%d" % pid, auth,
        json.dumps({"traced": True}))[0], 200)
    add_user(data, "dora@example.com", "durable password 1")
    c = Client(base)
    c.get("/login")
    traced(t, app, work, "failed login", lambda: c.post("/login", {
        "email": "dora@example.com", "password": "wrong password",
        "csrf": c.csrf()})[0], 401)
    c.get("/login")
    traced(t, app, work, "login", lambda: c.post("/login", {
        "email": "dora@example.com", "password": "durable password 1",
        "csrf": c.csrf()})[0], 303)
    c.get("/settings/tokens")
    traced(t, app, work, "logout", lambda: c.post(
        "/logout", {"csrf": c.csrf()})[0], 303)
    out = tessera(data, "token", "add", "--email", "dora@example.com",
                  "--description", "first use").stdout.decode()
    key = re.search(r"Token Key: (\S+)", out).group(1)
    tok = re.search(r"Token: +(\S+)", out).group(1)
    basic = {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (key, tok)).encode()).decode()}
    traced(t, app, work, "first use of a token", lambda: http(
        "GET", base + "/api/me", basic)[0], 200)


if __name__ == "__main__":
    sys.exit(main())
