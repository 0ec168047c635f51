"""A small TAP producer shared by the HTTP tests, plus the set-up every
test needs: a fresh data directory and the fixture routes.

    t = Tap()
    t.eq(status, 200, "GET /healthz")
    sys.exit(t.done())
"""

import json
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.join(REPO, "tessera")
FIXTURES = os.path.join(REPO, "tests", "lua", "fixtures")


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, name), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name), flush=True)
            if diag:
                for line in str(diag).splitlines():
                    print("# " + line, flush=True)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name, "got %r, want %r" % (got, want))

    def has(self, haystack, needle, name):
        return self.ok(needle in haystack, name,
                       "%r not found in %r" % (needle, haystack[:400]))

    def hasnt(self, haystack, needle, name):
        """The diagnosis shows where needle is: 200 characters around its
        first place."""
        at = haystack.find(needle)
        return self.ok(at < 0, name, "%r found in %r" % (
            needle, haystack[max(0, at - 200):at + len(needle) + 200]))

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)

    def done(self):
        if _pg_dbs:
            # Every tessera the test started used PostgreSQL: none fell
            # back to SQLite's file in a data directory.
            self.eq(sorted(p for p in _pg_dbs
                           if os.path.exists(os.path.join(p, "tessera.db"))), [],
                    "on PostgreSQL: no data directory has a tessera.db")
        print("1..%d" % self.n, flush=True)
        return 1 if self.failed else 0


def scratch(prefix):
    """A fresh directory under $TESSERA_TEST_TMP (or the system temp dir)."""
    base = os.environ.get("TESSERA_TEST_TMP") or tempfile.gettempdir()
    return tempfile.mkdtemp(prefix=prefix + "-", dir=base)


_pg = []    # the PostgreSQL server of this test process, when one runs
_pg_dbs = {}   # realpath of a data directory -> (database name, URI)


def engine():
    """The store engine the tests run on: "postgresql" with
    TESSERA_TEST_ENGINE=postgresql, else "sqlite"."""
    return ("postgresql" if os.environ.get("TESSERA_TEST_ENGINE") == "postgresql"
            else "sqlite")


def _pg_server():
    """The one PostgreSQL 15 of this test process, started at first use.
    Run as root, web servers' apps run as www-data and must reach its
    socket too: the socket's directory is made www-data's group's (0710,
    so no other user may even look up the socket)."""
    if not _pg:
        from pg import Postgres

        class TestPostgres(Postgres):
            def _make_socket_dir(self):
                super()._make_socket_dir()
                if os.geteuid() == 0:
                    import grp
                    os.chown(self.socket_dir, -1, grp.getgrnam("www-data").gr_gid)
                    os.chmod(self.socket_dir, 0o710)

            def _more_conf(self):
                # The directory keeps others out; the socket itself is
                # open to who can reach it (its owner is the cluster's
                # user, who is in no group of www-data's).
                return super()._more_conf() + (
                    "unix_socket_permissions = 0777\n" if os.geteuid() == 0 else "")

        _pg.append(TestPostgres(scratch("pg")).start())
    return _pg[0]


def init_data(path):
    """Runs `tessera init` for path; returns path. With
    TESSERA_TEST_ENGINE=postgresql the data lives in a fresh database of
    one PostgreSQL 15 this process starts (and stops at exit):
    database(path) names it, and so does TESSERA_DATABASE from here on
    (app_env, tessera(), add_user() pick each data directory's own)."""
    env = None
    if engine() == "postgresql":
        pg = _pg_server()
        name = "t%d" % (len(_pg_dbs) + 1)
        uri = pg.createdb(name)
        _pg_dbs[os.path.realpath(path)] = (name, uri)
        os.environ["TESSERA_DATABASE"] = uri
        env = data_env(path)
    subprocess.run([BIN, "init", "--data", path], check=True,
                   stdout=subprocess.DEVNULL, env=env)
    return path


def database(data):
    """The URI of data's PostgreSQL database (init_data made it), or None
    (SQLite: DATA/tessera.db)."""
    found = _pg_dbs.get(os.path.realpath(data))
    return found[1] if found else None


def pg_database(data):
    """(the Postgres server, the database name) of data, or None."""
    found = _pg_dbs.get(os.path.realpath(data))
    return (_pg[0], found[0]) if found else None


def data_env(data, base=None):
    """A copy of base (default os.environ) whose TESSERA_DATABASE is
    data's database, when init_data made one."""
    env = dict(os.environ if base is None else base)
    uri = database(data)
    if uri:
        env["TESSERA_DATABASE"] = uri
    return env


def app_and_nginx(work, name, data, env, workers=2):
    """`tessera serve` (app_env(data, **env)) on a unix socket in
    work/name and nginx in front of it on a free port, neither started:
    (app, web), to use with `with`."""
    from servers import Nginx, TesseraServe, free_port
    sock = os.path.join(work, name, "tessera.sock")
    os.makedirs(os.path.dirname(sock), exist_ok=True)
    app = TesseraServe(os.path.join(work, name), BIN, sock, workers=workers,
                       env=app_env(data, **env))
    web = Nginx(os.path.join(work, name + "-nginx"), free_port(), sock)
    return app, web


