-- router_test.lua -- the route table as Lua declares it (router.lua), and
-- the host's matching of the app's real routes through test.request.
-- (Matching itself is tested case by case in tests/c/test_route.c and
-- fuzzed by tests/fuzz/fuzz_router.c.)
local tap = require "tap"
local router = require "router"
local test = require "test"

local function h(name) return function() return name end end

local r = router.new()
r:add("GET", "/", h("root"))
r:add("GET", "/api/x/{id}", h("x"), "objects:read")
tap.is(#r.routes, 2, "add records each route")
tap.is(r.routes[2].method, "GET", "... its method")
tap.is(r.routes[2].pattern, "/api/x/{id}", "... its pattern")
tap.is(r.routes[2].scope, "objects:read", "... its scope")
tap.is(r.routes[1].scope, nil, "... no scope for a page route")
tap.is(r.routes[1].handler(), "root", "... its handler")

tap.raises(function() r:add("GET", "relative", h("x")) end,
  "must start with /", "a pattern must start with /")
tap.raises(function() r:add("get", "/x", h("x")) end,
  "upper case", "methods are upper case")
tap.raises(function() r:add("GET", "/x{y}", h("x")) end,
  "bad route segment", "a brace inside a segment is refused")
tap.raises(function() r:add("GET", "/x", h("x"), 7) end,
  "scope must be a string", "a scope is a string")

-- The app's own routes, matched by the host.
local status, headers = test.request{ method = "DELETE", path = "/settings/tokens" }
tap.is(status, 405, "a known path with the wrong method: 405")
tap.is(headers.allow, "GET, HEAD, POST", "... Allow lists its methods, HEAD with GET")
status, headers = test.request{ method = "DELETE", path = "/settings/tokens/k/activate" }
tap.is(headers.allow, "POST", "Allow of a capture route")
status = test.request{ method = "HEAD", path = "/healthz" }
tap.is(status, 200, "HEAD falls back to GET")
status = test.request{ path = "/healthz/" }
tap.is(status, 404, "a trailing slash is another path")
status = test.request{ path = "/HEALTHZ" }
tap.is(status, 404, "matching is case-sensitive")
status = test.request{ path = "/nope" }
tap.is(status, 404, "an unknown path: 404")

return tap.done()
