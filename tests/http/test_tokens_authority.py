"""The tokens page's side of "Token authority" (HTTP.md) through nginx and
`tessera serve`, without a browser: the create form's expiry, scopes and
allowed IPs (stored as asked; refusals keep the form and change nothing);
the operator's expiry policy in the form and behind it; Edit and Rotate
(forms by GET, changes by POST with CSRF only, JSON for the page's
script); who may edit or rotate what; deactivation on the page switching
off the tokens made from it; narrowing on the page narrowing them; the
expiry marks as the test clock moves; the audit rows of page actions."""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import PW, Api, Db, Token, cli_token  # noqa: E402
from client import Client  # noqa: E402
from servers import Nginx, TesseraServe, free_port  # noqa: E402
from tap import BIN, Tap, add_user, app_env, data_env, init_data, scratch  # noqa: E402
from test_tokens import created, row  # noqa: E402
import openapi_check  # noqa: E402

DAY = 86400
DEFAULTS = "objects:read objects:write pipelines:run webhook:write records:read tokens:read"


def login(base, email):
    c = Client(base)
    c.login(email, PW)
    c.get("/settings/tokens")
    return c


def post_form(c, path, fields, json_api=False):
    """POSTs fields (a list of pairs, repeats allowed) with the page's CSRF
    token, as the form or as the page's script does."""
    tok = c.csrf() or c.csrf(c.get("/settings/tokens")[2])
    if json_api:
        return c.post(path, fields, headers={"Accept": "application/json",
                                             "X-CSRF-Token": tok})
    return c.shown(c.post(path, fields + [("csrf", tok)]))


def create_form(desc, days=None, date=None, scopes=None, ips=None):
    f = [("description", desc), ("scope_choice", "1")]
    if days is not None:
        f.append(("expires_in_days", days))
    if date is not None:
        f.append(("expires_at", date))
    for s in scopes or []:
        f.append(("scopes", s))
    if ips is not None:
        f.append(("allowed_ips", ips))
    return f


def alert(body, ident):
    m = re.search(rb'id="' + ident.encode() + rb'"[^>]*>([^<]*)<', body)
    return m.group(1).decode() if m else ""


class Clock:
    """The server's wall clock (TESSERA_TEST_CLOCK_FILE)."""

    def __init__(self, path):
        self.path = path
        self.set(int(time.time()))

    def set(self, t):
        self.now = t
        with open(self.path, "w") as f:
            f.write(str(t))


def start(work, name, data, clock, **env):
    sock = os.path.join(work, name, "tessera.sock")
    os.makedirs(os.path.dirname(sock), exist_ok=True)
    app = TesseraServe(os.path.join(work, name), BIN, sock, workers=2,
                       env=app_env(data, TESSERA_TEST_CLOCK_FILE=clock.path,
                                   TESSERA_SESSION_IDLE=31536000,
                                   TESSERA_SESSION_ABSOLUTE=31536000,
                                   TESSERA_RATE_LIMIT_API_KEY=0,
                                   TESSERA_RATE_LIMIT_API_IP=0, **env))
    web = Nginx(os.path.join(work, name + "-nginx"), free_port(), sock)
    return app, web


