"""The API description, docs/openapi.json (README "API description"):

- it is an OpenAPI 3.0.3 document that the official OpenAPI 3.0 JSON
  schema (Debian's openapi-specification) accepts, checked with
  python3-jsonschema, and that check refuses broken documents;
- its shape: every $ref resolves, every operation names its scope and
  declares the gate's answers (401 with WWW-Authenticate, 429 with
  Retry-After, 400, 413, 403), the credentials are Basic (key and token),
  Bearer and the query pair;
- the checker the API suites use (openapi_check) finds what is wrong with
  an answer: an undeclared status, a body off its schema, a missing
  required header, a wrong Content-Type;
- served through nginx and `tessera serve`: GET /api/openapi.json needs
  no credentials, is application/json and cacheable, and is the file byte
  for byte; HEAD too; another method still needs credentials; the per-IP
  rate limit still applies; under another api_mount the paths follow it;
  a missing file is a 500 saying so in the log.

(tests/lua/openapi_test.lua checks it against the route table.) Runs on
SQLite and, under tests/run's http-pg, on PostgreSQL."""

import copy
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import PW, Api, cli_token, is_failure  # noqa: E402
from servers import Nginx, TesseraServe, free_port  # noqa: E402
from tap import BIN, Tap, add_user, app_env, init_data, scratch  # noqa: E402
import openapi_check  # noqa: E402
from openapi_check import DOC, META, Checker, inline, to_json_schema, validate_document  # noqa: E402

import jsonschema  # noqa: E402

NO_LIMITS = {"TESSERA_RATE_LIMIT_API_KEY": 0, "TESSERA_RATE_LIMIT_API_IP": 0,
             "TESSERA_RATE_LIMIT_WEBHOOK_KEY": 0, "TESSERA_RATE_LIMIT_WEBHOOK_IP": 0}
METHODS = openapi_check.METHODS


def operations(doc):
    for path, item in doc["paths"].items():
        for m in METHODS:
            if m in item:
                yield path, m, item[m]


def document(t, raw):
    doc = json.loads(raw)
    t.eq(doc.get("openapi"), "3.0.3", "docs/openapi.json is OpenAPI 3.0.3")
    t.ok(os.path.isfile(META), "the official OpenAPI 3.0 schema is installed "
         "(openapi-specification)", META)
    errs = validate_document(doc)
    t.eq(errs, [], "the official OpenAPI 3.0 schema accepts docs/openapi.json")
    # The check can fail: broken copies are refused.
    bad = copy.deepcopy(doc)
    bad["openapi"] = "3.1.0"
    t.ok(validate_document(bad), "... and refuses a document that says 3.1.0")
    bad = copy.deepcopy(doc)
    del bad["paths"]["/api/me"]["get"]["responses"]["200"]["description"]
    t.ok(validate_document(bad), "... a response without its description")
    bad = copy.deepcopy(doc)
    bad["paths"]["api/me"] = bad["paths"].pop("/api/me")
    t.ok(validate_document(bad), "... a path not starting with /")
    bad = copy.deepcopy(doc)
    bad["components"]["securitySchemes"]["basicAuth"]["type"] = "password"
    t.ok(validate_document(bad), "... a security scheme of no known type")

    try:
        inline(doc, doc)
        t.ok(True, "every $ref resolves within the document")
    except (KeyError, ValueError) as e:
        t.ok(False, "every $ref resolves within the document", repr(e))

    ids = [o.get("operationId") for _, _, o in operations(doc)]
    t.ok(len(ids) >= 38 and len(set(ids)) == len(ids) and None not in ids,
         "every operation has its own operationId (%d)" % len(ids))
    wrong = []
    for path, m, o in operations(doc):
        scope = o.get("x-tessera-scope")
        codes = set(o["responses"])
        if scope is None:
            wrong.append("%s %s: no x-tessera-scope" % (m, path))
        if scope in ("public", "none"):
            if o.get("security") != []:
                wrong.append("%s %s: public but security is not []" % (m, path))
            continue
        need = {"400", "401", "413", "429", "500", "503"}
        if scope != "any":
            need.add("403")
        if "{" in path:
            need.add("404")
        if m in ("post", "put", "patch") and "requestBody" in o:
            need.add("415")
        if need - codes:
            wrong.append("%s %s: lacks %s" % (m, path, sorted(need - codes)))
        if "security" in o:
            wrong.append("%s %s: overrides the credentials" % (m, path))
    t.eq(wrong, [], "every token operation names its scope and declares the "
         "gate's answers (400, 401, 403, 404, 413, 415, 429, 500, 503)")
    r = inline(doc, doc["components"]["responses"])
    t.eq((r["TooManyRequests"]["headers"]["Retry-After"]["required"],
          r["Unauthorized"]["headers"]["WWW-Authenticate"]["required"]), (True, True),
         "429 declares Retry-After and 401 WWW-Authenticate")
    t.eq(sorted(inline(doc, doc["components"]["schemas"]["Error"])["properties"]),
         ["error", "field", "message", "required", "success"],
         "the error schema: success, error, message, field, required")
    sec = doc["components"]["securitySchemes"]
    t.eq(({k: (v["type"], v.get("scheme") or v.get("name")) for k, v in sec.items()},
          doc["security"]),
         ({"basicAuth": ("http", "basic"), "bearerAuth": ("http", "bearer"),
           "queryKey": ("apiKey", "key"), "queryToken": ("apiKey", "token")},
          [{"basicAuth": []}, {"bearerAuth": []}, {"queryKey": [], "queryToken": []}]),
         "credentials: Basic (key:token), Bearer, or the query's key and token")

    # nullable: true becomes a type list with null, for the checker only.
    tok = jsonschema.Draft4Validator(to_json_schema(inline(doc, doc["components"]["schemas"]["Token"])))
    sample = {"key": "0b6f3c2e-0000-4000-8000-000000000000", "kind": "user",
              "description": "d", "active": True, "scopes": ["objects:read"],
              "expires_at": None, "allowed_ips": [], "parent_key": None,
              "created_at": "2026-11-27T23:10:58Z", "last_used_at": None,
              "last_used_ip": None}
    t.eq(list(tok.iter_errors(sample)), [], "nullable fields take null")
    t.ok(list(tok.iter_errors(dict(sample, expires_at=5))), "... and not a number")
    t.ok(list(tok.iter_errors(dict(sample, description=None))),
         "a field that is not nullable refuses null")
    t.ok(list(tok.iter_errors(dict(sample, token="tsr_x"))),
         "a token object never carries more than it declares")
    return doc