def app_env(data, lua_dir=None, **extra):
    """The environment that points tessera at data and the fixture routes."""
    env = {
        "TESSERA_DATA": data,
        "TESSERA_LUA_DIR": "%s:%s" % (lua_dir or FIXTURES,
                                      os.path.join(REPO, "lua")),
        "TESSERA_EXTRA_ROUTES": "fixture_routes",
    }
    uri = database(data) or os.environ.get("TESSERA_DATABASE")
    if uri:
        env["TESSERA_DATABASE"] = uri
    env.update({k: str(v) for k, v in extra.items()})
    # Sanitizer settings reach processes a web server spawns with a clean
    # environment (mod_fcgid) too.
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if os.environ.get(k):
            env.setdefault(k, os.environ[k])
    return env


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def children(pid, runner=False):
    """The pids of a supervisor's workers (its children but the runner),
    or with runner=True the runner's (a list of zero or one)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = [int(p) for p in f.read().split()]
    except OSError:
        return []
    return [p for p in kids if (_comm(p) == "tessera-runner") == runner]


def wait_for(cond, timeout, step=0.02):
    """Polls cond() until it is true or timeout seconds pass; its last
    value."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def webhook_pipeline(base, headers):
    """Creates a webhook source, a destination and a pipeline between them
    through the API at base; returns the pipeline's id (None on failure)."""
    from servers import http

    def post(path, doc):
        s, _, b = http("POST", base + path, headers, json.dumps(doc))
        return json.loads(b)["data"]["id"] if s == 201 else None
    src = post("/api/sources", {"name": "hook", "type": "webhook"})
    dst = post("/api/destinations", {"name": "lake", "type": "s3"})
    if src is None or dst is None:
        return None
    return post("/api/pipelines", {"name": "p", "type": "webhook",
                                   "source_id": src, "destination_id": dst})


class WebhookLoad:
    """Threads posting webhooks, each a JSON object with a unique "rid",
    until stop(); acked lists the rids answered 200, failed counts the
    other answers by status (0: no answer)."""

    def __init__(self, base, headers, pipeline_id, threads=4, timeout=10):
        import collections
        import threading
        self.acked, self.failed = [], collections.Counter()
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._url = base + "/webhook?pipeline_id=%d" % pipeline_id
        self._headers, self._timeout = headers, timeout
        self._threads = [threading.Thread(target=self._run, args=(n,))
                         for n in range(threads)]
        for th in self._threads:
            th.start()

    def _run(self, n):
        from servers import http
        i = 0
        while not self._stop.is_set():
            i += 1
            rid = "%d-%d" % (n, i)
            try:
                st = http("POST", self._url, self._headers,
                          json.dumps({"rid": rid, "n": i}),
                          timeout=self._timeout)[0]
            except OSError:
                st = 0
            with self._lock:
                if st == 200:
                    self.acked.append(rid)
                else:
                    self.failed[st] += 1

    def stop(self):
        self._stop.set()
        for th in self._threads:
            th.join()


def body_json(body):
    try:
        return json.loads(body)
    except ValueError:
        return None


def add_user(data, email, password, role="member", account="Acme"):
    """Creates a user with `tessera user add` (password on stdin)."""
    subprocess.run([BIN, "user", "add", "--data", data, "--email", email,
                    "--role", role, "--account", account],
                   input=(password + "\n").encode(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=data_env(data))


# Rate limits off, for tests that load the service on purpose.
NO_LIMITS = {"TESSERA_RATE_LIMIT_API_KEY": 0, "TESSERA_RATE_LIMIT_API_IP": 0,
             "TESSERA_RATE_LIMIT_WEBHOOK_KEY": 0,
             "TESSERA_RATE_LIMIT_WEBHOOK_IP": 0,
             "TESSERA_RATE_LIMIT_WEBHOOK_RECORDS": 0}


def api_user(data, email="ana@example.com", password="correct horse battery",
             role="admin"):
    """Adds a user with one API token. Returns (key, token, headers): the
    headers carry Basic credentials and Content-Type: application/json."""
    import base64
    import re
    add_user(data, email, password, role=role)
    out = tessera(data, "token", "add", "--email", email, "--description",
                  "test client").stdout.decode()
    key = re.search(r"Token Key: (\S+)", out).group(1)
    tok = re.search(r"Token: +(\S+)", out).group(1)
    headers = {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (key, tok)).encode()).decode(),
        "Content-Type": "application/json"}
    return key, tok, headers


def tessera(data, *args, stdin=b""):
    """Runs a tessera subcommand against data; returns CompletedProcess."""
    return subprocess.run([BIN] + list(args) + ["--data", data], input=stdin,
                          capture_output=True, timeout=30, env=data_env(data))
