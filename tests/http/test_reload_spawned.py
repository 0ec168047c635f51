"""SIGHUP where the web server spawns tessera itself (README,
"Configuration" and "Troubleshooting"): with reload off, an edited route
module and a new one dropped into routes/ are not served until the app
processes get SIGHUP; each then finishes its request and exits, and the
web server starts fresh ones that serve the new text. Through lighttpd
(bin-path) and Apache mod_fcgid. `tessera runner` (their runner, under
conf/systemd/tessera-runner.service, Restart=always) ends on SIGHUP with
status 0 after its tick, for systemd to start a fresh one."""

import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import ApacheFcgid, Lighttpd, free_port, give_to_web_user, http  # noqa: E402
from tap import (BIN, FIXTURES, Tap, app_env, children, init_data,  # noqa: E402
                 scratch, wait_for)

NEW_ROUTE = '''return function(r)
  r:add("GET", "/_probe/spawned", function()
    return { status = 200, headers = { ["Content-Type"] = "text/plain" },
      body = "dropped in\\n" }
  end)
end
'''


def get(base, path):
    try:
        s, _, b = http("GET", base + path, timeout=10)
    except OSError as e:
        return 0, str(e).encode()
    return s, b


def app_pids_with(marker):
    """The tessera processes whose environment holds marker (a path of
    this test's own), wherever in the process tree they run."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                if f.read().strip() != "tessera":
                    continue
            with open("/proc/%s/environ" % d, "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(d))
        except OSError:
            pass
    return found


def edit_and_hup(t, front, base, fx, pids_of):
    routes_file = os.path.join(fx, "fixture_routes.lua")
    with open(routes_file) as f:
        src = f.read()
    t.eq(get(base, "/_test/version"), (200, b"version 1\n"), front + ": before the edit")
    with open(routes_file, "w") as f:
        f.write(src.replace('"version 1\\n"', '"version 2 (after SIGHUP)\\n"'))
    os.makedirs(os.path.join(fx, "routes"), exist_ok=True)
    with open(os.path.join(fx, "routes", "spawned.lua"), "w") as f:
        f.write(NEW_ROUTE)
    give_to_web_user(fx)
    t.eq(get(base, "/_test/version"), (200, b"version 1\n"),
         front + ": reload off, the edit is not served yet")
    old = pids_of()
    t.ok(len(old) >= 1, front + ": the app processes are found", old)
    for p in old:
        os.kill(p, signal.SIGHUP)
    deadline = time.monotonic() + 10
    got = None
    while time.monotonic() < deadline:
        got = get(base, "/_test/version")
        if got == (200, b"version 2 (after SIGHUP)\n"):
            break
        time.sleep(0.1)
    t.eq(got, (200, b"version 2 (after SIGHUP)\n"),
         front + ": after SIGHUP the edit is served")
    t.eq(get(base, "/_probe/spawned"), (200, b"dropped in\n"),
         front + ": ... and so is the route module dropped into routes/")
    now = pids_of()
    t.ok(now and not set(now) & set(old), front + ": by new processes", (old, now))


def main():
    t = Tap()
    work = scratch("reload-spawned")

    fx = os.path.join(work, "fx-lighttpd")
    shutil.copytree(FIXTURES, fx)
    data = init_data(os.path.join(work, "data-lighttpd"))
    with Lighttpd(os.path.join(work, "lighttpd"), free_port(), BIN,
                  env=app_env(data, lua_dir=fx)) as web:
        edit_and_hup(t, "lighttpd", web.base_url, fx,
                     lambda: children(web.proc.pid))

    fx = os.path.join(work, "fx-fcgid")
    shutil.copytree(FIXTURES, fx)
    give_to_web_user(fx)
    data = init_data(os.path.join(work, "data-fcgid"))
    with ApacheFcgid(os.path.join(work, "fcgid"), free_port(), BIN,
                     env=app_env(data, lua_dir=fx)) as web:
        marker = web._path("tessera.conf")
        get(web.base_url, "/healthz")
        edit_and_hup(t, "apache fcgid", web.base_url, fx,
                     lambda: app_pids_with(marker))

    # The runner of those deployments.
    data = init_data(os.path.join(work, "data-runner"))
    log = os.path.join(work, "runner.out")
    with open(log, "wb") as out:
        proc = subprocess.Popen([BIN, "runner"], env=dict(os.environ, **app_env(data)),
                                stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        started = wait_for(lambda: b"runner: ticks every" in open(log, "rb").read(), 10)
        t.ok(started, "tessera runner started", open(log, "rb").read()[-500:])
        proc.send_signal(signal.SIGHUP)
        rc = proc.wait(15)
    except subprocess.TimeoutExpired:
        rc = None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    t.eq(rc, 0, "tessera runner: SIGHUP ends it with status 0 (systemd starts a new one)")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