def checker_finds(t, doc):
    c = Checker(doc)
    me = {"success": True, "data": {
        "user": {"id": 1, "email": "a@b"}, "account": {"id": 1, "name": "Acme"},
        "token": {"key": "0b6f3c2e-0000-4000-8000-000000000000", "description": "d",
                  "kind": "user", "scopes": ["objects:read"], "expires_at": None}}}
    js = {"Content-Type": "application/json", "X-Request-Id": "0123abcd"}
    t.eq(c.problems("GET", "/api/me", 200, js, json.dumps(me)), [],
         "checker: a right answer passes")
    rl = dict(js, **{"RateLimit-Limit": "40", "RateLimit-Remaining": "39",
                     "RateLimit-Reset": "1"})
    t.eq(c.problems("GET", "/api/me", 200, rl, json.dumps(me)), [],
         "checker: ... with the RateLimit-* headers too")
    p = c.problems("GET", "/api/me", 200, dict(rl, **{"RateLimit-Remaining": "-1"}),
                   json.dumps(me))
    t.eq(p, ["header RateLimit-Remaining: '-1' is not a whole number >= 0"],
         "checker: a RateLimit-Remaining below 0")
    p = c.problems("GET", "/api/me", 200, {"Content-Type": "application/json"},
                   json.dumps(me))
    t.eq(p, ["header X-Request-Id is missing"], "checker: an answer without X-Request-Id")
    p = c.problems("GET", "/api/me", 200, dict(js, **{"X-Request-Id": "a b"}),
                   json.dumps(me))
    t.ok(p and "X-Request-Id: 'a b' does not match" in p[0],
         "checker: an X-Request-Id of characters it may not have", p)
    del me["data"]["token"]
    p = c.problems("GET", "/api/me", 200, js, json.dumps(me))
    t.ok(p and "'token' is a required property" in p[0], "checker: a missing field", p)
    p = c.problems("GET", "/api/me", 418, js, "{}")
    t.eq(p, ["status 418 is not declared for GET /api/me"], "checker: an undeclared status")
    err = json.dumps({"success": False, "error": "RATE_LIMIT_EXCEEDED", "message": "m"})
    p = c.problems("GET", "/api/me", 429, js, err)
    t.eq(p, ["header Retry-After is missing"], "checker: a 429 without Retry-After")
    t.eq(c.problems("GET", "/api/me", 429, dict(js, **{"Retry-After": "2"}), err), [],
         "checker: ... and with it")
    p = c.problems("GET", "/api/me", 200, {"Content-Type": "text/html",
                                           "X-Request-Id": "1"}, "<p>")
    t.ok(p and "Content-Type 'text/html'" in p[0], "checker: a wrong Content-Type", p)
    p = c.problems("DELETE", "/api/models/7", 204, {"X-Request-Id": "1"}, b"x")
    t.ok(p and "a body where none is declared" in p[0], "checker: a body on a 204", p)
    p = c.problems("GET", "/api/tokens/abc", 404, js, json.dumps(
        {"success": False, "error": "NOT_FOUND", "message": "m", "extra": 1}))
    t.ok(p and "extra" in p[0], "checker: a failure envelope with more than it may hold", p)
    t.eq((c.problems("GET", "/api/nowhere", 404, js, "{}"),
          c.problems("GET", "/settings", 200, {}, "")), (None, None),
         "checker: paths outside the description are not its business")
    t.eq(c.operation("GET", "/api/via/tables")[0], "/api/via/tables",
         "checker: a literal path before a capture")


