"""db_mmap_mb: with it set, the workers read the SQLite database through a
memory map (the file is mapped in each worker once it has answered a
request); without it, or past a bad value, not. On PostgreSQL the key is
accepted and changes nothing (there is no database file to map)."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import (BIN, NO_LIMITS, Tap, api_user, app_env, children, engine,  # noqa: E402
                 init_data, scratch)


def mapped(pids, name="tessera.db"):
    """The pids whose memory maps include the file name."""
    out = []
    for p in pids:
        with open("/proc/%d/maps" % p) as f:
            if any(line.rstrip().endswith("/" + name) for line in f):
                out.append(p)
    return out


def serve_and_look(t, work, data, auth, label, **extra):
    """Serves data with extra settings, sends /api/me eight times (so that
    both workers answer some), and returns the workers and those of them
    that map the database."""
    sock = os.path.join(work, label, "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    env = app_env(data, **dict(NO_LIMITS, **extra))
    with TesseraServe(os.path.join(work, label), BIN, sock, workers=2,
                      env=env) as app, \
            Nginx(os.path.join(work, label + "-nginx"), free_port(), sock) as web:
        codes = {http("GET", web.base_url + "/api/me", auth)[0] for _ in range(8)}
        t.eq(codes, {200}, "%s: /api/me answers 200" % label)
        pids = children(app.pid)
        return pids, mapped(pids)


def main():
    t = Tap()
    work = scratch("db_mmap")
    data = init_data(os.path.join(work, "data"))
    _, _, auth = api_user(data)
    pids, maps = serve_and_look(t, work, data, auth, "plain")
    t.eq(maps, [], "without db_mmap_mb no worker maps the database")
    pids, maps = serve_and_look(t, work, data, auth, "mapped",
                                TESSERA_DB_MMAP_MB=16)
    if engine() == "sqlite":
        t.ok(len(pids) == 2 and sorted(maps) == sorted(pids),
             "db_mmap_mb = 16: every worker maps tessera.db (%d of %d)" % (
                 len(maps), len(pids)))
    else:
        t.eq(maps, [], "PostgreSQL: db_mmap_mb maps nothing")
    # A value out of range is refused at start, naming the key.
    r = subprocess.run([BIN, "serve", "--listen", "unix:" + os.path.join(
        work, "x.sock")], capture_output=True, text=True, timeout=30,
        env=dict(os.environ, **app_env(data, TESSERA_DB_MMAP_MB=-1)))
    t.ok(r.returncode != 0 and "db_mmap_mb" in r.stderr + r.stdout,
         "db_mmap_mb = -1 is refused at start, naming the key",
         (r.stderr + r.stdout)[-300:])
    t.done()


if __name__ == "__main__":
    main()
