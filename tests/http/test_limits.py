"""Bounds on what one caller can make the service store or send (step 8,
faults 3 and 4), through nginx and `tessera serve`:

    max_records     webhook_max_records per delivery: 413 past it, nothing
                    stored; exactly the maximum is fine
    records_rate    rate_limit_webhook_records per token: 429 with
                    Retry-After, another token unaffected, back after it
    quota           account_quota_mb: 507 QUOTA_EXCEEDED, nothing stored,
                    another account unaffected
    open_delivery   a large delivery's records are seen only once it is
                    done; one left open (its worker killed) is invisible
                    and the runner removes it with its records
    flood           while one account sends 10,000-record deliveries from
                    two senders, another account's single-record webhooks
                    keep p99 under 250 ms
    big_records     records of about 1 MiB: GET .../records pages by bytes
                    (a "next" cursor), never a 500; walking the pages gives
                    every record back exactly
    big_objects     the sibling: lists of sources with configs of 60 KiB
                    (thousands of keys each) under a 16 MiB Lua cap page
                    by bytes too (a "next" offset), never a 500
"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import ALL_USER_SCOPES, PW, Api, Db, cli_token, dig, is_failure  # noqa: E402
from tap import (BIN, NO_LIMITS, Tap, app_and_nginx, add_user, data_env, init_data,  # noqa: E402
                 scratch)
import openapi_check  # noqa: E402

MIB = 1024 * 1024


def pipeline(t, api, tok, name):
    """A webhook source, a destination and a pipeline; the pipeline's id."""
    s, h, b, doc = api.post("/api/sources", tok.basic, {"name": name, "type": "webhook"})
    src = dig(doc, "data", "id")
    s, h, b, doc = api.post("/api/destinations", tok.basic, {"name": name, "type": "s3"})
    dst = dig(doc, "data", "id")
    s, h, b, doc = api.post("/api/pipelines", tok.basic, {
        "name": name, "type": "standard", "source_id": src, "destination_id": dst})
    t.eq(s, 201, "a webhook pipeline for %s" % name)
    return dig(doc, "data", "id")


def records(n, size=0):
    pad = "x" * size
    return "[" + ",".join('{"i":%d%s}' % (i, ',"p":"%s"' % pad if size else "")
                          for i in range(n)) + "]"


def deliver(api, tok, pid, body):
    return api.post("/webhook?pipeline_id=%d" % pid, tok.basic, body)


def stored(db, pid):
    return db.val("SELECT count(*) FROM records WHERE pipeline_id = ?", pid)


def max_records_and_rate(t, work):
    data = init_data(os.path.join(work, "data-a"))
    add_user(data, "ana@example.com", PW, role="admin")
    db = Db(data)
    a = cli_token(data, "ana@example.com", "a", "--scopes", ",".join(ALL_USER_SCOPES))
    b = cli_token(data, "ana@example.com", "b")
    env = dict(NO_LIMITS, TESSERA_WEBHOOK_MAX_RECORDS=100,
               TESSERA_RATE_LIMIT_WEBHOOK_RECORDS=50)
    app, web = app_and_nginx(work, "a", data, env)
    with app, web:
        api = Api(web.base_url)
        pid = pipeline(t, api, a, "hook")
        s, h, body, doc = deliver(api, a, pid, records(101))
        t.ok(s == 413 and is_failure(doc, "PAYLOAD_TOO_LARGE") and "100" in doc["message"],
             "max_records: 101 records with a maximum of 100 -> 413 PAYLOAD_TOO_LARGE", body)
        t.eq(stored(db, pid), 0, "max_records: ... nothing stored")
        s, h, body, doc = deliver(api, a, pid, records(100))
        t.eq((s, doc), (200, {"success": True, "records": 100}),
             "max_records: exactly 100 -> 200")
        # The bucket holds max(2 x 50, 100) = 100 records: now empty.
        s, h, body, doc = deliver(api, a, pid, records(60))
        ra = h.get("Retry-After") or ""
        t.ok(s == 429 and is_failure(doc, "RATE_LIMIT_EXCEEDED") and ra.isdigit() and
             1 <= int(ra) <= 2, "records_rate: 60 more at once -> 429, Retry-After 1-2 s",
             (s, ra, body))
        t.eq(stored(db, pid), 100, "records_rate: ... nothing more stored")
        s, h, body, doc = deliver(api, b, pid, records(60))
        t.eq(s, 200, "records_rate: another token is not limited")
        time.sleep(int(ra or 2) + 0.2)
        s, h, body, doc = deliver(api, a, pid, records(60))
        t.eq(s, 200, "records_rate: after Retry-After the token is accepted again")
        t.eq(db.token_usage(a.key)[:2], (2, 160), "records_rate: the counters count only accepted ones")


