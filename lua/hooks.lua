-- hooks.lua -- workflow hooks. The host's routes (and the runner) call
-- hooks.fire(name, event) when something happens; the default hooks
-- write the audit log. Operators may add a notification here without
-- touching C, e.g.
--
--   function M.login(ev) host.log("info", ev.email .. " logged in") end
--
-- Events carry plain data (ids, email, key, ip); never a secret. When a
-- token performed the action (an API call), ev.via is its key, and the
-- audit row reads "user X via token KEY". A row's user_id is who acted
-- (NULL when no person did: actor then says what did, "runner"), and
-- owner_id whose token it was about when someone else acted; the
-- activity page (/settings/activity) reads them so.
--
--   login        { account_id, user_id, email, ip, user_agent }
--   logout       { account_id, user_id, email, ip }
--   token_created, token_activated, token_deactivated, token_rotated,
--   token_updated
--                { account_id, user_id, email, key, kind, ip, description,
--                  via, owner_id (the token's owner: an admin may act on a
--                  member's token), cascaded (deactivated: how many tokens
--                  made from it went off too), previous_expires_at
--                  (rotated) }
--   token_first_used { account_id, user_id, key, ip } (the token acted:
--                  its row reads "user via token KEY")
--   token_expiring, token_expired (the runner, once per token)
--                { account_id, user_id (the token's owner), email, key,
--                  kind, description, expires_at } (the row: by the
--                  runner, about the owner's token)
--   object_created, object_updated, object_deleted
--                { account_id, user_id, email, kind ("sources", ...), id,
--                  name, ip, via }
--   pipeline_run     { account_id, user_id, pipeline_id, key, ip, via,
--                      queued (false: one was queued or running already) }
--   model_run        { account_id, user_id, model_id, key, ip, via, queued }
--   run_succeeded, run_failed (the runner, lua/runs.lua)
--                { account_id, run_id, pipeline_id or model_id, message }
--   webhook_received { account_id, user_id, pipeline_id, records, key, ip }
--   user_added, user_role_changed, user_disabled, user_enabled,
--   user_link_made, user_password_changed (Settings -> People)
--                { account_id, user_id (who acted), email, ip, owner_id
--                  (whom it is about), target_email, role (added, role
--                  changed: the new one) }
--   user_password_set { account_id, user_id, email, ip } (through a
--                  set-password link: the person themselves, not logged in)
--
-- Notifications out: host.notify(name, payload) from any hook (or
-- pipeline) queues payload (JSON, ids and words, never a secret) for the
-- runner to POST, signed, to the URL notify_targets names for name; in
-- host.db.tx it commits or rolls back with the rest. It returns false
-- and drops the message (logged at info) when no target has that name.
-- token_expiring below sends one.
--
-- Hooks that decide (lua/policy.lua) run before anything is written and
-- may refuse: return false and a message (allow: return nothing or true).
-- The API answers 403 FORBIDDEN with the message, the tokens page shows
-- it in the dialog. A hook that raises, or spends the request's
-- instruction or memory budget, refuses too: 500 INTERNAL_ERROR with a
-- generic message, the error in the log, nothing changed. A notification
-- such a hook sends (host.notify) is queued whether it then allows or
-- refuses: it tells of the attempt, which is what a refusal's receiver
-- wants to hear. Define only the ones you need; none is defined here
-- (allow everything).
--
--   before_token_create  { account_id, user_id, email, kind ("user", or
--                  "via" for a Via destination's token), description, ip,
--                  via }  -- the page and POST /api/tokens and POST
--                  /api/destinations (type via); not rotation (the same
--                  token, a new secret) nor `tessera token add` (the
--                  operator's own command line)
--   before_pipeline_run  { account_id, user_id, email, pipeline_id or
--                  model_id, key, ip, via }  -- POST /api/pipelines/{id}/run
--                  and POST /api/models/{id}/run
--   before_webhook       { account_id, user_id, pipeline_id, records,
--                  bytes, key, ip }  -- POST /webhook, after the body is
--                  parsed, before it is counted or stored, e.g.
--
--     function M.before_webhook(ev)
--       if not host.ip_in(ev.ip, "203.0.113.0/24, 2001:db8::/32") then
--         return false, "webhooks are accepted from our network only"
--       end
--     end
--
-- Webhook deliveries are counted per token by the route (token_usage,
-- lua/deliveries.lua) rather than logged one row each: they are data arriving, at up to hundreds a second.

local M = {}

-- Writes one audit row: user_id is who acted (nil when no person did:
-- then actor names what did, "runner"), via the token that acted,
-- owner_id whose token the row is about when that is someone else (an
-- admin switching off a member's token, the runner's expiry notices).
local function audit(ev, action, object, detail)
  local owner = ev.owner_id
  if owner == ev.user_id then owner = nil end
  host.db.exec("audit_add_by", {
    now = host.now(),
    account_id = ev.account_id or host.null,
    user_id = ev.user_id or host.null,
    action = action,
    object = object or "",
    ip = ev.ip or "",
    detail = detail or "",
    via_token = ev.via or "",
    owner_id = owner or host.null,
    actor = ev.actor or "",
  })
end

-- The runner's row about a user's token: the runner acted, the token's
-- owner is whom it is about.
local function by_runner(ev)
  return { account_id = ev.account_id, owner_id = ev.user_id,
    actor = "runner" }
end

function M.login(ev)
  audit(ev, "login", ev.email, ev.user_agent)
end

function M.logout(ev)
  audit(ev, "logout", ev.email)
end

-- Settings -> People: who acted (user_id), about whom (owner_id), the
-- person's email as the object (readable after the person is gone).
function M.user_added(ev)
  audit(ev, "user.added", ev.target_email, "as " .. ev.role)
end

function M.user_role_changed(ev)
  audit(ev, "user.role_changed", ev.target_email, "to " .. ev.role)
end

function M.user_disabled(ev)
  audit(ev, "user.disabled", ev.target_email)
end

function M.user_enabled(ev)
  audit(ev, "user.enabled", ev.target_email)
end

function M.user_link_made(ev)
  audit(ev, "user.link_made", ev.target_email, "expires " ..
    host.iso8601(ev.expires_at))
end

function M.user_password_changed(ev)
  audit(ev, "user.password_changed", ev.target_email or ev.email)
end

function M.user_password_set(ev)
  audit(ev, "user.password_set", ev.email)
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

-- The token acted (its first request): "user via token KEY".
function M.token_first_used(ev)
  audit({ account_id = ev.account_id, user_id = ev.user_id, ip = ev.ip,
    via = ev.via or ev.key }, "token.first_used", ev.key)
end

function M.token_expiring(ev)
  audit(by_runner(ev), "token.expiring", ev.key, "expires " ..
    host.iso8601(ev.expires_at))
  -- Tells the receiver notify_targets names "token_expiring", if any
  -- (none configured: dropped with a log line).
  host.notify("token_expiring", { account_id = ev.account_id,
    email = ev.email, key = ev.key, description = ev.description,
    expires_at = host.iso8601(ev.expires_at) })
end

function M.token_expired(ev)
  audit(by_runner(ev), "token.expired", ev.key, "expired " ..
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
  audit(ev, "pipeline.run", tostring(ev.pipeline_id),
    ev.queued == false and "already queued or running" or "")
end

function M.model_run(ev)
  audit(ev, "model.run", tostring(ev.model_id),
    ev.queued == false and "already queued or running" or "")
end

-- A run that failed (the runner): in the audit log, with the reason.
function M.run_failed(ev)
  audit({ account_id = ev.account_id, actor = "runner" }, ev.pipeline_id and "pipeline.run_failed" or "model.run_failed",
    tostring(ev.pipeline_id or ev.model_id), ev.message)
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
