"""The Tokens page (HTTP.md "The tokens page", step 3) through nginx and
`tessera serve`: create and show once, no plaintext at rest or in logs,
hostile descriptions, who may switch what, Via tokens, audit, and 5,000
tokens."""

import json
import os
import re
import secrets
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import Db, at_rest  # noqa: E402
from client import Client  # noqa: E402
from servers import Nginx, TesseraServe, free_port  # noqa: E402
from tap import (BIN, Tap, add_user, app_env, init_data, pg_database,  # noqa: E402
                 scratch, tessera)

PW = "correct horse battery"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SECRET = re.compile(r"^tsr_[0-9A-Za-z]{49}$")


def created(body):
    k = re.search(rb'<code id="token-key">([^<]*)</code>', body)
    s = re.search(rb'<code id="token-secret">([^<]*)</code>', body)
    return (k.group(1).decode() if k else None,
            s.group(1).decode() if s else None)


def row(body, key):
    m = re.search(rb'<tr data-key="' + key.encode() + rb'".*?</tr>', body, re.S)
    return m.group(0) if m else b""


def login(base, email):
    c = Client(base)
    c.login(email, PW)
    c.get("/settings/tokens")
    return c


def create(c, desc, json_api=False, follow=True):
    """Makes a token as the page's form does (following the 303 to its
    one-time view unless follow is False) or as its script does."""
    tok = c.csrf() or c.csrf(c.get("/settings/tokens")[2])
    if json_api:
        return c.post("/settings/tokens", {"description": desc},
                      headers={"Accept": "application/json",
                               "X-CSRF-Token": tok})
    r = c.post("/settings/tokens", {"description": desc, "csrf": tok})
    return c.shown(r) if follow else r


def files_bytes(data):
    """The data directory's files and, on PostgreSQL, the database's
    files at rest (its cluster's WAL and tables)."""
    out = b""
    for name in os.listdir(data):
        with open(os.path.join(data, name), "rb") as f:
            out += f.read()
    return out + (at_rest(data) if pg_database(data) else b"")


