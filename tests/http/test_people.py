"""Settings -> People (/settings/users) and the one-time set-password link
(/set-password?token=...) through nginx and `tessera serve`, on SQLite or
PostgreSQL (TESSERA_TEST_ENGINE): the list; adding a person shows a link
once, which works once and not after it expired; role changes and the
last admin's guard; switching a person off ends their sessions and stops
their tokens at once (also through PostgreSQL's per-worker cache, kept
long here), switching on restores the tokens; a member sees only their
profile and changes their password; another account's people are 404;
CSRF; hostile input answers 4xx and changes nothing; the activity page
says what happened in words."""

import hashlib
import html
import os
import re
import threading
import time
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import Api, Db, cli_token  # noqa: E402
from client import Client  # noqa: E402
from servers import Nginx, TesseraServe, free_port  # noqa: E402
from tap import BIN, NO_LIMITS, Tap, add_user, app_env, init_data, scratch  # noqa: E402

PW = "correct horse battery"
ANA, BOB, ZED = "ana@example.com", "bob@example.com", "zed@other.example"
NEW = "new.person@example.com"


def login(base, email, pw=PW):
    c = Client(base)
    s, h, b = c.login(email, pw)
    return c if s == 303 else None


def link_of(body):
    m = re.search(rb'<code id="set-password-link">([^<]*)</code>', body)
    return html.unescape(m.group(1).decode()) if m else None


def path_of(url):
    u = urllib.parse.urlsplit(url)
    return u.path + "?" + u.query


def rows(body):
    out = []
    for tr in re.findall(rb"<tbody>(.*?)</tbody>", body, re.S):
        for r in re.findall(rb"<tr[^>]*>(.*?)</tr>", tr, re.S):
            text = re.sub(rb"<[^>]+>", b" ", r).decode()
            out.append(" ".join(html.unescape(text).split()))
    return out


def demote_race(t, base, db, ana, tok, a_id, b_id, b_email, b_pw, rounds=12):
    """Two admins demoting each other at the same moment: one wins, the
    other gets 409, never both (PostgreSQL locks the account's row)."""
    one_left, pairs = 0, []
    for _ in range(rounds):
        ana.post("/settings/users/%d/role" % b_id, {"role": "admin", "csrf": tok})
        bob = login(base, b_email, b_pw)
        btok = bob.csrf(bob.get("/settings/users")[2])
        res = {}

        def demote(who, c, k, target):
            res[who] = c.post("/settings/users/%d/role" % target,
                              {"role": "member", "csrf": k})[0]
        th = [threading.Thread(target=demote, args=("a", ana, tok, b_id)),
              threading.Thread(target=demote, args=("b", bob, btok, a_id))]
        for x in th:
            x.start()
        for x in th:
            x.join()
        one_left += db.val("SELECT count(*) FROM users WHERE role = 'admin' "
                           "AND id IN (?, ?)", a_id, b_id) == 1
        pairs.append(tuple(sorted(res.values())))
        if db.val("SELECT role FROM users WHERE id = ?", a_id) != "admin":
            bob.post("/settings/users/%d/role" % a_id, {"role": "admin", "csrf": btok})
        ana.post("/settings/users/%d/role" % b_id, {"role": "member", "csrf": tok})
    t.eq(one_left, rounds, "%d rounds of two admins demoting each other at once: "
         "one admin left each time" % rounds)
    # The loser is refused either by the guard (409) or, when the winner's
    # change landed before its request was read, as a member (403).
    t.ok(all(p in ((303, 403), (303, 409)) for p in pairs),
         "... exactly one change passes each time, the other is refused", pairs)
    t.eq((db.val("SELECT role FROM users WHERE id = ?", a_id),
          db.val("SELECT role FROM users WHERE id = ?", b_id)), ("admin", "member"),
         "... and afterwards ana is the admin, bob a member")


