-- auth.lua -- what pages need from the session: require one, or send the
-- browser to the login form and back.
local http = require "http"

local M = {}

-- A "next" value is followed only when it is a path on this site: one
-- leading slash (not "//" or "/\", which browsers treat as another host),
-- no control characters, not absurdly long.
function M.safe_next(s)
  if type(s) ~= "string" or #s > 1024 then return nil end
  if string.sub(s, 1, 1) ~= "/" then return nil end
  local second = string.sub(s, 2, 2)
  if second == "/" or second == "\\" then return nil end
  if string.find(s, "[%c\\]") then return nil end
  return s
end

-- The landing page after login.
M.home = "/settings/tokens"

-- Returns the session, or nil and the response that sends the browser to
-- log in (coming back to where it was).
function M.require(req)
  local s = host.auth.session()
  if s then return s end
  if req.wants_json then
    return nil, http.fail(401, "UNAUTHENTICATED", "log in first")
  end
  local back = req.path
  if req.method == "GET" and req.query_string ~= "" then
    back = back .. "?" .. req.query_string
  end
  return nil, http.redirect("/login?next=" .. host.url.encode(back))
end

return M
