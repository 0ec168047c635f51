"""Read-only database: `tessera serve` runs as www-data (root ignores file
modes) on a data directory of www-data's; tessera.db is made 0444 and the
server restarted.  Writes (POST /api/sources, a webhook) must answer 503
UNAVAILABLE with the JSON envelope, reads (GET /api/me, GET /api/sources)
go on answering 200, and nothing in the database changes.  Then the mode
is put back, the server restarted, and writes work again.

What SQLite does here (WAL mode): the database is opened read-only, and
the -wal and -shm files it creates next to it get the database file's own
mode, 0444.  Reads work with them so.  They stay behind after the server
stops (a read-only connection cannot checkpoint and remove them), so
putting back the mode of tessera.db alone is checked too, in two rounds:
A with the writable -wal and -shm a stopped server leaves behind, B with
none at the start (after a checkpoint removed them)."""

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import stat
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import (WEB_USER, Nginx, ServerError, TesseraServe,  # noqa: E402
                     free_port, give_to_web_user, http)
from tap import (BIN, FIXTURES, REPO, Tap, add_user, app_env,  # noqa: E402
                 body_json, init_data, scratch, tessera)


class TesseraServeAs(TesseraServe):
    """TesseraServe run as another user through setpriv(1); its work
    directory (where the socket goes) is given to that user."""

    def __init__(self, *args, user=WEB_USER, reach=(), **kw):
        super().__init__(*args, **kw)
        self.user = user
        self.reach = list(reach)

    def _web_user_paths(self):
        return [self.workdir, self.tessera_bin] + self.reach

    def _prepare(self):
        argv, env = super()._prepare()
        os.makedirs(self.workdir, exist_ok=True)
        give_to_web_user(self.workdir)
        return ["setpriv", "--reuid=" + self.user, "--regid=" + self.user,
                "--clear-groups", "--"] + argv, env


def credentials(data, description):
    # tokens:write too: the read-only database must answer POST
    # /api/tokens with 503, not be stopped earlier by the scope.
    out = tessera(data, "token", "add", "--email", "ana@example.com",
                  "--description", description, "--scopes",
                  "objects:read,objects:write,pipelines:run,webhook:write,"
                  "records:read,tokens:read,tokens:write").stdout.decode()
    key = re.search(r"Token Key: (\S+)", out).group(1)
    tok = re.search(r"Token: +(\S+)", out).group(1)
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (key, tok)).encode()).decode(),
        "Content-Type": "application/json"}


def files(data):
    """name -> (octal mode, size) of the database's files."""
    out = {}
    for name in sorted(os.listdir(data)):
        if name.startswith("tessera.db"):
            st = os.stat(os.path.join(data, name))
            out[name] = ("%04o" % stat.S_IMODE(st.st_mode), st.st_size)
    return out


def snapshot(data):
    """A hash of tessera.db and its -wal, and some row counts, read from a
    copy of the two (root opening the real files would leave -shm or -wal
    files of its own, or checkpoint)."""
    h = hashlib.sha256()
    copy = tempfile.mkdtemp(prefix="snap-", dir=os.path.dirname(data))
    try:
        for name in ("tessera.db", "tessera.db-wal"):
            src = os.path.join(data, name)
            if os.path.exists(src):
                with open(src, "rb") as f:
                    blob = f.read()
                if not blob:
                    continue        # an empty -wal holds nothing
                h.update(name.encode() + b"\0" + blob)
                with open(os.path.join(copy, name), "wb") as f:
                    f.write(blob)
        db = sqlite3.connect(os.path.join(copy, "tessera.db"))
        try:
            counts = tuple(db.execute("SELECT count(*) FROM %s" % table)
                           .fetchone()[0] for table in
                           ("sources", "records", "tokens", "audit_log"))
        finally:
            db.close()
    finally:
        shutil.rmtree(copy)
    return h.hexdigest(), counts


