-- app.lua -- the application's entry point. Routes live in
-- lua/routes/*.lua, one module per feature, each a function(r) that adds
-- its routes; every file there is loaded (an operator adds routes by
-- dropping a module in), and extra_routes names more (a comma-separated
-- list of module names found on lua_dir). The host reads app.routes once when the scripts load,
-- matches every request against them itself (fcgi/http/route.c), checks a
-- token's scope for the route, and then calls
--
--   app.handle(req, handler, params, allow)
--
-- with the route's handler and captures, or with nil, nil and the Allow
-- list of a 405 (nil: no route has this path). req is read-only (see
-- README, "Lua API"). The runner calls app.tick() every
-- token_check_interval seconds, and app.claim(), app.run(id) and
-- app.abort(id, why) for queued runs (lua/runs.lua).

local router = require "router"
local http = require "http"
local hooks = require "hooks"
local expiry = require "expiry"
local deliveries = require "deliveries"
local runs = require "runs"

-- Every module of lua/routes/ (on each directory of lua_dir; sorted by
-- name, so the order is stable), then the extra_routes ones not loaded
-- already. host.scripts watches the folder: with reload on, a new file
-- there is loaded on the next request.
local r = router.new()
local loaded = {}
local function add(name)
  if loaded[name] then return end
  loaded[name] = true
  require(name)(r)
end
for _, name in ipairs(host.scripts("routes")) do
  add(name)
end
for name in string.gmatch(host.config.extra_routes or "", "[^,%s]+") do
  add(name)
end

local M = { routes = r.routes }

-- Methods that change nothing; everything else from a browser must carry
-- the CSRF token and come from our own origin.
local safe = { GET = true, HEAD = true, OPTIONS = true }

function M.handle(req, handler, params, allow)
  if req.auth and req.auth.first_use then
    hooks.fire("token_first_used", { account_id = req.auth.account.id,
      user_id = req.auth.user.id, key = req.auth.token.key,
      ip = req.remote_addr })
  end
  if handler then
    if not safe[req.method] and not req.token_path
        and not host.auth.csrf_ok() then
      return http.error(req, 403, "CSRF_FAILED",
        "This form has expired or did not come from this site. " ..
        "Go back, reload the page and try again.")
    end
    return handler(req, params)
  end
  if allow then
    return http.error(req, 405, "METHOD_NOT_ALLOWED",
      "this method is not allowed here", { Allow = allow })
  end
  return http.error(req, 404, "NOT_FOUND", "no such page")
end

-- The runner's queued runs (lua/runs.lua; fcgi/bridge/lhost_runs.c).
M.claim, M.run, M.abort = runs.claim, runs.run, runs.abort

-- The runner's periodic work.
-- Delivered or failed notifications are kept a week (the audit log keeps
-- the failures for good), then removed.
local OUTBOX_KEEP = 7 * 86400

function M.tick()
  local now = host.now()
  expiry.check(now)
  deliveries.sweep(now)
  host.db.exec("outbox_prune", { before = now - OUTBOX_KEEP })
end

return M
