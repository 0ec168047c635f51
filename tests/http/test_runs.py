"""Pipelines that run, and the Via destination (HTTP.md), end to end through
nginx and `tessera serve` with its runner: webhook -> run -> rows in the Via
table -> a Via token reads them (JSON and CSV, paged) -> a model over them
runs -> the model's table is readable; the platform's status words at every
stage; the runs list. Exactly once: the runner killed (-9) in the middle of
a run, and every record is in the table once after its restart. Isolation:
another account's Via token, a model's SQL naming another account's table,
sqlite_master, ATTACH, load_extension or two statements, a transform trying
io or os, all refused. Budgets: a kind that never ends is stopped."""

import csv
import io
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import PW, Api, Db, cli_token, dig, is_failure  # noqa: E402
from servers import Nginx, TesseraServe, free_port  # noqa: E402
from tap import (BIN, NO_LIMITS, REPO, Tap, add_user, app_env, children,  # noqa: E402
                 init_data, scratch, wait_for)
import openapi_check  # noqa: E402

WAIT = 30       # seconds a run may take on a loaded machine


def start(work, data):
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock), exist_ok=True)
    env = dict(NO_LIMITS, TESSERA_RUN_POLL_MS=100, TESSERA_RUN_LEASE_SECONDS=3,
               TESSERA_RUN_BATCH_RECORDS=10, TESSERA_MODEL_MAX_STEPS=2000,
               TESSERA_RUN_MAX_INSTRUCTIONS=20000000,
               TESSERA_RUN_MEMORY_MB=32)
    app = TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2,
                       env=app_env(data, **env))
    web = Nginx(os.path.join(work, "nginx"), free_port(), sock)
    return app, web


class World:
    def __init__(self, t, api, db, data):
        self.t, self.api, self.db, self.data = t, api, db, data

    def make(self, auth, kind, body):
        s, h, b, doc = self.api.post("/api/" + kind, auth, body)
        if s != 201:
            raise RuntimeError("POST /api/%s: %s %r" % (kind, s, b))
        return doc["data"]

    def hook(self, auth, pid, records):
        s, h, b, doc = self.api.post("/webhook?pipeline_id=%d" % pid, auth, records)
        if s != 200:
            raise RuntimeError("webhook: %s %r" % (s, b))
        return doc["records"]

    def status(self, auth, pid):
        s, h, b, doc = self.api.get("/api/pipelines/%d/status" % pid, auth)
        return doc[str(pid)] if s == 200 else None

    def runs(self, auth, path):
        s, h, b, doc = self.api.get(path, auth)
        return doc["data"] if s == 200 else None

    def finished(self, auth, path, n=1):
        """Waits until the newest of path's runs (at least n of them) is
        finished; returns it."""
        got = []

        def done():
            got[:] = self.runs(auth, path) or []
            return len(got) >= n and got[0]["status"] in ("success", "failed")
        wait_for(done, WAIT, 0.1)
        return got[0] if got else None


