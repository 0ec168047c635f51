"""tessera backup and restore. On SQLite: a backup taken while a writer
loop pushes webhooks through nginx is one consistent moment (everything
acknowledged before it started is in it, nothing written after it ended,
and the writers were served meanwhile), private (0600), never overwrites
without --force; restore refuses what is not a sound Tessera database, a
data directory without the backup's pepper, and a database the service
has open; restored into a fresh data directory, the counts are the
backup's and the tokens authenticate. On PostgreSQL both say to use
pg_dump / pg_restore and exit non-zero."""

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import (BIN, NO_LIMITS, Tap, WebhookLoad, api_user, app_env,  # noqa: E402
                 data_env, engine, init_data, scratch, webhook_pipeline)


def cli(data, *args):
    p = subprocess.run([BIN] + list(args) + ["--data", data], capture_output=True,
                       timeout=120, env=data_env(data))
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def rids(path):
    """The rids of the records in the SQLite file at path."""
    import json
    c = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return {json.loads(r[0])["rid"] for r in c.execute("SELECT data FROM records")}
    finally:
        c.close()


def count(path, table):
    c = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return c.execute("SELECT count(*) FROM %s" % table).fetchone()[0]
    finally:
        c.close()


def on_postgresql(t, work, data):
    out = os.path.join(work, "b.db")
    rc, msg = cli(data, "backup", "--to", out)
    t.eq(rc, 1, "backup on PostgreSQL: exit status 1")
    t.has(msg, "pg_dump", "... and it says to use pg_dump")
    t.ok(not os.path.exists(out), "... and writes no file")
    rc, msg = cli(data, "restore", "--from", out)
    t.eq(rc, 1, "restore on PostgreSQL: exit status 1")
    t.has(msg, "pg_restore", "... and it says to use pg_restore")


