"""Settings -> Activity (/settings/activity and /settings/activity.csv)
through nginx and `tessera serve`, on SQLite or PostgreSQL
(TESSERA_TEST_ENGINE): events made through the real pages, the API and
the command line read in words ("who via token KEY", "the command
line", whose token); filters (who, token, action, dates); paging and its
bounds; hostile input answers 400 or nothing and changes nothing; a
member sees only their own events; the CSV export's quoting and its
guard against spreadsheet formulas."""

import csv
import html
import io
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import Api, Db, cli as tessera_cli, cli_token  # noqa: E402
from client import Client  # noqa: E402
from servers import Nginx, TesseraServe, free_port  # noqa: E402
from tap import (BIN, NO_LIMITS, Tap, add_user, app_env, init_data,  # noqa: E402
                 scratch)

PW = "correct horse battery"
# A token made by `tessera token add --email bob`: today's rows name bob
# as the user (ip cli); the command line of track D writes no user, and
# the page names bob as the token's owner.
CLI_MADE = (r"the command line(, as bob@example\.com)? created token"
            r"( of bob@example\.com)? ")
ANA, BOB, ZED = "ana@example.com", "bob@example.com", "zed@other.example"


def login(base, email):
    c = Client(base)
    c.login(email, PW)
    return c


def page_create(c, desc):
    """A token made by the tokens page's form; its key."""
    tok = c.csrf(c.get("/settings/tokens")[2])
    s, h, b = c.shown(c.post("/settings/tokens", {"description": desc, "csrf": tok}))
    m = re.search(rb'<code id="token-key">([^<]*)</code>', b)
    return m.group(1).decode()


def rows(body):
    """The events of a page, each as its text with tags removed."""
    out = []
    for tr in re.findall(rb"<tbody>(.*?)</tbody>", body, re.S):
        for r in re.findall(rb"<tr>(.*?)</tr>", tr, re.S):
            text = re.sub(rb"<[^>]+>", b" ", r).decode()
            out.append(" ".join(html.unescape(text).split()))
    return out


def titles(body):
    return [html.unescape(t.decode()) for t in re.findall(rb'title="([^"]*)"', body)]


def q(**kw):
    return "/settings/activity?" + urllib.parse.urlencode(kw)


