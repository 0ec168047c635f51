"""Notifications out (host.notify, fcgi/process/notify.c) through nginx
and `tessera serve` (whose runner delivers them) to receivers of the
test's own (Python http.server on 127.0.0.1, free high ports, stopped by
the test): a message is queued in the transaction that caused it (and
gone when it rolls back), dropped when no target has its name, delivered
with a signature the test checks independently (HMAC-SHA256 of timestamp
"." body with DATA/notify.key, made 0600), retried after a 500, and
recorded failed with an audit row after the last try; the secret is never
logged; `tessera config` shows the settings and refuses a bad target."""

import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import PW, Api, Db, cli, cli_token, log_text  # noqa: E402
from servers import Nginx, TesseraServe, free_port  # noqa: E402
from tap import BIN, FIXTURES, Tap, add_user, app_env, init_data, scratch  # noqa: E402

ROUTES = r'''
-- POST /api/test/notify?name=N[&fail=1]: host.notify inside host.db.tx,
-- rolled back with fail
local http = require "http"
return function(r)
  r:add("POST", "/api/test/notify", function(req)
    local ok, queued = pcall(host.db.tx, function()
      local q = host.notify(req.query.name, { name = req.query.name,
        n = 9007199254740993, text = "caf\u{e9}" })
      if req.query.fail then error("rolled back on purpose") end
      return q
    end)
    if not ok then return http.fail(500, "INTERNAL_ERROR", "rolled back") end
    return http.json(200, { queued = queued })
  end, "objects:write")
end
'''


class Receiver:
    """An HTTP server on 127.0.0.1 answering each POST with the next of
    statuses (the last one for ever); keeps what it got."""

    def __init__(self, statuses, hang=0):
        self.statuses = list(statuses)
        self.got = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.got.append((dict(self.headers), body, time.time()))
                if hang:
                    time.sleep(hang)   # past notify_timeout: the runner hangs up
                st = outer.statuses[min(len(outer.got), len(outer.statuses)) - 1]
                self.send_response(st)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", free_port()), H)
        self.srv.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hook" % self.srv.server_address[1]
        self.th = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.th.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def wait(cond, secs=20):
    end = time.time() + secs
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    return cond()