def quota(t, work):
    data = init_data(os.path.join(work, "data-q"))
    add_user(data, "ana@example.com", PW, role="admin")
    add_user(data, "zed@other.example", PW, role="admin", account="Other")
    db = Db(data)
    a = cli_token(data, "ana@example.com", "a")
    z = cli_token(data, "zed@other.example", "z")
    app, web = app_and_nginx(work, "q", data, dict(NO_LIMITS, TESSERA_ACCOUNT_QUOTA_MB=1))
    with app, web:
        api = Api(web.base_url)
        pa, pz = pipeline(t, api, a, "acme"), pipeline(t, api, z, "other")
        big = records(30, 30000)             # about 900 KB
        s, h, body, doc = deliver(api, a, pa, big)
        t.eq(s, 200, "quota: 900 KB within a 1 MiB quota -> 200")
        s, h, body, doc = deliver(api, a, pa, records(10, 30000))
        t.ok(s == 507 and is_failure(doc, "QUOTA_EXCEEDED"),
             "quota: 300 KB more -> 507 QUOTA_EXCEEDED", body)
        t.eq(stored(db, pa), 30, "quota: ... nothing more stored")
        t.eq(deliver(api, z, pz, big)[0], 200, "quota: another account is not affected")
        used = db.account_usage("Acme")[:2]
        real = db.val("SELECT sum(length(data)) FROM records WHERE pipeline_id = ?", pa)
        t.eq(used, (30, real), "quota: account_usage holds the records and their bytes")

        # The sibling: objects count against the same quota.
        cfg = {"blob": "x" * 50000}
        acme_sources = ("SELECT count(*) FROM sources s JOIN accounts c "
                        "ON c.id = s.account_id WHERE c.name = 'Acme'")
        n0 = db.val(acme_sources)
        got = []
        for i in range(6):
            got.append(api.post("/api/sources", a.basic,
                                {"name": "s%d" % i, "type": "postgres", "config": cfg})[0])
            if got[-1] != 201:
                break
        n = db.val(acme_sources) - n0
        t.ok(got[0] == 201 and got[-1] == 507 and n == got.count(201),
             "quota: 50 KB sources fit until the quota, then 507 and nothing made", got)
        obj = db.account_usage("Acme")[2]
        size = ("length(CAST(config AS BLOB))" if db.engine == "sqlite" else
                "octet_length(config)")      # the bytes of the text
        real = db.val("SELECT sum(%s) FROM sources s "
                      "JOIN accounts c ON c.id = s.account_id WHERE c.name = 'Acme'" % size) + \
            db.val("SELECT sum(%s) FROM pipelines p "
                   "JOIN accounts c ON c.id = p.account_id WHERE c.name = 'Acme'" % size) + \
            db.val("SELECT sum(%s) FROM destinations d "
                   "JOIN accounts c ON c.id = d.account_id WHERE c.name = 'Acme'" % size)
        t.eq(obj, real, "quota: account_usage holds the objects' bytes")
        # Less than 50 KB is left: growing the pipeline's small source by
        # 60 KB passes the quota.
        small = db.val("SELECT min(s.id) FROM sources s JOIN accounts c "
                       "ON c.id = s.account_id WHERE c.name = 'Acme'")
        s = api.put("/api/sources/%d" % small, a.basic,
                    {"name": "grown", "config": {"blob": "x" * 60000}})[0]
        t.eq(s, 507, "quota: an edit that grows an object past it -> 507")
        sid = db.val("SELECT max(s.id) FROM sources s JOIN accounts c "
                     "ON c.id = s.account_id WHERE c.name = 'Acme'")
        s = api.put("/api/sources/%d" % sid, a.basic, {"name": "shrunk", "config": {}})[0]
        t.eq(s, 200, "quota: an edit that shrinks one is always fine")
        t.eq(db.account_usage("Acme")[2], real - 50000 - 11 + 2,
             "... and gives its bytes back")
        t.eq(api.post("/api/sources", z.basic, {"name": "z", "type": "postgres",
                                                 "config": cfg})[0], 201,
             "quota: another account's objects are not affected")


