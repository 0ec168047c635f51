-- routes/webhook.lua -- POST /webhook?pipeline_id=ID: JSON records for a
-- webhook pipeline, stored durably (one transaction, its WAL fsynced)
-- before the 200. Credentials were checked by the C gate.
local http = require "http"
local hooks = require "hooks"

local function receive(req)
  if req.content_type ~= "application/json" then
    return http.fail(415, "UNSUPPORTED_MEDIA_TYPE",
      "send Content-Type: application/json")
  end
  local id = host.input.int(req.query.pipeline_id or "", 1)
  local p = id and host.db.row("pipeline_for_webhook",
    { account_id = req.auth.account.id, id = id })
  if not p or p.source_type ~= "webhook" then
    return http.fail(400, "INVALID_REQUEST",
      "pipeline_id must name a webhook pipeline of this account")
  end
  local recs, code, msg = host.json.records(req.body)
  if not recs then return http.fail(400, code, msg) end
  host.db.tx(function()
    local now = host.now()
    for _, data in ipairs(recs) do
      host.db.exec("record_add", { pipeline_id = id,
        destination_id = p.destination_id, token_id = req.auth.token.id,
        now = now, data = data })
    end
    host.db.exec("token_count_webhook", { id = req.auth.token.id, records = #recs })
  end)
  hooks.fire("webhook_received", { account_id = req.auth.account.id,
    user_id = req.auth.user.id, pipeline_id = id, records = #recs,
    key = req.auth.token.key, ip = req.remote_addr })
  return http.json(200, { success = true, records = #recs })
end

return function(r)
  r:add("POST", "/webhook", receive, "webhook:write")
end
