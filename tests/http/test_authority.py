"""Token authority (HTTP.md "Token authority: scopes, expiry, allowed IPs,
rotation, lineage") end to end through nginx and `tessera serve`.

    scopes_per_route   every API route needs its scope (403
                       INSUFFICIENT_SCOPE naming it, checked before any
                       Lua) and works with that scope alone; a Via token
                       gets /api/me and nothing else; unknown paths 404
    leak_scenario      a token's child cannot touch its parent, ancestors,
                       siblings or tokens a person made; deactivating the
                       parent (page, API, command line) kills the whole tree
                       at once; activating does not cascade
    subset_rule        scopes, expiry and allowed_ips of a token made or
                       edited by a token never grow; narrowing cascades;
                       bad input is 400 with the field
    audit_trail        "user X via token KEY" rows for API actions; the
                       command line's rows
    allowed_ips        IPv4, IPv6 and IPv4-mapped callers through a real
                       nginx listening on 127.0.0.1, [::1] and [::] with
                       ipv6only=off; client headers never help; the
                       token.ip_denied audit row, once a minute
    rotation           two live secrets during the grace, one after, never
                       three; grace 0; bounds; the command line
    expiry_and_hooks   401 at the very second of expires_at (test clock);
                       token_expiring and token_expired fire exactly once
    expiry_policy      token_max_expiry_days / token_default_expiry_days in
                       the API and on the command line
    rotation_timing    one secret or two: the same time, right or wrong
    lineage_invariants an active token's ancestors are all active, and it
                       never holds more than its parent, whatever order
                       the changes come in: reactivation under a switched-
                       off parent is refused; narrowing that leaves a
                       token nothing switches it and its subtree off; a
                       Via token keeps via:read and stays editable

The clock of the servers is a file (TESSERA_TEST_CLOCK_FILE) the tests
move forward; the command-line calls read the same file.
"""

import calendar
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import (ALL_USER_SCOPES, DEFAULT_SCOPES, PW, SECRET,  # noqa: E402
                       TOKEN_FIELDS, Api, Db, Token, basic, bearer, cli,
                       cli_token_env, dig, fake_secret, is_failure, with_query)
from client import Client  # noqa: E402
from servers import Nginx, TesseraServe, free_port, free_port6, http  # noqa: E402
from tap import (BIN, NO_LIMITS, Tap, add_user, app_env, body_json,  # noqa: E402
                 init_data, scratch, wait_for)
import openapi_check  # noqa: E402

BOB = "bob@example.com"
ANA = "ana@example.com"
ZED = "zed@other.example"
DAY = 86400

# -- shared set-up ----------------------------------------------------------------


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Clock:
    """The servers' clock: whole Unix seconds in a file, replaced
    atomically so a worker never reads half a number."""

    def __init__(self, path, now):
        self.path = path
        self.set(now)

    def set(self, t):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % t)
        os.replace(tmp, self.path)
        self.now = t

    def advance(self, seconds):
        self.set(self.now + seconds)

    @property
    def env(self):
        return {"TESSERA_TEST_CLOCK_FILE": self.path}


def servers(work, name, data, env, workers=2, listens=None):
    """tessera serve on a unix socket and nginx in front of it; listens:
    [(nginx listen parameters, port)], the first one on 127.0.0.1."""
    sock = os.path.join(work, name, "tessera.sock")
    os.makedirs(os.path.dirname(sock), exist_ok=True)
    # The runner does no runs here (run_poll_ms 0): a run failing while
    # a refusal is checked would add an audit row. test_runs runs them.
    env = dict({"TESSERA_RUN_POLL_MS": 0}, **env)
    app = TesseraServe(os.path.join(work, name), BIN, sock, workers=workers,
                       env=app_env(data, **env))
    port = listens[0][1] if listens else free_port()
    web = Nginx(os.path.join(work, name + "-nginx"), port, sock,
                listens=[l for l, _ in listens] if listens else None)
    return app, web


def people(data):
    """ana (admin) and bob (member) of Acme, zed (admin) of Other."""
    add_user(data, ANA, PW, role="admin")
    add_user(data, BOB, PW)
    add_user(data, ZED, PW, role="admin", account="Other")


class Maker:
    """Tokens from the command line, with the servers' clock and config."""

    def __init__(self, data, env=None):
        self.data, self.env = data, dict(env or {})

    def token(self, email, description, *extra):
        tok, r = cli_token_env(self.data, email, description, *extra, env=self.env)
        if tok is None:
            raise RuntimeError("tessera token add failed: %r %r" % (r.stdout, r.stderr))
        return tok

    def all_scopes(self, email, description, *extra):
        return self.token(email, description, "--scopes", ",".join(ALL_USER_SCOPES),
                          *extra)

    def run(self, *args):
        return cli(self.data, *args, env=self.env)


def make(t, api, parent, name, body=None):
    """A token made by parent through POST /api/tokens (201 asserted);
    returns (Token, data)."""
    doc_body = {"description": name}
    doc_body.update(body or {})
    s, h, b, doc = api.post("/api/tokens", parent.basic, doc_body)
    d = dig(doc, "data") or {}
    t.ok(s == 201 and d.get("parent_key") == parent.key and SECRET.match(d.get("token", "")),
         "POST /api/tokens %s -> 201, made from its caller" % name, "%s %r" % (s, b[:300]))
    return Token(d.get("key"), d.get("token")), d


def row_of(db, key):
    return db.one("SELECT active, secret_hash, description, scopes, allowed_ips, "
                  "updated_at, prev_secret_hash FROM tokens WHERE key = ?", key)


def active(db, key):
    return db.val("SELECT active FROM tokens WHERE key = ?", key)


def scope_refusal(doc, scope):
    """The exact 403 of a route whose scope the token lacks."""
    return (isinstance(doc, dict) and set(doc) == {"success", "error", "message", "required"}
            and doc["success"] is False and doc["error"] == "INSUFFICIENT_SCOPE"
            and doc["required"] == scope and isinstance(doc["message"], str)
            and doc["message"] != "")


def refused(doc, field, scope=None):
    """403 INSUFFICIENT_SCOPE from the subset rule, naming field (and the
    scope that would grow)."""
    return (is_failure(doc, "INSUFFICIENT_SCOPE") and doc.get("field") == field and
            (scope is None or doc.get("required") == scope))


def bad(doc, field):
    return is_failure(doc, "INVALID_REQUEST") and doc.get("field") == field


def me_key(api, auth):
    """(status, the token key /api/me names)."""
    s, h, b, doc = api.get("/api/me", auth)
    return s, dig(doc, "data", "token", "key")


# -- lineage invariants ---------------------------------------------------------------


