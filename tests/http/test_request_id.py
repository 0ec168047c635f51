"""Request ids, RateLimit-* headers and the log formats, through nginx and
`tessera serve`:

    request_id   X-Request-Id on every answer (API 200, 401, 429, a page,
                 a host 404, a 400, a 413): the client's when sane (1-128 of
                 A-Z a-z 0-9 . _ -), else 32 fresh hex digits (too long,
                 a space, a quote: ignored); the same id on the request's
                 log line, in text and in JSON
    ratelimit    RateLimit-Limit/-Remaining/-Reset on every API answer:
                 with 2 a second (bursts of 4) Remaining goes 3, 2, 1, 0,
                 one less each request, Reset 1-2 s; the 429 says
                 Remaining 0 and Retry-After; a 401 shows the per-address
                 limit; pages have none
    logs         log_format = json: every line a JSON object with time,
                 level, msg, request_id, method, uri, route, status,
                 duration_ms, remote and the key's first 8 characters;
                 text has the same fields; in neither a secret, an
                 Authorization header, a password or a session
"""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import PW, Api, bearer, cli_token  # noqa: E402
from servers import http  # noqa: E402
from tap import NO_LIMITS, Tap, app_and_nginx, add_user, init_data, scratch  # noqa: E402

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def log_of(app):
    with open(app.log_path, "rb") as f:
        return f.read()


def request_id(t, work, fmt):
    data = init_data(os.path.join(work, "data-" + fmt))
    add_user(data, "ana@example.com", PW, role="admin")
    tok = cli_token(data, "ana@example.com", "a")
    app, web = app_and_nginx(work, fmt, data, dict(
        NO_LIMITS, TESSERA_LOG_FORMAT=fmt, TESSERA_BODY_LIMIT=4096,
        TESSERA_RATE_LIMIT_API_KEY=1))
    with app, web:
        base = web.base_url
        cases = [
            ("API 200", "GET", "/api/me", tok.basic, None, 200),
            ("API 401", "GET", "/api/me", bearer("tsr_nope"), None, 401),
            ("a page", "GET", "/login", {}, None, 200),
            ("a host 404", "GET", "/no/such/page", {}, None, 404),
            ("a 400", "GET", "/api/me?a=%zz", tok.basic, None, 400),
            ("a 413", "POST", "/webhook", tok.basic, b"x" * 5000, 413),
        ]
        for name, method, path, auth, body, want in cases:
            rid = "t-%s.%d_x" % (fmt, len(name))
            h = dict(auth, **{"X-Request-Id": rid})
            s, hd, b = http(method, base + path, h, body)
            t.ok(s == want and hd.get("X-Request-Id") == rid,
                 "%s request_id: %s (%d) echoes the client's id" % (fmt, name, s),
                 (s, hd.get("X-Request-Id")))
        seen = set()
        for bad in ["x" * 129, "has space", 'quo"te', "semi;colon", "ünï"]:
            s, hd, b = http("GET", base + "/api/me", dict(tok.basic, **{"X-Request-Id": bad}))
            got = hd.get("X-Request-Id") or ""
            t.ok(HEX32.match(got) and got not in seen,
                 "%s request_id: %r ignored, a fresh id made instead" % (fmt, bad[:20]), got)
            seen.add(got)
        ok_max = "A" * 128
        s, hd, b = http("GET", base + "/healthz", {"X-Request-Id": ok_max})
        t.eq(hd.get("X-Request-Id"), ok_max, "%s request_id: 128 characters kept" % fmt)
        # A 429 of the per-token limit (1 a second, bursts of 2).
        codes = []
        for _ in range(4):
            s, hd, b = http("GET", base + "/api/me", dict(tok.basic, **{"X-Request-Id": "r429"}))
            codes.append((s, hd.get("X-Request-Id")))
        t.ok((429, "r429") in codes, "%s request_id: a 429 echoes it too" % fmt, codes)
        time.sleep(2.1)     # the bucket full again: a 200 with its key
        s, hd, b = http("GET", base + "/api/me", tok.basic)
        t.eq(s, 200, "%s request_id: after the refill a 200" % fmt)
        rid = hd.get("X-Request-Id")
        time.sleep(0.3)
        log = log_of(app).decode("utf-8", "replace")
        lines = [l for l in log.splitlines() if rid in l]
        t.eq(len(lines), 1, "%s request_id: the made-up id is on its log line" % fmt)
        if fmt == "json":
            docs = []
            for l in log.splitlines():
                try:
                    docs.append(json.loads(l))
                except ValueError:
                    t.ok(False, "json logs: a line that is not JSON", l)
                    break
            reqs = [d for d in docs if d.get("level") == "req"]
            t.ok(len(reqs) >= len(cases) and all(isinstance(d, dict) for d in docs),
                 "json logs: every line is one JSON object (%d lines)" % len(docs))
            mine = [d for d in reqs if d.get("request_id") == rid]
            want = {"time", "level", "pid", "msg", "request_id", "method", "uri", "route",
                    "status", "duration_ms", "remote", "key"}
            t.ok(len(mine) == 1 and set(mine[0]) == want and mine[0]["status"] == 200
                 and mine[0]["route"] == "/api/me" and mine[0]["key"] == tok.key[:8]
                 and mine[0]["method"] == "GET" and mine[0]["remote"] == "127.0.0.1",
                 "json logs: the request's line has every field, the key's prefix only",
                 mine)
        else:
            t.ok(re.search(r"req: GET /api/me \d{3} [0-9.]+ms route=/api/me "
                           r"remote=127\.0\.0\.1 key=%s id=%s$" % (tok.key[:8], rid),
                           lines[0] if lines else ""),
                 "text logs: the request's line has route, remote, key prefix and id",
                 lines)
        return log