def pipeline_end_to_end(t, w, ana, zed):
    src = w.make(ana.basic, "sources", {"name": "Orders hook", "type": "webhook"})
    dst = w.make(ana.basic, "destinations", {"name": "Warehouse", "type": "via"})
    via = dst["via_token"]
    via_auth = {"Authorization": "Basic " + __import__("base64").b64encode(
        ("%s:%s" % (via["key"], via["token"])).encode()).decode()}
    pl = w.make(ana.basic, "pipelines", {"name": "Orders", "type": "standard",
                                        "source_id": src["id"],
                                        "destination_id": dst["id"]})
    pid = pl["id"]
    t.eq(w.status(ana.basic, pid), {"status": "active", "is_running": False,
                                    "is_active": True, "is_blocked": False, "raw_msg": ""},
         "a new pipeline: active, not running")
    t.eq(w.runs(ana.basic, "/api/pipelines/%d/runs" % pid), [], "no runs yet")
    recs = [{"order": 1, "kind": "book", "price": 12.5, "tags": ["a"], "paid": True},
            {"order": 2, "kind": "pen", "price": 2, "paid": False, "note": None},
            {"order": 3, "kind": "book", "price": 30, "paid": True,
             "address": {"city": "Lisbon"}}]
    t.eq(w.hook(ana.basic, pid, recs), 3, "the webhook stores 3 records")
    t.eq(w.db.val("SELECT count(*) FROM via_rows"), 0, "nothing moves before a run")
    s, h, b, doc = w.api.post("/api/pipelines/%d/run" % pid, ana.basic)
    t.eq((s, doc), (200, {"success": True}), "POST run -> 200 {success: true}")
    st = w.status(ana.basic, pid)
    t.ok(st and st["status"] in ("scheduled", "running", "active"),
         "right after the request: scheduled (or already running/done)", st)
    run = w.finished(ana.basic, "/api/pipelines/%d/runs" % pid)
    t.ok(run and run["status"] == "success" and run["records"] == 3 and
         run["message"] == "moved 3 records to pipeline_%d" % pid,
         "the run succeeds, 3 records moved", run)
    t.ok(run and run["queued_at"] and run["started_at"] and run["finished_at"] and
         run["queued_at"] <= run["started_at"] <= run["finished_at"],
         "... queued_at <= started_at <= finished_at, ISO 8601", run)
    t.eq(set(run or {}), {"id", "status", "queued_at", "started_at", "finished_at",
                          "records", "message"}, "a run has exactly HTTP.md's fields")
    t.eq(w.status(ana.basic, pid), {"status": "active", "is_running": False,
                                    "is_active": True, "is_blocked": False, "raw_msg": ""},
         "after a success: active, not running")

    # The Via token reads its destination's tables.
    s, h, b, doc = w.api.get("/api/via/tables", via_auth)
    tables = dig(doc, "data") or []
    t.eq([(x["name"], x["rows"]) for x in tables], [("pipeline_%d" % pid, 3)],
         "GET /api/via/tables: pipeline_{id} with 3 rows")
    cols = {c["name"]: c["type"] for c in (tables[0]["columns"] if tables else [])}
    t.eq(cols, {"_record_id": "integer", "_received_at": "text", "address": "json",
                "kind": "text", "note": "null", "order": "integer", "paid": "boolean",
                "price": "real", "tags": "json"},
         "... one column per top-level field, typed, plus _record_id and _received_at")
    name = "pipeline_%d" % pid
    s, h, b, doc = w.api.get("/api/via/tables/%s?limit=2" % name, via_auth)
    page1 = dig(doc, "data", "rows") or []
    t.ok(s == 200 and len(page1) == 2 and dig(doc, "data", "next"),
         "a page of 2 rows and a next cursor", b)
    s, h, b, doc = w.api.get("/api/via/tables/%s?limit=2&after=%s" % (
        name, dig(doc, "data", "next")), via_auth)
    page2 = dig(doc, "data", "rows") or []
    t.ok(len(page2) == 1 and dig(doc, "data", "next") is None, "the last page: next null", b)
    got = page1 + page2
    t.eq([{k: v for k, v in r.items() if not k.startswith("_")} for r in got], recs,
         "the rows are the records, as sent")
    want_ids = [x[0] for x in w.db.all(
        "SELECT id FROM records WHERE pipeline_id = ? ORDER BY id", pid)]
    t.eq([r["_record_id"] for r in got], want_ids, "... each with its record's id")
    s, h, b = w.api.call("GET", "/api/via/tables/%s?limit=2" % name, via_auth,
                         headers={"Accept": "text/csv"})[:3]
    rows = list(csv.reader(io.StringIO(b.decode())))
    t.ok(s == 200 and h.get("Content-Type", "").startswith("text/csv") and
         rows[0] == [c["name"] for c in tables[0]["columns"]] and len(rows) == 3,
         "Accept: text/csv -> a header row and 2 rows", b)
    t.ok('rel="next"' in (h.get("Link") or "") and "after=" in h.get("Link", ""),
         "... the next page in a Link header", h)
    row = dict(zip(rows[0], rows[1])) if len(rows) > 1 else {}
    t.eq((row.get("order"), row.get("price"), row.get("tags"), row.get("paid")),
         ("1", "12.5", '["a"]', "true"), "... values as text, nested ones as JSON")

    # Who may not read it.
    s, h, b, doc = w.api.get("/api/via/tables", ana.basic)
    t.eq(s, 403, "a user token (no via:read) -> 403")
    zdst = w.make(zed.basic, "destinations", {"name": "Zed's", "type": "via"})
    zv = zdst["via_token"]
    zauth = {"Authorization": "Basic " + __import__("base64").b64encode(
        ("%s:%s" % (zv["key"], zv["token"])).encode()).decode()}
    s, h, b, doc = w.api.get("/api/via/tables", zauth)
    t.eq((s, dig(doc, "data")), (200, []), "another account's Via token sees no tables")
    s, h, b, doc = w.api.get("/api/via/tables/%s" % name, zauth)
    t.ok(s == 404 and is_failure(doc, "NOT_FOUND"),
         "... and gets 404 for this account's table", b)
    dst2 = w.make(ana.basic, "destinations", {"name": "Second", "type": "via"})
    v2 = dst2["via_token"]
    v2auth = {"Authorization": "Basic " + __import__("base64").b64encode(
        ("%s:%s" % (v2["key"], v2["token"])).encode()).decode()}
    s, h, b, doc = w.api.get("/api/via/tables/%s" % name, v2auth)
    t.eq(s, 404, "the same account's other destination's Via token -> 404")
    s, h, b, doc = w.api.get("/api/via/tables/%s?limit=0" % name, via_auth)
    t.ok(s == 400 and is_failure(doc, "INVALID_REQUEST"), "limit=0 -> 400")

    # A second run moves only what came since.
    w.hook(ana.basic, pid, [{"order": 4, "kind": "pen"}])
    w.api.post("/api/pipelines/%d/run" % pid, ana.basic)
    run = w.finished(ana.basic, "/api/pipelines/%d/runs" % pid, 2)
    t.ok(run and run["status"] == "success" and run["records"] == 1,
         "a second run moves only the new record", run)
    t.eq(w.db.val("SELECT row_count FROM via_tables WHERE name = ?", name), 4,
         "the table has 4 rows, none twice")
    return {"dst": dst, "via_auth": via_auth, "pid": pid, "zed_dst": zdst, "src": src}


