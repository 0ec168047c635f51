"""Hostile input, table-driven, through nginx and `tessera serve`: SQL
metacharacters and NUL bytes in every field, XSS payloads wherever text is
shown (the tokens page, the audit view, the API), CRLF aimed at headers,
overlong paths and headers, duplicate parameters, wrong methods,
open redirects, cross-origin CSRF, brute force, and the timing of a wrong
key against a wrong secret. Each hostile request gets a clear 4xx (or is
stored as the plain data it is and shown escaped) and changes nothing."""

import base64
import json
import os
import re
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import Db  # noqa: E402
from client import Client  # noqa: E402
from servers import Nginx, TesseraServe, free_port, http  # noqa: E402
from tap import (BIN, Tap, add_user, app_env, init_data, scratch,  # noqa: E402
                 tessera)

PW = "correct horse battery"
SQLI = ["' OR '1'='1", "'; DROP TABLE tokens; --", "1 OR 1=1", "\" OR \"\"=\"",
        "1); DELETE FROM users; --", "%' --"]
XSS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>',
       "'><svg onload=alert(1)>", "javascript:alert(1)", "</textarea><b>x"]


def main():
    t = Tap()
    work = scratch("hostile")
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", PW, role="admin")
    add_user(data, "eve@example.com", PW, account="Evil <script>x</script> Inc")
    # Every scope, so hostile input reaches each route's own checks.
    out = tessera(data, "token", "add", "--email", "ana@example.com",
                  "--description", "api", "--scopes",
                  "objects:read,objects:write,pipelines:run,webhook:write,"
                  "records:read,tokens:read,tokens:write").stdout.decode()
    key = re.search(r"Token Key: (\S+)", out).group(1)
    tok = re.search(r"Token: +(\S+)", out).group(1)
    basic = {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (key, tok)).encode()).decode()}
    jhdr = dict(basic, **{"Content-Type": "application/json"})
    db = Db(data)
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    env = app_env(data, TESSERA_RATE_LIMIT_API_KEY=0,
                  TESSERA_RATE_LIMIT_API_IP=0)
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2,
                      env=env) as app, \
            Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url
        ana = Client(base)
        ana.login("ana@example.com", PW)

        def api(method, path, doc=None, raw=None, headers=jhdr):
            body = raw if raw is not None else (
                json.dumps(doc) if doc is not None else None)
            s, h, b = http(method, base + path, headers, body)
            try:
                return s, json.loads(b)
            except ValueError:
                return s, b

        # --- SQL metacharacters: stored as data, or refused; never SQL.
        for i, p in enumerate(SQLI):
            s, h, b = ana.post("/login", {"email": p, "password": p,
                                          "csrf": ana.csrf(ana.get("/login?x")[2]) or "x"})
            t.ok(s in (303, 400, 401, 403), "login with %r -> %d" % (p, s))
            s, d = api("GET", "/api/sources/" + urllib.parse.quote(p))
            t.eq(s, 404, "object id %r -> 404" % p)
            s, d = api("GET", "/api/pipelines/1/records?after=" +
                       urllib.parse.quote(p))
            t.ok(s in (400, 404), "records after=%r -> %d" % (p, s))
            s, d = api("POST", "/webhook?pipeline_id=" + urllib.parse.quote(p),
                       {"a": 1})
            t.eq(s, 400, "webhook pipeline_id=%r -> 400" % p)
            s, d = api("POST", "/api/tokens/%s/deactivate" %
                       urllib.parse.quote(p, safe=""), raw="")
            t.eq(s, 404, "token key %r -> 404" % p)
        t.eq(db.val("SELECT count(*) FROM tokens WHERE active = 1"),
             db.val("SELECT count(*) FROM tokens"),
             "no token was switched off by an injection")
        s, d = api("POST", "/api/sources", {"name": SQLI[1], "type": "webhook",
                                            "config": {SQLI[0]: SQLI[2]}})
        t.eq(s, 201, "a name with SQL in it is stored as text")
        t.eq((d["data"]["name"], d["data"]["config"]), (SQLI[1], {SQLI[0]: SQLI[2]}),
             "... and comes back verbatim")
        src = d["data"]["id"]
        t.ok(db.val("SELECT count(*) FROM sqlite_master WHERE name = 'tokens'"
                    if db.engine == "sqlite" else
                    "SELECT count(*) FROM pg_tables WHERE tablename = 'tokens'") == 1,
             "the tokens table is still there")

        # --- Almost-numbers: one strict parser for every id and count
        # (host.input.int): digits only, no leading zero, nothing else.
        s, d = api("POST", "/api/destinations", {"name": "lake", "type": "s3"})
        dst = d["data"]["id"]
        s, d = api("POST", "/api/pipelines", {"name": "hook", "type": "standard",
                                              "source_id": src, "destination_id": dst})
        pid = d["data"]["id"]
        t.eq(api("POST", "/webhook?pipeline_id=%d" % pid, {"a": 1})[0], 200,
             "webhook pipeline_id=%d (the real one) -> 200" % pid)
        almost = ["0x%x" % pid, "%de0" % pid, "%d.0" % pid, "+%d" % pid, " %d" % pid,
                  "%d " % pid, "0%d" % pid, "-%d" % pid, "%d%%00" % pid,
                  "\uff11", "9223372036854775808", "1" * 30]
        for v in almost:
            q = urllib.parse.quote(v, safe="%")
            t.eq(api("POST", "/webhook?pipeline_id=" + q, {"a": 1})[0], 400,
                 "webhook pipeline_id=%r -> 400" % v)
            t.eq(api("GET", "/api/sources/" + q)[0], 404 if "%" not in v else 400,
                 "object id %r -> %s" % (v, "404" if "%" not in v else "400"))
            t.eq(api("GET", "/api/pipelines/%d/records?after=%s" % (pid, q))[0], 400,
                 "records after=%r -> 400" % v)
            t.eq(api("GET", "/api/sources?limit=" + q)[0], 400, "limit=%r -> 400" % v)
        t.eq(db.val("SELECT count(*) FROM records"), 1,
             "only the real pipeline_id stored a record")

        # --- Text that hides or reverses itself: refused in descriptions
        # and names; joiners (emoji, Persian) are fine.
        hiding = {"right-to-left override": "invoice\u202ereverse",
                  "zero-width space": "ad\u200bmin", "isolate": "a\u2066b\u2069",
                  "byte-order mark": "\ufeffname", "line separator": "a\u2028b",
                  "C1 control": "a\u0085b"}
        n = db.val("SELECT count(*) FROM tokens")
        for label, text in hiding.items():
            s, d = api("POST", "/api/tokens", {"description": text})
            t.ok(s == 400 and isinstance(d, dict) and d.get("field") == "description",
                 "a description with a %s -> 400 field description" % label, d)
            s, d = api("POST", "/api/sources", {"name": text, "type": "x"})
            t.ok(s == 400 and isinstance(d, dict) and d.get("field") == "name",
                 "a source name with a %s -> 400 field name" % label, d)
            s, h, b = ana.post("/settings/tokens", {
                "description": text, "csrf": ana.csrf(ana.get("/settings/tokens")[2])})
            t.ok(s == 400 and b"cannot be used" in b,
                 "the page refuses a description with a %s" % label, s)
        t.eq(db.val("SELECT count(*) FROM tokens"), n,
             "no hiding text made a token")
        for text in ("family \U0001F468\u200d\U0001F469\u200d\U0001F467",
                     "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"):
            s, d = api("POST", "/api/tokens", {"description": text})
            t.eq((s, s == 201 and d["data"]["description"]), (201, text),
                 "joiners are fine: %r" % text)

        # --- NUL bytes: refused with a 4xx everywhere they can be sent.
        nul_cases = [
            ("GET", "/api/me?x=%00"), ("GET", "/settings/tokens%00"),
            ("GET", "/api/sources/1%00"), ("GET", "/login?next=/%00"),
        ]
        for m, p in nul_cases:
            s, h, b = http(m, base + p, basic)
            t.eq(s, 400, "NUL in %s -> 400" % p)
        n = db.val("SELECT count(*) FROM tokens")
        s, h, b = ana.post("/settings/tokens", {"description": "a\x00b",
                                                "csrf": ana.csrf(ana.get("/settings/tokens")[2])})
        t.eq(s, 400, "NUL in a description -> 400")
        s, d = api("POST", "/api/sources", raw='{"name": "a\\u0000b", "type": "x"}')
        t.eq(s, 400, "an escaped NUL in a JSON name -> 400")
        s, d = api("POST", "/api/tokens", raw='{"description": "a\\u0000b"}')
        t.eq(s, 400, "an escaped NUL in a JSON description -> 400")
        s, d = api("POST", "/webhook?pipeline_id=1", raw=b'{"a": "\x00"}')
        t.eq(s, 400, "a raw NUL in a JSON body -> 400")
        t.eq(db.val("SELECT count(*) FROM tokens"), n,
             "no token was created by a NUL attempt")

        # --- XSS: stored as given, escaped wherever shown.
        keys = []
        for x in XSS:
            # The form answers 303 to its one-time view (post/redirect/get).
            s, h, b = ana.shown(ana.post("/settings/tokens", {
                "description": x, "csrf": ana.csrf(ana.get("/settings/tokens")[2])}))
            t.eq(s, 200, "description %r accepted" % x)
            keys.append(re.search(rb'<code id="token-key">([^<]+)', b).group(1).decode())
        s, d = api("POST", "/api/destinations", {"name": XSS[0], "type": "via"})
        t.eq(s, 201, "a Via destination named with a payload")
        pages = {"tokens page": ana.get("/settings/tokens")[2],
                 "settings and audit view": ana.get("/settings")[2]}
        for where, page in pages.items():
            for x in XSS:
                if any(c in x for c in "<>\"'&"):
                    t.hasnt(page, x.encode(), "%s: %r never appears raw" % (where, x))
            t.ok(not re.search(rb'(href|src|action)\s*=\s*"?javascript:', page, re.I),
                 "%s: no javascript: URL in an attribute" % where)
        t.has(pages["tokens page"], b"&lt;script&gt;alert(1)&lt;/script&gt;",
              "tokens page: shown escaped")
        t.has(pages["settings and audit view"],
              b"&lt;script&gt;alert(1)&lt;/script&gt;", "audit view: shown escaped")
        t.ok(b"token.created" in pages["settings and audit view"],
             "the audit view lists the creations")
        eve = Client(base)
        eve.login("eve@example.com", PW)
        page = eve.get("/settings")[2]
        t.has(page, b"Evil &lt;script&gt;x&lt;/script&gt; Inc", "account name escaped")
        t.hasnt(page, b"<script>x</script>", "account name never raw")
        s, d = api("GET", "/api/destinations")
        t.ok(s == 200 and any(o["name"] == XSS[0] for o in d["data"]),
             "the API returns the payload as JSON data (its client escapes)")
        s, h, b = http("GET", base + "/api/destinations", basic)
        t.eq(h.get("Content-Type"), "application/json",
             "API answers are JSON, never HTML")

        # --- CRLF aimed at headers.
        cr = Client(base)
        s, h, b = cr.login("ana@example.com", PW,
                           next_path="/settings\r\nSet-Cookie: evil=1")
        loc = h.get("Location") or ""
        t.ok(s == 303 and "\r" not in loc and "\n" not in loc and
             "evil" not in (h.get("Set-Cookie") or ""),
             "next with CRLF cannot add a header", (s, loc))
        s, h, b = http("GET", base + "/login?next=%2Fx%0d%0aSet-Cookie:%20evil=1")
        t.ok(all("evil" not in v for v in (h.get_all("Set-Cookie") or [])),
             "CRLF in a query never reaches a header")
        s, d = api("POST", "/api/tokens", {"description": "a\r\nX-Evil: 1"})
        t.eq(s, 400, "CRLF in a description -> 400")
        s, h, b = http("GET", base + "/healthz", {"X-CSRF-Token": "a\tb"})
        t.eq(s, 200, "odd header values are just data")

        # --- Overlong paths and headers.
        s, h, b = http("GET", base + "/" + "a" * 9000)
        t.eq(s, 414, "a 9 KB path -> 414")
        s, h, b = http("GET", base + "/api/me?" + "x=" + "y" * 9000, basic)
        t.eq(s, 414, "a 9 KB query -> 414")
        s, h, b = http("GET", base + "/healthz", {"X-Long": "z" * 20000})
        t.ok(s in (400, 431), "a 20 KB header -> %d (nginx refuses)" % s)
        s, h, b = http("GET", base + "/api/me", {"Authorization": "Basic " + "Q" * 6000})
        t.eq(s, 401, "a 6 KB Authorization -> 401")

        # --- Duplicate parameters: the first one counts, never a bypass.
        tokpage = ana.get("/settings/tokens")[2]
        good = ana.csrf(tokpage)
        s, h, b = ana.request("POST", "/settings/tokens/%s/deactivate" % keys[0],
                              body="csrf=wrong&csrf=" + good, headers={
                                  "Content-Type": "application/x-www-form-urlencoded"})
        t.eq(s, 403, "csrf=wrong&csrf=right -> 403 (the first one counts)")
        s, d = api("GET", "/api/me?key=%s&token=%s&token=bad" % (key, tok), headers={})
        t.eq(s, 200, "query credentials: the first token counts")
        s, d = api("GET", "/api/me?key=%s&token=bad&token=%s" % (key, tok), headers={})
        t.eq(s, 401, "... so a bad first token is refused")

        # --- Wrong methods.
        for m, p, jsonish in (("PUT", "/login", False), ("DELETE", "/settings/tokens", False),
                              ("GET", "/logout", False), ("POST", "/healthz", False),
                              ("PATCH", "/api/sources/%d" % src, True),
                              ("DELETE", "/api/tokens", True), ("GET", "/webhook", True)):
            s, h, b = http(m, base + p, basic if jsonish else {})
            t.eq(s, 405, "%s %s -> 405" % (m, p))
            t.ok(h.get("Allow"), "%s %s has Allow" % (m, p))
            if jsonish:
                t.ok(b.startswith(b'{"error":"METHOD_NOT_ALLOWED"'),
                     "%s %s: JSON envelope" % (m, p), b[:80])

        # --- Open redirects.
        for nxt in ("//evil.example", "/\\evil.example", "https://evil.example",
                    "/%2F%2Fevil.example", "\\\\evil.example", " //evil.example",
                    "/\t/evil.example", "http:/evil.example"):
            c = Client(base)
            s, h, b = c.login("ana@example.com", PW, next_path=nxt)
            loc = h.get("Location") or ""
            parts = urllib.parse.urlsplit(loc)
            t.ok(s == 303 and loc.startswith("/") and not loc.startswith("//")
                 and not loc.startswith("/\\") and parts.netloc == ""
                 and parts.scheme == "",
                 "next=%r stays on this site (%s)" % (nxt, loc))

        # --- CSRF from another origin, and session fixation.
        tp = ana.get("/settings/tokens")[2]
        s, h, b = ana.post("/settings/tokens", {"description": "x", "csrf": ana.csrf(tp)},
                           headers={"Origin": "https://evil.example"})
        t.eq(s, 403, "a form posted from another origin -> 403")
        s, h, b = ana.post("/settings/tokens", {"description": "x", "csrf": ana.csrf(tp)},
                           headers={"Origin": "null"})
        t.eq(s, 403, "Origin: null -> 403")
        fx = Client(base)
        fx.cookies["tessera"] = "F" * 43
        fx.login("ana@example.com", PW)
        t.ok(fx.cookies.get("tessera") != "F" * 43, "a planted session id is replaced at login")
        planted = Client(base)
        planted.cookies["tessera"] = "F" * 43
        t.eq(planted.get("/settings")[0], 303, "the planted id never works")

        # --- Brute force: login throttled; API guesses limited per IP.
        bf = Client(base)
        bf.get("/login")
        statuses = [bf.post("/login", {"email": "ana@example.com",
                                       "password": "guess%d" % i,
                                       "csrf": bf.csrf() or bf.csrf(bf.get("/login")[2])})[0]
                    for i in range(8)]
        t.ok(statuses[:5] == [401] * 5 and 429 in statuses[5:],
             "login guesses: 401 x5 then 429", statuses)
    # API guesses against a server with its default per-IP limit.
    data2 = init_data(os.path.join(work, "data2"))
    sock2 = os.path.join(work, "app2", "tessera.sock")
    os.makedirs(os.path.dirname(sock2))
    with TesseraServe(os.path.join(work, "app2"), BIN, sock2, workers=2,
                      env=app_env(data2, TESSERA_RATE_LIMIT_API_IP=5)) as app2, \
            Nginx(os.path.join(work, "nginx2"), free_port(), sock2) as web2:
        got = []
        for i in range(30):
            fake = "tsr_" + "A" * 49
            got.append(http("GET", web2.base_url + "/api/me",
                            {"Authorization": "Bearer " + fake})[0])
        t.ok(got.count(429) > 0 and set(got) <= {401, 429},
             "API credential guesses hit the per-IP limit (429)", got)

    # --- Timing: wrong key vs wrong secret, straight to the app's socket.
    with TesseraServe(os.path.join(work, "app3"), BIN,
                      os.path.join(work, "app3.sock"), workers=1,
                      env=app_env(data, TESSERA_RATE_LIMIT_API_KEY=0,
                                  TESSERA_RATE_LIMIT_API_IP=0,
                                  TESSERA_LOG_REQUESTS=0)) as app3, \
            Nginx(os.path.join(work, "nginx3"), free_port(),
                  os.path.join(work, "app3.sock")) as web3:
        other = re.search(r"Token: +(\S+)", tessera(data, "token", "add", "--email",
                          "eve@example.com", "--description", "t").stdout.decode()).group(1)
        unknown_key = "00000000-0000-4000-8000-000000000000"
        cases = {"wrong key": (unknown_key, tok), "wrong secret": (key, other)}
        times = {k: [] for k in cases}
        for _ in range(300):
            for name, (k, s_) in cases.items():
                h = {"Authorization": "Basic " + base64.b64encode(
                    ("%s:%s" % (k, s_)).encode()).decode()}
                t0 = time.perf_counter()
                st = http("GET", web3.base_url + "/api/me", h)[0]
                times[name].append(time.perf_counter() - t0)
                assert st == 401
        med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
        print("# timing (median of 300): wrong key %.0f us, wrong secret %.0f us"
              % (med["wrong key"], med["wrong secret"]))
        t.ok(abs(med["wrong key"] - med["wrong secret"]) <
             0.15 * max(med.values()) + 50,
             "wrong key and wrong secret take the same time within noise "
             "(%.0f vs %.0f us)" % (med["wrong key"], med["wrong secret"]))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