def secrets_never_logged(t, work, fmt):
    data = init_data(os.path.join(work, "data-s-" + fmt))
    add_user(data, "ana@example.com", PW, role="admin")
    tok = cli_token(data, "ana@example.com", "a")
    app, web = app_and_nginx(work, "s-" + fmt, data, dict(NO_LIMITS, TESSERA_LOG_FORMAT=fmt))
    with app, web:
        base = web.base_url
        http("GET", base + "/api/me", tok.basic)
        http("GET", base + "/api/me", bearer(tok.secret))
        http("GET", base + "/api/me?key=%s&token=%s" % (tok.key, tok.secret))
        http("GET", base + "/api/me?token=%s%%0a{\"level\":\"x\"}" % tok.secret)
        http("POST", base + "/login", {"Content-Type": "application/x-www-form-urlencoded"},
             "email=ana%40example.com&password=" + PW.replace(" ", "+"))
        http("GET", base + "/set-password?token=tsr_setpasswordlinksecret1234")
        time.sleep(0.3)
        log = log_of(app)
        auth_b64 = tok.basic["Authorization"].split(" ", 1)[1]
        for what, needle in [("the secret", tok.secret), ("the Basic credential", auth_b64),
                             ("the password", PW), ("the password, form-encoded",
                                                    PW.replace(" ", "+")),
                             ("a set-password link's token", "tsr_setpasswordlinksecret1234"),
                             ("an Authorization header", "Authorization")]:
            t.hasnt(log, needle.encode(), "%s logs: never %s" % (fmt, what))
        if fmt == "json":
            t.ok(all(json.loads(l) for l in log.splitlines() if l.strip()),
                 "json logs: a forged newline in a URI stays inside one object")


def ratelimit(t, work):
    data = init_data(os.path.join(work, "data-rl"))
    add_user(data, "ana@example.com", PW, role="admin")
    tok = cli_token(data, "ana@example.com", "a")
    app, web = app_and_nginx(work, "rl", data, dict(
        NO_LIMITS, TESSERA_RATE_LIMIT_API_KEY=2, TESSERA_RATE_LIMIT_API_IP=50))
    with app, web:
        api = Api(web.base_url)
        got = []
        t0 = time.monotonic()
        for _ in range(4):
            s, h, b, doc = api.get("/api/me", tok.basic)
            got.append((s, h.get("RateLimit-Limit"), h.get("RateLimit-Remaining"),
                        h.get("RateLimit-Reset")))
        took = time.monotonic() - t0
        t.eq([g[:3] for g in got], [(200, "4", "3"), (200, "4", "2"), (200, "4", "1"),
                                   (200, "4", "0")],
             "ratelimit: 2/s, bursts of 4: Remaining 3, 2, 1, 0 (in %.2fs)" % took)
        t.ok(all(g[3] and g[3].isdigit() and 1 <= int(g[3]) <= 2 for g in got),
             "ratelimit: RateLimit-Reset 1-2 s", got)
        s, h, b, doc = api.get("/api/me", tok.basic)
        ra = h.get("Retry-After") or ""
        t.ok(s == 429 and h.get("RateLimit-Remaining") == "0" and
             h.get("RateLimit-Limit") == "4" and ra.isdigit() and int(ra) >= 1 and
             (h.get("RateLimit-Reset") or "").isdigit(),
             "ratelimit: the 429 has Remaining 0 and Retry-After",
             (s, dict(h)))
        s, h, b, doc = api.get("/api/me", bearer("tsr_nope"))
        t.ok(s == 401 and h.get("RateLimit-Limit") == "100" and
             (h.get("RateLimit-Remaining") or "").isdigit(),
             "ratelimit: a 401 shows the per-address limit (bursts of 100)",
             (s, h.get("RateLimit-Limit"), h.get("RateLimit-Remaining")))
        s, h, b = http("GET", web.base_url + "/login")
        t.ok(s == 200 and h.get("RateLimit-Limit") is None,
             "ratelimit: pages have no RateLimit headers")
        time.sleep(2.1)
        s, h, b, doc = api.get("/api/me", tok.basic)
        t.ok(s == 200 and h.get("RateLimit-Remaining") == "3",
             "ratelimit: after a full refill Remaining is 3 again",
             (s, h.get("RateLimit-Remaining")))


def main():
    t = Tap()
    work = scratch("reqid")
    for fmt in ("text", "json"):
        request_id(t, work, fmt)
        secrets_never_logged(t, work, fmt)
    ratelimit(t, work)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