def models(t, w, ana, zed, ctx):
    dst, via_auth = ctx["dst"], ctx["via_auth"]
    table = "pipeline_%d" % ctx["pid"]
    m = w.make(ana.basic, "models", {
        "name": "Books", "type": "sql", "destination_id": dst["id"],
        "sql": "SELECT kind, count(*) AS n, sum(price) AS total FROM %s "
               "GROUP BY kind ORDER BY kind" % table})
    s, h, b, doc = w.api.post("/api/models/%d/run" % m["id"], ana.basic)
    t.eq((s, doc), (200, {"success": True}), "POST /api/models/{id}/run -> 200")
    run = w.finished(ana.basic, "/api/models/%d/runs" % m["id"])
    t.ok(run and run["status"] == "success" and run["records"] == 2,
         "the model's run succeeds with 2 rows", run)
    s, h, b, doc = w.api.get("/api/via/tables/model_%d" % m["id"], via_auth)
    t.eq(dig(doc, "data", "rows"), [{"kind": "book", "n": 2, "total": 42.5},
                                    {"kind": "pen", "n": 2, "total": 2}],
         "the model's table is readable by the Via token")
    w.api.post("/api/models/%d/run" % m["id"], ana.basic)
    run = w.finished(ana.basic, "/api/models/%d/runs" % m["id"], 2)
    s, h, b, doc = w.api.get("/api/via/tables", via_auth)
    t.ok(run and run["status"] == "success" and
         sorted(x["name"] for x in dig(doc, "data") or []) ==
         sorted([table, "model_%d" % m["id"]]) and
         [x["rows"] for x in dig(doc, "data") if x["name"] == "model_%d" % m["id"]] == [2],
         "run again: the new result replaced the old (built aside, swapped in), no "
         "table left over", (run, doc))
    # Refused SQL: each run fails with the database's reason.
    ztable = "pipeline_%d" % 999999
    zsrc = w.make(zed.basic, "sources", {"name": "z", "type": "webhook"})
    zpl = w.make(zed.basic, "pipelines", {"name": "z", "type": "standard",
                                         "source_id": zsrc["id"],
                                         "destination_id": ctx["zed_dst"]["id"]})
    w.hook(zed.basic, zpl["id"], [{"secret": "zed's"}])
    w.api.post("/api/pipelines/%d/run" % zpl["id"], zed.basic)
    zrun = w.finished(zed.basic, "/api/pipelines/%d/runs" % zpl["id"])
    t.ok(zrun and zrun["status"] == "success", "the other account's pipeline ran", zrun)
    ztable = "pipeline_%d" % zpl["id"]
    for label, sql, why in (
            ("another account's table", "SELECT * FROM %s" % ztable, "no such table"),
            ("sqlite_master", "SELECT name FROM sqlite_master", "sqlite_master"),
            ("sqlite_schema", "SELECT sql FROM sqlite_schema", "sqlite_master"),
            ("ATTACH", "ATTACH DATABASE '/tmp/x.db' AS x", ""),
            ("load_extension", "SELECT load_extension('/tmp/x')", "not authorized"),
            ("PRAGMA", "PRAGMA table_info(%s)" % table, ""),
            ("two statements", "SELECT 1; SELECT 2", "exactly one SELECT"),
            ("a write", "DELETE FROM %s" % table, ""),
            ("an endless query", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
             "SELECT x + 1 FROM c) SELECT count(*) FROM c", "budget")):
        s, h, b, doc = w.api.put("/api/models/%d" % m["id"], ana.basic, {
            "name": "Bad", "config": {}, "destination_id": dst["id"], "sql": sql})
        w.api.post("/api/models/%d/run" % m["id"], ana.basic)
        n = len(w.runs(ana.basic, "/api/models/%d/runs" % m["id"]) or [])
        run = w.finished(ana.basic, "/api/models/%d/runs" % m["id"], n)
        t.ok(s == 200 and run and run["status"] == "failed" and why in run["message"]
             and run["message"],
             "a model's SQL naming %s: the run fails (%s)" % (label, run and run["message"]),
             run)
    s, h, b, doc = w.api.get("/api/via/tables/model_%d" % m["id"], via_auth)
    t.eq(len(dig(doc, "data", "rows") or []), 2, "... and the model's last good table stays")
    t.eq(w.db.val("SELECT count(*) FROM via_rows r JOIN via_tables v ON v.id = r.table_id "
                  "WHERE v.name = ?", table), 4, "... and nothing was written to its source")