def lineage_invariants(t, api, db, mk, base):
    """What a security review found: ways a child could end up alive or
    wider than its parent."""
    # Reactivation is refused while the parent is off (API, command line).
    r = mk.all_scopes(BOB, "inv root")
    c, _ = make(t, api, r, "inv child", {"scopes": ALL_USER_SCOPES})
    g, _ = make(t, api, c, "inv grandchild", {"scopes": ["objects:read"]})
    s, h, b, doc = api.post("/api/tokens/%s/deactivate" % c.key, r.basic)
    t.eq((s, active(db, c.key), active(db, g.key)), (200, 0, 0),
         "inv: the child deactivated, its child with it")
    s, h, b, doc = api.post("/api/tokens/%s/activate" % g.key, r.basic)
    t.ok(s == 409 and is_failure(doc, "PARENT_INACTIVE") and active(db, g.key) == 0,
         "inv: activating a grandchild under a switched-off child -> 409 PARENT_INACTIVE",
         b)
    t.eq(api.get("/api/me", g.basic)[0], 401, "... and it stays unusable")
    res = mk.run("token", "activate", g.key)
    t.ok(res.returncode != 0 and b"switched off" in res.stderr and active(db, g.key) == 0,
         "inv: the command line refuses it too", res.stderr)
    s, h, b, doc = api.post("/api/tokens/%s/activate" % c.key, r.basic)
    t.eq((s, active(db, c.key), active(db, g.key)), (200, 1, 0),
         "inv: the child back on; the grandchild stays off (no cascade up)")
    s, h, b, doc = api.post("/api/tokens/%s/activate" % g.key, r.basic)
    t.eq((s, active(db, g.key)), (200, 1), "inv: now the grandchild may come back")

    # Narrowing that leaves a token no address switches its subtree off.
    hosts11 = ["11.0.0.%d" % i for i in range(1, 63)]
    hosts10 = ["10.0.0.%d" % i for i in range(1, 63)]
    r2 = mk.all_scopes(BOB, "inv root 2")
    c2, _ = make(t, api, r2, "inv wide child", {
        "scopes": ALL_USER_SCOPES, "allowed_ips": ["127.0.0.1", "10.0.0.0/8"] + hosts11})
    g2, _ = make(t, api, c2, "inv narrow grandchild", {
        "scopes": ["objects:read"], "allowed_ips": ["127.0.0.1", "11.0.0.1"]})
    s, h, b, doc = api.call("PATCH", "/api/tokens/%s" % r2.key, r2.basic, {
        "allowed_ips": ["127.0.0.1"] + hosts10 + ["11.0.0.0/8"]})
    t.eq(s, 200, "inv: the root narrows itself to 64 networks")
    t.eq((active(db, c2.key), active(db, g2.key)), (0, 0),
         "inv: the child, whose intersection would need 125 networks, is off, and so "
         "is its grandchild")
    t.eq(api.get("/api/me", g2.basic)[0], 401, "... the grandchild answers 401")

    # A user token narrowed to no scope is switched off; a Via token keeps
    # its via:read and can still be edited.
    r3 = mk.all_scopes(BOB, "inv root 3")
    c3, _ = make(t, api, r3, "inv records child", {"scopes": ["records:read"]})
    s, h, b, doc = api.post("/api/destinations", r3.basic, {"name": "inv via", "type": "via"})
    via = dig(doc, "data", "via_token", "key")
    t.ok(s == 201 and via, "inv: a Via destination made by a token, with its Via token", b)
    s, h, b, doc = api.call("PATCH", "/api/tokens/%s" % r3.key, r3.basic,
                            {"description": "renamed only"})
    t.eq(db.val("SELECT scopes FROM tokens WHERE key = ?", via), 128,
         "inv: a description-only edit of the maker leaves the Via token's via:read")
    s, h, b, doc = api.call("PATCH", "/api/tokens/%s" % r3.key, r3.basic,
                            {"scopes": ["objects:read", "tokens:write"]})
    t.eq((db.one("SELECT scopes, active FROM tokens WHERE key = ?", c3.key),
          db.one("SELECT scopes, active FROM tokens WHERE key = ?", via)),
         ((0, 0), (128, 1)),
         "inv: narrowing the maker to no records:read switches off the child left with "
         "no scope; the Via token keeps via:read and stays on")
    s, h, b, doc = api.call("PATCH", "/api/tokens/%s" % via, r3.basic,
                            {"description": "inv via (BI)", "allowed_ips": ["127.0.0.1"]})
    t.ok(s == 200 and dig(doc, "data", "scopes") == ["via:read"],
         "inv: the maker can still edit its Via token", b)
    admin = Client(base)
    admin.login(ANA, PW)
    tok = admin.csrf(admin.get("/settings/tokens")[2])
    s, h, b = admin.post("/settings/tokens/%s/edit" % via, {
        "description": "inv via (edited by ana)", "csrf": tok})
    t.eq((s, db.one("SELECT description, allowed_ips FROM tokens WHERE key = ?", via)),
         (303, ("inv via (edited by ana)", "127.0.0.1")),
         "inv: an admin edits it on the page; a form without allowed_ips keeps them")


# -- 1. scopes, route by route ------------------------------------------------------


def route_table(ids):
    """(method, path, scope, body, status) of every token route; {self} is
    the calling token, {child} the token the tokens:write-only token made
    (POST /api/tokens comes first)."""
    src, dst, pl, mdl = ids["sources"], ids["destinations"], ids["pipelines"], ids["models"]
    bodies = {
        "sources": ({"name": "s2", "type": "webhook"}, {"name": "s1 renamed", "config": {}}),
        "destinations": ({"name": "d2", "type": "s3"}, {"name": "d1 renamed", "config": {}}),
        "pipelines": ({"name": "p2", "type": "standard", "source_id": src,
                       "destination_id": dst},
                      {"name": "p1 renamed", "config": {}, "source_id": src,
                       "destination_id": dst}),
        "models": ({"name": "m2", "type": "view", "destination_id": dst, "sql": "SELECT 2"},
                   {"name": "m1 renamed", "config": {}, "destination_id": dst,
                    "sql": "SELECT 1"}),
    }
    routes = [
        ("GET", "/api/tokens", "tokens:read", None, 200),
        ("GET", "/api/tokens/{self}", "tokens:read", None, 200),
        ("POST", "/api/tokens", "tokens:write",
         {"description": "made by a tokens:write-only token", "scopes": ["tokens:write"]}, 201),
        ("PATCH", "/api/tokens/{self}", "tokens:write", {"description": "renamed"}, 200),
        ("POST", "/api/tokens/{self}/activate", "tokens:write", None, 200),
        ("POST", "/api/tokens/{child}/rotate", "tokens:write", {"grace_seconds": 60}, 200),
        ("POST", "/api/tokens/{child}/deactivate", "tokens:write", None, 200),
    ]
    for kind, oid in (("sources", src), ("destinations", dst), ("pipelines", pl),
                      ("models", mdl)):
        routes += [("GET", "/api/" + kind, "objects:read", None, 200),
                   ("GET", "/api/%s/%d" % (kind, oid), "objects:read", None, 200),
                   ("POST", "/api/" + kind, "objects:write", bodies[kind][0], 201),
                   ("PUT", "/api/%s/%d" % (kind, oid), "objects:write", bodies[kind][1], 200)]
    routes += [
        ("POST", "/api/pipelines/%d/run" % pl, "pipelines:run", None, 200),
        ("GET", "/api/pipelines/%d/runs" % pl, "objects:read", None, 200),
        ("POST", "/api/models/%d/run" % mdl, "pipelines:run", None, 200),
        ("GET", "/api/models/%d/runs" % mdl, "objects:read", None, 200),
        ("GET", "/api/pipelines/%d/status" % pl, "objects:read", None, 200),
        ("GET", "/api/pipelines/%d/records" % pl, "records:read", None, 200),
        ("POST", "/webhook?pipeline_id=%d" % pl, "webhook:write", {"from": "webhook-only"},
         200),
    ]
    return routes


