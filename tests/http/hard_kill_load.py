"""Kill under load: `tessera serve` (4 workers) behind nginx takes a 20 s wrk
load on GET /api/me and, at the same time, a loop of webhooks, while
SIGKILL hits a random worker every 200 ms.  The service must keep
answering, fail only a few requests (those in flight in a killed worker),
and every webhook that was answered 200 must be in the database."""

import json
import os
import random
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import Db  # noqa: E402
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import (BIN, NO_LIMITS, Tap, WebhookLoad, api_user, app_env,  # noqa: E402
                 children, init_data, scratch, wait_for,
                 webhook_pipeline)

WORKERS = 4
SECONDS = 20
KILL_EVERY = 0.2


def alive(pid):
    """Not a zombie waiting to be reaped (killing one would count for
    nothing)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def parse_wrk(out):
    """requests, non-2xx, socket errors (dict) and requests/s from wrk's text."""
    m = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    m2 = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                   r"timeout (\d+)", out)
    if m2:
        errs = dict(zip(("connect", "read", "write", "timeout"),
                        map(int, m2.groups())))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return (int(m.group(1)) if m else 0, int(non2xx.group(1)) if non2xx else 0,
            errs, float(rps.group(1)) if rps else 0.0)


def main():
    t = Tap()
    work = scratch("hard-kill-load")
    data = init_data(os.path.join(work, "data"))
    key, tok, auth = api_user(data)
    basic = auth["Authorization"]
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    env = app_env(data, **NO_LIMITS)
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=WORKERS,
                      env=env) as app, \
            Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url

        pid = webhook_pipeline(base, auth)
        t.ok(pid is not None, "webhook pipeline created")
        t.eq(http("GET", base + "/api/me", auth)[0], 200, "GET /api/me before")

        # wrk on /api/me, webhooks from threads, and the killer, together.
        wrk = subprocess.Popen(
            ["wrk", "-t2", "-c16", "-d%ds" % SECONDS, "--timeout", "10s",
             "-H", "Authorization: " + basic, base + "/api/me"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        load = WebhookLoad(base, auth, pid, timeout=15)
        kills, ticks, rng = 0, 0, random.Random(1)
        t0 = time.monotonic()
        while wrk.poll() is None and time.monotonic() - t0 < SECONDS + 30:
            time.sleep(KILL_EVERY)
            if time.monotonic() - t0 > SECONDS:
                continue          # wrk is finishing: stop killing
            ticks += 1
            live = [p for p in children(app.pid) if alive(p)]
            if live:
                try:
                    os.kill(rng.choice(live), signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
        load.stop()
        acked, failed = load.acked, load.failed
        try:
            wrk_out = wrk.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            wrk.kill()
            wrk_out = wrk.communicate()[0] + "\n(wrk hung and was killed)"
        requests, non2xx, errs, rps = parse_wrk(wrk_out)
        nerr = sum(errs.values())

        back = wait_for(lambda: len(children(app.pid)) == WORKERS, 5)
        after = [http("GET", base + "/api/me", auth, timeout=10)[0]
                 for _ in range(50)]

        db = Db(data)       # tessera.db, or its PostgreSQL database
        stored = {json.loads(r[0])["rid"] for r in
                  db.all("SELECT data FROM records WHERE pipeline_id = ?", pid)}
        missing = [r for r in acked if r not in stored]

        print("# wrk: %d requests served in %ds (%.0f/s), %d non-2xx, socket "
              "errors %s" % (requests, SECONDS, rps, non2xx,
                             ", ".join("%s %d" % kv for kv in errs.items())))
        print("# workers killed: %d (a try every %d ms: %d tries, %d found no "
              "live worker, all waiting to be respawned)"
              % (kills, KILL_EVERY * 1000, ticks, ticks - kills))
        print("# webhooks: %d acknowledged, %d stored, %d failed or cut %s"
              % (len(acked), len(stored), sum(failed.values()),
                 dict(failed) or ""))
        t.ok(kills >= 50, "workers were killed all along (%d kills in %d tries)"
             % (kills, ticks))
        t.ok(requests >= 2000, "wrk completed many requests (%d)" % requests,
             wrk_out)
        bad = non2xx + nerr
        t.ok(bad <= max(2 * kills, requests // 100),
             "failures are few: %d non-2xx + %d socket errors of %d, with %d "
             "kills" % (non2xx, nerr, requests, kills), wrk_out)
        t.ok(len(acked) >= 100, "the webhook loop kept being served (%d acked)"
             % len(acked))
        t.eq(missing[:10], [], "every acknowledged webhook is stored (%d missing)"
             % len(missing))
        t.ok(back, "all %d workers back after the run" % WORKERS,
             children(app.pid))
        t.eq(after.count(200), 50, "50 sequential GET /api/me after the run "
             "all answer 200")
    return t.done()


if __name__ == "__main__":
    # A runner's timeout (SIGTERM) still stops the servers, by the with-blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