def main():
    t = Tap()
    work = scratch("notify")
    lua = os.path.join(work, "lua")
    os.makedirs(lua)
    with open(os.path.join(lua, "notify_routes.lua"), "w") as f:
        f.write(ROUTES)
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", PW, role="admin")
    tok = cli_token(data, "ana@example.com", "notifier")
    db = Db(data)
    good, flaky, dead = Receiver([200]), Receiver([500, 200]), Receiver([500])
    slow = Receiver([200], hang=30)
    targets = "good=%s, flaky=%s\ndead=%s slow=%s" % (good.url, flaky.url, dead.url,
                                                    slow.url)
    settings = dict(TESSERA_NOTIFY_TARGETS=targets, TESSERA_NOTIFY_INTERVAL=1,
                    TESSERA_NOTIFY_BACKOFF_SECONDS=1, TESSERA_NOTIFY_MAX_ATTEMPTS=3,
                    TESSERA_NOTIFY_TIMEOUT=2)

    r = cli(data, "config", env=settings)
    out = r.stdout.decode()
    t.ok(r.returncode == 0 and "notify_targets = " + targets in out and
         "notify_secret_file = %s/notify.key" % os.path.realpath(data) in out.replace(
             data, os.path.realpath(data)) and "notify_max_attempts = 3" in out,
         "tessera config shows the notify settings, the secret file under data_dir", out)
    for bad in ("x=ftp://example.com/", "Bad=http://example.com/", "nourl",
                "x=http:///path"):
        r = cli(data, "config", env={"TESSERA_NOTIFY_TARGETS": bad})
        t.ok(r.returncode != 0 and b"notify_targets" in r.stderr,
             "a bad notify_targets entry is refused: %r" % bad, r.stderr)

    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    app = TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2, env=app_env(
        data, lua_dir=lua + ":" + FIXTURES, TESSERA_EXTRA_ROUTES="fixture_routes,notify_routes",
        TESSERA_RATE_LIMIT_API_KEY=0, TESSERA_RATE_LIMIT_API_IP=0, **settings))
    web = Nginx(os.path.join(work, "nginx"), free_port(), sock)
    try:
        with app, web:
            api = Api(web.base_url)
            auth = tok.basic
            outbox = lambda: db.val("SELECT count(*) FROM outbox")  # noqa: E731

            # Queued with the transaction, or not at all.
            s, h, b, doc = api.post("/api/test/notify?name=good&fail=1", auth, {})
            t.ok(s == 500 and outbox() == 0,
                 "a transaction that rolls back takes its notification with it", b)
            s, h, b, doc = api.post("/api/test/notify?name=nowhere", auth, {})
            t.ok(s == 200 and doc.get("queued") is False and outbox() == 0,
                 "no target of that name: host.notify answers false, nothing queued", b)
            t.ok(wait(lambda: b'no notify_targets entry for \\"nowhere\\"' in
                      log_text(app.log_path) or b'entry for "nowhere"' in
                      log_text(app.log_path), 5),
                 "... and says so in the log")
            s, h, b, doc = api.post("/api/test/notify?name=Bad%20Name", auth, {})
            t.eq(s, 500, "a name that is not a-z 0-9 _: an error in the script")

            # Delivered, signed.
            s, h, b, doc = api.post("/api/test/notify?name=good", auth, {})
            t.ok(s == 200 and doc.get("queued") is True and outbox() == 1,
                 "host.notify in a committed transaction: queued", b)
            t.ok(wait(lambda: good.got), "the runner delivers it to the receiver")
            t.ok(wait(lambda: db.val("SELECT status FROM outbox WHERE name = 'good'")
                      == "delivered", 10), "... and marks it delivered")
            hd, body, _ = good.got[0]
            key_path = os.path.join(data, "notify.key")
            t.eq(oct(os.stat(key_path).st_mode & 0o777), "0o600",
                 "the signing secret was made 0600 under data_dir")
            with open(key_path, "rb") as f:
                secret = f.read().rstrip()
            ts = hd.get("X-Tessera-Timestamp", "")
            want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
            t.eq(hd.get("X-Tessera-Signature"), want,
                 "X-Tessera-Signature is HMAC-SHA256(secret, timestamp.body)")
            t.ok(ts.isdigit() and abs(int(ts) - time.time()) < 30,
                 "X-Tessera-Timestamp is the Unix time of the send", ts)
            rid = db.val("SELECT id FROM outbox WHERE name = 'good'")
            t.ok(hd.get("X-Tessera-Event") == "good" and
                 hd.get("X-Tessera-Delivery") == str(rid) and
                 hd.get("Content-Type") == "application/json",
                 "headers: the event, the delivery id, JSON", hd)
            t.eq(json.loads(body), {"name": "good", "n": 9007199254740993, "text": "caf\u00e9"},
                 "the body is the payload as JSON, integers exact")
            time.sleep(1.5)
            t.eq(len(good.got), 1, "delivered once, not again")

            # Retried after a 500; failed after the last try.
            t0 = time.time()
            api.post("/api/test/notify?name=flaky", auth, {})
            api.post("/api/test/notify?name=dead", auth, {})
            t.ok(wait(lambda: db.val("SELECT status FROM outbox WHERE name = 'flaky'")
                      == "delivered"),
                 "a receiver that answered 500 gets it on a retry")
            t.ok(len(flaky.got) == 2 and flaky.got[1][2] - flaky.got[0][2] >= 0.9 and
                 flaky.got[0][0].get("X-Tessera-Delivery") ==
                 flaky.got[1][0].get("X-Tessera-Delivery"),
                 "... twice, a backoff apart, the same delivery id",
                 [(g[0].get("X-Tessera-Delivery"), g[2] - t0) for g in flaky.got])
            t.eq(db.one("SELECT attempts, last_status FROM outbox WHERE name = 'flaky'"),
                 (2, 200), "... attempts 2, last status 200")
            t.ok(wait(lambda: db.val("SELECT status FROM outbox WHERE name = 'dead'")
                      == "failed"),
                 "a receiver that always answers 500: recorded failed")
            t.eq(db.one("SELECT attempts, last_status FROM outbox WHERE name = 'dead'"),
                 (3, 500), "... after notify_max_attempts (3) tries, last status 500")
            times = [g[2] - t0 for g in dead.got]
            t.ok(len(dead.got) == 3 and times[2] - times[1] >= times[1] - times[0] + 0.5,
                 "... three requests, the backoff doubling", times)
            a = db.all("SELECT action, object, detail, account_id FROM audit_log "
                       "WHERE action = 'notify.failed'")
            t.ok(len(a) == 1 and a[0][1] == "dead" and "3 attempts" in a[0][2] and
                 "HTTP 500" in a[0][2] and a[0][3] is None,
                 "... and one audit row notify.failed naming it and the last status", a)

            # A receiver that never answers is hung up on after
            # notify_timeout; the others are served meanwhile.
            api.post("/api/test/notify?name=slow", auth, {})
            t.ok(wait(lambda: slow.got, 10), "a receiver that never answers gets the POST")
            t1 = time.time()
            api.post("/api/test/notify?name=good", auth, {})
            t.ok(wait(lambda: len(good.got) == 2, 10) and time.time() - t1 < 8,
                 "... and does not stall the runner: the next message arrives within "
                 "seconds", time.time() - t1)
            t.ok(wait(lambda: db.one("SELECT attempts, last_status, status FROM outbox "
                                     "WHERE name = 'slow'")[0] >= 2, 15),
                 "... its message is tried again (no answer: last status 0)",
                 db.one("SELECT attempts, last_status, status FROM outbox WHERE name = 'slow'"))
            log = log_text(app.log_path)
            t.has(log, b"no answer", "... and the log says there was no answer")
            t.hasnt(log, secret, "the secret is never in the log")
    finally:
        for rcv in (good, flaky, dead, slow):
            rcv.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