def scopes_per_route(t, api, db, mk, ref401):
    owner = mk.all_scopes(BOB, "owner of everything")
    ids = {}
    for kind, body in (("sources", {"name": "s1", "type": "webhook"}),
                       ("destinations", {"name": "d1", "type": "s3"})):
        ids[kind] = dig(api.post("/api/" + kind, owner.basic, body)[3], "data", "id")
    ids["pipelines"] = dig(api.post("/api/pipelines", owner.basic, {
        "name": "p1", "type": "standard", "source_id": ids["sources"],
        "destination_id": ids["destinations"]})[3], "data", "id")
    ids["models"] = dig(api.post("/api/models", owner.basic, {
        "name": "m1", "type": "view", "destination_id": ids["destinations"],
        "sql": "SELECT 1"})[3], "data", "id")
    record = {"order": 1, "total": 9.5}
    s = api.post("/webhook?pipeline_id=%s" % ids["pipelines"], owner.basic, record)[0]
    t.ok(all(isinstance(v, int) for v in ids.values()) and s == 200,
         "set-up: a source, a destination, a pipeline, a model and one record", ids)

    # Defaults: made without scopes.
    plain = mk.token(BOB, "no scopes named")
    s, h, b, doc = api.get("/api/me", plain.basic)
    t.eq((s, dig(doc, "data", "token", "scopes")), (200, DEFAULT_SCOPES),
         "a command-line token made without --scopes has the default scopes (no tokens:write)")
    t.eq(dig(doc, "data", "token", "expires_at"), None, "... and never expires")
    child, d = make(t, api, owner, "child with no scopes named")
    t.eq(d.get("scopes"), DEFAULT_SCOPES, "an API child made without scopes under an "
         "all-scope caller gets the default scopes")

    lacking = {sc: mk.token(BOB, "all but " + sc, "--scopes",
                            ",".join(x for x in ALL_USER_SCOPES if x != sc))
               for sc in ALL_USER_SCOPES}
    only = {sc: mk.token(BOB, "only " + sc, "--scopes", sc) for sc in ALL_USER_SCOPES}
    out = mk.run("token", "add-via", "--account", "Acme", "--destination", "Via shelf")
    m = re.search(r"Token Key: (\S+)\s+Token: +(\S+)", out.stdout.decode())
    via = Token(m.group(1), m.group(2)) if m else Token("", "")
    t.ok(out.returncode == 0 and m, "tessera token add-via makes a Via token", out.stderr)

    for sc in ALL_USER_SCOPES:
        s, h, b, doc = api.get("/api/me", only[sc].basic)
        tk = dig(doc, "data", "token") or {}
        t.ok(s == 200 and tk.get("scopes") == [sc] and tk.get("key") == only[sc].key and
             set(tk) == {"key", "description", "kind", "scopes", "expires_at"},
             "GET /api/me with only %s -> 200, scopes [%s]" % (sc, sc), b[:300])
    s, h, b, doc = api.get("/api/me", via.basic)
    t.eq((s, dig(doc, "data", "token", "kind"), dig(doc, "data", "token", "scopes")),
         (200, "via", ["via:read"]), "GET /api/me with a Via token -> 200, kind via, "
         "scopes exactly [via:read]")

    counts_q = ("SELECT (SELECT count(*) FROM sources), (SELECT count(*) FROM destinations), "
                "(SELECT count(*) FROM pipelines), (SELECT count(*) FROM models), "
                "(SELECT count(*) FROM records), (SELECT count(*) FROM runs), "
                "(SELECT count(*) FROM tokens), (SELECT count(*) FROM audit_log)")
    ctx = {"child": child.key}
    refused_at = []
    for method, path, scope, body, want in route_table(ids):
        label = "%s %s" % (method, path.replace("{self}", "{key}").replace("{child}", "{key}"))
        # Without the scope: refused, naming it, and nothing happens.
        before = db.one(counts_q)
        tok = lacking[scope]
        p = path.format(self=tok.key, child=ctx["child"])
        s, h, b, doc = api.call(method, p, tok.basic, body)
        t.ok(s == 403 and scope_refusal(doc, scope),
             "%s without %s (every other scope) -> 403 INSUFFICIENT_SCOPE required=%s"
             % (label, scope, scope), "%s %r" % (s, b[:300]))
        refused_at.append(db.one(counts_q) == before)
        s, h, b, doc = api.call(method, p, via.basic, body)
        t.ok(s == 403 and scope_refusal(doc, scope),
             "%s with a Via token -> 403 INSUFFICIENT_SCOPE required=%s" % (label, scope),
             "%s %r" % (s, b[:300]))
        # With that scope alone: the route answers normally.
        tok = only[scope]
        p = path.format(self=tok.key, child=ctx["child"])
        s, h, b, doc = api.call(method, p, tok.basic, body)
        if label.startswith("GET /api/pipelines/") and label.endswith("/status"):
            ok = s == want and isinstance(doc, dict) and list(doc) == [str(ids["pipelines"])]
        elif label.endswith("/records"):
            ok = s == want and [r.get("data") for r in dig(doc, "data") or []] == [record]
        elif label.startswith("POST /webhook"):
            ok = s == want and doc == {"success": True, "records": 1}
        elif label.endswith("/run"):
            ok = s == want and doc == {"success": True}
        else:
            ok = s == want and isinstance(doc, dict) and doc.get("success") is True
        t.ok(ok, "%s with only %s -> %d" % (label, scope, want), "%s %r" % (s, b[:300]))
        if method == "POST" and path == "/api/tokens":
            ctx["child"] = dig(doc, "data", "key") or ctx["child"]
    t.ok(all(refused_at), "no refused request wrote anything (objects, records, runs, "
         "tokens, audit rows)", refused_at)
    t.eq(active(db, ctx["child"]), 0, "the tokens:write-only token deactivated its own child")
    t.eq(db.val("SELECT description FROM tokens WHERE key = ?", only["tokens:write"].key),
         "renamed", "... and renamed itself")

    # The scope is checked before any script: a body that would be a 400,
    # and a token that does not exist, still get the 403.
    s, h, b, doc = api.post("/api/sources", lacking["objects:write"].basic, "{not json")
    t.ok(s == 403 and scope_refusal(doc, "objects:write"),
         "a broken JSON body without objects:write -> 403, not 400 (scope before Lua)", b)
    s, h, b, doc = api.post("/api/tokens/00000000-0000-4000-8000-000000000000/deactivate",
                            lacking["tokens:write"].basic)
    t.ok(s == 403 and scope_refusal(doc, "tokens:write"),
         "deactivating an unknown key without tokens:write -> 403, not 404", b)
    # ... and after the credentials: a bad secret is 401 whatever the scope.
    s, h, b, doc = api.post("/api/sources", basic(lacking["objects:write"].key, fake_secret()),
                            {"name": "x", "type": "webhook"})
    t.ok(s == 401 and b == ref401, "a wrong secret for a scope-lacking key -> the 401, "
         "not 403 (credentials first)", "%s %r" % (s, b))

    for tok, who in ((via, "a Via token"), (only["webhook:write"], "a webhook:write-only token"),
                     (owner, "an all-scope token")):
        for path in ("/api/nope", "/api/tokens/%s/explode" % owner.key):
            s, h, b, doc = api.get(path, tok.basic)
            t.ok(s == 404 and is_failure(doc, "NOT_FOUND"),
                 "GET %s with %s -> 404 NOT_FOUND" % (path.replace(owner.key, "{key}"), who),
                 "%s %r" % (s, b[:200]))


# -- 2. lineage: the leak scenario --------------------------------------------------


def try_all_ops(api, actor, target):
    """activate, deactivate, rotate and PATCH target as actor:
    [(op, status, doc)]."""
    out = []
    for op in ("activate", "deactivate", "rotate"):
        s, h, b, doc = api.post("/api/tokens/%s/%s" % (target, op), actor.basic)
        out.append((op, s, doc))
    s, h, b, doc = api.patch("/api/tokens/%s" % target, actor.basic,
                             {"description": "taken over"})
    out.append(("PATCH", s, doc))
    return out


