"""Hooks that decide (lua/policy.lua) through nginx and `tessera serve`:
an operator's hooks.lua, first on lua_dir, refuses token creation on the
page (the dialog says why, 403, no token) and in the API (403 FORBIDDEN,
no token; the Via token of a new Via destination too, and then no
destination), a pipeline run (403, the status unchanged) and a webhook by
the sender's IP range (403, no record stored); a hook that raises or runs
out of its instruction budget stops the action with 500 INTERNAL_ERROR,
logs why, and changes nothing."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import PW, Api, Db, cli_token, log_text  # noqa: E402
from client import Client  # noqa: E402
from servers import Nginx, TesseraServe, free_port  # noqa: E402
from tap import BIN, FIXTURES, Tap, add_user, app_env, init_data, scratch  # noqa: E402
from test_tokens import created  # noqa: E402
from test_tokens_authority import alert  # noqa: E402
import openapi_check  # noqa: E402

HOOKS = r'''
-- the test's policy: team-named descriptions, a bug and a runaway loop on
-- demand, no runs of pipeline 2, webhooks by pipeline from one range
local M = {}
function M.fire() end
function M.before_token_create(ev)
  if ev.description == "boom" then error("a bug in the policy script") end
  if ev.description == "loop" then while true do end end
  if not string.match(ev.description, "^%[%w+%]") then
    return false, "descriptions must name a team, like [data] ..."
  end
end
function M.before_pipeline_run(ev)
  if ev.pipeline_id == 2 then return false, "no runs of pipeline 2 today" end
  if ev.model_id then return false, "no model runs here" end
end
local ranges = { [1] = "127.0.0.0/8, ::1", [2] = "10.9.0.0/16" }
function M.before_webhook(ev)
  if ev.records == 7 then error("seven records break this hook") end
  if not host.ip_in(ev.ip, ranges[ev.pipeline_id] or "") then
    return false, "only " .. (ranges[ev.pipeline_id] or "nobody") .. " may post here"
  end
end
return M
'''


def post_form(c, fields, json_api=False):
    tok = c.csrf(c.get("/settings/tokens")[2])
    if json_api:
        return c.post("/settings/tokens", fields, headers={
            "Accept": "application/json", "X-CSRF-Token": tok})
    return c.shown(c.post("/settings/tokens", fields + [("csrf", tok)]))


def main():
    t = Tap()
    openapi_check.enable(t)   # every API answer against docs/openapi.json
    work = scratch("hooks-policy")
    lua = os.path.join(work, "lua")
    os.makedirs(lua)
    with open(os.path.join(lua, "hooks.lua"), "w") as f:
        f.write(HOOKS)
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", PW, role="admin")
    api_tok = cli_token(data, "ana@example.com", "[ops] api", "--scopes",
                        "objects:read,objects:write,pipelines:run,webhook:write,"
                        "records:read,tokens:read,tokens:write")
    db = Db(data)
    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    app = TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2, env=app_env(
        data, lua_dir=lua + ":" + FIXTURES, TESSERA_RATE_LIMIT_API_KEY=0,
        TESSERA_RATE_LIMIT_API_IP=0, TESSERA_LUA_MAX_INSTRUCTIONS=2000000))
    web = Nginx(os.path.join(work, "nginx"), free_port(), sock)
    with app, web:
        api = Api(web.base_url)
        auth = api_tok.basic
        ntok = lambda: db.val("SELECT count(*) FROM tokens")  # noqa: E731

        # The page: a refusal shows the hook's message in the dialog.
        c = Client(web.base_url)
        c.login("ana@example.com", PW)
        n = ntok()
        s, h, b = post_form(c, [("description", "no team here")])
        t.ok(s == 403 and "must name a team" in alert(b, "create-error") and
             b'<dialog id="create"' in b and b'id="token-secret">tsr_' not in b,
             "page: before_token_create refuses: 403, the dialog shows the hook's message",
             (s, alert(b, "create-error")))
        t.ok(b'value="no team here"' in b, "... and keeps what was typed")
        s, h, b = post_form(c, [("description", "no team here")], json_api=True)
        doc = json.loads(b)
        t.ok(s == 403 and doc.get("error") == "FORBIDDEN" and
             "must name a team" in doc.get("message", ""),
             "page's script (JSON): 403 FORBIDDEN with the message", b)
        t.eq(ntok(), n, "... no token was created by a refused form")
        s, h, b = post_form(c, [("description", "[data] page token")])
        key, secret = created(b)
        t.ok(s == 200 and key and secret, "page: an allowed description creates the token",
             s)

        # The API.
        n = ntok()
        s, h, b, doc = api.post("/api/tokens", auth, {"description": "loner"})
        t.ok(s == 403 and doc.get("error") == "FORBIDDEN" and
             doc.get("message", "").startswith("descriptions must name a team"),
             "API: POST /api/tokens refused: 403 FORBIDDEN with the hook's message", b)
        t.eq(ntok(), n, "... no token created")
        s, h, b, doc = api.post("/api/tokens", auth, {"description": "[data] api"})
        t.eq(s, 201, "API: an allowed description: 201")

        n = ntok()
        ndest = db.val("SELECT count(*) FROM destinations")
        s, h, b, doc = api.post("/api/destinations", auth, {"name": "via, no team",
                                                            "type": "via", "config": {}})
        t.ok(s == 403 and doc.get("error") == "FORBIDDEN",
             "API: a Via destination whose token the hook refuses: 403", b)
        t.ok(ntok() == n and db.val("SELECT count(*) FROM destinations") == ndest,
             "... neither the token nor the destination was created")
        s, h, b, doc = api.post("/api/destinations", auth, {"name": "[bi] via",
                                                            "type": "via", "config": {}})
        t.ok(s == 201 and (doc.get("data") or {}).get("via_token"),
             "API: an allowed Via destination gets its token", b)

        # A hook that fails: 500, logged, nothing changed.
        n = ntok()
        s, h, b, doc = api.post("/api/tokens", auth, {"description": "boom"})
        t.ok(s == 500 and doc.get("error") == "INTERNAL_ERROR" and
             "bug" not in doc.get("message", ""),
             "a hook that raises: 500 INTERNAL_ERROR, a generic message", b)
        s, h, b, doc = api.post("/api/tokens", auth, {"description": "loop"})
        t.eq(s, 500, "a hook that runs out of its instruction budget: 500")
        s, h, b = post_form(c, [("description", "boom")])
        t.ok(s == 500 and "administrator" in alert(b, "create-error"),
             "page: a failing hook: 500, the dialog says a policy failed",
             (s, alert(b, "create-error")))
        t.eq(ntok(), n, "... no token was created by a failing hook")
        log = log_text(app.log_path)
        t.ok(b"hook before_token_create failed" in log and
             b"a bug in the policy script" in log,
             "... the error is in the log")
        t.has(log, b"instruction limit exceeded", "... the runaway loop too")

        # Pipelines: run and webhook.
        ids = []
        for i in (1, 2):
            _, _, _, src = api.post("/api/sources", auth, {"name": "s%d" % i,
                                                           "type": "webhook", "config": {}})
            _, _, _, dst = api.post("/api/destinations", auth, {
                "name": "d%d" % i, "type": "postgresql", "config": {}})
            s, _, b, p = api.post("/api/pipelines", auth, {
                "name": "p%d" % i, "type": "webhook", "config": {},
                "source_id": src["data"]["id"], "destination_id": dst["data"]["id"]})
            ids.append((p.get("data") or {}).get("id"))
        t.eq(ids, [1, 2], "two webhook pipelines, ids 1 and 2")
        before = api.get("/api/pipelines/2/status", auth)[3]
        s, h, b, doc = api.post("/api/pipelines/2/run", auth, {})
        t.ok(s == 403 and doc.get("error") == "FORBIDDEN" and
             doc.get("message") == "no runs of pipeline 2 today",
             "before_pipeline_run refuses: 403 FORBIDDEN with its message", b)
        t.eq(api.get("/api/pipelines/2/status", auth)[3], before,
             "... the refused pipeline's status is unchanged")
        s, h, b, doc = api.post("/api/pipelines/1/run", auth, {})
        t.eq(s, 200, "... another pipeline's run is allowed")
        _, _, _, m = api.post("/api/models", auth, {
            "name": "m", "type": "sql", "destination_id": 1, "sql": "SELECT 1 AS x"})
        mid = (m.get("data") or {}).get("id")
        s, h, b, doc = api.post("/api/models/%s/run" % mid, auth, {})
        t.ok(s == 403 and doc.get("message") == "no model runs here" and
             api.get("/api/models/%s/runs" % mid, auth)[3].get("data") == [],
             "... and a model's run request (model_id set): 403, nothing queued", b)

        recs = [{"n": i} for i in range(3)]
        s, h, b, doc = api.post("/webhook?pipeline_id=1", auth, recs)
        t.ok(s == 200 and doc.get("records") == 3,
             "before_webhook: 127.0.0.1 inside pipeline 1's range: 200", b)
        s, h, b, doc = api.post("/webhook?pipeline_id=2", auth, recs)
        t.ok(s == 403 and doc.get("error") == "FORBIDDEN" and
             "10.9.0.0/16" in doc.get("message", ""),
             "before_webhook: 127.0.0.1 outside pipeline 2's range: 403", b)
        s, h, b, doc = api.post("/webhook?pipeline_id=1", auth,
                                [{"n": i} for i in range(7)])
        t.eq(s, 500, "before_webhook that raises: 500")
        t.eq(db.val("SELECT count(*) FROM records WHERE pipeline_id = 2"), 0,
             "... no record of the refused delivery was stored")
        t.eq(db.val("SELECT count(*) FROM records WHERE pipeline_id = 1"), 3,
             "... nor of the failed one: only the allowed delivery's 3")
        t.has(log_text(app.log_path), b"hook before_webhook failed",
              "... and the failure is in the log")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
