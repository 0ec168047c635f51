"""The PostgreSQL engine, end to end: a real PostgreSQL 15 (tests/http/pg.py,
a unix socket only), `tessera init`, the command line, and `tessera serve`
behind nginx with `database = postgresql://...`: the API, tokens made and
switched off through the API, webhooks stored, the login page, failed
logins counted, and 503 (never 500) once the database is gone."""

import base64
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import Client  # noqa: E402
from pg import Postgres  # noqa: E402
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import BIN, NO_LIMITS, REPO, Tap, app_env, scratch, webhook_pipeline  # noqa: E402

PW = "correct horse battery"


def cli(env, data, *args, stdin=""):
    return subprocess.run([BIN] + list(args[:2]) + ["--data", data] + list(args[2:]),
                          env=env, input=stdin, capture_output=True, text=True, timeout=60)


def basic(key, tok):
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (key, tok)).encode()).decode(), "Content-Type": "application/json"}


def made(out):
    key = re.search(r"Token Key: (\S+)", out)
    tok = re.search(r"Token: +(\S+)", out)
    return (key.group(1), tok.group(1)) if key and tok else (None, None)


def main():
    t = Tap()
    work = scratch("pg_engine")
    with Postgres(os.path.join(work, "pg")) as pg:
        uri = pg.createdb("tessera") or pg.uri("tessera")
        data = os.path.join(work, "data")
        env = dict(os.environ, TESSERA_DATABASE=uri)

        r = subprocess.run([BIN, "init", "--data", data], env=env,
                           capture_output=True, text=True, timeout=60)
        t.eq(r.returncode, 0, "tessera init against PostgreSQL")
        t.has(r.stderr, "applied migration pg/001_init.sql", "init applied the PostgreSQL migrations")
        t.ok(not os.path.exists(os.path.join(data, "tessera.db")),
             "no SQLite file was made beside it")
        files = sorted(f for f in os.listdir(os.path.join(REPO, "schema", "pg"))
                       if re.fullmatch(r"\d{3}_\w+\.sql", f))
        versions = pg.psql("tessera", "SELECT version FROM schema_migrations ORDER BY 1")
        t.eq(versions.split(), [str(int(f[:3])) for f in files],
             "schema_migrations has each file of schema/pg (%d)" % len(files))
        r = subprocess.run([BIN, "init", "--data", data], env=env,
                           capture_output=True, text=True, timeout=60)
        t.ok(r.returncode == 0 and "applied migration" not in r.stderr,
             "a second init applies nothing", r.stderr)
        r = subprocess.run([BIN, "migrate", "--data", data], env=env,
                           capture_output=True, text=True, timeout=60)
        t.eq((r.returncode, r.stdout.strip()),
             (0, "schema version %d (postgresql)" % int(files[-1][:3])),
             "tessera migrate says the version, on PostgreSQL")

        r = cli(env, data, "user", "add", "--email", "ana@example.com", "--role", "admin",
                "--account", "Acme", stdin=PW + "\n")
        t.eq(r.returncode, 0, "tessera user add")
        t.eq(pg.psql("tessera", "SELECT email, role FROM users").strip(),
             "ana@example.com|admin", "the user is a row in PostgreSQL")
        r = cli(env, data, "token", "add", "--email", "ana@example.com", "--description",
                "pg client", "--scopes", "tokens:read,tokens:write,objects:read,"
                "objects:write,webhook:write,records:read")
        key, tok = made(r.stdout)
        t.ok(key and tok, "tessera token add shows a key and a secret", r.stderr)
        stored = pg.psql("tessera", "SELECT encode(secret_hash, 'hex') FROM tokens")
        t.ok(len(stored.strip()) == 64 and tok not in stored,
             "only a 32-byte hash of the secret is stored")
        auth = basic(key, tok)

        sock = os.path.join(work, "app", "tessera.sock")
        os.makedirs(os.path.dirname(sock))
        aenv = app_env(data, **NO_LIMITS)
        aenv["TESSERA_DATABASE"] = uri
        with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2, env=aenv) as app, \
                Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
            base = web.base_url
            served(t, pg, base, auth, key)
            pages(t, pg, base)
            pg.stop()
            s, _, body = http("GET", base + "/api/me", auth)
            t.eq(s, 503, "database gone: /api/me answers 503, not 500")
            t.has(body, b"UNAVAILABLE", "... with the UNAVAILABLE envelope")
            s, _, _ = http("GET", base + "/login")
            t.eq(s, 200, "the login page (no database needed) still answers")
            # The same server back: each worker finds its connection ended
            # before it uses it, and connects again, so even the first
            # answers after the restart are 200s (nothing served by a
            # worker that still thought its old connection fine).
            pg.start()
            logins = burst_of_logins(base, 8)
            t.eq(logins, [303] * 8, "database back: eight logins at once (both workers, one "
                 "of them idle through the outage) all succeed, the first ones too")
            after = [http("GET", base + "/api/me", auth)[0] for _ in range(4)]
            t.eq(after, [200] * 4, "... and the API answers 200 again")
            time.sleep(0.2)
            with open(app.log_path, errors="replace") as f:
                log = f.read()
            t.ok(tok not in log and "password" not in log.lower().replace(
                "password_hash", ""), "the log holds no secret and no password")
    return t.done()