def leak_scenario(t, api, db, mk, ref401, base):
    # A person made L (tokens:write) and P2 on the command line, and W on
    # the tokens page; ana and zed have tokens of their own.
    L = mk.all_scopes(BOB, "deploy bot")
    P2 = mk.all_scopes(BOB, "bob's other token")
    ana = mk.all_scopes(ANA, "ana's token")
    zed = mk.all_scopes(ZED, "zed's token")
    page = Client(base)
    page.login(BOB, PW)
    tp = page.get("/settings/tokens")[2]
    s, h, b = page.post("/settings/tokens", {"description": "made on the page",
                                              "csrf": page.csrf(tp)},
                        headers={"Accept": "application/json"})
    W = Token(dig(body_json(b), "data", "key"), dig(body_json(b), "data", "token"))
    t.ok(s == 201 and W.key, "a person made a token on the tokens page", b[:200])

    # The leaked token L makes C, a look-alike, with all it holds.
    C, d = make(t, api, L, "deploy bot", {"scopes": ALL_USER_SCOPES})
    t.eq((d.get("description"), d.get("scopes"), d.get("parent_key")),
         ("deploy bot", ALL_USER_SCOPES, L.key),
         "the child copies L's description; its parent_key is L")
    t.eq(set(d), TOKEN_FIELDS | {"token"}, "... the 201 has exactly the token fields "
         "and the secret")
    C2, _ = make(t, api, L, "sibling of C", {"scopes": ALL_USER_SCOPES})
    G, _ = make(t, api, C, "grandchild (C's child)", {"scopes": ALL_USER_SCOPES})
    G2, _ = make(t, api, G, "great-grandchild", {"scopes": ["objects:read", "tokens:write"]})
    parents = [dig(api.get("/api/tokens/%s" % k, L.basic)[3], "data", "parent_key")
               for k in (L.key, P2.key, W.key, G2.key)]
    t.eq(parents, [None, None, None, G.key], "parent_key is null for tokens a person made "
         "(command line, page) and names the maker for API-made ones")

    keys = [L.key, P2.key, W.key, C.key, C2.key, G.key, G2.key, ana.key, zed.key]
    before = {k: row_of(db, k) for k in keys}
    cases = [
        (C, "C", L, "its parent L", 403, "FORBIDDEN"),
        (C, "C", C2, "its sibling C2", 403, "FORBIDDEN"),
        (C, "C", P2, "a token a person made (command line)", 403, "FORBIDDEN"),
        (C, "C", W, "a token a person made (tokens page)", 403, "FORBIDDEN"),
        (G, "G", C, "its parent C", 403, "FORBIDDEN"),
        (G, "G", L, "its grandparent L", 403, "FORBIDDEN"),
        (G2, "G2", L, "an ancestor three levels up", 403, "FORBIDDEN"),
        (L, "L", P2, "a sibling a person made", 403, "FORBIDDEN"),
        (C, "C", ana, "another user's token of the account", 404, "NOT_FOUND"),
        (C, "C", zed, "another account's token", 404, "NOT_FOUND"),
    ]
    for actor, an, target, tn, want, code in cases:
        res = try_all_ops(api, actor, target.key)
        t.ok(all(s == want and is_failure(doc, code) for _, s, doc in res),
             "%s cannot activate/deactivate/rotate/PATCH %s -> %d %s" % (an, tn, want, code),
             res)
    t.eq({k: row_of(db, k) for k in keys}, before,
         "... and none of those tokens changed (active, secret, description, scopes, IPs)")
    t.eq([me_key(api, x.basic)[0] for x in (L, P2, W, C2)], [200] * 4,
         "... their secrets all still work")
    s, h, b, doc = api.get("/api/tokens/%s" % ana.key, C.basic)
    t.ok(s == 404 and is_failure(doc, "NOT_FOUND"), "C reading another user's token -> 404")

    # Descendants and itself: allowed.
    res = [(op, s) for op, s, _ in try_all_ops(api, C, G2.key)]
    t.eq(res, [("activate", 200), ("deactivate", 200), ("rotate", 200), ("PATCH", 200)],
         "C may activate, deactivate, rotate and PATCH its grandchild G2")
    t.eq(api.post("/api/tokens/%s/activate" % G2.key, L.basic)[0], 200,
         "L may switch a token three levels down back on")
    s, h, b, doc = api.patch("/api/tokens/%s" % C.key, C.basic, {"description": "C itself"})
    t.ok(s == 200 and dig(doc, "data", "description") == "C itself", "C may PATCH itself", b)

    # GET /api/tokens lists every one of the user's tokens, any lineage.
    s, h, b, doc = api.get("/api/tokens?limit=1000", G.basic)
    listed = {x.get("key") for x in dig(doc, "data") or []}
    mine = {r[0] for r in db.all("SELECT t.key FROM tokens t JOIN users u ON u.id = t.user_id "
                                 "WHERE u.email = ?", BOB)}
    t.ok(s == 200 and listed == mine and {L.key, P2.key, W.key, C2.key} <= listed,
         "GET /api/tokens (by a grandchild) lists all the user's tokens: ancestors, "
         "siblings, person-made", sorted(mine ^ listed))
    t.ok(all(set(x) == TOKEN_FIELDS for x in dig(doc, "data") or [None]),
         "... each item has exactly the token fields, no secret", b[:300])

    # The owner switches L off on the page: the whole tree dies with it.
    tp = page.get("/settings/tokens")[2]
    s, h, b = page.post("/settings/tokens/%s/deactivate" % L.key, {"csrf": page.csrf(tp)})
    t.eq(s, 303, "the owner deactivates L on the tokens page")
    t.eq([active(db, k) for k in (L.key, C.key, C2.key, G.key, G2.key)], [0] * 5,
         "L, C, C2, G and G2 are all inactive in the database")
    t.eq([active(db, k) for k in (P2.key, W.key)], [1, 1], "... tokens outside L's tree are not")
    s, h, b, doc = api.post("/api/tokens/%s/activate" % L.key, C.basic)
    t.ok(s == 401 and b == ref401, "C cannot reactivate L: its very next request is 401",
         "%s %r" % (s, b))
    for tok, n in ((C, "C"), (G, "G"), (G2, "G2")):
        t.ok(api.get("/api/me", tok.bearer)[2] == ref401,
             "%s's next request is the 401 (Bearer too)" % n)
    t.eq(active(db, L.key), 0, "L is still off")

    # Activating does not cascade.
    r = mk.run("token", "activate", L.key)
    t.eq(r.returncode, 0, "tessera token activate L")
    t.eq([active(db, k) for k in (L.key, C.key, C2.key, G.key, G2.key)], [1, 0, 0, 0, 0],
         "... L is back on, the tokens made from it stay off")
    t.eq((me_key(api, L.basic)[0], me_key(api, C.basic)[0]), (200, 401),
         "... L answers 200, C still 401")

    # Deactivation through the API and the command line cascades too.
    D1, _ = make(t, api, L, "D1", {"scopes": ["tokens:write", "objects:read"]})
    D2, _ = make(t, api, D1, "D2", {"scopes": ["tokens:write", "objects:read"]})
    D3, _ = make(t, api, D2, "D3", {"scopes": ["objects:read"]})
    s, h, b, doc = api.post("/api/tokens/%s/deactivate" % D1.key, L.basic)
    t.ok(s == 200 and dig(doc, "data", "active") is False and
         set(dig(doc, "data") or {}) == TOKEN_FIELDS,
         "L deactivates D1 through the API -> 200, the token object, inactive", b)
    t.eq([active(db, k) for k in (D1.key, D2.key, D3.key)], [0, 0, 0],
         "... D1, D2 and D3 are all off")
    t.eq([me_key(api, x.basic)[0] for x in (D2, D3)], [401, 401], "... D2 and D3 answer 401")
    t.eq(db.one("SELECT detail, via_token FROM audit_log WHERE action = 'token.deactivated' "
                "AND object = ?", D1.key), ("with 2 tokens made from it", L.key),
         "... one audit row: token.deactivated via L, with 2 tokens made from it")
    s, h, b, doc = api.post("/api/tokens/%s/activate" % D1.key, L.basic)
    t.eq([active(db, k) for k in (D1.key, D2.key, D3.key)], [1, 0, 0],
         "activating D1 through the API does not cascade")
    E1, _ = make(t, api, L, "E1", {"scopes": ["tokens:write", "objects:read"]})
    E2, _ = make(t, api, E1, "E2", {"scopes": ["objects:read"]})
    r = mk.run("token", "deactivate", E1.key)
    t.ok(r.returncode == 0 and [active(db, k) for k in (E1.key, E2.key)] == [0, 0],
         "tessera token deactivate E1 switches off E1 and E2", r.stdout + r.stderr)
    t.eq(db.one("SELECT ip, detail, via_token FROM audit_log WHERE action = "
                "'token.deactivated' AND object = ?", E1.key),
         ("cli", "with 1 token made from it", ""),
         "... audited from the command line, with 1 token made from it")


# -- 3. the subset rule --------------------------------------------------------------