def create_and_refuse(t, c, db, clock):
    n = db.val("SELECT count(*) FROM tokens")
    s, h, b = post_form(c, "/settings/tokens", create_form(
        "every field", days="30", scopes=["objects:read", "tokens:write"],
        ips="203.0.113.0/24\n2001:db8::/32, 198.51.100.7"))
    key, secret = created(b)
    t.ok(s == 200 and key and secret, "create with expiry, scopes and IPs: 200, the secret "
         "shown once", s)
    r = db.one("SELECT scopes, expires_at, allowed_ips, parent_id FROM tokens WHERE key = ?",
               key)
    t.eq(r and (r[0], r[2], r[3]), (0x41, "203.0.113.0/24,2001:db8::/32,198.51.100.7", None),
         "... stored: objects:read + tokens:write, the IPs canonical, no parent")
    t.ok(r and abs(r[1] - (clock.now + 30 * DAY)) <= 2, "... expiring in 30 days", r)

    # A form without any scopes field gets the defaults; with the dialog's
    # marker and none checked it is refused.
    tok = c.csrf(c.get("/settings/tokens")[2])
    s, h, b = c.shown(c.post("/settings/tokens", {"description": "plain form", "csrf": tok}))
    k2, _ = created(b)
    t.eq(db.val("SELECT scopes FROM tokens WHERE key = ?", k2), 63,
         "a form with no scopes field: the default scopes")
    t.eq(db.val("SELECT expires_at FROM tokens WHERE key = ?", k2), None,
         "... and no expiry (token_default_expiry_days 0)")
    n = db.val("SELECT count(*) FROM tokens")
    bad = [
        ("no scope checked", create_form("x", days="0"), "at least one scope"),
        ("an unknown scope", create_form("x", scopes=["objects:admin"]), "unknown scope"),
        ("via:read on a user token", create_form("x", scopes=["via:read"]), "Via tokens"),
        ("a bad CIDR", create_form("x", scopes=["objects:read"], ips="10.0.0.0/33"),
         "10.0.0.0/33"),
        ("a host name for an IP", create_form("x", scopes=["objects:read"],
                                              ips="example.com"), "example.com"),
        ("a date in the past", create_form("x", days="date", date="2001-01-01",
                                           scopes=["objects:read"]), "future"),
        ("a malformed date", create_form("x", days="date", date="31/12/2030",
                                         scopes=["objects:read"]), "expires_at"),
        ("a date choice without a date", create_form("x", days="date",
                                                     scopes=["objects:read"]), "date"),
        ("days out of range", create_form("x", days="4000", scopes=["objects:read"]),
         "how long"),
    ]
    for label, form, words in bad:
        s, h, b = post_form(c, "/settings/tokens", form)
        msg = alert(b, "create-error")
        t.ok(s == 400 and words in msg and b'<dialog id="create"' in b and
             b'id="token-secret">tsr_' not in b,
             "create refused (%s): 400, the dialog again saying why" % label, (s, msg))
    s, h, b = post_form(c, "/settings/tokens", create_form(
        "kept", scopes=["records:read"], ips="bogus"))
    t.ok(b'value="kept"' in b and b'>bogus</textarea>' in b and
         re.search(rb'value="records:read"\s+checked', b) and
         not re.search(rb'value="objects:read"\s+checked', b),
         "a refused form keeps the description, the IPs and the scopes checked", b[:0])
    s, h, b = post_form(c, "/settings/tokens", create_form("x", scopes=["nope"]),
                        json_api=True)
    doc = json.loads(b)
    t.ok(s == 400 and doc.get("error") == "INVALID_REQUEST" and doc.get("field") == "scopes",
         "the script's JSON create: 400 INVALID_REQUEST field scopes", b)
    t.eq(db.val("SELECT count(*) FROM tokens"), n, "no refused form made a token")
    s, h, b = post_form(c, "/settings/tokens", create_form(
        "by script", days="7", scopes=["objects:read"], ips="10.1.0.0/16"), json_api=True)
    d = json.loads(b).get("data") or {}
    t.ok(s == 201 and d.get("scopes") == ["objects:read"] and
         d.get("allowed_ips") == ["10.1.0.0/16"] and d.get("expires_at") and
         d.get("token", "").startswith("tsr_") and d.get("parent_key") is None,
         "the script's JSON create answers the token's shape with its secret", b)

    # A one-time view not taken within ten minutes is gone.
    tok = c.csrf(c.get("/settings/tokens")[2])
    s, h, _ = c.post("/settings/tokens", {"description": "left unseen", "csrf": tok})
    view = h.get("Location") or ""
    clock.set(clock.now + 601)
    s, h, b = c.get(view)
    clock.set(int(time.time()))
    t.ok(s == 200 and b"cannot be shown again" in b and
         not re.search(rb"tsr_[0-9A-Za-z]{49}", b),
         "a view not taken within ten minutes: the notice, no secret", (s, view))
    return key