def transforms(t, w, ana, ctx):
    dst, src, via_auth = ctx["dst"], ctx["src"], ctx["via_auth"]

    def pipeline(name, transform):
        return w.make(ana.basic, "pipelines", {
            "name": name, "type": "standard", "source_id": src["id"],
            "destination_id": dst["id"], "config": {"transform": transform}})["id"]

    p = pipeline("flat", "flatten")
    w.hook(ana.basic, p, [{"a": {"b": 1, "c": {"d": "x"}}, "e": [1, 2]}])
    w.api.post("/api/pipelines/%d/run" % p, ana.basic)
    run = w.finished(ana.basic, "/api/pipelines/%d/runs" % p)
    s, h, b, doc = w.api.get("/api/via/tables/pipeline_%d" % p, via_auth)
    row = (dig(doc, "data", "rows") or [{}])[0]
    t.ok(run and run["status"] == "success" and row.get("a_b") == 1 and
         row.get("a_c_d") == "x" and row.get("e") == [1, 2] and "a" not in row,
         "the flatten transform: nested fields become a_b, a_c_d", row)

    p = pipeline("odd", "drop_odd")
    w.hook(ana.basic, p, [{"n": i} for i in range(1, 7)])
    w.api.post("/api/pipelines/%d/run" % p, ana.basic)
    run = w.finished(ana.basic, "/api/pipelines/%d/runs" % p)
    s, h, b, doc = w.api.get("/api/via/tables/pipeline_%d" % p, via_auth)
    t.ok(run and run["records"] == 3 and "3 dropped" in run["message"] and
         [r["number"] for r in dig(doc, "data", "rows") or []] == [2, 4, 6],
         "a transform that drops records: 3 of 6 kept, the run says so", (run, b))

    for name, lib in (("evil_io", "io"), ("evil_os", "os")):
        p = pipeline(name, name)
        w.hook(ana.basic, p, [{"x": 1}])
        for n in (1, 2, 3):
            w.api.post("/api/pipelines/%d/run" % p, ana.basic)
            run = w.finished(ana.basic, "/api/pipelines/%d/runs" % p, n)
            if n == 1:
                st = w.status(ana.basic, p)
                t.ok(run and run["status"] == "failed" and
                     "undeclared global '%s'" % lib in run["message"] and
                     REPO not in run["message"] and REPO not in st["raw_msg"] and
                     st["status"] == "error_building_tables" and st["raw_msg"] and
                     not st["is_blocked"],
                     "a transform using %s: the run fails, error_building_tables with "
                     "raw_msg, naming no server path" % lib, (run, st))
        st = w.status(ana.basic, p)
        t.ok(st["status"] == "too_many_consecutive_failed_builds" and st["is_blocked"],
             "... three failures in a row: too_many_consecutive_failed_builds, blocked", st)
        t.eq(w.db.val("SELECT count(*) FROM via_tables WHERE name = ?", "pipeline_%d" % p),
             0, "... and nothing was written")
    t.ok(not os.path.exists("/tmp/tessera-evil-os"), "os.execute ran nothing")

    p = pipeline("wide", None)
    w.hook(ana.basic, p, [dict(("f%04d" % i, i) for i in range(1001))])
    w.api.post("/api/pipelines/%d/run" % p, ana.basic)
    run = w.finished(ana.basic, "/api/pipelines/%d/runs" % p)
    t.ok(run and run["status"] == "failed" and "more than 1000 columns" in run["message"],
         "a record of 1001 fields: the run fails (a table has at most 1000 columns)", run)

    p = pipeline("off", None)
    w.hook(ana.basic, p, [{"x": 1}])
    w.db.run("UPDATE pipelines SET active = 0 WHERE id = ?", p)
    w.api.post("/api/pipelines/%d/run" % p, ana.basic)
    run = w.finished(ana.basic, "/api/pipelines/%d/runs" % p)
    t.ok(run and run["status"] == "failed" and run["message"] == "the pipeline is not active",
         "a switched-off pipeline's run fails, saying so", run)

    p = pipeline("nope", "no_such_transform")
    w.hook(ana.basic, p, [{"x": 1}])
    w.api.post("/api/pipelines/%d/run" % p, ana.basic)
    run = w.finished(ana.basic, "/api/pipelines/%d/runs" % p)
    t.ok(run and run["status"] == "failed" and "no transform 'no_such_transform'" in
         run["message"] and REPO not in run["message"],
         "an unknown transform: the run fails naming it (and no server path)", run)

    def run_kind(kind):
        """A pipeline of the fixture kind lua/pipelines/{kind}.lua, run."""
        pid = w.make(ana.basic, "pipelines", {"name": kind, "type": kind,
                                             "source_id": src["id"],
                                             "destination_id": dst["id"]})["id"]
        w.api.post("/api/pipelines/%d/run" % pid, ana.basic)
        return pid, w.finished(ana.basic, "/api/pipelines/%d/runs" % pid)

    spin, run = run_kind("spin")
    t.ok(run and run["status"] == "failed" and "instruction limit" in run["message"],
         "a kind that never ends: its instruction budget stops it, the run fails", run)
    t.ok(w.status(ana.basic, spin)["status"] == "error_building_tables",
         "... and the pipeline says error_building_tables")
    hog, run = run_kind("hog")
    t.ok(run and run["status"] == "failed" and "memory" in run["message"],
         "a kind that keeps allocating: its memory budget stops it, the run fails", run)
    s, h, b, doc = w.api.get("/api/me", ana.basic)
    t.eq(s, 200, "... and the service goes on answering")