def main():
    t = Tap()
    work = scratch("activity")
    data = init_data(os.path.join(work, "data"))
    add_user(data, ANA, PW, role="admin")
    add_user(data, BOB, PW)
    add_user(data, ZED, PW, role="admin", account="Other")
    db = Db(data)
    ids = {e: db.val("SELECT id FROM users WHERE email = ?", e) for e in (ANA, BOB, ZED)}
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2,
                      env=app_env(data, **NO_LIMITS)) as app, \
            Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url
        api = Api(base)
        ana, bob = login(base, ANA), login(base, BOB)

        # Events of every kind of actor.
        k_page = page_create(bob, "Bob's report, \"quoted\", with commas")
        tok = ana.csrf(ana.get("/settings/tokens")[2])
        k_formula = page_create(bob, "=1+2")
        k_at = page_create(bob, "@SUM(1)")
        s = ana.post("/settings/tokens/%s/deactivate" % k_page, {"csrf": tok})[0]
        t.eq(s, 303, "set-up: ana switches off bob's token on the page")
        cli = cli_token(data, BOB, "=HYPERLINK(\"http://x\")", "--scopes",
                        "tokens:read,tokens:write")
        s, h, b, doc = api.post("/api/tokens", cli.basic, {"description": "+made by a token"})
        k_api = doc["data"]["key"]
        t.eq(s, 201, "set-up: bob's command-line token makes a token through the API")
        zed = login(base, ZED)
        k_zed = page_create(zed, "zed's own")

        s, h, b = ana.get("/settings/activity")
        t.eq(s, 200, "GET /settings/activity (admin)")
        t.has(b, b"<caption>", "the table has a caption")
        t.has(b, b'<th scope="col">Who</th>', "... and header cells")
        ev = rows(b)
        t.ok(ev and "bob@example.com via token" in ev[0] and "created token" in ev[0]
             and cli.key[:8] in ev[0], "newest first: bob via his token created a token",
             ev[:1])
        t.ok(cli.key in titles(b), "... the via key whole in its title", titles(b)[:5])
        t.ok(any(re.search(CLI_MADE, e) for e in ev),
             "the command line's token is listed, said so", ev)
        t.ok(any(e.startswith(time.strftime("%Y-")) and "ana@example.com" in e and
                 "switched off token of bob@example.com" in e for e in ev),
             "the admin's switch-off names who acted and whose token", ev)
        t.ok(any("bob@example.com" in e and "logged in" in e for e in ev),
             "bob's login", ev)
        t.ok(not any("zed" in e for e in ev) and k_zed.encode() not in b,
             "nothing of the other account")

        # A member: only what they did and what was done to their tokens.
        s, h, b = bob.get("/settings/activity")
        ev = rows(b)
        t.eq(s, 200, "GET /settings/activity (member)")
        t.ok(ev and all("bob@example.com" in e for e in ev), "the member's rows are all "
             "theirs (by them or about their tokens)", ev)
        t.ok(any("switched off token of bob@example.com" in e for e in ev),
             "... including the admin's switch-off of their token", ev)
        t.ok(not any("ana@example.com logged in" in e for e in ev), "... not ana's login")
        t.ok(any(re.search(CLI_MADE, e) and cli.key[:8] in e for e in ev),
             "... and the command line's making of their token", ev)
        t.hasnt(b, b'name="who"', "a member has no who filter")
        t.eq(bob.get(q(who=ids[ANA]))[0], 400, "a member asking for ana's events: 400")
        t.eq(bob.get(q(who=ids[BOB]))[0], 200, "... for their own: 200")
        s, h, b = bob.get("/settings/activity.csv")
        recs = list(csv.reader(io.StringIO(b.decode(), newline="")))[1:]
        t.ok(s == 200 and recs and all(r[2] == BOB or r[7] == BOB for r in recs) and
             any(r[2] == ANA and r[7] == BOB for r in recs),
             "the member's CSV holds only their events (by them or about their tokens)",
             [r[:3] for r in recs if r[2] != BOB][:3])

        # A row as the command line of track D writes it (no user, ip
        # cli): the command line acted, on bob's token; bob sees it.
        acct = db.val("SELECT account_id FROM users WHERE id = ?", ids[BOB])
        db.run("INSERT INTO audit_log (at, account_id, user_id, action, object, ip, "
               "detail, via_token) VALUES (?, ?, NULL, 'token.deactivated', ?, 'cli', '', '')",
               int(time.time()), acct, cli.key)
        want = "the command line switched off token of bob@example.com " + cli.key[:8]
        t.ok(any(want in e for e in rows(ana.get("/settings/activity")[2])),
             "a command-line row without a user: the command line, and whose token")
        t.ok(any(want in e for e in rows(bob.get("/settings/activity")[2])),
             "... the owner sees it too")
        db.run("DELETE FROM audit_log WHERE user_id IS NULL AND action = 'token.deactivated'")

        # Filters.
        s, h, b = ana.get(q(who=ids[BOB]))
        ev = rows(b)
        t.ok(s == 200 and ev and all(re.match(r"^(the command line, as )?bob@example\.com",
                                              e.split(" UTC ", 1)[1]) for e in ev),
             "who=bob: only what bob did (on pages, by his tokens, and the command line "
             "as bob)", ev[:3])
        t.has(b, ('<option value="%d" selected>' % ids[BOB]).encode(),
              "... bob selected in the form")
        s, h, b = ana.get(q(key=k_page[:8]))
        ev = rows(b)
        t.ok(s == 200 and len(ev) == 2 and "switched off" in ev[0] and "created" in ev[1],
             "token=first 8 of the page's key: its creation and its switch-off", ev)
        s, h, b = ana.get(q(key=cli.key.upper()))
        ev = rows(b)
        t.ok(len(ev) == 3, "token=the command line token's key (any case): made, first "
             "use and what it did", ev)
        s, h, b = ana.get(q(action="token.deactivated"))
        t.ok(len(rows(b)) == 1 and b'<option value="token.deactivated" selected>' in b,
             "action=token.deactivated: one row, selected", rows(b))
        s, h, b = ana.get(q(action="login"))
        t.ok(len(rows(b)) == 2, "action=login: two logins (ana, bob)", rows(b))
        today = time.strftime("%Y-%m-%d", time.gmtime())
        yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
        t.eq(len(rows(ana.get(q(**{"from": today, "to": today}))[2])) > 0, True,
             "from=to=today: today's events")
        s, h, b = ana.get(q(to=yesterday))
        t.ok(s == 200 and rows(b) == [] and b"No event matches this filter." in b,
             "to=yesterday: none, said so")
        s, h, b = ana.get(q(key=k_zed))
        t.ok(s == 200 and rows(b) == [], "a key of another account: an empty result")
        t.eq(ana.get(q(who=ids[ZED]))[0], 200, "who=a user of another account: 200 ...")
        t.eq(rows(ana.get(q(who=ids[ZED]))[2]), [], "... and nothing")

        # Hostile input: 400 (with the form and a message) and no change.
        before = db.val("SELECT count(*) FROM audit_log")
        tokens_before = db.val("SELECT count(*) FROM tokens")
        for params, why in [
            ({"from": "2026-02-31"}, "31 February"),
            ({"from": "yesterday"}, "a word for a date"),
            ({"to": "2026-13-01"}, "month 13"),
            ({"from": today, "to": yesterday}, "from after to"),
            ({"page": "0"}, "page 0"),
            ({"page": "-1"}, "page -1"),
            ({"page": "abc"}, "page abc"),
            ({"page": "99999999999999999999"}, "a huge page number"),
            ({"key": "' OR 1=1 --"}, "SQL in the token"),
            ({"key": "%"}, "a LIKE wildcard"),
            ({"key": "a" * 37}, "a key too long"),
            ({"action": "x'; DROP TABLE audit_log; --"}, "SQL in the action"),
            ({"who": "1 OR 1=1"}, "SQL in who"),
            ({"who": "x" * 200}, "a long who"),
        ]:
            s, h, b = ana.get(q(**params))
            t.ok(s == 400 and b'role="alert"' in b and rows(b) == [],
                 "hostile %s: 400 with the message" % why, (s, rows(b)[:1]))
            s, h, b = ana.get("/settings/activity.csv?" + urllib.parse.urlencode(params))
            t.eq(s, 400, "... the CSV too")
        t.eq((db.val("SELECT count(*) FROM audit_log"), db.val("SELECT count(*) FROM tokens")),
             (before, tokens_before), "hostile queries changed nothing")
        s, h, b = ana.get(q(key="\"><script>x</script>", **{"from": "yesterday"}))
        t.ok(s == 400 and b'name="from" value="yesterday"' in b and b"<script>x" not in b
             and b"&lt;script&gt;x" in b, "a refused filter is shown again, escaped",
             re.findall(rb'name="(?:key|from)" value="[^"]*"', b))
        s, h, b = Client(base).get("/settings/activity")
        t.ok(s == 303 and "/login?next=" in h.get("Location", ""),
             "without a session: to the login")
        t.eq(Client(base).get("/settings/activity.csv")[0], 303, "... the CSV too")
        t.eq(ana.post("/settings/activity", {"csrf": tok})[0], 405,
             "POST /settings/activity: 405")

        # Paging: 65 more events by the API.
        for i in range(65):
            api.post("/api/tokens", cli.basic, {"description": "bulk %02d" % i})
        total = db.val("SELECT count(*) FROM audit_log WHERE account_id = ?",
                       db.val("SELECT account_id FROM users WHERE id = ?", ids[ANA]))
        pages = (total + 24) // 25
        s, h, b = ana.get("/settings/activity")
        t.has(b, ("Page 1 of %d" % pages).encode(), "Page 1 of %d (%d events)" % (pages, total))
        t.ok(len(rows(b)) == 25 and "bulk 64" in rows(b)[0], "25 rows, the newest first",
             rows(b)[:1])
        t.ok(b'rel="next" href="/settings/activity?page=2"' in b and b'rel="prev"' not in b,
             "Older links to page 2, no Newer")
        seen = []
        for p in range(1, pages + 1):
            seen += rows(ana.get(q(page=p))[2])
        t.eq(len(seen), total, "all pages together hold every event once")
        s, h, b = ana.get(q(page=pages))
        t.ok(b'rel="prev"' in b and b'rel="next"' not in b, "the last page: Newer, no Older")
        s, h, b = ana.get(q(page=pages + 5))
        t.ok(s == 200 and rows(b) == [] and b"past the end" in b and
             ('href="/settings/activity?page=%d"' % pages).encode() in b and
             b"No events" not in b, "a page past the end says so and links to the last")
        s, h, b = ana.get(q(action="token.created", page=2))
        t.ok(b"action=token.created&amp;page=3" in b or b"action=token.created&amp;page=1" in b
             or b'rel="prev" href="/settings/activity?action=token.created"' in b,
             "the pager keeps the filter", re.findall(rb'rel="\w+" href="[^"]*"', b))

        # CSV: RFC 4180, a header, formulas defused.
        s, h, b = ana.get("/settings/activity.csv?" + urllib.parse.urlencode(
            {"key": cli.key[:13]}))
        t.eq(s, 200, "GET /settings/activity.csv")
        t.ok(h.get("Content-Type", "").startswith("text/csv"), "text/csv",
             h.get("Content-Type"))
        t.ok(re.match(r'^attachment; filename="activity-\d{4}-\d\d-\d\d\.csv"$',
                      h.get("Content-Disposition", "")), "an attachment with a file name",
             h.get("Content-Disposition"))
        text = b.decode()
        t.ok(text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""),
             "CRLF line ends")
        recs = list(csv.reader(io.StringIO(text, newline="")))
        t.eq(recs[0], ["time", "who", "user", "via_token", "action", "what", "object",
                       "owner", "detail", "ip"], "the header row")
        t.eq(len(recs) - 1, 68, "one record per filtered event (made, first use, one by the API, 65 bulk)")
        made = [r for r in recs[1:] if r[4] == "token.created" and r[6] == cli.key]
        t.ok(made and made[0][8] in ("command line: =HYPERLINK(\"http://x\")",
                                     "'=HYPERLINK(\"http://x\")") and
             made[0][1] in ("the command line, as bob@example.com", "the command line") and
             made[0][9] == "cli" and made[0][7] in ("", BOB),
             "the command line's row: who, detail with its quotes", made)
        t.has(b, b'=HYPERLINK(""http://x"")"', "... quotes doubled inside a quoted field")
        for k, want, what in ((k_formula, "'=1+2", "="), (k_at, "'@SUM(1)", "@")):
            s, h, b = ana.get("/settings/activity.csv?" + urllib.parse.urlencode(
                {"key": k, "action": "token.created"}))
            recs = list(csv.reader(io.StringIO(b.decode(), newline="")))
            t.ok(len(recs) == 2 and recs[1][8] == want, "a cell starting with %s gets a "
                 "leading ' (no formula in a spreadsheet)" % what, recs[1:])
        s, h, b = ana.get("/settings/activity.csv?" + urllib.parse.urlencode(
            {"key": k_api}))
        recs = list(csv.reader(io.StringIO(b.decode(), newline="")))
        t.ok(len(recs) == 2 and recs[1][8] == "'+made by a token" and
             recs[1][3] == cli.key and recs[1][1] == "bob@example.com",
             "a detail starting with + is prefixed; who and via_token", recs)
        s, h, b = ana.get("/settings/activity.csv?" + urllib.parse.urlencode(
            {"key": k_page, "action": "token.created"}))
        recs = list(csv.reader(io.StringIO(b.decode(), newline="")))
        t.ok(len(recs) == 2 and recs[1][8] == "Bob's report, \"quoted\", with commas" and
             b'"Bob\'s report, ""quoted"", with commas"' in b,
             "commas and quotes: one quoted field, quotes doubled", b)

        # The runner: a token past its expiry, noticed by `tessera runner
        # --once` two days ahead (a test clock): by the runner, about bob's
        # token, seen by bob too.
        exp = cli_token(data, BOB, "expires tomorrow", "--expires-in-days", "1")
        clock = os.path.join(work, "clock")
        with open(clock, "w") as f:
            f.write("%d\n" % (int(time.time()) + 2 * 86400))
        r = tessera_cli(data, "runner", "--once", env={"TESSERA_TEST_CLOCK_FILE": clock})
        t.eq(r.returncode, 0, "set-up: tessera runner --once, two days ahead")
        want = "the runner noted that token expired of bob@example.com " + exp.key[:8]
        for who, c in (("ana", ana), ("bob", bob)):
            ev = rows(c.get(q(key=exp.key))[2])
            t.ok(any(want in e for e in ev), "%s reads: %s" % (who, want), ev)

        # Settings: the last 5 and a link.
        s, h, b = bob.get("/settings")
        t.ok(s == 200 and len(rows(b)) == 5 and b'href="/settings/activity"' in b,
             "Settings shows the member's last 5 events and links to all", rows(b))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
