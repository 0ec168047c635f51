-- hooks.lua -- workflow hooks. The host's routes call hooks.fire(name,
-- event) when something happens; the default hooks write the audit log.
-- Operators may add a notification here without touching C, e.g.
--
--   function M.login(ev) host.log("info", ev.email .. " logged in") end
--
-- Events carry plain data (ids, email, key, ip); never a secret.
--
--   login        { account_id, user_id, email, ip, user_agent }
--   logout       { account_id, user_id, email, ip }
--   token_created, token_activated, token_deactivated
--                { account_id, user_id, email, key, kind, ip, description }
--   token_first_used { account_id, user_id, key, ip }
--   pipeline_run     { account_id, user_id, pipeline_id, key, ip }
--   webhook_received { account_id, user_id, pipeline_id, records, key, ip }
--
-- Run requests and webhook deliveries are counted per token by the routes
-- (tokens.runs_requested, .webhooks_received, .records_received), so the
-- default hooks add no row per request for them.

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
  audit(ev, "token.deactivated", ev.key)
end

function M.token_first_used(ev)
  audit(ev, "token.first_used", ev.key)
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
