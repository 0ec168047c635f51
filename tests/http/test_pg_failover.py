"""Failover on PostgreSQL: a primary with a synchronous hot standby
(tests/http/pg.py), `tessera serve` (2 workers) behind nginx with a URI
naming both hosts and target_session_attrs=read-write. Webhooks are posted
in a loop; the primary is killed with SIGKILL (postmaster and children),
the standby is promoted, the posting goes on for a while.

What must hold:
  (a) while no primary was reachable, every answer was 503 (never 500);
  (b) the workers found the new primary by themselves (200s again after
      the promotion; the gap from the last 200 before the kill to the first
      one after the promotion is printed);
  (c) every delivery answered 200 is on the promoted standby;
  (d) /healthz answers afterwards, and the log holds no secret.
The database's own default is synchronous_commit = off (ALTER DATABASE),
as an operator might set it for speed: (c) holds because the host raises
it to on for its connections (fcgi/store/db_pg.c session_setup)."""

import base64
import collections
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pg import Postgres, multi_host_uri  # noqa: E402
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import BIN, NO_LIMITS, Tap, app_env, scratch, webhook_pipeline  # noqa: E402

PW = "correct horse battery"


class TimedLoad:
    """Threads posting webhooks until stop(), each a JSON object with a
    unique "rid". Every answer is kept: (sent, answered, status, rid), the
    times from time.monotonic(); status 0 means no answer."""

    def __init__(self, base, headers, pipeline_id, threads=2, timeout=15):
        self.log = []
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._url = base + "/webhook?pipeline_id=%d" % pipeline_id
        self._headers, self._timeout = headers, timeout
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True)
                         for n in range(threads)]
        for th in self._threads:
            th.start()

    def _run(self, n):
        i = 0
        while not self._stop.is_set():
            i += 1
            rid = "f%d-%d" % (n, i)
            sent = time.monotonic()
            try:
                st = http("POST", self._url, self._headers,
                          json.dumps({"rid": rid, "n": i}), timeout=self._timeout)[0]
            except OSError:
                st = 0
            with self._lock:
                self.log.append((sent, time.monotonic(), st, rid))

    def answers(self):
        with self._lock:
            return list(self.log)

    def count(self, pred):
        return sum(1 for a in self.answers() if pred(*a))

    def stop(self):
        self._stop.set()
        for th in self._threads:
            th.join(self._timeout + 5)