def open_delivery(t, work):
    data = init_data(os.path.join(work, "data-d"))
    add_user(data, "ana@example.com", PW, role="admin")
    db = Db(data)
    a = cli_token(data, "ana@example.com", "a")
    clock = os.path.join(work, "clock-d")
    with open(clock, "w") as f:
        f.write(str(int(time.time())))
    env = dict(NO_LIMITS, TESSERA_TEST_CLOCK_FILE=clock)
    app, web = app_and_nginx(work, "d", data, env)
    with app, web:
        api = Api(web.base_url)
        pid = pipeline(t, api, a, "hook")
        s, h, body, doc = deliver(api, a, pid, records(1234))
        t.eq(s, 200, "open_delivery: 1,234 records (three transactions) -> 200")
        t.eq(db.all("SELECT records, done_at IS NOT NULL FROM deliveries"), [(1234, 1)],
             "open_delivery: ... one delivery, marked done")
        s, h, body, doc = api.get("/api/pipelines/%d/records?limit=1000" % pid, a.basic)
        t.ok(len(dig(doc, "data") or []) == 1000 and doc.get("next"),
             "open_delivery: its records are visible (1,000 and a next cursor)")
        # A worker killed part-way: an open delivery with two records.
        row = db.one("SELECT account_id, destination_id FROM pipelines WHERE id = ?", pid)
        tid = db.val("SELECT id FROM tokens WHERE key = ?", a.key)
        now = int(time.time())
        db.run("INSERT INTO deliveries (pipeline_id, account_id, token_id, records, "
               "bytes, started_at) VALUES (?, ?, ?, 2, 20, ?)", pid, row[0], tid, now)
        did = db.val("SELECT max(id) FROM deliveries")
        for i in range(2):
            db.run("INSERT INTO records (pipeline_id, destination_id, token_id, "
                   "received_at, data, delivery_id) VALUES (?, ?, ?, ?, ?, ?)",
                   pid, row[1], tid, now, '{"half":%d}' % i, did)
        walked, after = [], 0
        while True:
            s, h, body, doc = api.get("/api/pipelines/%d/records?after=%d&limit=1000" %
                                      (pid, after), a.basic)
            walked += dig(doc, "data") or []
            if not doc.get("next"):
                break
            after = doc["next"]
        t.ok(len(walked) == 1234 and all("half" not in r["data"] for r in walked),
             "open_delivery: an open delivery's records are not shown", len(walked))
        env_run = data_env(data, dict(os.environ, TESSERA_DATA=data,
                                      TESSERA_TEST_CLOCK_FILE=clock))
        subprocess.run([BIN, "runner", "--once"], env=env_run, capture_output=True)
        t.eq(db.val("SELECT count(*) FROM records WHERE delivery_id = ?", did), 2,
             "open_delivery: a young open delivery is left alone (it may be written yet)")
        with open(clock, "w") as f:
            f.write(str(now + 601))
        subprocess.run([BIN, "runner", "--once"], env=env_run, capture_output=True)
        t.eq((db.val("SELECT count(*) FROM records WHERE delivery_id = ?", did),
              db.val("SELECT count(*) FROM deliveries WHERE id = ?", did),
              stored(db, pid)), (0, 0, 1234),
             "open_delivery: after 10 minutes the runner removes it and its records")


def flood(t, work):
    data = init_data(os.path.join(work, "data-f"))
    add_user(data, "ana@example.com", PW, role="admin")
    add_user(data, "zed@other.example", PW, role="admin", account="Other")
    db = Db(data)
    flooders = [cli_token(data, "ana@example.com", "flood %d" % i) for i in range(2)]
    victim = cli_token(data, "zed@other.example", "victim")
    env = dict(NO_LIMITS, TESSERA_RATE_LIMIT_WEBHOOK_RECORDS=0, TESSERA_LOG_REQUESTS=0)
    app, web = app_and_nginx(work, "f", data, env, workers=4)
    with app, web:
        api = Api(web.base_url)
        pf, pv = pipeline(t, api, flooders[0], "flood"), pipeline(t, api, victim, "victim")
        body = records(10000)
        stop = threading.Event()
        sent = []

        def send(tok):
            while not stop.is_set():
                sent.append(deliver(api, tok, pf, body)[0])

        threads = [threading.Thread(target=send, args=(f,)) for f in flooders]
        for th in threads:
            th.start()
        time.sleep(0.5)
        lat = []
        for i in range(120):
            t0 = time.monotonic()
            s = deliver(api, victim, pv, '{"n": %d}' % i)[0]
            lat.append((time.monotonic() - t0, s))
            time.sleep(0.02)
        stop.set()
        for th in threads:
            th.join()
        ms = sorted(x[0] * 1000 for x in lat)
        p99 = ms[int(len(ms) * 0.99) - 1]
        print("# flood: %d deliveries of 10,000 records (%s); the other account's "
              "single records: p50 %.0f ms, p99 %.0f ms, max %.0f ms" %
              (len(sent), sorted(set(sent)), statistics.median(ms), p99, ms[-1]))
        t.ok(len(sent) >= 2 and set(sent) == {200},
             "flood: the flooding account's deliveries all stored (%d)" % len(sent), sent)
        t.ok(all(s == 200 for _, s in lat), "flood: every single-record webhook -> 200")
        t.ok(p99 < 250, "flood: the other account's p99 %.0f ms < 250 ms" % p99, ms[-10:])
        t.eq(stored(db, pf), 10000 * len(sent), "flood: every flooded record stored once")