def subset_rule(t, api, db, mk, clock):
    P = mk.all_scopes(BOB, "subset root")
    now = clock.now

    # Scopes.
    Q, _ = make(t, api, P, "Q", {"scopes": ["objects:read", "tokens:read", "tokens:write"]})
    for ask, miss in ((["objects:read", "objects:write"], "objects:write"),
                      (["records:read"], "records:read"),
                      (ALL_USER_SCOPES, "objects:write")):
        s, h, b, doc = api.post("/api/tokens", Q.basic, {"description": "grow", "scopes": ask})
        t.ok(s == 403 and refused(doc, "scopes", miss),
             "Q (objects:read tokens:read tokens:write) asking %s -> 403 "
             "INSUFFICIENT_SCOPE field=scopes required=%s" % (",".join(ask), miss), b)
    _, d = make(t, api, Q, "Q default child")
    t.eq(d.get("scopes"), ["objects:read", "tokens:read"],
         "a child made without scopes gets default & caller = objects:read tokens:read")
    K, _ = make(t, api, P, "K", {"scopes": ["objects:read", "tokens:write"]})
    K1, _ = make(t, api, K, "K1", {"scopes": ["objects:read"]})
    s, h, b, doc = api.patch("/api/tokens/%s" % K.key, P.basic, {"scopes": ["objects:read"]})
    t.ok(s == 200 and dig(doc, "data", "scopes") == ["objects:read"],
         "P narrows K to objects:read (it no longer holds tokens:write)", b)
    s, h, b, doc = api.post("/api/tokens", K.basic, {"description": "x",
                                                     "scopes": ["tokens:write"]})
    t.ok(s == 403 and scope_refusal(doc, "tokens:write"),
         "K, lacking tokens:write, cannot make a token with tokens:write -> 403 "
         "required=tokens:write", b)
    s, h, b, doc = api.patch("/api/tokens/%s" % K1.key, P.basic,
                             {"scopes": ["objects:read", "tokens:write"]})
    t.ok(s == 403 and refused(doc, "scopes", "tokens:write"),
         "P (holding it) cannot give tokens:write to K1, whose parent K lacks it -> 403 "
         "field=scopes required=tokens:write", b)
    QC, _ = make(t, api, Q, "Q's writer child", {"scopes": ["tokens:write"]})
    s, h, b, doc = api.patch("/api/tokens/%s" % QC.key, Q.basic,
                             {"scopes": ["tokens:write", "objects:write"]})
    t.ok(s == 403 and refused(doc, "scopes", "objects:write"),
         "Q cannot PATCH its child to a scope Q lacks -> 403 required=objects:write", b)
    s, h, b, doc = api.patch("/api/tokens/%s" % QC.key, Q.basic,
                             {"scopes": ["tokens:write", "objects:read"]})
    t.ok(s == 200 and dig(doc, "data", "scopes") == ["objects:read", "tokens:write"],
         "... but may PATCH it to scopes Q holds -> 200", b)
    t.eq(db.val("SELECT scopes FROM tokens WHERE key = ?", K1.key), 1,
         "the refused PATCH left K1 with objects:read only")

    # Expiry.
    x_exp = now + 10 * DAY
    X, d = make(t, api, P, "X", {"scopes": ALL_USER_SCOPES, "expires_at": iso(x_exp)})
    t.eq(d.get("expires_at"), iso(x_exp), "X expires in 10 days (expires_at as given)")
    for body, label in (({"expires_in_days": 11}, "expires_in_days 11"),
                        ({"expires_at": iso(x_exp + 1)}, "expires_at one second later"),
                        ({"expires_at": None}, "expires_at null (never)")):
        s, h, b, doc = api.post("/api/tokens", X.basic, dict(body, description="outlive"))
        t.ok(s == 403 and refused(doc, "expires_at"),
             "X's child with %s -> 403 INSUFFICIENT_SCOPE field=expires_at" % label, b)
    _, d = make(t, api, X, "X same expiry", {"expires_at": iso(x_exp)})
    t.eq(d.get("expires_at"), iso(x_exp), "a child expiring with its caller is fine")
    _, d = make(t, api, X, "X inherits")
    t.eq(d.get("expires_at"), iso(x_exp), "a child asking no expiry inherits the caller's")
    _, d = make(t, api, X, "X shorter", {"expires_in_days": 3})
    t.eq(d.get("expires_at"), iso(now + 3 * DAY), "expires_in_days 3 -> now + 3 days")
    day = time.strftime("%Y-%m-%d", time.gmtime(now + 5 * DAY))
    _, d = make(t, api, X, "X date", {"expires_at": day})
    t.eq(d.get("expires_at"), day + "T23:59:59Z", "expires_at a date -> its last second")

    # Allowed IPs (the requests come from 127.0.0.1).
    R, d = make(t, api, P, "R", {"scopes": ALL_USER_SCOPES, "allowed_ips": ["127.0.0.0/8"]})
    t.eq(d.get("allowed_ips"), ["127.0.0.0/8"], "R may be used from 127.0.0.0/8")
    for ips in (["10.0.0.0/8"], ["0.0.0.0/0"], ["127.0.0.0/8", "::1"], ["126.0.0.0/7"], []):
        s, h, b, doc = api.post("/api/tokens", R.basic, {"description": "wider",
                                                         "allowed_ips": ips})
        t.ok(s == 403 and refused(doc, "allowed_ips"),
             "R's child with allowed_ips %s -> 403 INSUFFICIENT_SCOPE field=allowed_ips" % ips,
             b)
    R1, d = make(t, api, R, "R one host", {"allowed_ips": ["127.0.0.1/32"]})
    t.eq(d.get("allowed_ips"), ["127.0.0.1"], "a child inside R: 127.0.0.1/32 -> "
         "[\"127.0.0.1\"] (canonical)")
    _, d = make(t, api, R, "R inherits")
    t.eq(d.get("allowed_ips"), ["127.0.0.0/8"], "a child asking none inherits R's list")
    for ips in (["127.0.0.0/7"], []):
        s, h, b, doc = api.patch("/api/tokens/%s" % R1.key, P.basic, {"allowed_ips": ips})
        t.ok(s == 403 and refused(doc, "allowed_ips"),
             "P (any address) cannot widen R1 past its parent R to %s -> 403" % ips, b)
    s, h, b, doc = api.patch("/api/tokens/%s" % R1.key, R.basic,
                             {"allowed_ips": ["127.0.0.2", "127.0.0.3"]})
    t.ok(s == 200 and dig(doc, "data", "allowed_ips") == ["127.0.0.2", "127.0.0.3"],
         "R may move R1 within its own list -> 200", b)

    # Narrowing a token narrows everything made from it, at once.
    M, _ = make(t, api, P, "M", {"scopes": ["objects:read", "objects:write", "records:read",
                                            "tokens:write"]})
    M1, _ = make(t, api, M, "M1", {"scopes": ["objects:read", "objects:write", "tokens:write"]})
    M2, _ = make(t, api, M1, "M2", {"scopes": ["objects:read", "objects:write"]})
    t.eq(api.post("/api/sources", M2.basic, {"name": "before", "type": "webhook"})[0], 201,
         "M2 may create a source before the narrowing")
    s, h, b, doc = api.patch("/api/tokens/%s" % M.key, P.basic, {
        "scopes": ["objects:read", "records:read", "tokens:write"],
        "allowed_ips": ["127.0.0.0/8"]})
    t.eq(s, 200, "P narrows M: no objects:write, only 127.0.0.0/8")
    got = {}
    for tok in (M1, M2):
        doc = api.get("/api/tokens/%s" % tok.key, P.basic)[3]
        got[tok.key] = (dig(doc, "data", "scopes"), dig(doc, "data", "allowed_ips"))
    t.eq(got, {M1.key: (["objects:read", "tokens:write"], ["127.0.0.0/8"]),
               M2.key: (["objects:read"], ["127.0.0.0/8"])},
         "M1 and M2 were narrowed with it (scopes and allowed_ips)")
    s, h, b, doc = api.post("/api/sources", M2.basic, {"name": "after", "type": "webhook"})
    t.ok(s == 403 and scope_refusal(doc, "objects:write"),
         "M2 can no longer create a source -> 403 required=objects:write", b)

    # Bad input: 400 INVALID_REQUEST naming the field; nothing made.
    n = db.val("SELECT count(*) FROM tokens")
    for body, field in (
            ({"scopes": "objects:read"}, "scopes"),
            ({"scopes": ["objects:read", "nope:nope"]}, "scopes"),
            ({"scopes": ["via:read"]}, "scopes"),
            ({"scopes": []}, "scopes"),
            ({"scopes": [7]}, "scopes"),
            ({"allowed_ips": ["999.1.1.1"]}, "allowed_ips"),
            ({"allowed_ips": ["10.0.0.0/33"]}, "allowed_ips"),
            ({"allowed_ips": ["2001:db8::/129"]}, "allowed_ips"),
            ({"allowed_ips": [5]}, "allowed_ips"),
            ({"allowed_ips": 5}, "allowed_ips"),
            ({"expires_at": "soon"}, "expires_at"),
            ({"expires_at": iso(now - 1)}, "expires_at"),
            ({"expires_at": iso(now)}, "expires_at"),
            ({"expires_in_days": 0}, "expires_in_days"),
            ({"expires_in_days": 3661}, "expires_in_days"),
            ({"expires_in_days": "5"}, "expires_in_days"),
            ({"expires_in_days": 1.5}, "expires_in_days")):
        s, h, b, doc = api.post("/api/tokens", P.basic, dict(body, description="bad"))
        label = body if len(repr(body)) < 40 else list(body)[0] + " in the past or now"
        t.ok(s == 400 and bad(doc, field),
             "POST /api/tokens %s -> 400 INVALID_REQUEST field=%s" % (label, field), b)
    s, h, b, doc = api.post("/api/tokens", P.basic, {"description": "both", "expires_in_days": 1,
                                                     "expires_at": iso(now + DAY)})
    t.ok(s == 400 and is_failure(doc, "INVALID_REQUEST"),
         "expires_at and expires_in_days together -> 400 INVALID_REQUEST", b)
    _, d = make(t, api, P, "never", {"expires_at": None})
    t.eq(d.get("expires_at"), None, "expires_at null under a caller that never expires -> "
         "never")
    _, d = make(t, api, P, "3660 days", {"expires_in_days": 3660})
    t.eq(d.get("expires_at"), iso(now + 3660 * DAY), "expires_in_days 3660 is the most")
    for body, field in (({"expires_at": "2099-01-01"}, "expires_at"),
                        ({"active": False}, "active"),
                        ({"parent_key": None}, "parent_key"),
                        ({"description": "ok", "kind": "via"}, "kind"),
                        ({"scopes": []}, "scopes"),
                        ({"allowed_ips": ["nope"]}, "allowed_ips"),
                        ({"description": ""}, "description")):
        s, h, b, doc = api.patch("/api/tokens/%s" % Q.key, P.basic, body)
        t.ok(s == 400 and bad(doc, field),
             "PATCH /api/tokens/{key} %s -> 400 field=%s" % (body, field), b)
    t.eq(db.val("SELECT count(*) FROM tokens"), n + 2, "only the valid requests made tokens")
    # An object is not a list of addresses (it must not mean "any address").
    s, h, b, doc = api.post("/api/tokens", P.basic, {"description": "object for IPs",
                                                     "allowed_ips": {"a": "10.0.0.0/8"}})
    t.ok(s == 400 and bad(doc, "allowed_ips"),
         "POST /api/tokens allowed_ips as a JSON object -> 400 INVALID_REQUEST "
         "field=allowed_ips", "%s %r" % (s, b[:300]))


# -- 4. audit --------------------------------------------------------------------------


def audit_trail(t, api, db, mk):
    P = mk.all_scopes(BOB, "audited root")
    bob_id = db.val("SELECT id FROM users WHERE email = ?", BOB)
    cli_row = db.one("SELECT user_id, ip, detail, via_token FROM audit_log WHERE "
                     "action = 'token.created' AND object = ?", P.key)
    t.eq(cli_row, (None, "cli", "audited root", ""),
         "a command-line token: token.created by nobody (user_id NULL), ip cli, "
         "detail the description")
    A, _ = make(t, api, P, "audited child", {"scopes": ["tokens:write", "objects:read"]})
    A1, _ = make(t, api, A, "audited grandchild", {"scopes": ["objects:read"]})
    api.patch("/api/tokens/%s" % A.key, P.basic, {"description": "audited child, renamed"})
    rot = api.post("/api/tokens/%s/rotate" % A1.key, P.basic, {"grace_seconds": 0})[0]
    api.post("/api/tokens/%s/deactivate" % A.key, P.basic)
    api.post("/api/tokens/%s/activate" % A.key, P.basic)
    src = dig(api.post("/api/sources", P.basic, {"name": "audited", "type": "webhook"})[3],
              "data", "id")
    dst = dig(api.post("/api/destinations", P.basic, {"name": "adst", "type": "s3"})[3],
              "data", "id")
    pl = dig(api.post("/api/pipelines", P.basic, {"name": "apl", "type": "standard",
                                                   "source_id": src,
                                                   "destination_id": dst})[3], "data", "id")
    run = api.post("/api/pipelines/%s/run" % pl, P.basic)[0]
    t.eq(rot, 200, "set-up: API actions done")
    want = [
        ("token.created", A.key, "audited child", P.key),
        ("token.created", A1.key, "audited grandchild", A.key),
        ("token.updated", A.key, "audited child, renamed", P.key),
        ("token.rotated", A1.key, "previous secret ended", P.key),
        ("token.deactivated", A.key, "with 1 token made from it", P.key),
        ("token.activated", A.key, "", P.key),
        ("sources.created", str(src), "audited", P.key),
        ("pipeline.run", str(pl), "", P.key),
    ]
    names = {A.key: "A", A1.key: "A1", str(src): "the source", str(pl): "the pipeline"}
    for action, obj, detail, via in want:
        rows = db.all("SELECT user_id, ip, detail, via_token FROM audit_log WHERE action = ? "
                      "AND object = ?", action, obj)
        t.eq(rows, [(bob_id, "127.0.0.1", detail, via)],
             "audit: %s of %s -- user bob via token %s (detail %r)"
             % (action, names[obj], "P" if via == P.key else "A", detail))
    r = mk.run("token", "add-via", "--account", "Acme", "--destination", "Audited shelf")
    m = re.search(r"Token Key: (\S+)", r.stdout.decode())
    t.eq(db.one("SELECT user_id, ip, detail, via_token FROM audit_log WHERE action = "
                "'token.created' AND object = ?", m.group(1) if m else ""),
         (None, "cli", "Audited shelf", ""),
         "a command-line Via token: token.created by nobody (user_id NULL), ip cli")
    t.eq(run, 200, "the pipeline run was accepted")


