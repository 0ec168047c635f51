"""Durability: webhooks posted in a loop while workers are killed with
SIGKILL mid-stream; every delivery that was answered 200 must be in the
database afterwards."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import (BIN, NO_LIMITS, Tap, WebhookLoad, api_user, app_env,  # noqa: E402
                 children, init_data, scratch, webhook_pipeline)


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
        db = sqlite3.connect(os.path.join(data, "tessera.db"))
        stored = {json.loads(r[0])["rid"] for r in
                  db.execute("SELECT data FROM records WHERE pipeline_id = ?",
                             (pid,))}
        missing = [r for r in acked if r not in stored]
        print("# webhooks: %d acknowledged, %d stored, %d failed or cut, "
              "%d workers killed" % (len(acked), len(stored),
                                     sum(load.failed.values()), kills))
        t.ok(kills >= 5, "workers were killed mid-stream (%d)" % kills)
        t.ok(len(acked) > 100, "the loop kept being served (%d acked)" % len(acked))
        t.eq(missing, [], "every acknowledged webhook is stored")
        t.ok(len(stored) >= len(acked), "nothing acknowledged was lost")
        t.eq(http("GET", base + "/healthz")[0], 200, "service answers afterwards")
        fsync_before_answer(t, app, base, auth, pid, work)
    return t.done()


def fsync_before_answer(t, app, base, auth, pid, work):
    """strace a worker through one webhook: the records reach the WAL, the
    WAL is fsynced, and only then is the 200 written."""
    if not shutil.which("strace"):
        t.skip("fsync before the 200", "strace not installed")
        return
    out = os.path.join(work, "strace.txt")
    workers = children(app.pid)
    tracer = subprocess.Popen(
        ["strace", "-y", "-e", "trace=pwrite64,write,fsync,fdatasync", "-o",
         out, "-ff"] + sum((["-p", str(w)] for w in workers), []),
        stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    st, _, _ = http("POST", base + "/webhook?pipeline_id=%d" % pid, auth,
                    json.dumps({"traced": True}))
    time.sleep(0.3)
    tracer.terminate()
    tracer.wait()
    seqs = []
    for name in os.listdir(work):
        if name.startswith("strace.txt"):
            with open(os.path.join(work, name)) as f:
                seqs.append(f.read().splitlines())
    good = False
    for lines in seqs:
        wal = [i for i, l in enumerate(lines) if l.startswith("pwrite64(") and "-wal>" in l]
        sync = [i for i, l in enumerate(lines) if l.startswith(("fdatasync(", "fsync(")) and "-wal>" in l]
        ans = [i for i, l in enumerate(lines) if l.startswith("write(") and "socket:" in l and "200 OK" in l]
        if wal and sync and ans:
            good = wal[-1] < sync[-1] < ans[-1]
            print("# worker: WAL write at %d, fsync at %d, answer at %d" % (wal[-1], sync[-1], ans[-1]))
    t.eq(st, 200, "traced webhook answered")
    t.ok(good, "the WAL is fsynced after the records are written and before the 200")


if __name__ == "__main__":
    sys.exit(main())
