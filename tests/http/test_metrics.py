"""Prometheus metrics (metrics_path), through nginx and `tessera serve` with
two workers, read with prometheus_client's own parser (Debian's
python3-prometheus-client):

    off          without metrics_path, GET /metrics is a 404 like any
                 unknown path; with it but the client outside
                 metrics_allow, a 404 too; POST -> 405
    format       the answer is text/plain version 0.0.4, every family has
                 HELP and TYPE, the parser reads all of it
    counts       the counters move by exactly what the test did, summed
                 over both workers (the log shows both served): N requests
                 of /api/me -> +N by route and code, the histogram's count
                 +N and its +Inf bucket too; token checks ok +N; a wrong
                 secret -> bad_secret +1 and a 401; a mistyped one ->
                 malformed +1; an unknown key ->
                 unknown +1; no credential -> missing +1; k answers 429 ->
                 rate_limit_refusals{api_key} +k and rate_limited +k; a
                 webhook of K records -> webhook_records +K; a token
                 without the scope -> scope_refused +1
    labels       routes are the declared patterns, never the raw path
                 (/api/sources/1 and /api/sources/2 are one label)
    runs         tessera_runs{status="queued"} is the database's count
    restarts     a worker killed -> process_restarts{worker} +1
"""

import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import ALL_USER_SCOPES, PW, Api, Db, basic, cli_token, dig, typo  # noqa: E402
from servers import http  # noqa: E402
from tap import (NO_LIMITS, Tap, app_and_nginx, add_user, children, init_data,  # noqa: E402
                 scratch, wait_for)

# Debian's python3-prometheus-client (tests/run runs Debian's python3).
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def scrape(t, base):
    s, h, body = http("GET", base + "/metrics")
    if s != 200:
        raise RuntimeError("GET /metrics -> %d %r" % (s, body[:200]))
    return parse(body.decode()), h, body.decode()