def demote_while_locked(t, db, ana, tok, a_id, b_id, account_id):
    """PostgreSQL: another transaction holds the account's lock and has
    made ana a member, not committed yet (as bob's own demotion of ana
    would). Ana demoting bob must wait for it and then be refused, leaving
    bob the admin; without the lock both changes land and nobody is."""
    from pg import _clean_env, _psql_binary
    db.run("UPDATE users SET role = 'admin' WHERE id IN (?, ?)", a_id, b_id)
    name = "tessera_people_lock_%d" % os.getpid()
    proc = subprocess.Popen(
        [_psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db.pg_uri],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env=_clean_env(), text=True)
    res = {}
    try:
        proc.stdin.write("BEGIN;\nSELECT id FROM accounts WHERE id = %d FOR UPDATE;\n"
                         "UPDATE users SET role = 'member' WHERE id = %d;\n"
                         "SET application_name = '%s';\n" % (account_id, a_id, name))
        proc.stdin.flush()
        deadline = time.monotonic() + 30
        while db.val("SELECT count(*) FROM pg_stat_activity WHERE application_name = ? "
                     "AND state = 'idle in transaction'", name) != 1:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("psql did not take the lock")
            time.sleep(0.05)
        th = threading.Thread(target=lambda: res.update(s=ana.post(
            "/settings/users/%d/role" % b_id, {"role": "member", "csrf": tok})[0]))
        th.start()
        th.join(1.0)
        t.ok(th.is_alive(), "while another change holds the account, a demotion waits")
        proc.stdin.write("COMMIT;\n")
        proc.stdin.close()
        proc.wait(30)
        th.join(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    t.eq(res.get("s"), 409, "... and once it commits, is refused as the last admin's")
    t.eq(db.val("SELECT role FROM users WHERE id = ?", b_id), "admin",
         "... so the account keeps an admin")
    db.run("UPDATE users SET role = 'admin' WHERE id = ?", a_id)
    db.run("UPDATE users SET role = 'member' WHERE id = ?", b_id)


def password_throttle(t, base, db, b_id, b_pw):
    """Wrong current passwords are limited as logins are (login_max_failures,
    5, in login_window): the 6th try is 429 even with the right one."""
    bob = login(base, BOB, b_pw)
    btok = bob.csrf(bob.get("/settings/users")[2])
    form = {"password": "yet another passphrase",
            "confirm_password": "yet another passphrase", "csrf": btok}
    got = [bob.post("/settings/users/password", dict(form, current_password="wrong %d" % i))[0]
           for i in range(5)]
    t.eq(got, [403] * 5, "password change: 5 wrong current passwords, 403 each")
    s, h, b = bob.post("/settings/users/password", dict(form, current_password=b_pw))
    t.ok(s == 429 and b"Too many wrong current passwords" in b,
         "... the 6th, even the right one: 429, said so", s)
    t.ok(login(base, BOB, b_pw) is not None, "... and the password is unchanged")
    db.run("UPDATE login_failures SET at = at - 100000 WHERE key = ?",
           "password-change %d" % b_id)
    s, h, b = bob.post("/settings/users/password", dict(form, current_password=b_pw))
    t.eq(s, 303, "once the window has passed, the right one changes it")
    t.eq(db.val("SELECT count(*) FROM login_failures WHERE key = ?",
                "password-change %d" % b_id), 0, "... and clears the person's failures")


def main():
    t = Tap()
    work = scratch("people")
    data = init_data(os.path.join(work, "data"))
    add_user(data, ANA, PW, role="admin")
    add_user(data, BOB, PW)
    add_user(data, ZED, PW, role="admin", account="Other")
    db = Db(data)
    ids = {e: db.val("SELECT id FROM users WHERE email = ?", e) for e in (ANA, BOB, ZED)}
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    # A long cache: a switched-off user's token must stop anyway.
    env = app_env(data, **NO_LIMITS)
    env["TESSERA_TOKEN_CACHE_SECONDS"] = "600"
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2, env=env) as app, \
            Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url
        api = Api(base)
        ana, bob = login(base, ANA), login(base, BOB)
        t.ok(ana and bob, "set-up: ana (admin) and bob (member) log in")

        # The list.
        s, h, b = ana.get("/settings/users")
        t.eq(s, 200, "GET /settings/users (admin)")
        ev = rows(b)
        t.ok(len(ev) == 2 and ev[0].startswith(ANA) and ev[1].startswith(BOB),
             "the account's two people, by email, not zed", ev)
        t.ok("active" in ev[1] and "0" in ev[1], "bob: active, no tokens", ev[1:])
        t.hasnt(b, ZED.encode(), "nothing of the other account")
        t.ok(re.search(rb'<label class="sr-only" for="role-%d">Role of bob@example.com</label>'
                       % ids[BOB], b), "each row's role control is labelled")
        t.ok(b"Last login" in b and "never" not in ev[0], "ana's last login is shown", ev[0])
        tok = ana.csrf(b)

        # Add a person: a link shown once.
        s, h, b = ana.post("/settings/users", {"email": NEW, "role": "member", "csrf": tok})
        shown = h.get("Location", "")
        t.ok(s == 303 and re.match(r"^/settings/users\?shown=\d+$", shown),
             "POST /settings/users adds a person: 303 to the link's one-time view",
             (s, shown))
        t.hasnt(b, b"token=", "... the answer to the POST carries no link")
        s, h, b = ana.get(shown)
        url = link_of(b)
        t.ok(s == 200 and url and "/set-password?token=" in url,
             "... the view shows the set-password link", (s, url))
        s, h, b = ana.get(shown)
        t.ok(s == 200 and link_of(b) is None and b"shown once" in b and
             (url or "x").encode() not in b,
             "... once: reloading the view says so and shows no link", s)
        secret = url.split("token=", 1)[1] if url else ""
        nid = db.val("SELECT id FROM users WHERE email = ?", NEW)
        t.ok(nid and db.val("SELECT password_hash FROM users WHERE id = ?", nid) == "",
             "the new person has no usable password")
        stored = db.all("SELECT secret_hash, expires_at - created_at, used_at FROM "
                        "password_links WHERE user_id = ?", nid)
        t.ok(len(stored) == 1 and stored[0][1] == 86400 and stored[0][2] is None,
             "one link stored, for 24 hours, unused", stored)
        t.ok(secret and secret.encode() not in bytes(stored[0][0]) and
             hashlib.blake2b(secret.encode(), digest_size=32).digest() != bytes(stored[0][0]),
             "only a keyed hash of its secret is stored")
        s, h, b = ana.get("/settings/users")
        t.ok(link_of(b) is None and secret.encode() not in b, "the link is not shown again")
        t.ok(any(r.startswith(NEW) and "invited" in r for r in rows(b)),
             "the new person is listed as invited", rows(b))
        t.ok(login(base, NEW, "") is None, "the invited person cannot log in yet")

        # The link: the form, a mismatch, then once.
        newc = Client(base)
        s, h, b = newc.get(path_of(url))
        t.eq(s, 200, "the link opens the set-password form")
        t.has(b, NEW.encode(), "... naming the person")
        ctok = newc.csrf(b)
        s, h, b = newc.post(path_of(url), {"password": "short", "confirm_password": "short",
                                           "csrf": ctok})
        t.eq(s, 400, "a password under 8 characters: 400")
        s, h, b = newc.post(path_of(url), {"password": "a fine passphrase",
                                           "confirm_password": "another one", "csrf": ctok})
        t.eq(s, 400, "a confirmation that differs: 400")
        s, h, b = newc.post(path_of(url), {"password": "a fine passphrase",
                                           "confirm_password": "a fine passphrase"})
        t.eq(s, 403, "no CSRF token: 403")
        t.eq(db.val("SELECT password_hash FROM users WHERE id = ?", nid), "",
             "... and none of those set a password")
        s, h, b = newc.post(path_of(url), {"password": "a fine passphrase",
                                           "confirm_password": "a fine passphrase",
                                           "csrf": ctok})
        t.ok(s == 303 and h.get("Location", "").startswith("/login"),
             "the password is set; on to the login", (s, h.get("Location")))
        t.ok(login(base, NEW, "a fine passphrase") is not None, "the new person logs in")
        s, h, b = newc.get(path_of(url))
        t.ok(s == 410 and b"used" in b, "the link a second time: 410, said so", s)
        s, h, b = newc.post(path_of(url), {"password": "another passphrase",
                                           "confirm_password": "another passphrase",
                                           "csrf": ctok})
        t.eq(s, 410, "... and it sets nothing")
        t.ok(login(base, NEW, "another passphrase") is None, "the old password still rules")
        t.eq(Client(base).get("/set-password?token=" + "A" * 43)[0], 404,
             "a made-up link: 404")
        t.eq(Client(base).get("/set-password")[0], 404, "no link at all: 404")

        # Expiry (the stored end moved into the past) and a fresh link.
        s, h, b = ana.post("/settings/users", {"email": "carl@example.com", "role": "member",
                                               "csrf": tok})
        url2 = link_of(ana.get(h.get("Location", ""))[2])
        cid = db.val("SELECT id FROM users WHERE email = ?", "carl@example.com")
        db.run("UPDATE password_links SET expires_at = created_at - 1 WHERE user_id = ?", cid)
        s, h, b = Client(base).get(path_of(url2))
        t.ok(s == 410 and b"expired" in b, "an expired link: 410, said so", s)
        s, h, b = ana.post("/settings/users/%d/link" % cid, {"csrf": tok})
        url3 = link_of(ana.get(h.get("Location", ""))[2]) if s == 303 else None
        t.ok(url3 and url3 != url2, "an admin makes a fresh link (303 to its view)", s)
        t.eq(db.val("SELECT count(*) FROM password_links WHERE user_id = ?", cid), 1,
             "... the old one is gone")
        t.eq(Client(base).get(path_of(url2))[0], 404, "... and answers 404 now")
        t.eq(Client(base).get(path_of(url3))[0], 200, "the fresh one works")
        # A link only for a person without a password: never one that
        # would let an admin take over someone who has one.
        s, h, b = ana.post("/settings/users/%d/link" % ids[BOB], {"csrf": tok})
        t.eq(s, 409, "a link for bob, who has a password: 409")
        t.eq(db.val("SELECT count(*) FROM password_links WHERE user_id = ?", ids[BOB]), 0,
             "... and no link is made for him")

        # Role changes and the last admin.
        s, h, b = ana.post("/settings/users/%d/role" % ids[ANA], {"role": "member", "csrf": tok})
        t.ok(s == 409 and b"last admin" in b, "the last admin cannot be made a member: 409", s)
        s, h, b = ana.post("/settings/users/%d/disable" % ids[ANA], {"csrf": tok})
        t.ok(s == 409 and b"last admin" in b, "... nor switched off: 409", s)
        t.eq(db.val("SELECT role || active FROM users WHERE id = ?", ids[ANA]), "admin1",
             "... ana stays an active admin")
        s, h, b = ana.post("/settings/users/%d/role" % ids[BOB], {"role": "admin", "csrf": tok})
        t.ok(s == 303 and "done=role" in h.get("Location", ""), "bob made admin", s)
        t.eq(db.val("SELECT role FROM users WHERE id = ?", ids[BOB]), "admin", "... stored")
        s, h, b = ana.post("/settings/users/%d/role" % ids[BOB], {"role": "member", "csrf": tok})
        t.eq(db.val("SELECT role FROM users WHERE id = ?", ids[BOB]), "member",
             "bob made a member again (ana is still admin)")


        # Disable: the session ends, the token stops at once; enable.
        bob_tok = cli_token(data, BOB, "bob's app")
        t.eq(api.get("/api/me", bob_tok.basic)[0], 200, "bob's token works (and is cached)")
        t.eq(api.get("/api/me", bob_tok.basic)[0], 200, "... twice")
        t.eq(bob.get("/settings/tokens")[0], 200, "bob's session works")
        s, h, b = ana.post("/settings/users/%d/disable" % ids[BOB], {"csrf": tok})
        t.eq(s, 303, "ana switches bob off")
        t.eq(db.val("SELECT count(*) FROM sessions WHERE user_id = ?", ids[BOB]), 0,
             "bob's sessions are deleted")
        s, h, b = bob.get("/settings/tokens")
        t.ok(s == 303 and "/login" in h.get("Location", ""), "bob's browser is logged out", s)
        codes = [api.get("/api/me", bob_tok.basic)[0] for _ in range(4)]
        t.eq(codes, [401] * 4, "bob's token answers 401 at once, on every worker")
        t.ok(login(base, BOB) is None, "bob cannot log in")
        s, h, b = ana.get("/settings/users")
        t.ok(any(r.startswith(BOB) and "disabled" in r for r in rows(b)),
             "bob listed as disabled", rows(b))
        s, h, b = ana.post("/settings/users/%d/enable" % ids[BOB], {"csrf": tok})
        t.eq(s, 303, "ana switches bob on")
        t.eq(api.get("/api/me", bob_tok.basic)[0], 200, "bob's token works again")
        bob = login(base, BOB)
        t.ok(bob is not None, "bob logs in again")

        # A member: their profile only, 403 on admin actions.
        s, h, b = bob.get("/settings/users")
        t.eq(s, 200, "a member opens /settings/users")
        t.ok(b"Your profile" in b and ANA.encode() not in b and NEW.encode() not in b,
             "... and sees only their own profile")
        t.ok(b"Tokens</dt><dd>1 (1 on)" in b, "... with their token count")
        btok = bob.csrf(b)
        for path, form in (("/settings/users", {"email": "x@example.com", "role": "admin"}),
                           ("/settings/users/%d/role" % ids[BOB], {"role": "admin"}),
                           ("/settings/users/%d/disable" % ids[ANA], {}),
                           ("/settings/users/%d/link" % cid, {})):
            form["csrf"] = btok
            t.eq(bob.post(path, form)[0], 403, "member: POST %s is 403" % path)
        t.eq(db.val("SELECT role FROM users WHERE id = ?", ids[BOB]), "member",
             "... bob is still a member")
        t.eq(db.val("SELECT count(*) FROM users WHERE email = 'x@example.com'"), 0,
             "... and nobody was added")

        # The member's password: the current one asked; other sessions end.
        bob2 = login(base, BOB)
        s, h, b = bob.post("/settings/users/password", {
            "current_password": "wrong one", "password": "bob's new passphrase",
            "confirm_password": "bob's new passphrase", "csrf": btok})
        t.eq(s, 403, "a wrong current password: 403")
        s, h, b = bob.post("/settings/users/password", {
            "current_password": PW, "password": "bob's new passphrase",
            "confirm_password": "bob's new passphrase", "csrf": btok})
        t.ok(s == 303 and "done=password" in h.get("Location", ""), "bob changes his password", s)
        t.eq(bob.get("/settings/users")[0], 200, "... this session stays")
        t.eq(bob2.get("/settings/users")[0], 303, "... his other session ended")
        t.ok(login(base, BOB) is None and login(base, BOB, "bob's new passphrase"),
             "the new password is the one")

        # Another account: 404, never a leak.
        zed = login(base, ZED)
        s, h, b = zed.get("/settings/users")
        ztok = zed.csrf(b)
        t.ok(ANA.encode() not in b and BOB.encode() not in b, "zed's list has none of Acme")
        for verb, form in (("role", {"role": "member"}), ("disable", {}), ("enable", {}),
                           ("link", {})):
            form["csrf"] = ztok
            t.eq(zed.post("/settings/users/%d/%s" % (ids[BOB], verb), form)[0], 404,
                 "another account's person: %s is 404" % verb)
        t.eq(zed.post("/settings/users/999999/disable", {"csrf": ztok})[0], 404,
             "no such person: 404")
        t.eq(db.val("SELECT role || active FROM users WHERE id = ?", ids[BOB]), "member1",
             "... bob unchanged")

        # CSRF and hostile input.
        count = db.val("SELECT count(*) FROM users")
        t.eq(ana.post("/settings/users/%d/disable" % ids[BOB], {})[0], 403,
             "no CSRF token: 403")
        t.eq(ana.post("/settings/users", {"email": "y@example.com", "role": "member"})[0], 403,
             "no CSRF token on add: 403")
        bad = [
            ({"email": "a" * 300 + "@example.com", "role": "member"}, "an overlong email"),
            ({"email": "not an email", "role": "member"}, "not an email"),
            ({"email": "q@example.com", "role": "owner"}, "a role not known"),
            ({"email": "q@example.com", "role": ""}, "no role"),
            ({"email": "", "role": "member"}, "no email"),
            ({"email": "q\u202e@example.com", "role": "member"}, "a direction override"),
            ({"email": ANA.upper(), "role": "member"}, "an email that exists (case)"),
        ]
        for form, what in bad:
            form["csrf"] = tok
            s = ana.post("/settings/users", form)[0]
            t.ok(400 <= s < 500, "add with %s: 4xx" % what, s)
        for path in ("/settings/users/abc/disable", "/settings/users/-1/disable",
                     "/settings/users/0/role", "/settings/users/99999999999999999999/enable",
                     "/settings/users/1e3/link"):
            s = ana.post(path, {"csrf": tok, "role": "member"})[0]
            t.ok(s in (400, 404), "POST %s: 400 or 404" % path, s)
        s = ana.post("/settings/users/%d/role" % ids[BOB], {"csrf": tok, "role": "root"})[0]
        t.eq(s, 400, "a role not known: 400")
        t.eq(ana.get("/settings/users?page=x")[0], 400, "a page that is not a number: 400")
        t.eq(db.val("SELECT count(*) FROM users"), count, "nobody was added")
        t.eq(db.val("SELECT role || active FROM users WHERE id = ?", ids[BOB]), "member1",
             "bob unchanged")

        # Paging: 60 people make two pages.
        for i in range(58):
            db.run("INSERT INTO users (account_id, email, email_norm, password_hash, role, "
                   "created_at, updated_at) SELECT account_id, ?, ?, '', 'member', 0, 0 "
                   "FROM users WHERE id = ?", "p%02d@example.com" % i, "p%02d@example.com" % i,
                   ids[ANA])
        s, h, b = ana.get("/settings/users")
        t.ok(len(rows(b)) == 50 and b"Page 1 of 2" in b, "50 a page, Page 1 of 2",
             len(rows(b)))
        s, h, b = ana.get("/settings/users?page=2")
        t.ok(s == 200 and len(rows(b)) == db.val("SELECT count(*) FROM users WHERE "
                                                  "account_id = (SELECT account_id FROM users "
                                                  "WHERE id = ?)", ids[ANA]) - 50,
             "page 2 holds the rest", len(rows(b)))

        # The activity page in words.
        s, h, b = ana.get("/settings/activity")
        ev = [" ".join(html.unescape(re.sub(rb"<[^>]+>", b" ", r).decode()).split())
              for r in re.findall(rb"<tr>(.*?)</tr>", b, re.S)]
        for want in ("ana@example.com added %s as member" % NEW,
                     "ana@example.com changed the role of bob@example.com to admin",
                     "ana@example.com disabled bob@example.com",
                     "ana@example.com enabled bob@example.com",
                     "ana@example.com made a set-password link for carl@example.com",
                     "%s set their password with a link" % NEW,
                     "bob@example.com changed their password"):
            t.ok(any(want in e for e in ev), "activity: \"%s\"" % want, ev[:12])
        t.hasnt(b, secret.encode(), "no link secret in the activity")
        log = open(app.log_path, "rb").read()
        t.ok(b"GET /set-password?token=[scrubbed]" in log,
             "the host's log has the link's requests, the secret scrubbed")
        t.hasnt(log, secret.encode(), "no link secret in the host's log")
        demote_race(t, base, db, ana, tok, ids[ANA], ids[BOB], BOB, "bob's new passphrase")
        if db.engine == "postgresql":
            demote_while_locked(t, db, ana, tok, ids[ANA], ids[BOB],
                                db.val("SELECT account_id FROM users WHERE id = ?", ids[ANA]))
        password_throttle(t, base, db, ids[BOB], "bob's new passphrase")
    t.done()


if __name__ == "__main__":
    main()
