-- routes/webhook.lua -- POST /webhook?pipeline_id=ID: JSON records for a
-- webhook pipeline, stored durably before the 200 (lua/deliveries.lua).
-- Credentials and the webhook:write scope were checked by the C gate.
-- Bounded three ways: webhook_max_records records in one delivery (413),
-- rate_limit_webhook_records records a second per token (429), and
-- account_quota_mb of records per account (507).
local http = require "http"
local hooks = require "hooks"
local policy = require "policy"
local deliveries = require "deliveries"

local MIB = 1024 * 1024

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
  local recs, code, msg = host.json.records(req.body,
    host.config.webhook_max_records)
  if not recs then
    return http.fail(code == "PAYLOAD_TOO_LARGE" and 413 or 400, code, msg)
  end
  -- The operator's before_webhook hook may refuse, before anything is
  -- counted or stored; with none defined this costs one table lookup.
  if policy.hook("before_webhook") then
    local no = policy.check("before_webhook", { account_id = req.auth.account.id,
      user_id = req.auth.user.id, pipeline_id = id, records = #recs,
      bytes = #req.body, key = req.auth.token.key, ip = req.remote_addr })
    if no then return http.refused(no) end
  end
  local wait = host.limits.records(#recs)
  if wait ~= 0 then
    return http.fail(429, "RATE_LIMIT_EXCEEDED", string.format(
      "this token may send %d records a second; retry after the number of " ..
      "seconds in Retry-After", host.config.rate_limit_webhook_records),
      { ["Retry-After"] = tostring(wait > 0 and wait or 60) })
  end
  local bytes = 0
  for _, data in ipairs(recs) do bytes = bytes + #data end
  local quota = host.config.account_quota_mb * MIB
  if quota > 0 and host.db.value("account_usage_bytes",
      { account_id = req.auth.account.id }) + bytes > quota then
    return http.fail(507, "QUOTA_EXCEEDED", string.format(
      "this account's data would pass its quota of %d MiB",
      host.config.account_quota_mb))
  end
  deliveries.store(req, { id = id, destination_id = p.destination_id }, recs,
    bytes)
  hooks.fire("webhook_received", { account_id = req.auth.account.id,
    user_id = req.auth.user.id, pipeline_id = id, records = #recs,
    key = req.auth.token.key, ip = req.remote_addr })
  return http.json(200, { success = true, records = #recs })
end

return function(r)
  r:add("POST", "/webhook", receive, "webhook:write")
end