def main():
    t = Tap()
    work = scratch("tokens")
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", PW, role="admin")
    add_user(data, "bob@example.com", PW)
    add_user(data, "carol@example.com", PW)
    add_user(data, "zed@other.example", PW, role="admin", account="Other")
    db = Db(data)
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    with TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2,
                      env=app_env(data)) as app, \
            Nginx(os.path.join(work, "nginx"), free_port(), sock) as web:
        base = web.base_url
        bob = login(base, "bob@example.com")
        s, h, b = bob.get("/settings/tokens")
        t.eq(s, 200, "GET /settings/tokens")
        for text in (b"Via Kondado Tokens", b">Tokens<", b"CREATE +",
                     b"Rotating a token"):
            t.has(b, text, "page shows %r" % text.decode())
        t.eq(bob.get("/")[1].get("Location"), "/settings/tokens",
             "GET / goes to the tokens page")

        # Create (no JavaScript): the key and secret, once, after a
        # redirect (post/redirect/get), so a reload makes nothing.
        n_tokens = db.val("SELECT count(*) FROM tokens")
        s, h, b = create(bob, "Nightly export", follow=False)
        view = h.get("Location") or ""
        t.ok(s == 303 and re.match(r"^/settings/tokens\?shown=[1-9][0-9]*$", view),
             "POST /settings/tokens (the form) answers 303 to a one-time view", (s, view))
        t.eq(db.val("SELECT count(*) FROM secret_views"), 1,
             "... kept sealed in secret_views until shown")
        bob2 = login(base, "bob@example.com")
        s, h, b = bob2.get(view)
        t.ok(s == 200 and not re.search(rb"tsr_[0-9A-Za-z]{49}", b) and
             b"cannot be shown again" in b,
             "the same view from bob's other session: the notice, no secret", s)
        s, h, b = bob.get(view)
        key, secret = created(b)
        t.eq(s, 200, "... from the session that made it: the page")
        t.ok(key and UUID4.match(key), "#token-key is a UUIDv4", key)
        t.ok(secret and SECRET.match(secret), "#token-secret has the "
             "prefix, alphabet and length", secret)
        t.has(b, b"will not be shown again", "the page warns it is shown once")
        t.eq(h.get("Cache-Control"), "no-store", "the answer is not cached")
        t.hasnt(files_bytes(data), secret.encode(),
                "no plaintext secret in the database files")
        t.hasnt(files_bytes(data), secret[4:].encode(),
                "not even without its prefix")
        s, h, b = bob.get(view)
        t.ok(s == 200 and secret.encode() not in b and b"cannot be shown again" in b,
             "reloading the view: the notice, not the secret", s)
        t.eq(db.val("SELECT count(*) FROM tokens"), n_tokens + 1,
             "... and no second token (one made in all)")
        t.eq(db.val("SELECT count(*) FROM secret_views"), 0,
             "... the view is gone once shown")
        s, h, b = bob.get("/settings/tokens")
        t.ok(row(b, key) != b"", "the new row is listed (data-key)")
        t.hasnt(b, secret.encode(), "the secret is not in a later page")
        t.ok(b'aria-checked="true"' in row(b, key), "new tokens are active")
        t.has(row(b, key), b"never", "last used: never")

        # Create through the page's script (JSON).
        s, h, b = create(bob, "CI deploys", json_api=True)
        doc = json.loads(b)
        t.eq(s, 201, "JSON create -> 201")
        t.ok(doc.get("success") and SECRET.match(doc["data"]["token"]) and
             UUID4.match(doc["data"]["key"]), "JSON has key and token")
        t.eq(doc["data"]["description"], "CI deploys", "JSON description")
        json_secret = doc["data"]["token"]

        # Hostile and edge-case descriptions.
        s, h, b = create(bob, "<script>alert(1)</script>")
        key_x, _ = created(b)
        s, h, b = bob.get("/settings/tokens")
        r = row(b, key_x)
        t.has(r, b"&lt;script&gt;alert(1)&lt;/script&gt;", "<script> escaped")
        t.hasnt(b, b"<script>alert(1)", "no live <script> anywhere")
        s, h, b = create(bob, 'He said "hi" & it\'s <b>')
        key_q, _ = created(b)
        r = row(bob.get("/settings/tokens")[2], key_q)
        t.has(r, b"He said &quot;hi&quot; &amp; it&#39;s &lt;b&gt;",
              "quotes and ampersands escaped")
        t.has(r, b'aria-label="Active: He said &quot;hi&quot;',
              "escaped inside attributes too")
        s, h, b = create(bob, "日" * 200)
        key_m, _ = created(b)
        t.eq(s, 200, "200 multibyte characters accepted")
        t.has(row(bob.get("/settings/tokens")[2], key_m), ("日" * 200).encode(),
              "... and shown whole")
        for desc, label in (("   ", "only spaces"), ("", "empty"),
                            ("x" * 201, "201 characters"),
                            ("a\x07b", "a control character"),
                            ("日" * 201, "201 multibyte characters")):
            n = db.val("SELECT count(*) FROM tokens")
            s, h, b = create(bob, desc)
            t.eq(s, 400, "description %s -> 400" % label)
            t.eq(db.val("SELECT count(*) FROM tokens"), n,
                 "... and nothing created")
        s, h, b = create(bob, "   ", json_api=True)
        t.eq((s, json.loads(b).get("error")), (400, "INVALID_REQUEST"),
             "JSON: bad description -> 400 INVALID_REQUEST")
        s, h, b = create(bob, "  padded  ")
        k, _ = created(b)
        t.has(row(bob.get("/settings/tokens")[2], k),
              b'<span class="desc">padded</span>', "descriptions are trimmed")

        # Who may switch what.
        bob.get("/settings/tokens")
        tok = bob.csrf()
        s, h, b = bob.post("/settings/tokens/%s/deactivate" % key, {"csrf": tok})
        # Issue 18 (2, 9): back to the list with the switch focused and
        # the notice with Undo.
        t.eq((s, h.get("Location")), (303, "/settings/tokens?focus=%s&off=%s"
                                      % (key, key)),
             "owner deactivates -> 303 back, the switch focused, Undo offered")
        t.ok(b'aria-checked="false"' in row(bob.get("/settings/tokens")[2], key),
             "the row shows inactive")
        s, h, b = bob.post("/settings/tokens/%s/activate" % key, {"csrf": tok})
        t.eq(s, 303, "owner activates")
        t.ok(b'aria-checked="true"' in row(bob.get("/settings/tokens")[2], key),
             "the row shows active again")
        s, h, b = bob.post("/settings/tokens/%s/deactivate" % key, {})
        t.eq(s, 403, "without CSRF -> 403")
        s, h, b = bob.post("/settings/tokens/%s/deactivate" % key,
                           {"csrf": tok}, headers={"Origin": "http://evil.example"})
        t.eq(s, 403, "from another origin -> 403")
        t.eq(bob.get("/settings/tokens/%s/deactivate" % key)[0], 405,
             "a switch by GET -> 405")
        s, h, b = bob.post("/settings/tokens/%s/deactivate" % key, {"csrf": tok},
                           headers={"Accept": "application/json",
                                    "X-CSRF-Token": tok})
        doc = json.loads(b)
        t.eq((s, doc["data"]["active"]), (200, False), "JSON deactivate")
        t.ok("token" not in doc["data"] and secret.encode() not in b,
             "the JSON answer has no secret")
        bob.post("/settings/tokens/%s/activate" % key, {"csrf": tok})

        carol = login(base, "carol@example.com")
        s, h, b = carol.post("/settings/tokens/%s/deactivate" % key,
                             {"csrf": carol.csrf()})
        t.eq(s, 404, "another member -> 404")
        t.ok(row(carol.get("/settings/tokens")[2], key) == b"",
             "a member does not see others' tokens")
        zed = login(base, "zed@other.example")
        s, h, b = zed.post("/settings/tokens/%s/deactivate" % key,
                           {"csrf": zed.csrf()})
        t.eq(s, 404, "another account's admin -> 404")
        ana = login(base, "ana@example.com")
        s, h, b = ana.get("/settings/tokens")
        t.has(row(b, key), b"bob@example.com", "an admin sees members' tokens "
              "with their creator")
        s, h, b = ana.post("/settings/tokens/%s/deactivate" % key,
                           {"csrf": ana.csrf()})
        t.eq(s, 303, "an admin deactivates a member's token")
        r = row(bob.get("/settings/tokens")[2], key)
        t.ok(b'aria-checked="false"' in r, "bob sees it inactive")
        t.has(r, b"Last change by ana@example.com", "the Activity line names the admin")
        t.has(r, b"Created by bob@example.com", "... and the creator")
        t.eq(bob.post("/settings/tokens/%s/activate" % ("0" * 8 + "-0000-4000-8000-" + "0" * 12),
                      {"csrf": tok})[0], 404, "unknown key -> 404")
        t.eq(bob.post("/settings/tokens/not-a-key/activate", {"csrf": tok})[0],
             404, "malformed key -> 404")

        # Via tokens: made from the command line, listed first.
        r = tessera(data, "token", "add-via", "--account", "Acme",
                    "--destination", "BigQuery <prod>")
        out = r.stdout.decode()
        vkey = re.search(r"Token Key: (\S+)", out)
        vsec = re.search(r"Token: +(\S+)", out)
        t.ok(r.returncode == 0 and vkey and vsec and SECRET.match(vsec.group(1)),
             "tessera token add-via prints key and token once", out)
        vkey = vkey.group(1)
        s, h, b = ana.get("/settings/tokens")
        via = b.split(b'id="via"')[1].split(b'id="user"')[0]
        t.has(via, vkey.encode(), "the Via token is in the Via list")
        t.has(via, b'<span class="desc">BigQuery &lt;prod&gt;</span>',
              "named after its destination, escaped")
        t.has(via, b'class="switch"', "with a switch")
        t.hasnt(via, b"CREATE", "and no CREATE button there")
        t.hasnt(b, vsec.group(1).encode(), "its secret is not on the page")
        t.ok(row(bob.get("/settings/tokens")[2], vkey) == b"",
             "a member does not see the admin's Via token")
        s, h, b = ana.post("/settings/tokens/%s/deactivate" % vkey,
                           {"csrf": ana.csrf()})
        t.eq(s, 303, "Via tokens switch off like the others")

        # Audit log.
        acts = db.all("SELECT action, object, ip, u.email FROM audit_log l "
                      "JOIN users u ON u.id = l.user_id WHERE action LIKE "
                      "'token.%' ORDER BY l.id")
        t.ok(("token.created", key, "127.0.0.1", "bob@example.com") in acts,
             "audit: created, by whom, from which IP", acts[:3])
        t.ok(("token.deactivated", key, "127.0.0.1", "ana@example.com") in acts,
             "audit: deactivated by the admin")
        t.ok(("token.activated", key, "127.0.0.1", "bob@example.com") in acts,
             "audit: activated")

        # The secret never reached a log line.
        with open(app.log_path, "rb") as f:
            log = f.read()
        for sec in (secret, json_secret, vsec.group(1)):
            t.hasnt(log, sec.encode(), "no secret in the log (%s...)" % sec[:8])

        # 5,000 tokens: newest first, paged, filterable, fast.
        uid, acct = db.one("SELECT id, account_id FROM users WHERE "
                           "email_norm = 'bob@example.com'")
        now = int(time.time())
        rows = [(str(_uuid()), secrets.token_bytes(32), "bulk token %05d" % i,
                 acct, uid, now - 5000 + i, now - 5000 + i)
                for i in range(5000)]
        db.many("INSERT INTO tokens (key, secret_hash, kind, description, "
                "account_id, user_id, created_at, updated_at) VALUES "
                "(?, ?, 'user', ?, ?, ?, ?, ?)", rows)
        total = db.val("SELECT count(*) FROM tokens WHERE user_id = ? AND "
                       "kind = 'user'", uid)
        s, h, b = bob.get("/settings/tokens")
        t.eq(s, 200, "page with %d tokens" % total)
        t.has(b, ("1–20 of %d" % total).encode(), "paged: 20 of all")
        t.eq(len(re.findall(rb"<tr data-key=", b.split(b'id="user"')[1])), 20,
             "20 rows on a page")
        s, h, b = bob.get("/settings/tokens?page=2")
        t.has(b, ("21–40 of %d" % total).encode(), "page 2")
        s, h, b = bob.get("/settings/tokens?page=251")
        t.has(b, ("5001–%d of %d" % (total, total)).encode(), "the last page")
        t.ok(b'rel="next"' not in b and b'rel="prev"' in b,
             "the last page links back only")
        s, h, b = bob.get("/settings/tokens?q=bulk+token+0421")
        t.has(b, b"bulk token 04210", "filter by description")
        t.eq(len(re.findall(rb"<tr data-key=", b.split(b'id="user"')[1])), 10,
             "filter keeps only the 10 matches")
        t.hasnt(b, b"bulk token 04200", "non-matching rows are gone")
        s, h, b = bob.get("/settings/tokens?q=" + key[:8])
        t.ok(row(b, key) != b"", "filter by the start of a key")

        # Issue 18: sort, Page N of M, past the end, filter by scope, and
        # the parameters checked (on both engines: tokens_page_sorted).
        def descs(body):
            return re.findall(rb'<span class="desc">([^<]*)</span>',
                              body.split(b'id="user"')[1])
        s, h, b = bob.get("/settings/tokens?q=bulk+token+0421&sort=description&dir=asc")
        t.eq(descs(b), [b"bulk token 0421%d" % i for i in range(10)],
             "sort by description, A to Z")
        s, h, b = bob.get("/settings/tokens?q=bulk+token+0421&sort=description&dir=desc")
        t.eq(descs(b), [b"bulk token 0421%d" % i for i in range(9, -1, -1)],
             "sort by description, Z to A")
        s, h, b = bob.get("/settings/tokens?q=bulk+token&sort=created&dir=asc")
        t.eq(descs(b)[:2], [b"bulk token 00000", b"bulk token 00001"],
             "sort by created, oldest first")
        t.has(b, b'aria-sort="ascending"', "the sorted column says so (aria-sort)")
        t.has(b, b"Page 1 of 250", "Page N of M (5,000 bulk tokens)")
        pages = (total + 19) // 20
        s, h, b = bob.get("/settings/tokens?page=%d" % (pages + 5))
        t.ok(s == 200 and b"past the end" in b and b"No tokens yet" not in b
             and ("page=%d" % pages).encode() in b,
             "a page past the end says so and links to the last page")
        s, h, b = bob.get("/settings/tokens?q=bulk&scope=tokens:write")
        t.has(b, b"No token matches this filter.",
              "filter by scope: no bulk token holds tokens:write")
        s, h, b = bob.get("/settings/tokens?q=bulk&scope=tokens:read&sort=expires")
        t.eq(len(descs(b)), 20, "filter by scope: the bulk tokens hold tokens:read")
        for bad in ("sort=id", "dir=up", "page=0", "page=x", "vpage=-1",
                    "scope=root", "q=" + "x" * 201, "focus=nope", "off=a,b"):
            t.eq(bob.get("/settings/tokens?" + bad)[0], 400, "?%s -> 400" % bad[:20])
        before = log_durations(app.log_path)
        for _ in range(7):
            bob.get("/settings/tokens")
        times = sorted(log_durations(app.log_path)[len(before):])
        med = times[len(times) // 2] if times else 1e9
        print("# tokens page with %d tokens: server render median %.1f ms, "
              "max %.1f ms" % (total, med, times[-1] if times else 0))
        t.ok(med <= 50, "server render <= 50 ms with 5,000 tokens "
             "(median %.1f ms)" % med)
    return t.done()


def _uuid():
    import uuid
    return uuid.uuid4()


def log_durations(path):
    with open(path, "rb") as f:
        return [float(m) for m in re.findall(
            rb"req: GET /settings/tokens 200 ([0-9.]+)ms", f.read())]


if __name__ == "__main__":
    sys.exit(main())