def exactly_once(t, w, app, ana, ctx):
    """kill -9 of the runner in the middle of a run: after the respawn and
    the lease, the run goes on from the last batch committed; every record
    is in the table exactly once."""
    dst, src = ctx["dst"], ctx["src"]
    p = w.make(ana.basic, "pipelines", {"name": "big", "type": "standard",
                                       "source_id": src["id"],
                                       "destination_id": dst["id"]})["id"]
    total = 0
    for k in range(8):
        total += w.hook(ana.basic, p, [{"k": k, "i": i, "pad": "x" * 100}
                                       for i in range(500)])
    name = "pipeline_%d" % p
    w.api.post("/api/pipelines/%d/run" % p, ana.basic)

    def moving():
        n = w.db.val("SELECT row_count FROM via_tables WHERE name = ?", name)
        return n is not None and 0 < n < total
    t.ok(wait_for(moving, WAIT, 0.005), "the run is part-way (some batches committed)")
    st = w.status(ana.basic, p)
    t.ok(st["status"] == "running" and st["is_running"],
         "while it runs: status running, is_running true", st)
    runner = children(app.pid, runner=True)
    os.kill(runner[0], signal.SIGKILL)
    at_kill = w.db.val("SELECT row_count FROM via_tables WHERE name = ?", name)
    t.ok(at_kill < total, "killed the runner (-9) with %d of %d rows moved" % (at_kill, total))
    run = w.finished(ana.basic, "/api/pipelines/%d/runs" % p)
    t.ok(run and run["status"] == "success" and run["records"] == total,
         "after the respawn and the lease, the run finishes: %d records" % total, run)
    t.eq(w.db.val("SELECT attempts FROM runs WHERE id = ?", run and run["id"]), 2,
         "... claimed twice")
    rows = w.db.all("SELECT r.id FROM via_rows r JOIN via_tables v ON v.id = r.table_id "
                    "WHERE v.name = ? ORDER BY r.id", name)
    want = w.db.all("SELECT id FROM records WHERE pipeline_id = ? ORDER BY id", p)
    t.eq((len(rows), rows == want), (total, True),
         "every record is in the table exactly once")
    t.eq(w.db.val("SELECT row_count FROM via_tables WHERE name = ?", name), total,
         "... and the table's count agrees")

    # Deleted, the pipeline leaves its table in the destination, renamed, so
    # a later pipeline given the same id (SQLite reuses the highest) starts
    # with a table of its own.
    s = w.api.call("DELETE", "/api/pipelines/%d" % p, ana.basic)[0]
    kept = w.db.val("SELECT row_count FROM via_tables WHERE name LIKE ?",
                    name + "_deleted_%")
    t.ok(s == 204 and kept == total, "DELETE the pipeline: its table stays, renamed, "
         "with its %d rows" % total, (s, kept))
    q = w.make(ana.basic, "pipelines", {"name": "again", "type": "standard",
                                       "source_id": src["id"],
                                       "destination_id": dst["id"]})["id"]
    w.hook(ana.basic, q, [{"again": True}])
    w.api.post("/api/pipelines/%d/run" % q, ana.basic)
    run = w.finished(ana.basic, "/api/pipelines/%d/runs" % q)
    t.ok(run and run["status"] == "success" and run["records"] == 1,
         "a new pipeline (id %d, the deleted one's was %d) runs into a table of its own"
         % (q, p), run)


