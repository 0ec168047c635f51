-- router.lua -- the route table, as declared by lua/routes/*.lua.
--
--   local r = router.new()
--   r:add("GET", "/settings/tokens/{key}", handler)
--   r:add("GET", "/api/sources", handler, "objects:read")
--
-- Patterns are literal segments and {name} captures; a capture matches one
-- non-empty segment. A route on a token path (the API mount, /webhook)
-- names the scope a token needs to reach it ("any" for every token;
-- "public" for a GET that needs no credentials at all); the host
-- compiles r.routes when the scripts load and refuses to load a token
-- route without one, so nothing is reachable by accident.
--
-- Matching is the host's (fcgi/http/route.c), once per request and before any
-- script runs, so the credential gate knows the scope the route needs:
-- among the routes of the request's method, one without captures whose
-- pattern is the path wins; else the first declared whose segments match;
-- HEAD is answered by a GET route unless a HEAD route matches. app.handle
-- then gets the route's handler and its captures (or the Allow list of a
-- 405).

local router = {}
router.__index = router

local M = {}

-- Checks a pattern's shape here too, so the error points at the file
-- that declared it.
local function check(pattern)
  assert(string.sub(pattern, 1, 1) == "/", "route pattern must start with /")
  for seg in string.gmatch(string.sub(pattern, 2), "[^/]*") do
    if not string.match(seg, "^{[%a_][%w_]*}$") then
      assert(not string.find(seg, "[{}]"), "bad route segment: " .. seg)
    end
  end
end

function M.new()
  return setmetatable({ routes = {} }, router)
end

-- Declares handler(req, params) for method and pattern; scope is what a
-- token must hold (token paths only).
function router:add(method, pattern, handler, scope)
  assert(type(handler) == "function", "handler must be a function")
  assert(string.match(method, "^%u+$"), "method must be upper case")
  assert(scope == nil or type(scope) == "string", "scope must be a string")
  check(pattern)
  self.routes[#self.routes + 1] = {
    method = method, pattern = pattern, handler = handler, scope = scope,
  }
  return self
end

return M