def main():
    t = Tap()
    work = scratch("backup")
    data = init_data(os.path.join(work, "data"))
    if engine() == "postgresql":
        on_postgresql(t, work, data)
        return t.done()
    key, tok, auth = api_user(data)
    live_db = os.path.join(data, "tessera.db")
    out = os.path.join(work, "backups", "tessera-backup.db")
    os.makedirs(os.path.dirname(out))
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2,
                      env=app_env(data, **NO_LIMITS)) as app, \
            Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url
        pid = webhook_pipeline(base, auth)
        t.ok(pid is not None, "webhook pipeline created")
        load = WebhookLoad(base, auth, pid)
        time.sleep(1.0)
        # The backup of a moment between before and after.
        with load._lock:
            acked_before = set(load.acked)
        rc, msg = cli(data, "backup", "--to", out)
        with load._lock:
            acked_after = set(load.acked)
        time.sleep(0.5)
        load.stop()
        t.ok(rc == 0, "backup while webhooks are written", msg)
        t.has(msg, "pepper.key is not in it", "backup says the pepper is kept apart")
        saved = rids(out)
        live = rids(live_db)
        print("# webhooks: %d acked before the backup, %d when it ended, %d in it, "
              "%d in the end" % (len(acked_before), len(acked_after), len(saved), len(live)))
        t.ok(len(acked_before) > 20, "the writers were served before the backup")
        t.eq(sorted(acked_before - saved), [], "everything acknowledged before the "
             "backup began is in it")
        t.eq(sorted(saved - live), [], "nothing in the backup is unknown to the live "
             "database")
        t.ok(len(saved) < len(live), "writes went on after the backup (%d < %d)"
             % (len(saved), len(live)))
        t.ok(sum(load.failed.values()) == 0, "no webhook failed during the backup",
             dict(load.failed))
        t.eq(stat.S_IMODE(os.stat(out).st_mode), 0o600, "the backup is mode 0600")
        t.eq(sorted(f for f in os.listdir(os.path.dirname(out))),
             ["tessera-backup.db"], "no temporary file is left beside it")
        before = os.stat(out)
        rc, msg = cli(data, "backup", "--to", out)
        t.eq(rc, 1, "a second backup to the same file is refused")
        t.has(msg, "--force", "... and it names --force")
        t.eq((os.stat(out).st_ino, os.stat(out).st_mtime_ns),
             (before.st_ino, before.st_mtime_ns), "... and leaves the file alone")
        forced = os.path.join(work, "backups", "forced.db")
        with open(forced, "w") as f:
            f.write("old")
        rc, msg = cli(data, "backup", "--to", forced, "--force")
        t.eq(rc, 0, "backup --force replaces a file")
        t.eq(count(forced, "records"), len(live), "... with the database as it is now")
        odd = os.path.join(work, "backups", "odd?name#with%25.db")
        rc, msg = cli(data, "backup", "--to", odd)
        t.ok(rc == 0 and os.path.isfile(odd) and not os.path.exists(odd.split("?")[0]),
             "backup --to a name with ?, # and %: written under that very name", msg)
        t.eq(count(odd.replace("%", "%25").replace("?", "%3F").replace("#", "%23"),
                   "records"), len(live), "... and it holds the records")

        # --force never replaces the live database (or its WAL) itself,
        # by its own name or another.
        ino = os.stat(live_db).st_ino
        alias = os.path.join(work, "backups", "alias")
        os.symlink(data, alias)
        for target, what in ((live_db, "the live database"),
                             (os.path.join(alias, "tessera.db"),
                              "it through a link to its directory"),
                             (live_db + "-wal", "its WAL")):
            rc, msg = cli(data, "backup", "--to", target, "--force")
            t.eq(rc, 1, "backup --force to %s is refused" % what)
        t.has(msg, "live database", "... saying why")
        t.eq(os.stat(live_db).st_ino, ino, "... and the live database is the same file")
        os.unlink(alias)

        # Restore refuses the live data directory while it is served.
        size = os.path.getsize(live_db)
        rc, msg = cli(data, "restore", "--from", out)
        t.eq(rc, 1, "restore while the service has the database open is refused")
        t.has(msg, "open in another process", "... saying why")
        t.eq(len(rids(live_db)), len(live), "... and the live records are all there")
        t.ok(os.path.getsize(live_db) >= size, "... in the same file")
        st, _, _ = http("GET", base + "/api/me", auth)
        t.eq(st, 200, "the service still answers")

    # Restore into a fresh data directory.
    fresh = os.path.join(work, "fresh")
    os.makedirs(fresh, mode=0o700)
    rc, msg = cli(fresh, "restore", "--from", out)
    t.eq(rc, 1, "restore without the pepper is refused")
    t.has(msg, "pepper.key", "... naming pepper.key")
    other = init_data(os.path.join(work, "other"))
    rc, msg = cli(other, "restore", "--from", out)
    t.eq(rc, 1, "restore into a data directory with another pepper is refused")
    t.has(msg, "not the pepper", "... saying so")
    t.eq(count(os.path.join(other, "tessera.db"), "tokens"), 0,
         "... and the database there is unchanged")
    junk = os.path.join(work, "junk.db")
    with open(junk, "wb") as f:
        f.write(b"SQLite format 3\0" + os.urandom(8000))
    shutil.copy2(os.path.join(data, "pepper.key"), os.path.join(fresh, "pepper.key"))
    rc, msg = cli(fresh, "restore", "--from", junk)
    t.eq(rc, 1, "restore of a file that is no database is refused")
    notours = os.path.join(work, "notours.db")
    c = sqlite3.connect(notours)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    rc, msg = cli(fresh, "restore", "--from", notours)
    t.eq(rc, 1, "restore of an SQLite file that is not Tessera's is refused")
    t.has(msg, "not a Tessera database", "... saying so")
    broken = os.path.join(work, "broken.db")
    shutil.copy(out, broken)
    with open(broken, "r+b") as f:   # a b-tree page's header overwritten
        f.seek((os.path.getsize(broken) // 4096 // 2) * 4096)
        f.write(b"\x0d" + os.urandom(11))
    rc, msg = cli(fresh, "restore", "--from", broken)
    t.ok(rc == 1, "restore of a damaged backup is refused", msg)
    t.ok("integrity_check" in msg or "malformed" in msg, "... by SQLite's checks", msg)
    cut = os.path.join(work, "cut.db")
    with open(out, "rb") as f, open(cut, "wb") as g:
        g.write(f.read(os.path.getsize(out) // 2))
    rc, msg = cli(fresh, "restore", "--from", cut)
    t.ok(rc == 1, "restore of a backup cut in half is refused", msg)
    t.ok(not os.path.exists(os.path.join(fresh, "tessera.db")),
         "... and no database was made")
    rc, msg = cli(fresh, "restore", "--from", out)
    t.ok(rc == 0, "restore into a fresh data directory with the pepper", msg)
    restored = os.path.join(fresh, "tessera.db")
    t.eq(rids(restored), saved, "the restored records are the backup's, one for one")
    t.eq(count(restored, "tokens"), count(out, "tokens"), "the tokens are the backup's")
    t.eq(sorted(n for n in os.listdir(fresh) if n.startswith(".")), [],
         "no temporary file is left in the data directory")
    rc, msg = subprocess.run([BIN, "token", "check", "--data", fresh],
                             input=(tok + "\n").encode(), capture_output=True,
                             timeout=30).returncode, None
    t.eq(rc, 0, "token check --data says the token is live after the restore")
    sock2 = os.path.join(work, "app2", "tessera.sock")
    os.makedirs(os.path.dirname(sock2))
    with TesseraServe(os.path.join(work, "app2"), BIN, sock2, workers=1,
                      env=app_env(fresh)), \
            Nginx(os.path.join(work, "nginx2"), free_port(), sock2) as web:
        st, _, body = http("GET", web.base_url + "/api/me", auth)
        t.eq(st, 200, "the token authenticates against the restored database")
        t.has(body.decode(), key, "... as itself")
    # Restoring over a database no process has open replaces it; run as
    # root, the new file keeps the old one's owner (the service's user).
    if os.geteuid() == 0:
        os.chown(restored, 65534, 65534)
    rc, msg = cli(fresh, "restore", "--from", forced)
    t.eq(rc, 0, "restore over a stopped service's database")
    if os.geteuid() == 0:
        t.eq((os.stat(restored).st_uid, os.stat(restored).st_gid), (65534, 65534),
             "... and, run as root, it keeps the replaced database's owner")
    else:
        t.skip("... and, run as root, it keeps the replaced database's owner", "not root")
    t.eq(stat.S_IMODE(os.stat(restored).st_mode), 0o600, "... mode 0600")
    t.eq(count(restored, "records"), len(live), "... which is now the other backup")
    t.ok(not os.path.exists(restored + "-wal") or os.path.getsize(restored + "-wal") == 0,
         "... and no stale WAL is left beside it")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