def limits(t, work):
    """runs_per_account and runs_total hold across runners: three `tessera
    runner` processes on one database (the server's own does none), one
    run of an account at a time, two in all, and another account's run
    goes on beside the first account's."""
    data = init_data(os.path.join(work, "limits"))
    add_user(data, "amy@example.com", PW, role="admin", account="A")
    add_user(data, "bo@example.com", PW, role="admin", account="B")
    amy = cli_token(data, "amy@example.com", "amy")
    bo = cli_token(data, "bo@example.com", "bo")
    db = Db(data)
    sock = os.path.join(work, "limits-app", "tessera.sock")
    os.makedirs(os.path.dirname(sock), exist_ok=True)
    env = app_env(data, **dict(NO_LIMITS, TESSERA_RUN_POLL_MS=0))
    app = TesseraServe(os.path.join(work, "limits-app"), BIN, sock, workers=2, env=env)
    web = Nginx(os.path.join(work, "limits-nginx"), free_port(), sock)
    runner_env = dict(os.environ, **app_env(data, TESSERA_RUN_POLL_MS=50,
                                            TESSERA_RUN_BATCH_RECORDS=10,
                                            TESSERA_RUNS_PER_ACCOUNT=1,
                                            TESSERA_RUNS_TOTAL=2))
    runners = []
    with app, web:
        w = World(t, Api(web.base_url), db, data)
        pids = []
        for who in (amy, amy, bo):
            src = w.make(who.basic, "sources", {"name": "s", "type": "webhook"})
            dst = w.make(who.basic, "destinations", {"name": "d", "type": "via"})
            pid = w.make(who.basic, "pipelines", {"name": "p", "type": "standard",
                                                 "source_id": src["id"],
                                                 "destination_id": dst["id"]})["id"]
            for _ in range(3):
                w.hook(who.basic, pid, [{"i": i} for i in range(500)])
            pids.append((who, pid))
        for who, pid in pids:
            w.api.post("/api/pipelines/%d/run" % pid, who.basic)
        log = open(os.path.join(work, "limits-runners.log"), "wb")
        try:
            for _ in range(3):
                runners.append(__import__("subprocess").Popen(
                    [BIN, "runner"], env=runner_env, stdout=log, stderr=log))
            most_a = most = 0
            overlap = False
            end = time.monotonic() + WAIT * 2
            while time.monotonic() < end:
                rows = db.all("SELECT account_id, status FROM runs")
                running = [a for a, st in rows if st == "running"]
                most = max(most, len(running))
                by = {a: running.count(a) for a in running}
                most_a = max([most_a] + list(by.values()))
                overlap = overlap or len(by) == 2
                if all(st in ("success", "failed") for _, st in rows):
                    break
                time.sleep(0.005)
            rows = db.all("SELECT status, records FROM runs ORDER BY id")
        finally:
            for p in runners:
                p.send_signal(signal.SIGTERM)
            for p in runners:
                p.wait(timeout=30)
            log.close()
    t.eq(rows, [("success", 1500)] * 3, "three runs by three runners: each moved its 1500")
    t.eq(most_a, 1, "never two runs of one account at once (runs_per_account 1)")
    t.ok(most <= 2, "never more than runs_total (2) at once: at most %d" % most)
    t.ok(overlap, "the other account's run ran beside the first account's")
    given_up(t, data, runner_env, amy, work, db)


