"""Login, sessions, CSRF and the Settings page through nginx and
`tessera serve`: the contract of HTTP.md's browser section and step 2."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import Db, at_rest  # noqa: E402
from client import Client  # noqa: E402
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import (BIN, Tap, add_user, app_env, init_data, scratch,  # noqa: E402
                 tessera)

PW = "correct horse battery"
GENERIC = b"Invalid email or password."


def session_cookie(c):
    return c.cookies.get("tessera")


def main():
    t = Tap()
    work = scratch("login")
    data = init_data(os.path.join(work, "data"))
    add_user(data, "Alice@Example.com", PW, role="admin")
    add_user(data, "bob@example.com", PW)
    add_user(data, "carol@example.com", PW)
    add_user(data, "dave@example.com", PW)
    db = Db(data)
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    env = app_env(data, TESSERA_SESSION_IDLE=120)
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2,
                      env=env) as app, \
            Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url
        c = Client(base)

        # Not logged in: everything sends you to the login form.
        s, h, b = c.get("/")
        t.eq((s, h.get("Location")), (303, "/login"), "GET / -> 303 /login")
        s, h, b = c.get("/settings")
        t.eq((s, h.get("Location")), (303, "/login?next=%2Fsettings"),
             "GET /settings without a session -> /login?next=")
        s, h, b = c.get("/login")
        t.eq(s, 200, "GET /login")
        for field in (b'name="email"', b'name="password"', b'name="csrf"'):
            t.has(b, field, "login form has " + field.decode())
        t.ok("tessera_csrf" in c.cookies, "pre-session CSRF cookie set")
        for name, want in (("Cache-Control", "no-store"),
                           ("X-Content-Type-Options", "nosniff"),
                           ("Referrer-Policy", "same-origin"),
                           ("X-Frame-Options", "DENY")):
            t.eq(h.get(name), want, "login page header " + name)
        csp = h.get("Content-Security-Policy") or ""
        t.ok("frame-ancestors 'none'" in csp and "script-src 'self'" in csp
             and "unsafe-inline" not in csp, "strict CSP", csp)
        t.ok(not re.search(rb"<script(?![^>]*\bsrc=)", b) and
             b" style=" not in b and b"onclick" not in b,
             "no inline script or style on the page")

        # CSRF on the login form itself.
        token = c.csrf()
        s, h, b = c.post("/login", {"email": "bob@example.com",
                                    "password": PW})
        t.eq(s, 403, "login without csrf -> 403")
        s, h, b = c.post("/login", {"email": "bob@example.com",
                                    "password": PW, "csrf": token + "x"})
        t.eq(s, 403, "login with a wrong csrf -> 403")
        s, h, b = c.post("/login", {"email": "bob@example.com",
                                    "password": PW, "csrf": token},
                         headers={"Origin": "http://evil.example"})
        t.eq(s, 403, "login from another Origin -> 403")

        # Failure: one generic message, same for unknown emails.
        t0 = time.monotonic()
        s, h, b1 = c.post("/login", {"email": "bob@example.com",
                                     "password": "wrong", "csrf": token})
        t_wrong = time.monotonic() - t0
        t.eq(s, 401, "wrong password -> 401")
        t.has(b1, GENERIC, "generic message")
        t.has(b1, b'name="password"', "with the form again")
        t0 = time.monotonic()
        s, h, b2 = c.post("/login", {"email": "nobody@example.com",
                                     "password": "wrong", "csrf": token})
        t_unknown = time.monotonic() - t0
        t.eq(s, 401, "unknown email -> 401")
        t.eq(b2.replace(b"nobody@example.com", b"X"),
             b1.replace(b"bob@example.com", b"X"),
             "unknown email: the same page as a wrong password")
        t.ok(t_unknown > t_wrong / 3, "unknown email does the same hashing "
             "work (%.0f ms vs %.0f ms)" % (t_unknown * 1e3, t_wrong * 1e3))
        t.ok(session_cookie(c) is None, "no session after failures")

        # Success.
        pre = "A" * 43
        c.cookies["tessera"] = pre          # fixation attempt
        t0 = time.monotonic()
        s, h, b = c.post("/login", {"email": "bob@example.com",
                                    "password": PW, "csrf": token})
        login_ms = (time.monotonic() - t0) * 1000
        print("# login latency (Argon2id interactive): %.0f ms" % login_ms)
        t.eq((s, h.get("Location")), (303, "/settings/tokens"),
             "right credentials -> 303 /settings/tokens")
        sc = [v for v in h.get_all("Set-Cookie") or [] if v.startswith("tessera=")]
        t.ok(sc and "HttpOnly" in sc[0] and "SameSite=Lax" in sc[0] and
             "Path=/" in sc[0], "session cookie HttpOnly, SameSite=Lax", sc)
        t.ok(session_cookie(c) not in (None, pre),
             "a cookie set before login is replaced (no fixation)")
        sid = session_cookie(c)
        rows = db.all("SELECT id_hash FROM sessions")
        t.ok(all(sid.encode() not in bytes(r[0]) for r in rows) and
             len(rows) == 1, "only the hash of the session id is stored")
        t.hasnt(at_rest(data), sid.encode(), "session id not in the DB file")
        # The session's CSRF token is derived from the cookie, not stored.
        page_csrf = c.csrf(c.get("/settings/tokens")[2])
        cols = ([r[1] for r in db.all("PRAGMA table_info(sessions)")]
                if db.engine == "sqlite" else
                [r[0] for r in db.all("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = 'sessions' ORDER BY ordinal_position")])
        t.ok(page_csrf and "csrf" not in cols, "sessions keep no CSRF column", cols)
        t.hasnt(at_rest(data), page_csrf.encode(), "the session's CSRF token is nowhere on disk")
        c3 = Client(base)
        c3.login("carol@example.com", PW)
        t.ok(c3.csrf(c3.get("/settings/tokens")[2]) not in (None, page_csrf),
             "another session has another CSRF token")

        s, h, b = c.get("/settings")
        t.eq(s, 200, "GET /settings with the session")
        t.has(b, b"bob@example.com", "email shown in the top-right menu")
        t.has(b, b'href="/settings/tokens"', "Tokens section links to tokens")
        t.has(b, b">Tokens<", "Tokens section titled")
        t.eq(h.get("Cache-Control"), "no-store", "settings page not cached")
        s, h, b = c.get("/")
        t.eq((s, h.get("Location")), (303, "/settings/tokens"),
             "GET / logged in -> the tokens page")
        s, h, b = c.get("/login?next=/settings")
        t.eq(s, 303, "GET /login when logged in redirects")

        # Session rotation: a second login gives a new id; the old one dies.
        old = session_cookie(c)
        c.get("/login")
        c2 = Client(base)
        c2.cookies = dict(c.cookies)
        c2.get("/settings")
        s, h, b = c.post("/login", {"email": "bob@example.com",
                                    "password": PW, "csrf": c.csrf(
                                        c2.last[2])})
        t.ok(session_cookie(c) not in (None, old), "login rotates the id")
        s, h, b = c2.get("/settings")
        t.eq(s, 303, "the previous session id no longer works")

        # next: only local paths.
        for nxt, want in (("/settings?tab=1", "/settings?tab=1"),
                          ("/settings", "/settings"),
                          ("//evil.example/x", "/settings/tokens"),
                          ("https://evil.example/", "/settings/tokens"),
                          ("/\\evil.example", "/settings/tokens"),
                          ("javascript:alert(1)", "/settings/tokens")):
            cn = Client(base)
            s, h, b = cn.login("carol@example.com", PW, next_path=nxt)
            t.eq((s, h.get("Location")), (303, want), "next=%s -> %s" % (nxt, want))

        # CSRF on logout.
        s, h, b = c.get("/settings")
        s, h, b = c.post("/logout", {})
        t.eq(s, 403, "logout without csrf -> 403")
        s, h, b = c.post("/logout", {"csrf": "x" * 43})
        t.eq(s, 403, "logout with a wrong csrf -> 403")
        s, h, b = c.get("/logout")
        t.eq(s, 405, "logout by GET -> 405")
        s, h, b = c.post("/logout", {"csrf": c.csrf(c.get("/settings")[2])},
                         headers={"Referer": "http://evil.example/"},
                         origin=False)
        t.eq(s, 403, "logout with a foreign Referer -> 403")

        # Logout; the old cookie is dead.
        old = session_cookie(c)
        s, h, b = c.post("/logout", {"csrf": c.csrf(c.get("/settings")[2])})
        t.eq((s, h.get("Location")), (303, "/login"), "logout -> 303 /login")
        t.ok(session_cookie(c) is None, "logout clears the cookie")
        c.cookies["tessera"] = old
        s, h, b = c.get("/settings")
        t.eq((s, h.get("Location")), (303, "/login?next=%2Fsettings"),
             "reusing the logged-out cookie -> login")

        # Idle and absolute expiry (session_idle = 120 s here).
        ce = Client(base)
        ce.login("carol@example.com", PW)
        db.run("UPDATE sessions SET last_seen_at = last_seen_at - 121")
        t.eq(ce.get("/settings")[0], 303, "idle session expired")
        ce.login("carol@example.com", PW)
        t.eq(ce.get("/settings")[0], 200, "fresh session works")
        db.run("UPDATE sessions SET expires_at = %s - 1" % (
            "strftime('%s','now')" if db.engine == "sqlite" else
            "extract(epoch FROM now())::bigint"))
        t.eq(ce.get("/settings")[0], 303, "absolute lifetime expired")

        # A disabled user's session stops on the next request.
        cd = Client(base)
        cd.login("dave@example.com", PW)
        t.eq(cd.get("/settings")[0], 200, "dave logged in")
        r = tessera(data, "user", "disable", "dave@example.com")
        t.eq(r.returncode, 0, "tessera user disable")
        t.eq(cd.get("/settings")[0], 303, "disabled user's session ends")
        s, h, b = cd.login("dave@example.com", PW)
        t.eq(s, 401, "disabled user cannot log in (generic 401)")

        # Audit log has the logins.
        n = db.val("SELECT count(*) FROM audit_log WHERE action='login'")
        t.ok(n >= 5, "logins are in the audit log (%d)" % n)

        # Throttling per email: 5 failures, then 429 even with the right
        # password; Retry-After given.
        ct = Client(base)
        ct.get("/login")
        tok = ct.csrf()
        for i in range(5):
            ct.post("/login", {"email": "alice@example.com",
                               "password": "nope%d" % i, "csrf": tok})
        s, h, b = ct.post("/login", {"email": "ALICE@example.com",
                                     "password": PW, "csrf": tok})
        t.eq(s, 429, "6th try for the same email -> 429")
        ra = h.get("Retry-After") or ""
        t.ok(ra.isdigit() and 0 < int(ra) <= 900, "Retry-After given", ra)
        t.has(b, b"Too many attempts", "throttle message")
        # Per IP: 4x the allowance across emails.
        for i in range(20):
            ct.post("/login", {"email": "x%d@example.com" % i,
                               "password": "nope", "csrf": tok})
        s, h, b = ct.post("/login", {"email": "carol@example.com",
                                     "password": PW, "csrf": tok})
        t.eq(s, 429, "20 failures from one IP -> 429 for any email")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
