"""`tessera serve` behind nginx: respawn after kill -9 (also under load),
SIGHUP reload after an edit (in-flight requests finish), reload-on-change,
SIGTERM leaving nothing behind, a second server refused on a live socket;
the runner beside the workers: one, respawned, replaced on SIGHUP."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import (BIN, FIXTURES, Tap, app_env, children, init_data,  # noqa: E402
                 scratch, wait_for)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def get(base, path):
    try:
        status, _, body = http("GET", base + path, timeout=10)
        return status, body
    except OSError as e:
        return 0, str(e).encode()


def load(base, seconds, results):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        results.append(get(base, "/healthz")[0])


def main():
    t = Tap()
    work = scratch("supervisor")
    lua = os.path.join(work, "lua")
    shutil.copytree(FIXTURES, lua)
    data = init_data(os.path.join(work, "data"))
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    env = app_env(data, lua_dir=lua, TESSERA_LUA_MAX_INSTRUCTIONS=10**10)
    app = TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2,
                       env=env).start()
    web = Nginx(os.path.join(work, "nginx"), free_port(), sock).start()
    base = web.base_url
    try:
        t.eq(len(children(app.pid)), 2, "two workers forked")
        runner = children(app.pid, runner=True)
        t.eq(len(runner), 1, "and one runner")
        t.eq(get(base, "/healthz")[0], 200, "serving through nginx")

        # A second server on the same live socket is refused.
        r = subprocess.run([BIN, "serve", "--listen", "unix:" + sock],
                           env=dict(os.environ, **env), capture_output=True,
                           timeout=10)
        t.ok(r.returncode != 0 and b"another server" in r.stderr,
             "a second server on a live socket is refused", r.stderr)

        # Respawn after kill -9 (workers older than a second).
        time.sleep(1.1)
        victim = children(app.pid)[0]
        t0 = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        back = wait_for(lambda: len(children(app.pid)) == 2 and
                        victim not in children(app.pid), 3)
        took = time.monotonic() - t0
        t.ok(back and took < 1.0, "killed worker respawned within a second",
             "took %.2fs" % took)

        # The runner too comes back after kill -9.
        os.kill(runner[0], signal.SIGKILL)
        t.ok(wait_for(lambda: len(children(app.pid, runner=True)) == 1 and
                      runner[0] not in children(app.pid, runner=True), 3),
             "a killed runner is respawned", children(app.pid, runner=True))

        # kill -9 under load: the service keeps answering.
        time.sleep(1.1)
        results = []
        threads = [threading.Thread(target=load, args=(base, 3, results))
                   for _ in range(4)]
        for th in threads:
            th.start()
        time.sleep(1)
        killed = children(app.pid)[:1]
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        for th in threads:
            th.join()
        bad = [s for s in results if s != 200]
        t.ok(len(results) > 50, "load ran (%d requests)" % len(results))
        t.ok(len(bad) <= 2, "kill -9 under load: at most the in-flight "
             "request fails (%d of %d failed)" % (len(bad), len(results)), bad)
        after = [get(base, "/healthz")[0] for _ in range(50)]
        t.eq(after.count(200), 50, "50 requests after the kill all succeed")

        # SIGHUP after an edit: reload is off, so only the new workers see it.
        t.eq(get(base, "/_test/version")[1], b"version 1\n", "route text before")
        path = os.path.join(lua, "fixture_routes.lua")
        with open(path) as f:
            src = f.read()
        with open(path, "w") as f:
            f.write(src.replace("version 1", "version 2"))
        t.eq(get(base, "/_test/version")[1], b"version 1\n",
             "an edit alone changes nothing when reload is off")
        # Calibrate a request that takes a while, then SIGHUP during it.
        t0 = time.monotonic()
        get(base, "/_test/busy?n=3000000")
        per = max(time.monotonic() - t0, 0.01) / 3000000
        n = int(0.8 / per)
        slow = {}
        th = threading.Thread(target=lambda: slow.update(
            r=get(base, "/_test/busy?n=%d" % n)))
        old = set(children(app.pid))
        old_runner = set(children(app.pid, runner=True))
        th.start()
        time.sleep(0.2)
        app.reload()
        th.join()
        t.eq(slow["r"][0], 200, "a request in flight during SIGHUP finishes")
        t.ok(wait_for(lambda: get(base, "/_test/version")[1] == b"version 2\n",
                      3), "after SIGHUP the edited route serves the new text")
        t.ok(wait_for(lambda: not (old & set(children(app.pid))), 5),
             "old workers replaced", children(app.pid))
        t.eq(len(children(app.pid)), 2, "still two workers after reload")
        t.ok(wait_for(lambda: len(children(app.pid, runner=True)) == 1 and
                      not (old_runner & set(children(app.pid, runner=True))), 5),
             "and one new runner", children(app.pid, runner=True))

        # SIGTERM: supervisor and workers exit, the socket file is removed.
        pids = [app.pid] + children(app.pid) + children(app.pid, runner=True)
        web.stop()
        proc = app.proc
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(15)
        except subprocess.TimeoutExpired:
            rc = None
        t.eq(rc, 0, "SIGTERM: supervisor exits 0")
        t.ok(wait_for(lambda: not any(alive(p) for p in pids), 5),
             "SIGTERM: no process left behind",
             [p for p in pids if alive(p)])
        t.ok(not os.path.exists(sock), "SIGTERM: socket file removed")
    finally:
        web.stop()
        app.stop()

    # reload = true: an edit is served on the next request, no signal.
    with open(os.path.join(lua, "fixture_routes.lua")) as f:
        src = f.read()
    sock2 = os.path.join(work, "app2", "tessera.sock")
    os.makedirs(os.path.dirname(sock2))
    with TesseraServe(os.path.join(work, "app2"), BIN, sock2, workers=1,
                      env=dict(env, TESSERA_RELOAD="1")) as app2, \
            Nginx(os.path.join(work, "nginx2"), free_port(), sock2) as web2:
        t.eq(get(web2.base_url, "/_test/version")[1], b"version 2\n",
             "reload on: current text")
        with open(os.path.join(lua, "fixture_routes.lua"), "w") as f:
            f.write(src.replace("version 2", "version 3 (edited)"))
        t.eq(get(web2.base_url, "/_test/version")[1],
             b"version 3 (edited)\n", "reload on: the edit is served at once")
        with open(os.path.join(lua, "fixture_routes.lua"), "w") as f:
            f.write(src.replace("version 2\\n\" }", "version 4\\n\" "))
        t.eq(get(web2.base_url, "/_test/version")[:2], (200, b"version 3 (edited)\n"),
             "reload on: a syntax error keeps the last good version serving")
        t.eq(get(web2.base_url, "/healthz")[0], 200,
             "... every route, until it is fixed")
        with open(os.path.join(lua, "fixture_routes.lua"), "w") as f:
            f.write(src)
        t.eq(get(web2.base_url, "/_test/version")[1], b"version 2\n",
             "reload on: fixed, the fixed text is served")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
