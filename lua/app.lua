-- app.lua -- the application's entry point. The host calls
-- app.handle(req) for every request; req is read-only (see README,
-- "Lua API"). Routes live in lua/routes/*.lua, one module per feature;
-- operators add their own with the extra_routes setting (a comma-separated
-- list of module names found on lua_dir).

local router = require "router"
local http = require "http"

local modules = {
  "routes.health",
  "routes.pages",
  "routes.tokens",
  "routes.api",
  "routes.webhook",
}
local hooks = require "hooks"

local r = router.new()
for _, name in ipairs(modules) do
  require(name)(r)
end
for name in string.gmatch(host.config.extra_routes or "", "[^,%s]+") do
  require(name)(r)
end

local M = {}

-- Methods that change nothing; everything else from a browser must carry
-- the CSRF token and come from our own origin.
local safe = { GET = true, HEAD = true, OPTIONS = true }

function M.handle(req)
  if req.auth and req.auth.first_use then
    hooks.fire("token_first_used", { account_id = req.auth.account.id,
      user_id = req.auth.user.id, key = req.auth.token.key,
      ip = req.remote_addr })
  end
  local handler, params, allow = r:match(req.method, req.path)
  if handler then
    if not safe[req.method] and not http.token_path(req)
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

return M