# -- 5. allowed IPs ---------------------------------------------------------------------


def allowed_ips(t, fronts, db, mk, clock, ref401):
    """fronts: Api for 127.0.0.1, [::1] and the dual-stack port reached
    through 127.0.0.1 (REMOTE_ADDR ::ffff:127.0.0.1)."""
    v4, v6, mapped = fronts["v4"], fronts["v6"], fronts["mapped"]
    admin = mk.all_scopes(BOB, "ip admin")

    # What the server sees from each front (a fresh token's first use).
    seen = {}
    for name, api in fronts.items():
        tok = mk.token(BOB, "seen from " + name)
        s = api.get("/api/me", tok.basic)[0]
        seen[name] = (s, db.val("SELECT last_used_ip FROM tokens WHERE key = ?", tok.key))
    t.eq(seen, {"v4": (200, "127.0.0.1"), "v6": (200, "::1"),
                "mapped": (200, "::ffff:127.0.0.1")},
         "REMOTE_ADDR as the server saw it: 127.0.0.1, ::1, and ::ffff:127.0.0.1 through "
         "the ipv6only=off listener")

    table = [
        ("127.0.0.1", ["127.0.0.1"], (200, 401, 200)),
        ("127.0.0.0/8", ["127.0.0.0/8"], (200, 401, 200)),
        ("::1", ["::1"], (401, 200, 401)),
        ("::1/128", ["::1"], (401, 200, 401)),
        ("10.0.0.0/8", ["10.0.0.0/8"], (401, 401, 401)),
        ("2001:db8::/32", ["2001:db8::/32"], (401, 401, 401)),
        ("10.0.0.0/8,::1", ["10.0.0.0/8", "::1"], (401, 200, 401)),
        ("2001:db8::/32,127.0.0.0/8", ["2001:db8::/32", "127.0.0.0/8"], (200, 401, 200)),
    ]
    toks = {}
    for spec, canon, want in table:
        tok = mk.token(BOB, "ips " + spec, "--allowed-ips", spec)
        toks[spec] = tok
        doc = v4.get("/api/tokens/%s" % tok.key, admin.basic)[3]
        t.eq(dig(doc, "data", "allowed_ips"), canon,
             "--allowed-ips %s -> allowed_ips %s" % (spec, canon))
        got, bodies_ok = [], True
        for api in (v4, v6, mapped):
            s, h, b, doc = api.get("/api/me", tok.basic)
            got.append(s)
            if s == 401:
                bodies_ok = bodies_ok and b == ref401
            elif dig(doc, "data", "token", "key") != tok.key:
                bodies_ok = False
        t.eq(tuple(got), want, "allowed_ips %s: from 127.0.0.1 / ::1 / ::ffff:127.0.0.1 -> %s"
             % (spec, "/".join(map(str, want))))
        t.ok(bodies_ok, "... each refusal is the very same 401 as any bad credential")
        s_bearer = v6.get("/api/me", tok.bearer)[0] if want[1] == 401 else None
        s_query = v6.get(with_query("/api/me", tok.key, tok.secret))[0] \
            if want[1] == 401 else None
        if want[1] == 401:
            t.eq((s_bearer, s_query), (401, 401), "... from ::1 with Bearer and query "
                 "credentials as well")
    never = [db.one("SELECT last_used_at, first_used_at FROM tokens WHERE key = ?",
                    toks[k].key) for k in ("10.0.0.0/8", "2001:db8::/32")]
    t.eq(never, [(None, None)] * 2, "a token refused at every address was never 'used'")

    # Client headers never stand in for REMOTE_ADDR.
    forged = [{"X-Forwarded-For": "127.0.0.1"}, {"X-Real-IP": "127.0.0.1"},
              {"Forwarded": "for=127.0.0.1"}, {"Client-IP": "127.0.0.1"},
              {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1",
               "Forwarded": "for=127.0.0.1", "X-Client-IP": "127.0.0.1"}]
    res = [v6.get("/api/me", toks["127.0.0.1"].basic, headers=h)[:3:2] for h in forged]
    t.ok(all(s == 401 and b == ref401 for s, b in res),
         "from ::1, forwarding headers naming 127.0.0.1 do not let a 127.0.0.1 token in",
         [s for s, _ in res])
    res = [v4.get("/api/me", toks["::1"].basic, headers={k: "::1" for k in h})[0]
           for h in forged]
    t.eq(res, [401] * len(forged), "from 127.0.0.1, headers naming ::1 do not let a ::1 "
         "token in")
    s = v4.get("/api/me", toks["127.0.0.1"].basic,
               headers={"X-Forwarded-For": "10.9.9.9", "X-Real-IP": "10.9.9.9"})[0]
    t.eq(s, 200, "... nor does a header naming a denied address shut out an allowed caller")

    # Denied requests are audited once a minute per (token, address).
    D = mk.token(BOB, "audited denial", "--allowed-ips", "10.0.0.0/8,2001:db8::/32")
    bob_id = db.val("SELECT id FROM users WHERE email = ?", BOB)

    def denials():
        return sorted(db.all("SELECT ip, user_id, via_token FROM audit_log WHERE "
                             "action = 'token.ip_denied' AND object = ?", D.key))
    for _ in range(2):
        s = v4.get("/api/me", D.basic)[0]
    t.eq((s, denials()), (401, [("127.0.0.1", bob_id, D.key)]),
         "two denied requests from 127.0.0.1 within a minute -> one token.ip_denied row "
         "(object the key, ip the address, bob via the token: the token tried)")
    v6.get("/api/me", D.basic)
    v6.get("/api/me", D.bearer)
    t.eq([r[0] for r in denials()], ["127.0.0.1", "::1"],
         "two more from ::1 -> one more row, for ::1")
    mapped.get("/api/me", D.basic)
    t.eq([r[0] for r in denials()], ["127.0.0.1", "::1", "::ffff:127.0.0.1"],
         "one through the mapped listener -> a row for ::ffff:127.0.0.1")
    clock.advance(30)
    v4.get("/api/me", D.basic)
    t.eq(len(denials()), 3, "30 s later, 127.0.0.1 again -> still no new row")
    clock.advance(31)
    v4.get("/api/me", D.basic)
    v4.get("/api/me", D.basic)
    t.eq([r[0] for r in denials()], ["127.0.0.1", "127.0.0.1", "::1", "::ffff:127.0.0.1"],
         "61 s after the first, 127.0.0.1 twice -> exactly one new row")
    t.eq(db.val("SELECT count(*) FROM audit_log WHERE action = 'token.ip_denied' AND "
                "object = ?", toks["127.0.0.1"].key), 1,
         "the 127.0.0.1 token's many refusals from ::1 made one row")
    # The address is checked after the credentials: a wrong secret is just
    # a wrong secret, never an audit row.
    E = mk.token(BOB, "denied, wrong secret", "--allowed-ips", "10.0.0.0/8")
    s, h, b, doc = v4.get("/api/me", basic(E.key, fake_secret()))
    t.ok(s == 401 and b == ref401 and db.val(
        "SELECT count(*) FROM audit_log WHERE action = 'token.ip_denied' AND object = ?",
        E.key) == 0, "a wrong secret from a denied address: the 401, and no "
        "token.ip_denied row", "%s %r" % (s, b))


# -- 6. rotation ----------------------------------------------------------------------


def rotate(api, actor, key, body=None):
    s, h, b, doc = api.post("/api/tokens/%s/rotate" % key, actor.basic, body)
    return s, doc, Token(key, dig(doc, "data", "token"))