def given_up(t, data, runner_env, who, work, db):
    """A run whose runner dies run_max_attempts times is marked failed by
    the next claim, never left running; what its batches committed stays."""
    pid = db.val("SELECT max(id) FROM pipelines")
    env = dict(runner_env, TESSERA_RUN_MAX_ATTEMPTS="1", TESSERA_RUN_LEASE_SECONDS="2")
    run_id = db.val("SELECT max(id) FROM runs") + 1
    db.run("INSERT INTO runs (id, account_id, pipeline_id, queued_at) "
           "SELECT ?, account_id, id, 1 FROM pipelines WHERE id = ?", run_id, pid)
    db.run("UPDATE pipelines SET cursor = 0 WHERE id = ?", pid)
    db.run("DELETE FROM via_rows WHERE table_id IN (SELECT id FROM via_tables "
           "WHERE name = ?)", "pipeline_%d" % pid)
    db.run("UPDATE via_tables SET row_count = 0 WHERE name = ?", "pipeline_%d" % pid)
    log = open(os.path.join(work, "given-up.log"), "wb")
    sp = __import__("subprocess")
    first = sp.Popen([BIN, "runner"], env=env, stdout=log, stderr=log)
    try:
        t.ok(wait_for(lambda: (db.val("SELECT row_count FROM via_tables WHERE name = ?",
                                      "pipeline_%d" % pid) or 0) > 0, WAIT, 0.005),
             "a runner started the run")
        first.send_signal(signal.SIGKILL)
        first.wait()
        t.eq(db.one("SELECT status, attempts FROM runs WHERE id = ?", run_id),
             ("running", 1), "killed (-9) in the middle: the run says running, 1 claim")
        second = sp.Popen([BIN, "runner"], env=env, stdout=log, stderr=log)
        try:
            t.ok(wait_for(lambda: db.val("SELECT status FROM runs WHERE id = ?", run_id)
                          == "failed", WAIT, 0.05), "once the lease has passed, the "
                 "next runner marks it failed (run_max_attempts 1)")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
    finally:
        log.close()
    msg, records = db.one("SELECT message, records FROM runs WHERE id = ?", run_id)
    t.eq(msg, "the runner stopped during this run 1 time; giving up",
         "... saying why")
    st = db.one("SELECT status, failures FROM pipelines WHERE id = ?", pid)
    t.eq(st, ("error_building_tables", 1), "... and the pipeline says error_building_tables")
    moved = db.val("SELECT row_count FROM via_tables WHERE name = ?", "pipeline_%d" % pid)
    t.ok(0 < moved < 1500 and records == moved and db.val(
         "SELECT cursor FROM pipelines WHERE id = ?", pid) > 0,
         "... what its committed batches moved stays, counted on the run "
         "(%d rows)" % moved)


def main():
    t = Tap()
    openapi_check.enable(t)   # every API answer against docs/openapi.json
    work = scratch("runs")
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", PW, role="admin")
    add_user(data, "zed@example.com", PW, role="admin", account="Zeta")
    ana = cli_token(data, "ana@example.com", "ana")
    zed = cli_token(data, "zed@example.com", "zed")
    db = Db(data)
    app, web = start(work, data)
    with app, web:
        w = World(t, Api(web.base_url), db, data)
        ctx = pipeline_end_to_end(t, w, ana, zed)
        models(t, w, ana, zed, ctx)
        transforms(t, w, ana, ctx)
        exactly_once(t, w, app, ana, ctx)
    limits(t, work)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
