"""Disk full: the database is capped (db_max_pages, from a config file) a
little above its size; webhooks of 20 objects of about 1 KiB are posted
until the answers turn 503.  The 503 carries the JSON envelope, reads go
on, nothing is half-written (the records stored are exactly 20 per
acknowledged post), and after the cap is raised in the file and the
supervisor gets SIGHUP, writes work again."""

import json
import os
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import (BIN, NO_LIMITS, Tap, api_user, app_env, body_json,  # noqa: E402
                 init_data, scratch)

HEADROOM = 30          # pages above the database's size
BATCH = 20             # objects per webhook post


def page_count(data):
    db = sqlite3.connect(os.path.join(data, "tessera.db"))
    try:
        return db.execute("PRAGMA page_count").fetchone()[0]
    finally:
        db.close()


def stored_records(data, pipeline_id):
    db = sqlite3.connect(os.path.join(data, "tessera.db"))
    try:
        return db.execute("SELECT count(*) FROM records WHERE pipeline_id = ?",
                          (pipeline_id,)).fetchone()[0]
    finally:
        db.close()


def write_config(path, max_pages):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("# hard_disk_full.py\ndb_max_pages = %d\n" % max_pages)
    os.replace(tmp, path)


def main():
    t = Tap()
    work = scratch("hard-disk-full")
    data = init_data(os.path.join(work, "data"))
    key, tok, auth = api_user(data)
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    env = app_env(data, **NO_LIMITS)
    # The cap comes from the file only: the environment would win over it.
    for k in list(os.environ):
        if k in ("TESSERA_DB_MAX_PAGES", "TESSERA_CONFIG"):
            del os.environ[k]

    # The pipeline, created through the API of an uncapped server.
    with TesseraServe(os.path.join(work, "setup"), BIN, sock, workers=1,
                      env=env) as app, \
            Nginx(os.path.join(work, "nginx-setup"), free_port(), sock) as web:
        def post(path, doc):
            s, _, b = http("POST", web.base_url + path, auth, json.dumps(doc))
            return s, body_json(b)
        s1, src = post("/api/sources", {"name": "hook", "type": "webhook"})
        s2, dst = post("/api/destinations", {"name": "lake", "type": "s3"})
        s3, pl = post("/api/pipelines", {"name": "p", "type": "webhook",
                                         "source_id": src["data"]["id"],
                                         "destination_id": dst["data"]["id"]})
        t.eq((s1, s2, s3), (201, 201, 201), "webhook pipeline created")
        pid = pl["data"]["id"]

    pages0 = page_count(data)
    cap = pages0 + HEADROOM
    conf = os.path.join(work, "tessera.conf")
    write_config(conf, cap)
    env["TESSERA_CONFIG"] = conf
    print("# database: %d pages of 4 KiB; cap (db_max_pages) %d" % (pages0, cap))

    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2,
                      env=env) as app, \
            Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url
        hook = base + "/webhook?pipeline_id=%d" % pid
        seq = [0]

        def batch():
            docs = []
            for _ in range(BATCH):
                seq[0] += 1
                docs.append({"n": seq[0], "pad": ("%08d" % seq[0]) * 125})
            return json.dumps(docs)

        acked, statuses, first_503 = 0, {}, None
        for _ in range(200):
            st, hdrs, body = http("POST", hook, auth, batch(), timeout=15)
            statuses[st] = statuses.get(st, 0) + 1
            if st == 200:
                acked += 1
                continue
            first_503 = (st, body_json(body), hdrs.get("Content-Type", ""))
            break
        # Once full, it stays full.
        again = [http("POST", hook, auth, batch(), timeout=15)[0]
                 for _ in range(5)]
        for st in again:
            statuses[st] = statuses.get(st, 0) + 1
        print("# webhook posts of %d x 1 KiB: %d acknowledged before the "
              "first refusal; answers %s" % (BATCH, acked, statuses))
        t.ok(acked >= 1, "some posts fit under the cap (%d)" % acked)
        t.ok(first_503 is not None and first_503[0] == 503,
             "a full database answers 503", first_503)
        doc = first_503[1] if first_503 else None
        t.ok(isinstance(doc, dict) and doc.get("success") is False and
             doc.get("error") == "UNAVAILABLE",
             "the 503 carries {\"success\": false, \"error\": \"UNAVAILABLE\"}",
             first_503)
        t.ok(first_503 is not None and
             first_503[2].startswith("application/json"),
             "... as application/json", first_503)
        t.eq(again, [503] * 5, "further posts answer 503 as well")

        st, _, body = http("GET", base + "/api/me", auth)
        t.eq(st, 200, "reads go on: GET /api/me")
        st, _, body = http("GET", base + "/api/pipelines/%d/records?after=0"
                           "&limit=100" % pid, auth)
        doc = body_json(body)
        t.eq(st, 200, "reads go on: GET /api/pipelines/%d/records" % pid)
        t.ok(isinstance(doc, dict) and isinstance(doc.get("data"), list) and
             len(doc["data"]) == min(100, acked * BATCH),
             "the records read back are the acknowledged ones",
             body[:300])

        n = stored_records(data, pid)
        pages = page_count(data)
        print("# stored records: %d (%d x %d acknowledged); %d pages used of "
              "%d" % (n, BATCH, acked, pages, cap))
        t.eq(n % BATCH, 0, "nothing half-written: stored records are a "
             "multiple of %d" % BATCH)
        t.eq(n, BATCH * acked, "stored records = %d x acknowledged posts"
             % BATCH)
        t.ok(pages <= cap, "the cap held (%d <= %d pages)" % (pages, cap))

        # Raise the cap in the file; SIGHUP; writes work again.
        write_config(conf, cap + 1000)
        app.reload()
        t0 = time.monotonic()
        st = None
        while time.monotonic() - t0 < 10:
            st, _, body = http("POST", hook, auth, batch(), timeout=15)
            if st == 200:
                acked += 1
                break
            time.sleep(0.1)
        took = time.monotonic() - t0
        print("# after raising the cap and SIGHUP: first 200 after %.2fs" % took)
        t.eq(st, 200, "after SIGHUP with a higher cap, writes work again")
        more = [http("POST", hook, auth, batch(), timeout=15)[0]
                for _ in range(5)]
        acked += more.count(200)
        t.eq(more, [200] * 5, "and keep working")
        n = stored_records(data, pid)
        t.eq(n, BATCH * acked, "stored records = %d x acknowledged posts in "
             "the end (%d)" % (BATCH, n))
    return t.done()


if __name__ == "__main__":
    # A runner's timeout (SIGTERM) still stops the servers, by the with-blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