def works(api, tok):
    """(Basic status, Bearer status) of /api/me, each 200 only when the
    answer names tok's key."""
    out = []
    for auth in (tok.basic, tok.bearer):
        s, k = me_key(api, auth)
        out.append(s if s != 200 or k == tok.key else "wrong key %s" % k)
    return tuple(out)


def rotation(t, api, db, mk, clock, ref401):
    O = mk.all_scopes(BOB, "rotation owner")
    R, _ = make(t, api, O, "rotated", {"scopes": ALL_USER_SCOPES})
    s, doc, R1 = rotate(api, O, R.key, {"grace_seconds": 3600})
    prev_exp = clock.now + 3600
    t.ok(s == 200 and set(dig(doc, "data") or {}) == {"key", "token", "previous_expires_at"}
         and dig(doc, "data", "key") == R.key and SECRET.match(R1.secret or "") and
         R1.secret != R.secret and dig(doc, "data", "previous_expires_at") == iso(prev_exp),
         "POST /api/tokens/{key}/rotate grace 3600 -> 200 {key, token, previous_expires_at "
         "= now + 3600}", doc)
    t.eq((works(api, R), works(api, R1)), ((200, 200), (200, 200)),
         "during the grace both secrets work, with Basic and with Bearer")
    clock.set(prev_exp - 1)
    t.eq(works(api, R), (200, 200), "one second before previous_expires_at the old one works")
    clock.set(prev_exp)
    res = [api.get("/api/me", a)[2] for a in (R.basic, R.bearer)]
    t.ok(res == [ref401, ref401], "at previous_expires_at the old secret is the 401 "
         "(Basic and Bearer)", res)
    t.eq(works(api, R1), (200, 200), "... and the new one works")

    # Rotating again ends the older secret at once: at most two live.
    S, _ = make(t, api, O, "rotated twice")
    s1, _, S1 = rotate(api, O, S.key, {"grace_seconds": 3600})
    s2, _, S2 = rotate(api, O, S.key, {"grace_seconds": 3600})
    t.eq((s1, s2), (200, 200), "rotated twice, each with an hour of grace")
    t.eq((works(api, S)[0], works(api, S1), works(api, S2)), (401, (200, 200), (200, 200)),
         "the first secret ended at once; the second and third work")

    # Grace 0, no body (a day), the bounds.
    Z, _ = make(t, api, O, "grace zero")
    s, doc, Z1 = rotate(api, O, Z.key, {"grace_seconds": 0})
    t.ok(s == 200 and dig(doc, "data", "previous_expires_at") is None and
         "previous_expires_at" in (dig(doc, "data") or {}),
         "grace_seconds 0 -> previous_expires_at null", doc)
    t.eq((works(api, Z), works(api, Z1)), ((401, 401), (200, 200)),
         "... the old secret ends at once, the new one works")
    N, _ = make(t, api, O, "default grace")
    s, doc, _ = rotate(api, O, N.key)
    t.eq((s, dig(doc, "data", "previous_expires_at")), (200, iso(clock.now + DAY)),
         "no body -> the default grace, a day")
    s, doc, _ = rotate(api, O, N.key, {"grace_seconds": 604800})
    t.eq((s, dig(doc, "data", "previous_expires_at")), (200, iso(clock.now + 604800)),
         "grace_seconds 604800 (the most) -> 200")
    before = row_of(db, N.key)
    for g in (604801, -1, "60", 1.5, None):
        s, doc, _ = rotate(api, O, N.key, {"grace_seconds": g} if g is not None else "[]")
        field = "body" if g is None else "grace_seconds"
        t.ok(s == 400 and bad(doc, field), "rotate with %s -> 400 INVALID_REQUEST field=%s"
             % ("a JSON array body" if g is None else "grace_seconds %r" % (g,), field), doc)
    t.eq(row_of(db, N.key), before, "... and no refused rotation changed the token")

    # A token rotating itself keeps working on its old secret for the grace.
    s, doc, R2 = rotate(api, R1, R.key, {"grace_seconds": 120})
    t.eq((s, works(api, R1), works(api, R2)), (200, (200, 200), (200, 200)),
         "a token may rotate itself; old and new secret both work")

    # The command line.
    C = mk.token(BOB, "rotated on the command line")
    r = mk.run("token", "rotate", C.key, "--grace-seconds", "60")
    m = re.search(r"Token: +(\S+)", r.stdout.decode())
    C1 = Token(C.key, m.group(1) if m else "")
    t.ok(r.returncode == 0 and SECRET.match(C1.secret) and C1.secret != C.secret,
         "tessera token rotate KEY --grace-seconds 60 prints the new secret", r.stderr)
    t.eq((works(api, C), works(api, C1)), ((200, 200), (200, 200)), "... both work")
    clock.advance(60)
    t.eq((works(api, C), works(api, C1)), ((401, 401), (200, 200)),
         "... 60 s later only the new one")
    t.eq(db.one("SELECT ip, via_token FROM audit_log WHERE action = 'token.rotated' AND "
                "object = ?", C.key), ("cli", ""), "... audited from the command line")
    show = mk.run("token", "show", C.key).stdout
    t.ok(C.secret.encode() not in show and C1.secret.encode() not in show and
         C.key.encode() in show, "tessera token show never prints a secret", show)


# -- 7. expiry and its hooks ---------------------------------------------------------


def hook_rows(db, action, key):
    """The runner's rows about a token: (detail, the owner, who acted
    (user_id, actor), via_token)."""
    return db.all("SELECT detail, owner_id, user_id, actor, via_token FROM audit_log "
                  "WHERE action = ? AND object = ?", action, key)


def expiry_and_hooks(t, api, db, mk, clock, ref401):
    P = mk.all_scopes(BOB, "expiry owner")
    now = clock.now
    X, d = make(t, api, P, "expires soon", {"expires_at": iso(now + 1000)})
    T = now + 1000
    s, h, b, doc = api.get("/api/me", X.basic)
    t.eq((s, dig(doc, "data", "token", "expires_at")), (200, iso(T)),
         "GET /api/me shows the token's expires_at")
    clock.set(T - 1)
    t.eq(works(api, X), (200, 200), "at expires_at - 1 s the token works (Basic, Bearer)")
    clock.set(T)
    res = [api.get(p, a)[2] for p, a in (("/api/me", X.basic), ("/api/me", X.bearer),
                                         (with_query("/api/me", X.key, X.secret), None))]
    t.ok(res == [ref401] * 3, "at expires_at exactly: the 401 INVALID_TOKEN of any bad "
         "credential (Basic, Bearer, query)", res)
    t.eq(me_key(api, P.basic)[0], 200, "... while a token without expiry works")

    # A date means its last second.
    day = time.strftime("%Y-%m-%d", time.gmtime(clock.now + 2 * DAY))
    Y, d = make(t, api, P, "expires on a date", {"expires_at": day})
    end = calendar.timegm(time.strptime(day + "T23:59:59Z", "%Y-%m-%dT%H:%M:%SZ"))
    t.eq(d.get("expires_at"), iso(end), "expires_at a date (YYYY-MM-DD) -> that day "
         "23:59:59Z")
    clock.set(end - 1)
    t.eq(works(api, Y), (200, 200), "at 23:59:58 of that day it works")
    clock.set(end)
    t.eq(works(api, Y), (401, 401), "at 23:59:59 it is refused")

    # The hooks: a serve with token_check_interval=1, warning window 7 days.
    H, _ = make(t, api, P, "hooked", {"expires_in_days": 30})
    I, _ = make(t, api, P, "hooked but off", {"expires_in_days": 30})
    h_exp = clock.now + 30 * DAY
    mk.run("token", "deactivate", I.key)
    clock.set(h_exp - 8 * DAY)
    time.sleep(2.5)
    t.eq(hook_rows(db, "token.expiring", H.key), [],
         "8 days before expiry (outside the 7-day window), after 2+ ticks: no token.expiring")
    clock.set(h_exp - 3 * DAY)
    wait_for(lambda: hook_rows(db, "token.expiring", H.key), 10)
    time.sleep(3.5)
    bob_id = db.val("SELECT id FROM users WHERE email = ?", BOB)
    t.eq(hook_rows(db, "token.expiring", H.key), [("expires " + iso(h_exp), bob_id, None, "runner", "")],
         "inside the window, after 3+ more ticks: exactly one token.expiring row "
         "(object the key; the runner acted, about bob's token)")
    t.eq(works(api, H), (200, 200), "... the token still works")
    clock.set(h_exp + 5)
    wait_for(lambda: hook_rows(db, "token.expired", H.key), 10)
    time.sleep(3.5)
    t.eq(hook_rows(db, "token.expired", H.key), [("expired " + iso(h_exp), bob_id, None, "runner", "")],
         "past expiry, after 3+ ticks: exactly one token.expired row (by the runner)")
    t.eq(len(hook_rows(db, "token.expiring", H.key)), 1, "... and still one token.expiring")
    t.eq(works(api, H), (401, 401), "... the token is refused")
    r = mk.run("runner", "--once")
    t.eq((r.returncode, len(hook_rows(db, "token.expiring", H.key)),
          len(hook_rows(db, "token.expired", H.key))), (0, 1, 1),
         "tessera runner --once afterwards fires neither again")
    t.eq((hook_rows(db, "token.expiring", I.key), hook_rows(db, "token.expired", I.key)),
         ([], []), "a deactivated token gets neither hook")