def parse(text):
    """{(sample name, frozenset(labels)): value} of every sample."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            out[(smp.name, frozenset(smp.labels.items()))] = smp.value
    return out


def val(m, name, **labels):
    return m.get((name, frozenset(labels.items())), 0.0)


def delta(a, b, name, **labels):
    return val(b, name, **labels) - val(a, name, **labels)


def pipeline(api, tok, name):
    s, h, b, doc = api.post("/api/sources", tok.basic, {"name": name, "type": "webhook"})
    src = dig(doc, "data", "id")
    s, h, b, doc = api.post("/api/destinations", tok.basic, {"name": name, "type": "s3"})
    dst = dig(doc, "data", "id")
    s, h, b, doc = api.post("/api/pipelines", tok.basic, {
        "name": name, "type": "standard", "source_id": src, "destination_id": dst})
    return dig(doc, "data", "id"), src


def off(t, work):
    data = init_data(os.path.join(work, "data-off"))
    app, web = app_and_nginx(work, "off", data, dict(NO_LIMITS), workers=1)
    with app, web:
        s, h, body = http("GET", web.base_url + "/metrics")
        t.eq(s, 404, "off: without metrics_path, GET /metrics -> 404")
        t.hasnt(body, b"tessera_", "off: ... and no counter in it")
    data = init_data(os.path.join(work, "data-deny"))
    app, web = app_and_nginx(work, "deny", data, dict(
        NO_LIMITS, TESSERA_METRICS_PATH="/metrics", TESSERA_METRICS_ALLOW="10.9.0.0/16"),
        workers=1)
    with app, web:
        s, h, body = http("GET", web.base_url + "/metrics")
        t.ok(s == 404 and b"tessera_" not in body,
             "off: metrics_path set, client outside metrics_allow -> 404", (s, body[:80]))


def counts(t, work):
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", PW, role="admin")
    db = Db(data)
    a = cli_token(data, "ana@example.com", "a", "--scopes", ",".join(ALL_USER_SCOPES))
    narrow = cli_token(data, "ana@example.com", "narrow", "--scopes", "objects:read")
    many = [cli_token(data, "ana@example.com", "t%d" % i) for i in range(6)]
    limited = cli_token(data, "ana@example.com", "limited")
    env = dict(NO_LIMITS, TESSERA_METRICS_PATH="/metrics",
               TESSERA_RATE_LIMIT_API_KEY=5,      # bursts of 10 a token
               TESSERA_RUN_POLL_MS=0)             # runs stay queued
    app, web = app_and_nginx(work, "m", data, env, workers=2)
    with app, web:
        api = Api(web.base_url)
        base = web.base_url
        m0, h, text = scrape(t, base)
        t.ok((h.get("Content-Type") or "").startswith("text/plain; version=0.0.4"),
             "format: Content-Type text/plain; version=0.0.4", h.get("Content-Type"))
        fams = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
        helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
        want = {"tessera_http_requests_total": "counter",
                "tessera_http_request_duration_seconds": "histogram",
                "tessera_token_checks_total": "counter",
                "tessera_rate_limit_refusals_total": "counter",
                "tessera_webhook_records_total": "counter",
                "tessera_process_restarts_total": "counter",
                "tessera_database_errors_total": "counter",
                "tessera_runs_finished_total": "counter",
                "tessera_runs": "gauge"}
        t.ok(all((k, v) in fams for k, v in want.items()) and
             all(k in helps for k in want), "format: every family has its HELP and TYPE",
             fams)
        s, h, body = http("POST", base + "/metrics", body=b"")
        t.eq(s, 405, "off: POST /metrics -> 405")

        # N requests of /api/me, from 4 threads over 6 tokens (10 each at
        # most: within their bursts), served by both workers.
        n = 36
        statuses, lock = [], threading.Lock()

        def worker(i):
            for j in range(i, n, 4):
                s, h, b, doc = api.get("/api/me?probe=m%d" % j, many[j % 6].basic)
                with lock:
                    statuses.append(s)
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        [th.start() for th in threads]
        [th.join() for th in threads]
        t.eq(statuses.count(200), n, "counts: %d requests of /api/me answered 200" % n)
        m1, _, _ = scrape(t, base)
        R, H = "tessera_http_requests_total", "tessera_http_request_duration_seconds"
        me = {"method": "GET", "route": "/api/me"}
        t.eq(delta(m0, m1, R, code="200", **me), n,
             "counts: requests{GET /api/me, 200} +%d" % n)
        t.eq(delta(m0, m1, H + "_count", **me), n, "counts: the histogram's count +%d" % n)
        t.eq(delta(m0, m1, H + "_bucket", le="+Inf", **me), n,
             "counts: ... its +Inf bucket +%d" % n)
        bk = [(float(dict(k[1])["le"]), v) for k, v in m1.items()
              if k[0] == H + "_bucket" and dict(k[1]).get("route") == "/api/me"]
        bk.sort()
        t.ok(all(bk[i][1] <= bk[i + 1][1] for i in range(len(bk) - 1)) and
             val(m1, H + "_sum", **me) > 0,
             "counts: the buckets are cumulative and the sum positive", bk)
        t.eq(delta(m0, m1, "tessera_token_checks_total", outcome="ok"), n,
             "counts: token checks ok +%d" % n)
        with open(app.log_path, "rb") as f:
            log = f.read()
        pids = set(re.findall(rb"tessera\[(\d+)\] req: GET /api/me\?probe=m\d+ 200", log))
        t.ok(len(pids) >= 2, "counts: both workers served (pids %s), one sum" % sorted(pids))

        # Refusals, each counted once by its outcome.
        s, h, b, doc = api.get("/api/me", basic(a.key, narrow.secret))
        t.eq(s, 401, "counts: a wrong secret (another token's) -> 401")
        s, h, b, doc = api.get("/api/me", basic(a.key, typo(a.secret)))
        t.eq(s, 401, "counts: a mistyped secret (its checksum fails) -> 401")
        s, h, b, doc = api.get("/api/me", basic("00000000-0000-4000-8000-000000000000",
                                                a.secret))
        t.eq(s, 401, "counts: an unknown key -> 401")
        s, h, b, doc = api.get("/api/me")
        t.eq(s, 401, "counts: no credential -> 401")
        s, h, b, doc = api.post("/api/sources", narrow.basic, {"name": "x", "type": "webhook"})
        t.eq(s, 403, "counts: a token without the scope -> 403")
        got = [api.get("/api/me", limited.basic)[0] for _ in range(14)]
        k = got.count(429)
        t.ok(k >= 1 and got.count(200) + k == 14,
             "counts: 14 quick requests of one token at 5/s: some 429 (%d)" % k, got)
        m2, _, _ = scrape(t, base)
        C = "tessera_token_checks_total"
        t.eq(delta(m1, m2, C, outcome="bad_secret"), 1, "counts: bad_secret +1")
        t.eq(delta(m1, m2, C, outcome="malformed"), 1, "counts: malformed +1")
        t.eq(delta(m1, m2, C, outcome="unknown"), 1, "counts: unknown +1")
        t.eq(delta(m1, m2, C, outcome="missing"), 1, "counts: missing +1")
        t.eq(delta(m1, m2, C, outcome="scope_refused"), 1, "counts: scope_refused +1")
        t.eq(delta(m1, m2, C, outcome="rate_limited"), k, "counts: rate_limited +%d" % k)
        t.eq(delta(m1, m2, C, outcome="ok"), 14 - k, "counts: ok +%d" % (14 - k))
        t.eq(delta(m1, m2, "tessera_rate_limit_refusals_total", limit="api_key"), k,
             "counts: rate_limit_refusals{api_key} +%d" % k)
        t.eq(delta(m1, m2, R, code="429", **me), k, "counts: requests{/api/me, 429} +%d" % k)
        t.eq(delta(m1, m2, R, code="401", **me), 4, "counts: requests{/api/me, 401} +4")
        t.eq(delta(m1, m2, R, code="403", method="POST", route="/api/sources"), 1,
             "counts: requests{POST /api/sources, 403} +1")

        # Webhook records, and route labels that are patterns.
        pid, src = pipeline(api, a, "hook")
        m3, _, _ = scrape(t, base)
        body = "[" + ",".join('{"i":%d}' % i for i in range(7)) + "]"
        s, h, b, doc = api.post("/webhook?pipeline_id=%d" % pid, a.basic, body)
        t.eq(s, 200, "counts: a webhook of 7 records -> 200")
        s, h, b, doc = api.post("/webhook?pipeline_id=%d" % pid, a.basic, "[not json")
        t.eq(s, 400, "counts: a malformed webhook -> 400")
        api.get("/api/sources/%d" % src, a.basic)
        api.get("/api/sources/999999", a.basic)
        s, h, b, doc = api.post("/api/pipelines/%d/run" % pid, a.basic, {})
        t.ok(s in (200, 201, 202), "runs: a run asked for -> %d" % s, b)
        m4, _, text = scrape(t, base)
        t.eq(delta(m3, m4, "tessera_webhook_records_total"), 7,
             "counts: webhook_records +7 (the 400 adds none)")
        routes = set(dict(k[1]).get("route") for k in m4 if k[0] == R)
        t.ok("/api/sources/{id}" in routes and not any(
            r and re.search(r"/\d+$", r) for r in routes),
            "labels: routes are patterns (/api/sources/{id}), never raw paths", routes)
        t.eq(delta(m3, m4, R, method="GET", route="/api/sources/{id}", code="200") +
             delta(m3, m4, R, method="GET", route="/api/sources/{id}", code="404"), 2,
             "labels: GET /api/sources/1 and /999999 under one route")
        queued = db.val("SELECT count(*) FROM runs WHERE status = 'queued'")
        t.ok(queued == 1 and val(m4, "tessera_runs", status="queued") == 1,
             "runs: tessera_runs{queued} 1, as the database has it (%d)" % queued)
        t.eq(val(m4, "tessera_runs", status="running"), 0, "runs: tessera_runs{running} 0")

        # A worker killed: the supervisor respawns it and counts it.
        before = val(m4, "tessera_process_restarts_total", process="worker")
        kids = children(app.pid)
        os.kill(kids[0], signal.SIGKILL)
        t.ok(wait_for(lambda: len(children(app.pid)) == 2 and
                      kids[0] not in children(app.pid), 10),
             "restarts: the killed worker is replaced")
        m5 = {}
        for _ in range(50):
            m5, _, _ = scrape(t, base)
            if val(m5, "tessera_process_restarts_total", process="worker") > before:
                break
            time.sleep(0.1)
        t.eq(val(m5, "tessera_process_restarts_total", process="worker") - before, 1,
             "restarts: process_restarts{worker} +1")
        t.eq(val(m5, "tessera_process_restarts_total", process="runner"), 0,
             "restarts: the runner was not restarted")

        # The database held by another writer: the write answers 503 and
        # the store counts it as busy (every worker sees one map).
        D = "tessera_database_errors_total"
        with db.locked():
            s, h, b, doc = api.post("/api/sources", a.basic, {"name": "held", "type": "x"})
        t.eq(s, 503, "database: a write while another holds the database -> 503")
        m6, _, _ = scrape(t, base)
        busy = delta(m5, m6, D, kind="busy")
        t.ok(busy >= 1, "database: database_errors{busy} +%d (at least 1)" % busy)
        t.eq(sum(delta(m5, m6, D, kind=k) for k in ("full", "readonly", "io", "other")), 0,
             "database: ... and no other kind")
        t.eq(delta(m5, m6, R, code="503", method="POST", route="/api/sources"), 1,
             "database: requests{POST /api/sources, 503} +1")


def run_counts(t, work):
    """Runs ended by the runner of tessera serve: runs_finished{status}."""
    data = init_data(os.path.join(work, "data-runs"))
    add_user(data, "ana@example.com", PW, role="admin")
    db = Db(data)
    a = cli_token(data, "ana@example.com", "a", "--scopes", ",".join(ALL_USER_SCOPES))
    app, web = app_and_nginx(work, "runs", data, dict(NO_LIMITS, TESSERA_METRICS_PATH="/metrics",
                                               TESSERA_RUN_POLL_MS=50), workers=1)
    with app, web:
        api, base = Api(web.base_url), web.base_url
        m0, _, _ = scrape(t, base)
        src = api.post("/api/sources", a.basic, {"name": "hook", "type": "webhook"})[3]
        dst = api.post("/api/destinations", a.basic, {"name": "via", "type": "via"})[3]
        ok_pid, off_pid = (dig(api.post("/api/pipelines", a.basic, {
            "name": n, "type": "standard", "source_id": dig(src, "data", "id"),
            "destination_id": dig(dst, "data", "id")})[3], "data", "id")
            for n in ("fine", "off"))
        for pid in (ok_pid, off_pid):
            api.post("/webhook?pipeline_id=%d" % pid, a.basic, [{"x": 1}, {"x": 2}])
        db.run("UPDATE pipelines SET active = 0 WHERE id = ?", off_pid)
        for pid in (ok_pid, off_pid):
            s = api.post("/api/pipelines/%d/run" % pid, a.basic, {})[0]
            t.eq(s, 200, "runs: a run of pipeline %d asked for" % pid)
        t.ok(wait_for(lambda: db.val("SELECT count(*) FROM runs WHERE status IN "
                                     "('success', 'failed')") == 2, 20),
             "runs: both ended")
        m1, _, _ = scrape(t, base)
        F = "tessera_runs_finished_total"
        t.eq((delta(m0, m1, F, status="success"), delta(m0, m1, F, status="failed")),
             (1.0, 1.0), "runs: runs_finished{success} +1 and {failed} +1 (the "
             "switched-off pipeline's)")
        t.eq(val(m1, "tessera_runs", status="queued") + val(m1, "tessera_runs",
                                                              status="running"), 0,
             "runs: none queued or running any more")


def main():
    t = Tap()
    work = scratch("metrics")
    off(t, work)
    counts(t, work)
    run_counts(t, work)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