def policy(t, work, clock):
    data = init_data(os.path.join(work, "data-policy"))
    add_user(data, "ana@example.com", PW, role="admin")
    db = Db(data)
    app, web = start(work, "policy", data, clock, TESSERA_TOKEN_MAX_EXPIRY_DAYS=30,
                     TESSERA_TOKEN_DEFAULT_EXPIRY_DAYS=14)
    with app, web:
        c = login(web.base_url, "ana@example.com")
        s, h, b = c.get("/settings/tokens")
        opts = re.findall(rb'<option value="([^"]*)"\s*(selected)?\s*>', b)
        t.eq([(v.decode(), bool(sel)) for v, sel in opts
              if v.decode() in ("0", "7", "14", "30", "90", "date")],
             [("7", False), ("14", True), ("30", False), ("date", False)],
             "max 30, default 14: no Never, no 90 days, 14 days preselected")
        t.ok(re.search(rb'name="expires_at"[^>]*max="\d{4}-\d\d-\d\d"', b),
             "the date input has a max")
        for label, form in (("never", create_form("x", days="0", scopes=["objects:read"])),
                            ("90 days", create_form("x", days="90", scopes=["objects:read"]))):
            s, h, b = post_form(c, "/settings/tokens", form)
            t.ok(s == 400 and "within 30 days" in alert(b, "create-error"),
                 "the policy refuses %s on the page" % label, (s, alert(b, "create-error")))
        tok = c.csrf(c.get("/settings/tokens")[2])
        s, h, b = c.shown(c.post("/settings/tokens", {"description": "no choice", "csrf": tok}))
        key, _ = created(b)
        exp = db.val("SELECT expires_at FROM tokens WHERE key = ?", key)
        t.ok(exp and abs(exp - (clock.now + 14 * DAY)) <= 2,
             "a form with no expiry field gets the default, 14 days", exp)
        r = tessera_cli(data, clock, "token", "add", "--email", "ana@example.com",
                        "--description", "cli", "--expires-in-days", "0")
        t.ok(r.returncode != 0 and b"within 30 days" in r.stderr,
             "the command line obeys the policy too", r.stderr)


def tessera_cli(data, clock, *args):
    import subprocess
    return subprocess.run([BIN] + list(args) + ["--data", data], capture_output=True,
                          env=data_env(data, dict(os.environ,
                                                  TESSERA_TEST_CLOCK_FILE=clock.path,
                                                  TESSERA_TOKEN_MAX_EXPIRY_DAYS="30")))


