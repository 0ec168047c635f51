"""Secrets left in memory (step 8, fault 6): after a request, nothing of
its credentials or of a secret it made stays in the worker's memory.

Through nginx to `tessera serve` with one worker, a browser logs in (its
password), a program calls the API with Basic and with ?key=&token=
credentials and sends a webhook with query credentials, a token is made
through the API and another on the tokens page (their secrets are in the
answers). Then every readable mapping of the worker (heap, stacks,
libfcgi's buffers, Lua's memory) is read through /proc/PID/mem and
searched for each of them: the password, both secrets and the one used,
the Basic header's base64, the session cookie.

A control proves the scan reads the right memory: the token's key (not a
secret; in SQLite's page cache, or on PostgreSQL once the worker has read
its row for the tokens page) is found. The scan needs root, or the
right to trace the worker; without it the checks are skipped, saying so.
"""

import base64
import os
import re
import secrets
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import ALL_USER_SCOPES, cli_token  # noqa: E402
from client import Client  # noqa: E402
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import (BIN, Tap, add_user, app_env, children, engine, init_data,  # noqa: E402
                 scratch)

SECRET = re.compile(rb"tsr_[0-9A-Za-z]{49}")


def memory(pid):
    """Every readable private or anonymous mapping of pid, as one bytes
    object (mappings separated by a NUL run); None when unreadable."""
    chunks = []
    try:
        with open("/proc/%d/maps" % pid) as maps, \
                open("/proc/%d/mem" % pid, "rb", 0) as mem:
            for line in maps:
                f = line.split()
                if "r" not in f[1] or (len(f) > 5 and f[5] in ("[vvar]", "[vsyscall]")):
                    continue
                if len(f) > 5 and f[5].startswith("/") and "w" not in f[1]:
                    continue  # a read-only file mapping: code, constants
                lo, hi = (int(x, 16) for x in f[0].split("-"))
                if hi - lo > 1 << 30:
                    continue  # a sanitizer's shadow reservation, not data
                try:
                    mem.seek(lo)
                    chunks.append(mem.read(hi - lo))
                except (OSError, ValueError, OverflowError):
                    continue
    except OSError:
        return None
    return (b"\0" * 16).join(chunks) if chunks else None


def main():
    t = Tap()
    work = scratch("secrets-memory")
    data = init_data(os.path.join(work, "data"))
    password = "Mem-" + secrets.token_hex(12)
    add_user(data, "ana@example.com", password, role="admin")
    tok = cli_token(data, "ana@example.com", "memory probe", "--scopes",
                    ",".join(ALL_USER_SCOPES))
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    port = free_port()
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=1,
                      env=app_env(data)) as app, \
            Nginx(os.path.join(work, "nginx"), port, sock) as web:
        base = web.base_url
        basic = "Basic " + base64.b64encode(
            ("%s:%s" % (tok.key, tok.secret)).encode()).decode()
        query = "key=%s&token=%s" % (tok.key, tok.secret)
        pids = children(app.pid)
        t.eq(len(pids), 1, "one worker")
        if not pids or memory(pids[0]) is None:
            t.skip("the worker's memory scanned", "cannot read /proc/PID/mem "
                   "(needs root or the right to trace the worker)")
            return t.done()
        worker = pids[0]

        def scan(after, needles):
            """Reads the worker's memory once it is back waiting for the
            next request (it wipes after writing the answer) and looks
            for each needle."""
            time.sleep(0.3)
            t.eq(children(app.pid), [worker], "%s: the same worker" % after)
            mem = memory(worker) or b""
            control = "%s: control: the token's key (not a secret) is in the %d KiB read" % (
                after, len(mem) >> 10)
            if engine() == "postgresql" and not token_read:
                # Only SQLite's page cache holds the row before the worker
                # has read it; a PostgreSQL worker has it once it has.
                t.skip(control, "SQLite's file (in its page cache)")
            else:
                t.ok(tok.key.encode() in mem, control)
            for what, needle in needles:
                at = mem.find(needle)
                t.ok(at < 0, "%s: %s is not in the worker's memory" % (after, what),
                     "found at offset %d: %r" % (
                         at, mem[max(0, at - 64):at + 64 + len(needle)]))

        used = [("the secret used", tok.secret.encode()),
                ("the Basic header's base64", basic[6:].encode())]

        # A browser: the login form's password, the session cookie, a
        # token made on the page (its secret in the HTML answer).
        c = Client(base)
        s, _, _ = c.login("ana@example.com", password)
        t.eq(s, 303, "log in on the page")
        cookie = c.cookies.get("tessera")
        t.ok(cookie, "a session cookie", c.cookies)
        seen = [("the login password", password.encode()),
                ("the session cookie", (cookie or "-").encode())]
        token_read = False      # by this worker, from the database
        scan("after the login", seen)
        token_read = True       # the tokens page lists it
        s, _, page = c.get("/settings/tokens")
        s, _, page = c.shown(c.post("/settings/tokens",
                                    {"description": "made on the page",
                                     "csrf": c.csrf(page)}))
        m = SECRET.search(page)
        t.ok(s == 200 and m, "a token made on the page, its secret shown", s)
        seen.append(("the secret made on the page", m.group(0) if m else b"-"))
        scan("after the page made a token", seen)

        # A program: Basic and query credentials, a token made through the
        # API (its secret in the JSON answer), a webhook with query ones.
        s, _, _ = http("GET", base + "/api/me", {"Authorization": basic})
        t.eq(s, 200, "GET /api/me with Basic credentials")
        scan("after Basic credentials", used)
        s, _, _ = http("GET", base + "/api/me?" + query)
        t.eq(s, 200, "GET /api/me with ?key=&token=")
        scan("after query credentials", used)
        s, _, body = http("POST", base + "/api/tokens?" + query,
                          {"Content-Type": "application/json"},
                          b'{"description": "made by the API"}')
        m = SECRET.search(body)
        t.ok(s == 201 and m, "POST /api/tokens: a new secret in the answer", s)
        seen.append(("the secret made through the API", m.group(0) if m else b"-"))
        scan("after the API made a token", used + seen)
        s, _, _ = http("POST", base + "/webhook/memory?" + query,
                       {"Content-Type": "application/json"}, b'{"a": 1}')
        t.ok(s in (200, 202, 404), "a webhook with query credentials is answered", s)
        scan("after a webhook", used + seen)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
