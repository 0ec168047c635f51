"""Live edits with reload = true (HTTP.md, README "Configuration"):
`tessera serve` (one worker, so "once" is exact) behind nginx, its Lua
from a scratch copy of the fixtures ahead of the repository's lua/, its
schema from a scratch copy of schema/.

- A route module dropped into routes/ (a folder that did not exist, on
  the first directory of lua_dir) answers without a restart.
- A named query appended to the queries file in use is usable without a
  restart; a broken queries file keeps the last good set serving, logs
  its error once, and the fixed file takes effect.
- A syntax error written into a route module keeps the last good version
  serving every page (200, the old text), logs the error once, and the
  fixed file takes effect on the next request.
- A new file in pipelines/ (a folder made after the start) is noticed: a
  new state is built (track A loads pipeline kinds from there).
"""

import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import PW, Api, cli_token  # noqa: E402
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import (BIN, FIXTURES, REPO, Tap, add_user, app_env, children,  # noqa: E402
                 engine, init_data, scratch)

PROBE = '''-- a route module dropped in while the server runs
return function(r)
  r:add("GET", "/_probe/new", function()
    return { status = 200, headers = { ["Content-Type"] = "text/plain" },
      body = "new route\\n" }
  end)
  r:add("GET", "/_probe/query", function()
    local ok, v = pcall(host.db.value, "reload_probe", {})
    return { status = 200, headers = { ["Content-Type"] = "text/plain" },
      body = ok and tostring(v) or "missing" }
  end)
end
'''
VERSION1 = 'body = "version 1\\n" }'


def write(path, text):
    """Replaces path's text at once (as editors that rename do)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def get(base, path, auth=None):
    try:
        s, _, b = http("GET", base + path, auth or {})
    except OSError as e:
        return 0, str(e).encode()
    return s, b


def worker_lines(log_path, pids, pattern):
    """The log lines of the workers pids that match pattern."""
    with open(log_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    return [ln for ln in text.splitlines()
            if re.search(pattern, ln) and
            any("tessera[%d]" % p in ln for p in pids)]


def main():
    t = Tap()
    work = scratch("reload")
    fx = os.path.join(work, "fx")
    shutil.copytree(FIXTURES, fx)
    schema = os.path.join(work, "schema")
    shutil.copytree(os.path.join(REPO, "schema"), schema)
    pg = engine() == "postgresql"
    qfile = os.path.join(schema, "pg" if pg else "", "queries.sql")
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", PW, role="admin")
    ana = cli_token(data, "ana@example.com", "ana")
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    env = app_env(data, lua_dir=fx, TESSERA_RELOAD=1, TESSERA_SCHEMA_DIR=schema)
    routes_file = os.path.join(fx, "fixture_routes.lua")
    with open(routes_file) as f:
        routes_src = f.read()
    t.ok(VERSION1 in routes_src, "the fixture's version route is where the test expects it")
    with open(qfile) as f:
        queries_src = f.read()

    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=1, env=env) as app, \
            Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url
        api = Api(base)
        pids = children(app.pid)
        t.eq(len(pids), 1, "one worker")
        t.eq(get(base, "/_test/version"), (200, b"version 1\n"), "the route before any edit")
        t.eq(get(base, "/_probe/new")[0], 404, "no /_probe/new yet")

        # A new route module in a new routes/ folder on lua_dir.
        os.makedirs(os.path.join(fx, "routes"))
        write(os.path.join(fx, "routes", "probe.lua"), PROBE)
        t.eq(get(base, "/_probe/new"), (200, b"new route\n"),
             "a module dropped into routes/ answers without a restart")
        t.eq(get(base, "/_test/version"), (200, b"version 1\n"),
             "... and the other routes still answer")
        t.eq(get(base, "/_probe/query"), (200, b"missing"),
             "the probe's named query does not exist yet")

        # A new named query.
        probe_sql = ("\n-- name: reload_probe\nSELECT %s AS answer;\n" %
                     ("42::bigint" if pg else "42"))
        good_queries = queries_src + probe_sql
        write(qfile, good_queries)
        t.eq(get(base, "/_probe/query"), (200, b"42"),
             "a named query appended to the queries file is usable without a restart")

        # A broken queries file keeps the last good set.
        write(qfile, good_queries + "\n-- name: reload_broken\nSELEC nonsense FROM;\n")
        answers = [get(base, "/_probe/query") for _ in range(5)]
        t.eq(answers, [(200, b"42")] * 5,
             "a broken queries file: the last good set goes on serving")
        t.eq(api.get("/api/me", ana.basic)[0], 200,
             "... the host's own queries too (/api/me)")
        broken = worker_lines(app.log_path, pids, r"named queries do not load")
        t.ok(len(broken) == 1, "... its error is logged once", broken)
        t.ok(broken and "reload_broken" in broken[0],
             "... naming the query at fault", broken)
        write(qfile, good_queries.replace("SELECT 42", "SELECT 43"))
        t.eq(get(base, "/_probe/query"), (200, b"43"), "the fixed queries file takes effect")

        # A syntax error in a route module keeps the last good version.
        write(routes_file, routes_src.replace(VERSION1, 'body = "version 2\\n" oops }'))
        pages = [get(base, p) for p in ("/_test/version", "/healthz", "/_probe/new",
                                        "/_test/version", "/login", "/_test/version")]
        t.eq([p[0] for p in pages], [200] * 6,
             "a syntax error in a route module: every page still answers 200")
        t.eq(pages[0][1], b"version 1\n", "... from the last good version")
        errs = worker_lines(app.log_path, pids, r"do not load; still serving")
        t.ok(len(errs) == 1, "... the error is logged once, not per request", errs)
        t.ok(errs and "fixture_routes.lua" in errs[0],
             "... naming the file", errs)
        write(routes_file, routes_src.replace(VERSION1, 'body = "version 2\\n" }'))
        t.eq(get(base, "/_test/version"), (200, b"version 2\n"),
             "the fixed file is served on the next request")

        # A new pipeline kind: a new state is built.
        before = len(worker_lines(app.log_path, pids, r"scripts changed; reloading"))
        os.makedirs(os.path.join(fx, "pipelines"), exist_ok=True)
        write(os.path.join(fx, "pipelines", "probe_kind.lua"), "return {}\n")
        t.eq(get(base, "/healthz")[0], 200, "a request after a new file in pipelines/")
        after = len(worker_lines(app.log_path, pids, r"scripts changed; reloading"))
        t.eq(after, before + 1, "... found the scripts changed and reloaded")
        t.eq(children(app.pid), pids, "the same worker all along (no restart)")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