def walk(api, tok, path_of, item):
    """Follows "next" from the first page (path_of(0)) to the end, at most
    20 pages; returns (item(x) for every x of every page, pages)."""
    out, cursor, pages = [], 0, 0
    while pages < 20:
        s, h, body, doc = api.get(path_of(cursor), tok.basic)
        if s != 200:
            break
        pages += 1
        out += [item(x) for x in dig(doc, "data") or []]
        if doc.get("next") is None:
            break
        cursor = doc["next"]
    return out, pages


def big_records(t, work):
    data = init_data(os.path.join(work, "data-r"))
    add_user(data, "ana@example.com", PW, role="admin")
    a = cli_token(data, "ana@example.com", "a")
    app, web = app_and_nginx(work, "r", data, NO_LIMITS)
    with app, web:
        api = Api(web.base_url)
        pid = pipeline(t, api, a, "big")
        sent = []
        for i in range(7):
            rec = {"i": i, "blob": chr(97 + i) * (MIB - 64)}
            s, h, body, doc = deliver(api, a, pid, json.dumps(rec))
            sent.append(rec)
        t.eq(len(sent), 7, "big_records: seven records of 1 MiB stored")
        s, h, body, doc = api.get("/api/pipelines/%d/records" % pid, a.basic)
        page = dig(doc, "data") or []
        t.ok(s == 200 and 1 <= len(page) < 7 and isinstance(doc.get("next"), int),
             "big_records: the default page answers 200 with some records and a next "
             "cursor (%d records, %d bytes)" % (len(page), len(body)), s)
        walked, pages = walk(api, a, lambda c: "/api/pipelines/%d/records?after=%d" % (pid, c),
                             lambda r: r["data"])
        t.eq(walked, sent, "big_records: the pages give every record back exactly, "
             "in %d pages" % pages)
        s, h, body, doc = api.get("/api/pipelines/%d/records?limit=1" % pid, a.basic)
        one = dig(doc, "data") or []
        t.ok(len(one) == 1 and one[0]["data"] == sent[0] and doc.get("next") == one[0]["id"],
             "big_records: limit=1 gives one record, and next is its id", body[:200])


def big_objects(t, work):
    data = init_data(os.path.join(work, "data-o"))
    add_user(data, "ana@example.com", PW, role="admin")
    a = cli_token(data, "ana@example.com", "a")
    app, web = app_and_nginx(work, "o", data, dict(NO_LIMITS, TESSERA_LUA_MEMORY_MB=16))
    with app, web:
        api = Api(web.base_url)
        sent = []
        for i in range(60):
            cfg = {"k%04d" % k: "v%d-%d" % (i, k) for k in range(3000)}
            s, h, body, doc = api.post("/api/sources", a.basic,
                                       {"name": "s%d" % i, "type": "postgres", "config": cfg})
            if s != 201:
                break
            sent.append(cfg)
        t.eq(len(sent), 60, "big_objects: 60 sources with 3,000-key configs (60 KiB) stored")
        s, h, body, doc = api.get("/api/sources?limit=1000", a.basic)
        page = dig(doc, "data") or []
        t.ok(s == 200 and 1 <= len(page) < 60 and isinstance(doc.get("next"), int),
             "big_objects: ?limit=1000 answers 200 with a page that fits and a next "
             "offset (%d sources, %d bytes)" % (len(page), len(body)), (s, body[:200]))
        walked, pages = walk(api, a, lambda c: "/api/sources?limit=1000&offset=%d" % c,
                             lambda o: o["config"])
        t.eq(walked, sent, "big_objects: the pages give every config back exactly, "
             "in %d pages" % pages)
        s, h, body, doc = api.get("/api/sources?limit=2&offset=58", a.basic)
        t.ok(s == 200 and len(dig(doc, "data") or []) == 2 and doc.get("next") is None,
             "big_objects: the last page says next null", body[:100])


def main():
    t = Tap()
    openapi_check.enable(t)   # every API answer against docs/openapi.json
    work = scratch("limits")
    t0 = time.monotonic()
    max_records_and_rate(t, work)
    quota(t, work)
    open_delivery(t, work)
    flood(t, work)
    big_records(t, work)
    big_objects(t, work)
    print("# test_limits: %.1fs" % (time.monotonic() - t0))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