def burst_of_logins(base, n):
    """n logins at the same moment, each its own client; their statuses."""
    import threading
    clients = [Client(base) for _ in range(n)]
    for c in clients:
        c.get("/login")
    out, go = [None] * n, threading.Barrier(n)

    def one(i):
        go.wait()
        out[i] = clients[i].post("/login", {"email": "ana@example.com", "password": PW,
                                            "csrf": clients[i].csrf()})[0]
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out


def served(t, pg, base, auth, key):
    s, _, body = http("GET", base + "/api/me", auth)
    doc = json.loads(body) if s == 200 else {}
    t.eq(s, 200, "GET /api/me through nginx, on PostgreSQL")
    t.eq((doc.get("data") or {}).get("user", {}).get("email"), "ana@example.com",
         "... answers for the token's user")
    bad = dict(auth)
    bad["Authorization"] = "Basic " + base64.b64encode(
        ("%s:%s" % (key, "tsr_" + "A" * 49)).encode()).decode()
    t.eq(http("GET", base + "/api/me", bad)[0], 401, "a wrong secret is 401")

    s, _, body = http("POST", base + "/api/tokens", auth,
                      json.dumps({"description": "made by the API", "scopes": ["objects:read"]}))
    child = json.loads(body).get("data", {}) if s == 201 else {}
    t.eq(s, 201, "POST /api/tokens makes a token")
    ckey, ctok = child.get("key"), child.get("token")
    t.ok(ckey and ctok, "... with its key and secret once")
    cauth = basic(ckey or "", ctok or "")
    t.eq(http("GET", base + "/api/me", cauth)[0], 200, "the new token works")
    t.eq(pg.psql("tessera", "SELECT p.key FROM tokens t JOIN tokens p ON p.id = t.parent_id "
                 "WHERE t.key = '%s'" % ckey).strip(), key, "its parent is recorded")
    s, _, body = http("GET", base + "/api/tokens", auth)
    keys = [x.get("key") for x in json.loads(body).get("data", [])] if s == 200 else []
    t.ok(s == 200 and key in keys and ckey in keys, "GET /api/tokens lists both", keys)
    t.eq(http("GET", base + "/api/sources", cauth)[0], 200, "objects:read is enough to list")
    t.eq(http("POST", base + "/api/sources", cauth, json.dumps({"name": "x", "type": "csv"}))[0],
         403, "... but not to create")
    s, _, _ = http("POST", base + "/api/tokens/%s/deactivate" % ckey, auth)
    t.eq(s, 200, "the parent switches the new token off")
    t.eq(http("GET", base + "/api/me", cauth)[0], 401, "it is refused on the very next request")

    pid = webhook_pipeline(base, auth)
    t.ok(pid is not None, "a webhook pipeline (source, destination, pipeline) is created")
    codes = [http("POST", base + "/webhook?pipeline_id=%s" % pid, auth,
                  json.dumps([{"n": i, "s": "é"}, {"n": i + 100}]))[0] for i in range(3)]
    t.eq(codes, [200, 200, 200], "three webhook deliveries are acknowledged")
    t.eq(pg.psql("tessera", "SELECT count(*) FROM records WHERE pipeline_id = %s" % pid).strip(),
         "6", "their six records are rows in PostgreSQL")
    s, _, body = http("GET", base + "/api/pipelines/%s/records" % pid, auth)
    recs = json.loads(body).get("data", []) if s == 200 else []
    t.eq(len(recs), 6, "GET .../records gives them back")
    t.ok(any(r.get("data", {}).get("s") == "é" for r in recs if isinstance(r.get("data"), dict)),
         "non-ASCII text round-trips", recs[:2])
    t.eq(pg.psql("tessera", "SELECT sum(webhooks), sum(records) FROM token_usage u "
                 "JOIN tokens t ON t.id = u.token_id WHERE t.key = '%s'" % key).strip(),
         "3|6", "the token's counters add up")


def pages(t, pg, base):
    c = Client(base)
    c.get("/login")
    s, _, _ = c.post("/login", {"email": "ana@example.com", "password": "wrong one",
                                "csrf": c.csrf()})
    t.eq(s, 401, "a wrong password is refused")
    t.ok(int(pg.psql("tessera", "SELECT count(*) FROM login_failures").strip() or 0) >= 1,
         "the failure is counted in PostgreSQL")
    c.get("/login")
    s, h, _ = c.post("/login", {"email": "ana@example.com", "password": PW, "csrf": c.csrf()})
    t.eq(s, 303, "the right password logs in")
    s, _, page = c.get("/settings/tokens")
    t.ok(s == 200 and b"pg client" in page, "the tokens page lists the token", s)
    t.eq(pg.psql("tessera", "SELECT count(*) FROM sessions").strip(), "1",
         "the session is a row in PostgreSQL")
    s, _, _ = c.post("/logout", {"csrf": c.csrf()})
    t.eq(s, 303, "logout")
    t.eq(pg.psql("tessera", "SELECT count(*) FROM sessions").strip(), "0",
         "... deletes the session")


if __name__ == "__main__":
    sys.exit(main())