def checkpoint_away(data):
    """Checkpoints the WAL into tessera.db; closing the last connection then
    removes the -wal and -shm (nothing else has the database open)."""
    db = sqlite3.connect(os.path.join(data, "tessera.db"))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def readonly_round(t, tag, data, start, req, before, fresh, pid):
    """tessera.db made 0444 and the server restarted: writes 503, reads 200,
    nothing changed; then the mode put back (tessera.db alone, then every
    file of the database) and writes work again."""
    dbfile = os.path.join(data, "tessera.db")
    os.chmod(dbfile, 0o444)
    snap0 = snapshot(data)
    app, why = start()
    t.ok(app is not None, "%s: the server starts on a read-only database"
         % tag, why)
    if app is None:
        os.chmod(dbfile, 0o600)
        return before
    print("# %s: read-only, serving: %s" % (tag, files(data)))
    writes = {
        "POST /api/sources": req("POST", "/api/sources",
                                 {"name": "another", "type": "webhook"}),
        "POST /webhook": req("POST", "/webhook?pipeline_id=%d" % pid,
                             [{"n": 3}]),
        "POST /api/tokens": req("POST", "/api/tokens",
                                {"description": "refused"}),
    }
    for what, (st, doc) in writes.items():
        t.ok(st == 503 and isinstance(doc, dict) and
             doc.get("success") is False and doc.get("error") == "UNAVAILABLE",
             "%s: read-only: %s answers 503 UNAVAILABLE (JSON envelope)"
             % (tag, what), "got %s %r" % (st, doc))
    st, _ = req("GET", "/api/me")
    t.eq(st, 200, "%s: read-only: GET /api/me answers 200" % tag)
    st, after = req("GET", "/api/sources")
    t.eq(st, 200, "%s: read-only: GET /api/sources answers 200" % tag)
    t.eq(after, before, "%s: read-only: the same sources as before" % tag)
    st, _ = req("GET", "/api/me", who=fresh)
    t.eq(st, 200, "%s: read-only: a token whose last-use write is refused "
         "still reads: GET /api/me 200" % tag)
    st, _ = req("GET", "/healthz")
    t.eq(st, 200, "%s: read-only: /healthz answers 200" % tag)
    app.stop()
    snap1 = snapshot(data)
    left = files(data)
    print("# %s: read-only, after stop: %s" % (tag, left))
    print("# %s: database + WAL sha256 %s..., rows (sources, records, tokens, "
          "audit_log) %s" % (tag, snap0[0][:16], snap0[1]))
    t.eq(snap1, snap0, "%s: nothing in the database changed" % tag)

    # The mode of tessera.db put back, and only it.
    os.chmod(dbfile, 0o600)
    app, why = start()
    t.ok(app is not None, "%s: mode of tessera.db put back: the server "
         "starts" % tag, (why or "") + "\nfiles then: %s" % files(data))
    if app is not None:
        st, _ = req("POST", "/api/sources", {"name": "back " + tag,
                                             "type": "webhook"})
        t.eq(st, 201, "%s: mode of tessera.db put back: POST /api/sources "
             "201" % tag)
        app.stop()

    # Every file of the database writable: writes work.
    for name in files(data):
        os.chmod(os.path.join(data, name), 0o600)
    app, why = start()
    t.ok(app is not None, "%s: -wal and -shm writable too: the server starts"
         % tag, why)
    if app is None:
        return before
    st1, _ = req("POST", "/api/sources", {"name": "writable " + tag,
                                          "type": "webhook"})
    st2, _ = req("POST", "/webhook?pipeline_id=%d" % pid, [{"n": 4}])
    t.eq((st1, st2), (201, 200), "%s: writable again: POST /api/sources "
         "201, webhook 200" % tag)
    st, now = req("GET", "/api/sources")
    app.stop()
    print("# %s: writable again, after stop: %s" % (tag, files(data)))
    return now


def main():
    t = Tap()
    if os.geteuid() != 0:
        t.skip("read-only database", "needs root (to run the server as %s)"
               % WEB_USER)
        return t.done()
    work = scratch("hard-readonly")
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", "correct horse battery", role="admin")
    auth = credentials(data, "writer")
    fresh = credentials(data, "never used before the database is read-only")
    give_to_web_user(data)      # everything the CLI wrote, as root, first
    # One socket path for every run (nginx keeps pointing at it), in a
    # directory www-data may create it in.
    sock = os.path.join(work, "sock", "tessera.sock")
    os.makedirs(os.path.dirname(sock), mode=0o755)
    give_to_web_user(os.path.dirname(sock))
    env = app_env(data, TESSERA_RATE_LIMIT_WEBHOOK_KEY=0,
                  TESSERA_RATE_LIMIT_WEBHOOK_RECORDS=0,
                  TESSERA_RATE_LIMIT_WEBHOOK_IP=0, TESSERA_RATE_LIMIT_API_KEY=0,
                  TESSERA_RATE_LIMIT_API_IP=0)
    reach = [data, FIXTURES, os.path.join(REPO, "lua"),
             os.path.join(REPO, "schema")]
    runs = [0]

    def server():
        runs[0] += 1
        return TesseraServeAs(os.path.join(work, "app%d" % runs[0]), BIN, sock,
                              workers=2, env=env, reach=reach)

    def start():
        app = server()
        try:
            return app.start(), None
        except ServerError as e:
            return None, str(e)

    with Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url

        def req(method, path, doc=None, who=None):
            s, _, b = http(method, base + path, who or auth,
                           None if doc is None else json.dumps(doc), timeout=15)
            return s, body_json(b)

        # 1. Writable: a webhook pipeline and one delivery.
        app, why = start()
        t.ok(app is not None, "tessera serve runs as %s" % WEB_USER, why)
        if app is None:
            return t.done()
        s1, src = req("POST", "/api/sources", {"name": "hook", "type": "webhook"})
        s2, dst = req("POST", "/api/destinations", {"name": "lake", "type": "s3"})
        s3, pl = req("POST", "/api/pipelines", {
            "name": "p", "type": "webhook", "source_id": src["data"]["id"],
            "destination_id": dst["data"]["id"]})
        pid = pl["data"]["id"]
        s4, _ = req("POST", "/webhook?pipeline_id=%d" % pid, [{"n": 1}, {"n": 2}])
        t.eq((s1, s2, s3, s4), (201, 201, 201, 200),
             "writable: pipeline created, webhook stored")
        s5, before = req("GET", "/api/sources")
        t.eq(s5, 200, "writable: GET /api/sources")

        app.stop()
        print("# after a clean stop: %s" % files(data))

        # A: tessera.db read-only while the -wal and -shm a stopped server
        # leaves behind stay writable.
        before = readonly_round(t, "A", data, start, req, before, fresh, pid)
        # B: the same with no -wal or -shm at the start (as after a
        # checkpoint that removed them, or a database only the CLI used).
        checkpoint_away(data)
        print("# B: checkpointed, files now: %s" % files(data))
        readonly_round(t, "B", data, start, req, before, fresh, pid)
    return t.done()


if __name__ == "__main__":
    # A runner's timeout (SIGTERM) still stops the servers, by the with-blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