def edit_and_rotate(t, web, data, db, clock, key):
    base = web.base_url
    ana, bob = login(base, "ana@example.com"), login(base, "bob@example.com")
    s, h, b = ana.get("/settings/tokens/%s/edit" % key)
    t.ok(s == 200 and b'<dialog id="edit"' in b and b'>203.0.113.0/24\n2001:db8::/32\n'
         b'198.51.100.7</textarea>' in b and
         re.search(rb'value="tokens:write"\s+checked', b),
         "GET .../edit: the form, filled with what the token may do", s)
    s, h, b = bob.get("/settings/tokens/%s/edit" % key)
    t.eq(s, 404, "a member cannot open the edit form of another's token")
    bkey = cli_token(data, "bob@example.com", "bob's").key
    s, h, b = ana.get("/settings/tokens/%s/rotate" % bkey)
    t.ok(s == 200 and b'<dialog id="rotate"' in b, "an admin opens the rotate form of a "
         "member's token")
    before = db.one("SELECT secret_hash, updated_at FROM tokens WHERE key = ?", key)
    ana.get("/settings/tokens/%s/rotate" % key)
    t.eq(db.one("SELECT secret_hash, updated_at FROM tokens WHERE key = ?", key), before,
         "GET .../rotate changes nothing")
    for path in ("/settings/tokens/%s/edit" % key, "/settings/tokens/%s/rotate" % key):
        s, h, b = ana.post(path, {"description": "x", "grace_seconds": "0",
                                  "csrf": "wrong"})
        t.eq(s, 403, "POST %s without the CSRF token: 403" % path.rsplit("/", 1)[1])
    t.eq(db.one("SELECT secret_hash, updated_at FROM tokens WHERE key = ?", key), before,
         "... and nothing changed")

    s, h, b = post_form(ana, "/settings/tokens/%s/edit" % key, [
        ("description", "edited"), ("scope_choice", "1"), ("scopes", "objects:read"),
        ("allowed_ips", "203.0.113.0/25")])
    t.ok(s == 303, "POST .../edit saves and goes back to the list", s)
    t.eq(db.one("SELECT description, scopes, allowed_ips FROM tokens WHERE key = ?", key),
         ("edited", 1, "203.0.113.0/25"), "... description, scopes and IPs stored")
    s, h, b = post_form(ana, "/settings/tokens/%s/edit" % key, [
        ("description", "edited"), ("scope_choice", "1"), ("allowed_ips", "")])
    t.ok(s == 400 and "at least one scope" in alert(b, "edit-error") and
         b'<dialog id="edit"' in b, "an edit with no scope: 400, the form again", s)
    s, h, b = post_form(bob, "/settings/tokens/%s/edit" % key, [
        ("description", "mine now"), ("scopes", "objects:read")])
    t.eq(s, 404, "a member cannot edit another's token")
    vkey = re.search(r"Token Key: (\S+)", tessera_plain(
        data, "token", "add-via", "--account", "Acme", "--destination", "Lake")).group(1)
    s, h, b = ana.get("/settings/tokens/%s/edit" % vkey)
    t.ok(b"via:read" in b and b'name="scopes"' not in b.split(b'<dialog id="edit"')[1],
         "a Via token's edit form shows via:read, not the scope boxes")
    s, h, b = post_form(ana, "/settings/tokens/%s/edit" % vkey, [
        ("description", "Lake (BI)"), ("allowed_ips", "192.0.2.0/24")])
    t.eq((s, db.one("SELECT description, scopes, allowed_ips FROM tokens WHERE key = ?",
                    vkey)), (303, ("Lake (BI)", 128, "192.0.2.0/24")),
         "a Via token's description and IPs can be edited; its scope stays via:read")

    # Rotate on the page: the new secret once, the old until the grace ends.
    old = cli_token(data, "ana@example.com", "to rotate")
    tok = ana.csrf(ana.get("/settings/tokens")[2])
    s, h, b = ana.post("/settings/tokens/%s/rotate" % old.key,
                       [("grace_seconds", "3600"), ("csrf", tok)])
    view = h.get("Location") or ""
    t.ok(s == 303 and "?shown=" in view, "POST .../rotate (the form): 303 to a one-time view",
         (s, view))
    s, h, b = ana.get(view)
    k, new = created(b)
    t.ok(s == 200 and k == old.key and new and new != old.secret and
         b"Token rotated" in b and b"keeps working until" in b,
         "POST .../rotate: the new secret shown once, and until when the old works", s)
    api = Api(base)
    t.eq([api.get("/api/me", old.basic)[0], api.get("/api/me", {"Authorization": "Bearer " +
                                                               new})[0]], [200, 200],
         "... both secrets work during the grace period")
    s, h, b = ana.get(view)
    t.ok(s == 200 and new.encode() not in b and b"cannot be shown again" in b and
         db.val("SELECT count(*) FROM secret_views WHERE id = ?",
                int(view.rsplit("=", 1)[-1] or 0)) == 0,
         "reloading the view: the notice, no secret, the view gone", s)
    s, h, b = ana.get("/settings/tokens")
    t.ok(new.encode() not in b, "the list never shows the new secret")
    s, h, b = post_form(ana, "/settings/tokens/%s/rotate" % old.key,
                        [("grace_seconds", "0")], json_api=True)
    d = json.loads(b).get("data") or {}
    t.ok(s == 200 and d.get("key") == old.key and d.get("token", "").startswith("tsr_") and
         d.get("previous_expires_at") is None, "the script's JSON rotate, grace 0", b)
    t.eq([api.get("/api/me", {"Authorization": "Bearer " + new})[0],
          api.get("/api/me", {"Authorization": "Bearer " + d.get("token", "")})[0]],
         [401, 200], "... the secret before it stopped at once")
    s, h, b = post_form(ana, "/settings/tokens/%s/rotate" % old.key,
                        [("grace_seconds", "999999")])
    t.ok(s == 400 and "0 to 604800" in alert(b, "rotate-error"),
         "a grace past 7 days is refused", (s, alert(b, "rotate-error")))


def tessera_plain(data, *args):
    import subprocess
    r = subprocess.run([BIN] + list(args) + ["--data", data], capture_output=True,
                       check=True, env=data_env(data))
    return r.stdout.decode()