def wait_until(cond, timeout, step=0.02):
    """Polls cond() until true or timeout seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


def ms(seconds):
    return int(round(seconds * 1000))


def main():
    t = Tap()
    started = time.monotonic()
    work = scratch("pg_failover")
    with Postgres(os.path.join(work, "pg1")) as primary, \
            primary.standby(os.path.join(work, "pg2"), app_name="tessera_standby") as standby:
        t.eq(primary.replication().get("tessera_standby"), ("streaming", "sync"),
             "the standby streams from the primary, as its synchronous standby")
        t.eq((primary.value("postgres", "SHOW synchronous_commit"),
              primary.value("postgres", "SHOW synchronous_standby_names")),
             ("on", '"tessera_standby"'),
             "synchronous_commit = on, synchronous_standby_names names it: "
             "a commit waits for the standby's flush")
        t.eq(standby.value("postgres", "SHOW synchronous_standby_names"), "",
             "the standby's own synchronous_standby_names is empty (once promoted "
             "it waits for nobody)")
        primary.createdb("tessera")
        primary.psql("postgres", "ALTER DATABASE tessera SET synchronous_commit = off")
        t.eq(primary.value("tessera", "SHOW synchronous_commit"), "off",
             "the database's default: synchronous_commit = off")
        uri = multi_host_uri("tessera", [primary, standby],
                             target_session_attrs="read-write", connect_timeout=2)
        print("# database = %s" % uri)
        failover(t, work, uri, primary, standby)
    print("# the test took %.1f s" % (time.monotonic() - started))
    return t.done()


def setup_data(t, work, uri):
    """init, a user and a token through the two-host URI; the token's
    Basic headers and secret."""
    data = os.path.join(work, "data")
    env = dict(os.environ, TESSERA_DATABASE=uri)
    r = subprocess.run([BIN, "init", "--data", data], env=env,
                       capture_output=True, text=True, timeout=60)
    t.eq(r.returncode, 0, "tessera init through the two-host URI")
    r = subprocess.run([BIN, "user", "add", "--data", data, "--email", "ana@example.com",
                        "--role", "admin", "--account", "Acme"], env=env, input=PW + "\n",
                       capture_output=True, text=True, timeout=60)
    t.eq(r.returncode, 0, "tessera user add")
    r = subprocess.run([BIN, "token", "add", "--data", data, "--email", "ana@example.com",
                        "--description", "failover", "--scopes",
                        "objects:read,objects:write,webhook:write,records:read"],
                       env=env, capture_output=True, text=True, timeout=60)
    key = re.search(r"Token Key: (\S+)", r.stdout)
    tok = re.search(r"Token: +(\S+)", r.stdout)
    t.ok(r.returncode == 0 and key and tok, "tessera token add", r.stderr)
    if not (key and tok):
        return data, None, None
    auth = {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (key.group(1), tok.group(1))).encode()).decode(),
        "Content-Type": "application/json"}
    return data, auth, tok.group(1)


def failover(t, work, uri, primary, standby):
    data, auth, secret = setup_data(t, work, uri)
    if auth is None:
        return
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    aenv = app_env(data, **NO_LIMITS)
    aenv["TESSERA_DATABASE"] = uri
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2, env=aenv) as app, \
            Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url
        pid = webhook_pipeline(base, auth)
        t.ok(pid is not None, "a webhook pipeline is created")
        if pid is None:
            return
        load = TimedLoad(base, auth, pid)
        try:
            timeline = run_failover(t, load, primary, standby)
        finally:
            load.stop()
        if timeline is None:
            return
        judge(t, load.answers(), timeline)
        stored_on_standby(t, standby, pid, load.answers())
        s, _, body = http("GET", base + "/healthz")
        t.eq(s, 200, "/healthz answers 200 after the failover")
        s, _, _ = http("GET", base + "/api/me", auth)
        t.eq(s, 200, "/api/me answers 200 after the failover")
        # The workers write their log lines as they go: wait until every
        # reconnection the load caused is there (or a deadline).
        wait_until(lambda: "database: connected again" in log_of(app), 5)
        log = log_of(app)
    # Each worker that answered 503 found the new primary by itself.
    refused = set(re.findall(r"tessera\[(\d+)\] req: POST /webhook\S* 503 ", log))
    back = set(re.findall(r"tessera\[(\d+)\] info: database: connected again", log))
    print("# workers that answered 503: %s; that connected again: %s"
          % (sorted(refused), sorted(back)))
    t.ok(refused and refused <= back,
         "every worker that answered 503 logged its reconnection")
    t.hasnt(log, secret, "the log holds no token secret")
    t.ok("password" not in log.lower().replace("password_hash", ""),
         "the log holds no password")


def log_of(app):
    with open(app.log_path, errors="replace") as f:
        return f.read()


def run_failover(t, load, primary, standby):
    """Posting is going on: wait for some 200s, kill the primary, wait for
    the outage to be answered, promote, wait for 200s again and go on a
    little. The times of each step."""
    ok = wait_until(lambda: load.count(lambda s, a, st, r: st == 200) >= 20, 15)
    t.ok(ok, "webhooks are acknowledged before the kill (%d)"
         % load.count(lambda s, a, st, r: st == 200))
    if not ok:
        return None
    kill = time.monotonic()
    victims = primary.crash()
    killed = time.monotonic()
    print("# the primary killed with SIGKILL: postmaster %d and %d children, in %d ms"
          % (victims[0], len(victims) - 1, ms(killed - kill)))
    # The outage: a second at least, and ten answers at least to requests
    # sent once the primary was dead.
    ok = wait_until(lambda: time.monotonic() >= killed + 1 and load.count(
        lambda s, a, st, r: s >= killed) >= 10, 10)
    t.ok(ok, "requests were answered while no primary was reachable (%d)"
         % load.count(lambda s, a, st, r: s >= killed))
    promote = time.monotonic()
    standby.promote()
    promoted = time.monotonic()
    print("# the standby promoted in %d ms, %d ms after the kill"
          % (ms(promoted - promote), ms(promoted - killed)))
    t.ok(not standby.in_recovery(), "the standby is a primary now")
    # Reconnection: 200s for requests sent after the promotion.
    back = wait_until(lambda: load.count(
        lambda s, a, st, r: s >= promoted and st == 200) >= 10, 15)
    t.ok(back, "webhooks are acknowledged again after the promotion, without a restart")
    # ... and the posting goes on a little longer.
    after = time.monotonic() + 2
    wait_until(lambda: time.monotonic() >= after, 3)
    return {"kill": kill, "killed": killed, "promote": promote, "promoted": promoted}


def judge(t, answers, tl):
    every = collections.Counter(st for _, _, st, _ in answers)
    outage = [(s, a, st) for s, a, st, _ in answers if s >= tl["killed"] and a < tl["promote"]]
    during = collections.Counter(st for _, _, st in outage)
    print("# every status seen: %s" % dict(sorted(every.items())))
    print("# statuses of requests sent after the kill, answered before the promotion: %s"
          % dict(sorted(during.items())))
    t.ok(len(outage) >= 1, "requests fell wholly in the outage (%d)" % len(outage))
    t.eq(sorted(during), [503], "while no primary was reachable, every answer was 503")
    t.eq(every.get(500, 0), 0, "no 500 at all")
    t.eq(sorted(set(every) - {200, 503}), [], "no status but 200 and 503 was ever seen")

    # A request sent before the kill may be answered 200 a moment after it
    # (its commit was in before the kill): it counts as before.
    before = [a for s, a, st, _ in answers if st == 200 and s < tl["killed"]]
    again = [a for s, a, st, _ in answers if st == 200 and a >= tl["promote"]]
    t.ok(before and again, "200s before the kill and after the promotion")
    if before and again:
        last, first = max(before), min(again)
        print("# failover gap: %d ms from the last 200 before the kill to the first 200 "
              "after the promotion (the primary dead at +%d ms, the promotion begun at "
              "+%d ms and done at +%d ms; the first 200 %d ms after the promotion began)"
              % (ms(first - last), ms(tl["killed"] - last), ms(tl["promote"] - last),
                 ms(tl["promoted"] - last), ms(first - tl["promote"])))
        # 503s after the promotion: a worker finds its connection dead only
        # when it uses it, then reconnects at its next request.
        late = collections.Counter(st for s, a, st, _ in answers if s >= tl["promoted"])
        print("# statuses of requests sent after the promotion: %s" % dict(sorted(late.items())))


def stored_on_standby(t, standby, pipeline_id, answers):
    acked = [rid for _, _, st, rid in answers if st == 200]
    out = standby.psql("tessera", "SELECT r.data FROM records r LEFT JOIN deliveries d "
                       "ON d.id = r.delivery_id WHERE r.pipeline_id = %d AND "
                       "(r.delivery_id IS NULL OR d.done_at IS NOT NULL);" % pipeline_id)
    stored = collections.Counter(json.loads(line).get("rid")
                                 for line in out.splitlines() if line.strip())
    missing = [rid for rid in acked if rid not in stored]
    unacked = sum(1 for rid in stored if rid not in set(acked))
    print("# webhooks: %d acknowledged, %d records on the promoted standby "
          "(%d of them answered other than 200: stored, the answer lost), %d missing"
          % (len(acked), sum(stored.values()), unacked, len(missing)))
    t.ok(len(acked) > 40, "the loop was served (%d acknowledged)" % len(acked))
    t.eq(missing, [], "every acknowledged delivery is on the promoted standby")
    t.eq([rid for rid, n in stored.items() if n > 1], [], "no delivery stored twice")


if __name__ == "__main__":
    sys.exit(main())
