-- expiry.lua -- the runner's look at token expiry (app.tick): the
-- token_expiring hook once per token when it comes within
-- token_expiry_warning_days of its expiry, and token_expired once after.
-- "Once" holds across runners and restarts: a token is marked in the same
-- statement that decides who fires its hook (token_mark_*, changes = 1),
-- before the hook runs; a hook that fails is logged, not retried. Tokens
-- that are switched off (or whose owner is) are marked without a hook.
local hooks = require "hooks"

local M = {}

local BATCH = 200   -- tokens per kind per tick; the rest on the next one

local function event(t)
  return { account_id = t.account_id, user_id = t.user_id, email = t.email,
    key = t.key, kind = t.kind, description = t.description,
    expires_at = t.expires_at }
end

function M.check(now)
  local warn_days = host.config.token_expiry_warning_days
  -- Expired first: a token found already past its expiry is marked
  -- warned too, so it never gets a late "expiring".
  for _, t in ipairs(host.db.rows("tokens_expired_due",
      { now = now, limit = BATCH })) do
    if host.db.exec("token_mark_noticed", { id = t.id, now = now }) == 1
        and t.active == 1 then
      hooks.fire("token_expired", event(t))
    end
  end
  if warn_days > 0 then
    for _, t in ipairs(host.db.rows("tokens_expiring_due",
        { now = now, warn_until = now + warn_days * 86400, limit = BATCH })) do
      if host.db.exec("token_mark_warned", { id = t.id, now = now }) == 1
          and t.active == 1 then
        hooks.fire("token_expiring", event(t))
      end
    end
  end
end

return M