def lineage_on_the_page(t, web, data, db):
    """Deactivating on the page switches off the tokens made from it;
    narrowing it narrows them."""
    api = Api(web.base_url)
    parent = cli_token(data, "ana@example.com", "parent", "--scopes",
                       "objects:read,records:read,tokens:write,tokens:read")
    s, h, b, doc = api.post("/api/tokens", parent.basic, {
        "description": "child", "allowed_ips": ["127.0.0.0/8", "10.0.0.0/8"],
        "scopes": ["objects:read", "records:read", "tokens:write"]})
    child = Token(doc["data"]["key"], doc["data"]["token"])
    s, h, b, doc = api.post("/api/tokens", child.basic, {
        "description": "grandchild", "scopes": ["objects:read", "records:read"]})
    t.eq(s, 201, "a child (API-made) makes a grandchild")
    child, grand = child.key, doc["data"]["key"]
    ana = login(web.base_url, "ana@example.com")
    s, h, b = post_form(ana, "/settings/tokens/%s/edit" % parent.key, [
        ("description", "parent"), ("scope_choice", "1"), ("scopes", "objects:read"),
        ("scopes", "tokens:write"), ("allowed_ips", "10.1.0.0/16")])
    t.eq(s, 303, "the parent narrowed on the page")
    t.eq(db.all("SELECT scopes, allowed_ips, active FROM tokens WHERE key IN (?, ?) "
                "ORDER BY id", child, grand),
         [(0x41, "10.1.0.0/16", 1), (0x01, "10.1.0.0/16", 1)],
         "... its descendants narrowed with it (scopes and IPs)")
    s, h, b = post_form(ana, "/settings/tokens/%s/deactivate" % parent.key, [],
                        json_api=True)
    d = json.loads(b).get("data") or {}
    t.ok(s == 200 and d.get("active") is False and d.get("cascaded") == 2,
         "deactivating on the page: the JSON says 2 tokens made from it went off", b)
    t.eq(db.all("SELECT active FROM tokens WHERE key IN (?, ?, ?)", parent.key, child,
                grand), [(0,), (0,), (0,)], "... all three are off")
    t.eq(db.val("SELECT detail FROM audit_log WHERE action = 'token.deactivated' "
                "AND object = ? ORDER BY id DESC LIMIT 1", parent.key),
         "with 2 tokens made from it", "... and the audit row says so")
    t.eq(db.val("SELECT via_token FROM audit_log WHERE action = 'token.deactivated' "
                "AND object = ? ORDER BY id DESC LIMIT 1", parent.key), "",
         "... a person did it: no via token")
    # The activity an admin reads (/settings/activity): who, and through
    # which token.
    s, h, b = ana.get("/settings/activity?action=token.created&key=" + child)
    t.ok(re.search(rb'<span class="actor"><span class="addr" title="ana@example\.com">'
                   rb'ana@example\.com</span></span> <span class="via">via token '
                   rb'<code title="' + parent.key.encode() + rb'">', b) and
         re.search(rb'created token</span> <code class="object" title="' + child.encode(), b),
         "Activity: the child's creation by ana via the parent token", b[:0])


def expiry_marks(t, web, data, clock):
    ana = login(web.base_url, "ana@example.com")
    soon = cli_token(data, "ana@example.com", "a month", "--expires-in-days", "30")
    s, h, b = ana.get("/settings/tokens")
    r = row(b, soon.key)
    t.ok(b'class="expiring"' not in r and b'class="expired"' not in r,
         "30 days ahead: the expiry is not marked", r)
    clock.set(clock.now + 25 * DAY)
    r = row(ana.get("/settings/tokens")[2], soon.key)
    t.ok(re.search(rb'class="expiring">in 5 days<', r), "25 days later: marked, in 5 days",
         r)
    clock.set(clock.now + 6 * DAY)
    r = row(ana.get("/settings/tokens")[2], soon.key)
    t.ok(re.search(rb'class="expired">expired<', r), "past it: marked expired", r)
    clock.set(int(time.time()))


def unscoped_route_refused(t, work, clock):
    """A route on a token path that declares no scope stops the scripts
    from loading: every request answers 500, that route is never reached,
    and the log says which route and why."""
    data = init_data(os.path.join(work, "data-unscoped"))
    add_user(data, "ana@example.com", PW)
    tok = cli_token(data, "ana@example.com", "t")
    app, web = start(work, "unscoped", data, clock,
                     TESSERA_EXTRA_ROUTES="fixture_routes,unscoped_routes")
    with app, web:
        api = Api(web.base_url)
        s, h, b, doc = api.get("/api/_unscoped", tok.basic)
        t.ok(s == 500 and b"reached" not in b, "an unscoped token route is never reached "
             "(500)", (s, b))
        t.eq(api.get("/healthz")[0], 500, "... the whole app refuses to load")
        with open(app.log_path, "rb") as f:
            log = f.read()
        t.ok(b"route GET /api/_unscoped: a route on a token path must declare the scope "
             b"it needs" in log, "... and the log names the route and why")


def main():
    t = Tap()
    openapi_check.enable(t)   # every API answer against docs/openapi.json
    work = scratch("tokens-authority")
    clock = Clock(os.path.join(work, "clock"))
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", PW, role="admin")
    add_user(data, "bob@example.com", PW)
    db = Db(data)
    app, web = start(work, "main", data, clock)
    with app, web:
        c = login(web.base_url, "ana@example.com")
        key = create_and_refuse(t, c, db, clock)
        edit_and_rotate(t, web, data, db, clock, key)
        lineage_on_the_page(t, web, data, db)
        expiry_marks(t, web, data, clock)
    policy(t, work, clock)
    unscoped_route_refused(t, work, clock)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