def main():
    t = Tap()
    with open(DOC, "rb") as f:
        raw = f.read()
    doc = document(t, raw)
    checker_finds(t, doc)
    openapi_check.enable(t)

    work = scratch("openapi")
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", PW, role="admin")
    ana = cli_token(data, "ana@example.com", "ana")

    def serve(name, **env):
        sock = os.path.join(work, name, "tessera.sock")
        os.makedirs(os.path.dirname(sock))
        app = TesseraServe(os.path.join(work, name), BIN, sock, workers=2,
                           env=app_env(data, **env))
        return app, Nginx(os.path.join(work, name + "-web"), free_port(), sock)

    app, web = serve("app", **NO_LIMITS)
    with app, web:
        api = Api(web.base_url)
        s, h, b, d = api.get("/api/openapi.json")
        t.eq(s, 200, "GET /api/openapi.json without credentials")
        t.eq(h.get("Content-Type"), "application/json", "as application/json")
        t.eq(h.get("Cache-Control"), "public, max-age=3600", "cacheable")
        t.ok(b == raw, "the body is docs/openapi.json byte for byte", "%d bytes" % len(b))
        t.eq(validate_document(d), [], "what is served passes the official schema")
        s, h, b, _ = api.call("HEAD", "/api/openapi.json")
        t.eq((s, b, h.get("Content-Length")), (200, b"", str(len(raw))), "HEAD: headers only")
        s, _, _, _ = api.get("/api/openapi.json", {"Authorization": "Bearer tsr_nonsense"})
        t.eq(s, 200, "credentials sent with it are not looked at")
        s, h, _, d = api.post("/api/openapi.json", body={})
        t.ok(s == 401 and is_failure(d, "INVALID_TOKEN"),
             "POST to it needs credentials like any other path", (s, d))
        s, h, _, d = api.post("/api/openapi.json", ana.basic, body={})
        t.eq((s, h.get("Allow")), (405, "GET, HEAD"), "... and then is 405 with Allow")
        s, _, _, d = api.get("/api/me", ana.basic)
        t.eq(s, 200, "a described route answers as described (checked at the end)")

    # The per-address limit comes before the public route, and another
    # api_mount moves the described paths with it.
    app, web = serve("v1", TESSERA_API_MOUNT="/v1", TESSERA_RATE_LIMIT_API_IP=1,
                     TESSERA_RATE_LIMIT_API_KEY=0)
    with app, web:
        api = Api(web.base_url)
        s, h, b, d = api.get("/v1/openapi.json")
        t.eq(s, 200, "api_mount /v1: GET /v1/openapi.json")
        paths = sorted((d or {}).get("paths", {}))
        t.ok(paths and all(p.startswith("/v1/") or p in ("/webhook", "/healthz") for p in paths)
             and len(paths) == len(doc["paths"]),
             "... describes /v1/... (and /webhook, /healthz)", paths[:5])
        t.eq(validate_document(d or {}), [], "... and passes the official schema")
        statuses = [api.get("/v1/openapi.json")[:2] for _ in range(6)]
        limited = [h for s, h in statuses if s == 429]
        t.ok(limited and all(h.get("Retry-After", "").isdigit() for h in limited),
             "the per-address rate limit applies to it (429 with Retry-After)",
             [s for s, _ in statuses])

    app, web = serve("missing", TESSERA_OPENAPI_FILE=os.path.join(work, "nowhere.json"),
                     **NO_LIMITS)
    with app, web:
        api = Api(web.base_url)
        s, _, _, d = api.get("/api/openapi.json")
        t.ok(s == 500 and is_failure(d, "INTERNAL_ERROR"),
             "without the file: 500 INTERNAL_ERROR", (s, d))
    with open(app.log_path, errors="replace") as f:
        log = f.read()
    t.has(log, "the API description cannot be served: openapi_file " +
          os.path.join(work, "nowhere.json"), "... and the log says which file")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
