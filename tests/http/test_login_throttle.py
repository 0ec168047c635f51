"""Login throttling (step 8, fault 5) through nginx listening on 127.0.0.1
and [::1], two client addresses:

    pair lock     login_max_failures (3 here) wrong passwords for an email from
                  one address lock that (email, address) pair, right
                  password included
    no lockout    the right password from another address is at most slowed
                  (a few seconds), never locked out; the slow-down grows
                  with the email's failures (2, 4, 8 ... 60 s)
    exact count   concurrent wrong attempts for one email from one address:
                  exactly login_max_failures of them are tried, the rest 429
                  (attempts are counted before their password is checked)
"""

import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import PW, Db  # noqa: E402
from client import Client  # noqa: E402
from servers import Nginx, TesseraServe, free_port, free_port6  # noqa: E402
from tap import BIN, Tap, add_user, app_env, init_data, scratch  # noqa: E402


def attempt(base, email, password):
    """One login from a fresh browser: (status, Retry-After)."""
    c = Client(base)
    c.get("/login")
    s, h, b = c.post("/login", {"email": email, "password": password,
                                "csrf": c.csrf()})
    return s, h.get("Retry-After")


def main():
    t = Tap()
    work = scratch("login-throttle")
    data = init_data(os.path.join(work, "data"))
    for who in ("ana", "bob", "carol"):
        add_user(data, "%s@example.com" % who, PW)
    db = Db(data)
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    p4, p6 = free_port(), free_port6()
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2,
                      env=app_env(data, TESSERA_LOGIN_MAX_FAILURES=3)) as app, \
            Nginx(os.path.join(work, "nginx"), p4, sock,
                  listens=["127.0.0.1:%d" % p4, "[::1]:%d" % p6]) as web:
        v4, v6 = "http://127.0.0.1:%d" % p4, "http://[::1]:%d" % p6

        # The pair lock: login_max_failures (3 here) wrong from one address
        # lock that pair.
        got = [attempt(v4, "ana@example.com", "wrong %d" % i)[0] for i in range(3)]
        t.eq(got, [401] * 3, "three wrong passwords for ana from 127.0.0.1 -> 401 each")
        s, ra = attempt(v4, "ana@example.com", PW)
        t.ok(s == 429 and ra and int(ra) > 60,
             "... the right one from 127.0.0.1 now -> 429, for the window", (s, ra))

        # No lockout: from ::1 the right password gets through, at most slowed.
        t0 = time.monotonic()
        s, ra = attempt(v6, "ana@example.com", PW)
        if s == 429:
            t.ok(ra and 1 <= int(ra) <= 2, "from ::1: slowed by the email's three failures "
                 "(Retry-After %s, at most 2 s)" % ra, ra)
            time.sleep(int(ra) + 0.1)
            s, ra = attempt(v6, "ana@example.com", PW)
        else:
            t.ok(True, "from ::1: not even slowed")
        t.eq(s, 303, "... and the right password from ::1 logs ana in (%.1f s)" %
             (time.monotonic() - t0))
        t.eq(attempt(v4, "ana@example.com", PW)[0], 429,
             "... 127.0.0.1 stays locked for ana (the pair)")
        t.eq(attempt(v4, "bob@example.com", PW)[0], 303,
             "... while bob logs in from 127.0.0.1 (another pair)")

        # The slow-down grows with the email's failures, from any address.
        waits = []
        for i in range(3):
            s, ra = attempt(v6, "bob@example.com", "wrong")
            while s == 429:
                waits.append(int(ra))
                time.sleep(int(ra) + 0.1)
                s, ra = attempt(v6, "bob@example.com", "wrong")
            s, ra = attempt(v4, "bob@example.com", "wrong")
            while s == 429 and len(waits) < 12:
                waits.append(int(ra))
                time.sleep(int(ra) + 0.1)
                s, ra = attempt(v4, "bob@example.com", "wrong")
        print("# bob's slow-down waits: %s" % waits)
        t.eq(db.val("SELECT count(*) FROM login_failures WHERE scope = 'email' "
                    "AND key = 'bob@example.com'"), 6,
             "six wrong passwords for bob, from two addresses, all counted")
        t.ok(len(waits) >= 3 and waits == sorted(waits) and waits[-1] > waits[0] and
             max(waits) <= 16,
             "bob's tries past the third waited longer each time (2, 4, 8 s)", waits)

        # Exact count under concurrency: 8 at once, 3 tried.
        results, lock = [], threading.Lock()
        gate = threading.Barrier(8)

        def go(i):
            gate.wait()
            r = attempt(v4, "carol@example.com", "wrong %d" % i)[0]
            with lock:
                results.append(r)

        ts = [threading.Thread(target=go, args=(i,)) for i in range(8)]
        for th in ts:
            th.start()
        for th in ts:
            th.join()
        t.ok((results.count(401), results.count(429)) == (3, 5),
             "8 concurrent wrong passwords for carol: exactly 3 tried, 5 refused", results)
        t.eq(db.val("SELECT count(*) FROM login_failures WHERE scope = 'pair' "
                    "AND key = 'carol@example.com 127.0.0.1'"), 3,
             "... and 3 failures recorded for the pair")
        with open(app.log_path, "rb") as f:
            log = f.read()
        t.ok(PW.encode() not in log and not re.search(rb"wrong \d", log),
             "no password in the log")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
