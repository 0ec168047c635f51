"""Lua faults with reload on: `tessera serve` (2 workers, TESSERA_RELOAD=1)
behind nginx serves the fixture routes from a temporary copy.  The route
/_test/version is edited to loop forever, then to allocate without bound,
then to a syntax error.  For the loop and the memory bomb the route
answers 500 within a few seconds, the workers stay alive (or are
respawned), and once the file is restored it answers 200 again; /healthz
answers 200 throughout.  A syntax error (tried first, while every worker
has version 1 loaded) keeps the last good version
serving (lhost_reload.c): the route answers 200 "version 1" at once, and
so does every other route, until the file is fixed."""

import os
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import (BIN, FIXTURES, Tap, app_env, children,  # noqa: E402
                 init_data, scratch, wait_for)

WORKERS = 2
ORIGINAL = '''    return { status = 200, headers = { ["Content-Type"] = "text/plain" },
      body = "version 1\\n" }'''
# The syntax error first: a worker keeps the last version that loaded,
# and after the memory bomb a worker no request reached since the file was
# restored still has the bomb as its last good version.
EDITS = [
    ("syntax error", """    return { status = 200 body = "version 1\\n" }"""),
    ("infinite loop", "    while true do end"),
    ("memory bomb", """    local t, i = {}, 0
    while true do
      i = i + 1
      t[i] = { i, tostring(i) .. "-padding-padding-padding" }
    end"""),
]


def status_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def get(base, path, timeout=15):
    t0 = time.monotonic()
    try:
        st, _, body = http("GET", base + path, timeout=timeout)
    except OSError as e:
        st, body = 0, str(e).encode()
    return st, body, time.monotonic() - t0


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def waiting_in_accept(pid):
    """The worker has built its Lua state (worker_init) and waits for a
    connection: its system call is accept (43) or accept4 (288)."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            return f.read().split()[0] in ("43", "288")
    except OSError:
        return False


def main():
    t = Tap()
    work = scratch("hard-lua-faults")
    lua = os.path.join(work, "lua")
    shutil.copytree(FIXTURES, lua)
    path = os.path.join(lua, "fixture_routes.lua")
    with open(path) as f:
        src = f.read()
    if ORIGINAL not in src:
        t.ok(False, "the /_test/version route text is where the test expects it")
        return t.done()
    data = init_data(os.path.join(work, "data"))
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    env = app_env(data, lua_dir=lua, TESSERA_RELOAD=1)
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=WORKERS,
                      env=env) as app, \
            Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url
        st, body, _ = get(base, "/_test/version")
        t.eq((st, body), (200, b"version 1\n"), "the route before any edit")
        # The syntax error's case needs every worker to hold version 1: a
        # worker that starts after the edit has no good version to keep.
        # On a loaded machine a worker may still be starting (opening the
        # database, loading the scripts) after the first answer.
        t.ok(wait_for(lambda: len(children(app.pid)) == WORKERS and
                      all(waiting_in_accept(p) for p in children(app.pid)), 30),
             "every worker has started (loaded version 1) before the edits")
        rss0 = {p: status_kib(p, "VmRSS") for p in children(app.pid)}
        print("# workers %s, RSS before: %s KiB" % (sorted(rss0),
                                                   sorted(rss0.values())))
        for name, text in EDITS:
            before = set(children(app.pid))
            write(path, src.replace(ORIGINAL, text))
            t0 = time.monotonic()
            first = get(base, "/_test/version")
            to_500 = time.monotonic() - t0
            want = 200 if name == "syntax error" else 500
            t.ok(first[0] == want and to_500 < 5,
                 "%s: the route answers %d within 5 s (%.2fs)" % (name, want, to_500),
                 "got %s %r after %.2fs" % (first[0], first[1][:200], to_500))
            # The broken route requested over and over while /healthz is
            # asked ten times, 0.15 s apart.
            more, done = [], threading.Event()

            def hammer():
                while not done.is_set() or not more:
                    more.append(get(base, "/_test/version"))
            th = threading.Thread(target=hammer)
            th.start()
            health = []
            for _ in range(10):
                health.append(get(base, "/healthz", timeout=5))
                time.sleep(0.15)
            done.set()
            th.join(30)
            t.ok(more and all(m[0] == want for m in more),
                 "%s: and %d on each request meanwhile (%d)" % (name, want, len(more)),
                 [m[0] for m in more])
            hst = [h[0] for h in health]
            hworst = max(h[2] for h in health)
            t.ok(hst == [200] * 10 and hworst < 2,
                 "%s: /healthz keeps answering 200" % name,
                 "%s, worst %.2fs" % (hst, hworst))
            after = set(children(app.pid))
            rss = {p: status_kib(p, "VmRSS") for p in after}
            hwm = {p: status_kib(p, "VmHWM") for p in after}
            print("# %s: first 500 after %.2fs (then %d more, worst %.2fs); "
                  "/healthz %s, worst "
                  "%.0f ms; workers %s -> %s (%d changed); RSS %s KiB, peak %s KiB"
                  % (name, to_500, len(more), max(m[2] for m in more),
                     sorted(set(hst)), hworst * 1000, sorted(before),
                     sorted(after), len(before - after), sorted(rss.values()),
                     sorted(hwm.values())))
            t.eq(len(after), WORKERS, "%s: %d workers alive" % (name, WORKERS))
            if name == "memory bomb":
                t.ok(max(rss.values() or [0]) < 256 * 1024,
                     "memory bomb: worker RSS stays bounded (< 256 MiB; "
                     "lua_memory_mb is 64)", rss)

            write(path, src)
            t1 = time.monotonic()
            back = None
            while time.monotonic() - t1 < 5:
                st, body, _ = get(base, "/_test/version")
                if (st, body) == (200, b"version 1\n"):
                    back = time.monotonic() - t1
                    break
                time.sleep(0.05)
            t.ok(back is not None, "%s: restored, the route answers 200 again"
                 % name, "last: %s %r" % (st, body[:200]))
            t.eq(get(base, "/healthz")[0], 200, "%s: restored, /healthz 200"
                 % name)
    return t.done()


if __name__ == "__main__":
    # A runner's timeout (SIGTERM) still stops the servers, by the with-blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