# -- 8. expiry policy ------------------------------------------------------------------


def expiry_policy(t, work, clock):
    data = init_data(os.path.join(work, "data-policy"))
    people(data)
    db = Db(data)
    policy = {"TESSERA_TOKEN_MAX_EXPIRY_DAYS": 30, "TESSERA_TOKEN_DEFAULT_EXPIRY_DAYS": 7}
    mk = Maker(data, dict(clock.env, **policy))
    now = clock.now

    def exp(key):
        return db.val("SELECT expires_at FROM tokens WHERE key = ?", key)
    n = db.val("SELECT count(*) FROM tokens")
    for days in ("0", "31"):
        tok, r = cli_token_env(data, BOB, "too long", "--expires-in-days", days, env=mk.env)
        t.ok(tok is None and r.returncode != 0 and b"30" in r.stderr,
             "command line, max 30 days: --expires-in-days %s is refused, saying why" % days,
             r.stdout + r.stderr)
    t.eq(db.val("SELECT count(*) FROM tokens"), n, "... and made no token")
    dflt = mk.token(BOB, "default expiry")
    t.eq(exp(dflt.key), now + 7 * DAY, "command line, no --expires-in-days: the default, "
         "7 days")
    show = mk.run("token", "show", dflt.key).stdout.decode()
    t.ok(re.search(r"(?m)^expires_at\s+%s$" % re.escape(iso(now + 7 * DAY)), show),
         "... tessera token show says so", show)
    P = mk.all_scopes(BOB, "policy owner", "--expires-in-days", "30")
    t.eq(exp(P.key), now + 30 * DAY, "--expires-in-days 30 (the maximum) is accepted")
    tok, r = cli_token_env(data, BOB, "never", "--expires-in-days", "0",
                           env=dict(clock.env, TESSERA_TOKEN_DEFAULT_EXPIRY_DAYS=7))
    t.ok(tok is not None and exp(tok.key) is None,
         "with a default but no maximum, --expires-in-days 0 still means never", r.stderr)

    app, web = servers(work, "policy", data, dict(NO_LIMITS, **mk.env))
    with app, web:
        api = Api(web.base_url)
        _, d = make(t, api, P, "api default")
        t.eq(d.get("expires_at"), iso(now + 7 * DAY), "API, no expiry asked: the default, "
             "7 days")
        _, d = make(t, api, P, "api at the max", {"expires_in_days": 30})
        t.eq(d.get("expires_at"), iso(now + 30 * DAY), "API, expires_in_days 30 -> 201")
        for body, label, field in (
                ({"expires_at": None}, "expires_at null (never)", "expires_at"),
                ({"expires_at": iso(now + 30 * DAY + 1)}, "expires_at 30 days + 1 s",
                 "expires_at"),
                ({"expires_in_days": 31}, "expires_in_days 31", None)):
            s, h, b, doc = api.post("/api/tokens", P.basic, dict(body, description="long"))
            t.ok(s == 400 and is_failure(doc, "INVALID_REQUEST") and
                 (field is None or doc.get("field") == field) and
                 doc.get("field") in ("expires_at", "expires_in_days"),
                 "API, max 30 days: %s -> 400 INVALID_REQUEST (field %s)"
                 % (label, field or "expires_at/expires_in_days"), b)
        P5 = mk.all_scopes(BOB, "short owner", "--expires-in-days", "5")
        _, d = make(t, api, P5, "under a 5-day caller")
        t.eq(d.get("expires_at"), iso(now + 5 * DAY),
             "API, no expiry asked under a caller expiring in 5 days: the caller's expiry, "
             "not the 7-day default")


# -- 9. timing: one secret or two ---------------------------------------------------


def rotation_timing(t, work, data, mk):
    N = mk.token(BOB, "never rotated")
    M = mk.token(BOB, "rotated for timing")
    r = mk.run("token", "rotate", M.key, "--grace-seconds", "604800")
    m = re.search(r"Token: +(\S+)", r.stdout.decode())
    M_new = Token(M.key, m.group(1) if m else "")
    app, web = servers(work, "timing", data,
                       dict(NO_LIMITS, TESSERA_LOG_REQUESTS=0, **mk.env), workers=1)
    with app, web:
        def measure(cases, want):
            times = {k: [] for k in cases}
            statuses = set()
            items = list(cases.items())
            for i in range(300):
                # Each round starts at another case: whatever the first
                # request of a round pays falls on every case alike.
                for name, auth in items[i % len(items):] + items[:i % len(items)]:
                    t0 = time.perf_counter()
                    st = http("GET", web.base_url + "/api/me", auth)[0]
                    times[name].append(time.perf_counter() - t0)
                    statuses.add((name, st))
            med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
            ok = statuses == {(k, want) for k in cases}
            return med, ok, statuses

        right = {"one secret": basic(N.key, N.secret), "two: new": M_new.basic,
                 "two: old": M.basic}
        med, ok, st = measure(right, 200)
        t.ok(ok, "timing: the never-rotated secret and the rotated token's new and old "
             "secrets all answer 200 (300 each)", sorted(st))
        print("# timing (median of 300): " + ", ".join("%s %.0f us" % kv for kv in med.items()))
        top = max(med.values())
        t.ok(max(med.values()) - min(med.values()) < 0.15 * top + 50,
             "a key with one secret and one with two take the same time within noise "
             "(%s)" % ", ".join("%.0f" % v for v in med.values()))
        wrong = {"one secret, wrong": basic(N.key, fake_secret()),
                 "two secrets, wrong": basic(M.key, fake_secret())}
        med, ok, st = measure(wrong, 401)
        t.ok(ok, "timing: wrong secrets for both keys answer 401 (300 each)", sorted(st))
        print("# timing (median of 300): " + ", ".join("%s %.0f us" % kv for kv in med.items()))
        top = max(med.values())
        t.ok(max(med.values()) - min(med.values()) < 0.15 * top + 50,
             "a wrong secret takes the same time for a one- and a two-secret key "
             "(%s)" % ", ".join("%.0f" % v for v in med.values()))


# -- main ------------------------------------------------------------------------------


def main():
    t = Tap()
    openapi_check.enable(t)   # every API answer against docs/openapi.json
    work = scratch("authority")
    t0 = time.monotonic()
    clock = Clock(os.path.join(work, "clock"), int(time.time()))

    # Server A: scopes, lineage, the subset rule, audit.
    data = init_data(os.path.join(work, "data"))
    people(data)
    db = Db(data)
    mk = Maker(data, clock.env)
    app, web = servers(work, "main", data, dict(NO_LIMITS, **clock.env))
    with app, web:
        api = Api(web.base_url)
        ref401 = api.get("/api/me")[2]
        t.ok(is_failure(body_json(ref401), "INVALID_TOKEN"),
             "the reference 401: no credentials -> INVALID_TOKEN", ref401)
        scopes_per_route(t, api, db, mk, ref401)
        leak_scenario(t, api, db, mk, ref401, web.base_url)
        subset_rule(t, api, db, mk, clock)
        audit_trail(t, api, db, mk)
        lineage_invariants(t, api, db, mk, web.base_url)

    # Server B: nginx on 127.0.0.1, [::1] and [::] (ipv6only=off); the
    # runner ticks every second.
    data_b = init_data(os.path.join(work, "data-b"))
    people(data_b)
    db_b = Db(data_b)
    mk_b = Maker(data_b, clock.env)
    p4, p6, pm = free_port(), free_port6("::"), free_port6("::")
    listens = [("127.0.0.1:%d" % p4, p4), ("[::1]:%d" % p6, p6),
               ("[::]:%d ipv6only=off" % pm, pm)]
    app, web = servers(work, "clocked", data_b,
                       dict(NO_LIMITS, TESSERA_TOKEN_CHECK_INTERVAL=1,
                            TESSERA_TOKEN_EXPIRY_WARNING_DAYS=7, **clock.env),
                       workers=2, listens=listens)
    with app, web:
        fronts = {"v4": Api("http://127.0.0.1:%d" % p4), "v6": Api("http://[::1]:%d" % p6),
                  "mapped": Api("http://127.0.0.1:%d" % pm)}
        api = fronts["v4"]
        ref401 = api.get("/api/me")[2]
        allowed_ips(t, fronts, db_b, mk_b, clock, ref401)
        rotation(t, api, db_b, mk_b, clock, ref401)
        expiry_and_hooks(t, api, db_b, mk_b, clock, ref401)

    expiry_policy(t, work, clock)
    rotation_timing(t, work, data_b, mk_b)
    print("# test_authority: %.1fs" % (time.monotonic() - t0))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
