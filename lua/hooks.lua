-- hooks.lua -- workflow hooks. The host's routes (and the runner) call
-- hooks.fire(name, event) when something happens; the default hooks
-- write the audit log. Operators may add a notification here without
-- touching C, e.g.
--
--   function M.login(ev) host.log("info", ev.email .. " logged in") end
--
-- Events carry plain data (ids, email, key, ip); never a secret. When a
-- token performed the action (an API call), ev.via is its key, and the
-- audit row reads "user X via token KEY".
--
--   login        { account_id, user_id, email, ip, user_agent }
--   logout       { account_id, user_id, email, ip }
--   token_created, token_activated, token_deactivated, token_rotated,
--   token_updated
--                { account_id, user_id, email, key, kind, ip, description,
--                  via, cascaded (deactivated: how many tokens made from
--                  it went off too), previous_expires_at (rotated) }
--   token_first_used { account_id, user_id, key, ip }
--   token_expiring, token_expired (the runner, once per token)
--                { account_id, user_id, email, key, kind, description,
--                  expires_at }
--   object_created, object_updated, object_deleted
--                { account_id, user_id, email, kind ("sources", ...), id,
--                  name, ip, via }
--   pipeline_run     { account_id, user_id, pipeline_id, key, ip, via }
--   webhook_received { account_id, user_id, pipeline_id, records, key, ip }
--
-- Webhook deliveries are counted per token by the route (token_usage,
-- lua/deliveries.lua) rather than logged one row each: they are data arriving, at up to hundreds a second.

local M = {}

local function audit(ev, action, object, detail)
  host.db.exec("audit_add", {
    now = host.now(),
    account_id = ev.account_id or host.null,
    user_id = ev.user_id or host.null,
    action = action,
    object = object or "",
    ip = ev.ip or "",
    detail = detail or "",
    via_token = ev.via or "",
  })
end

function M.login(ev)
  audit(ev, "login", ev.email, ev.user_agent)
end

function M.logout(ev)
  audit(ev, "logout", ev.email)
end

function M.token_created(ev)
  audit(ev, "token.created", ev.key, ev.description)
end

function M.token_activated(ev)
  audit(ev, "token.activated", ev.key)
end

function M.token_deactivated(ev)
  audit(ev, "token.deactivated", ev.key, (ev.cascaded or 0) > 0 and
    string.format("with %d token%s made from it", ev.cascaded,
      ev.cascaded == 1 and "" or "s") or "")
end

function M.token_rotated(ev)
  audit(ev, "token.rotated", ev.key, ev.previous_expires_at and
    ("previous secret works until " .. host.iso8601(ev.previous_expires_at))
    or "previous secret ended")
end

function M.token_updated(ev)
  audit(ev, "token.updated", ev.key, ev.description)
end

function M.token_first_used(ev)
  audit(ev, "token.first_used", ev.key)
end

function M.token_expiring(ev)
  audit(ev, "token.expiring", ev.key, "expires " ..
    host.iso8601(ev.expires_at))
end

function M.token_expired(ev)
  audit(ev, "token.expired", ev.key, "expired " ..
    host.iso8601(ev.expires_at))
end

function M.object_created(ev)
  audit(ev, ev.kind .. ".created", tostring(ev.id), ev.name)
end

function M.object_updated(ev)
  audit(ev, ev.kind .. ".updated", tostring(ev.id), ev.name)
end

function M.object_deleted(ev)
  audit(ev, ev.kind .. ".deleted", tostring(ev.id), ev.name)
end

function M.pipeline_run(ev)
  audit(ev, "pipeline.run", tostring(ev.pipeline_id))
end

-- Calls the hook for name, if there is one. A failing hook is logged and
-- does not undo what already happened.
function M.fire(name, ev)
  local fn = M[name]
  if type(fn) ~= "function" then return end
  local ok, err = pcall(fn, ev)
  if not ok then
    host.log("error", "hook " .. name .. " failed: " .. tostring(
      type(err) == "table" and err.message or err))
  end
end

return M
