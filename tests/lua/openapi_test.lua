-- openapi_test.lua -- docs/openapi.json cannot drift from the route table:
-- every route the app declares under the API mount and /webhook (and
-- /healthz) is an operation of the description, with the scope the route
-- declares in x-tessera-scope, and every operation there is a declared
-- route. Then GET /api/openapi.json serves that file, without
-- credentials. (tests/http/test_openapi.py checks the document against
-- the official OpenAPI 3.0 schema; the API suites check every answer
-- against it.)
local tap = require "tap"
local test = require "test"
local router = require "router"
local app = require "app"
local json = host.json

local raw, why = host.openapi()
tap.ok(raw ~= nil, "host.openapi() reads openapi_file", why)
local doc = raw and json.decode(raw) or { paths = {} }
tap.is(doc.openapi, "3.0.3", "an OpenAPI 3.0.3 document")

local mount = host.config.api_mount
local METHODS = { "get", "put", "post", "delete", "options", "head", "patch",
  "trace" }

-- The routes of the test's own fixtures (extra_routes) are not the app's.
local fixture = router.new()
require("fixture_routes")(fixture)
local is_fixture = {}
for _, t in ipairs(fixture.routes) do
  is_fixture[t.method .. " " .. t.pattern] = true
end

local function described(pattern)
  return pattern == "/healthz" or pattern == "/webhook" or
    string.sub(pattern, 1, #"/webhook/") == "/webhook/" or
    string.sub(pattern, 1, #mount + 1) == mount .. "/"
end

-- The app's routes that the description must hold: "METHOD PATTERN" ->
-- the scope declared ("none" for /healthz, which is no token path).
local function route_set(routes)
  local set = {}
  for _, t in ipairs(routes) do
    local id = t.method .. " " .. t.pattern
    if described(t.pattern) and not is_fixture[id] then
      set[id] = t.scope or "none"
    end
  end
  return set
end

-- The operations of a document, the same way ("/api" read as the mount).
local function op_set(d)
  local set = {}
  for path, item in pairs(d.paths or {}) do
    local p = path
    if string.sub(p, 1, 5) == "/api/" then p = mount .. string.sub(p, 5) end
    for _, m in ipairs(METHODS) do
      if type(item[m]) == "table" then
        set[string.upper(m) .. " " .. p] = item[m]["x-tessera-scope"] or "?"
      end
    end
  end
  return set
end

-- What differs, in words, sorted: empty when the two agree.
local function drift(routes, ops)
  local out = {}
  for id, scope in pairs(routes) do
    if ops[id] == nil then
      out[#out + 1] = "route " .. id .. " is not in docs/openapi.json"
    elseif ops[id] ~= scope then
      out[#out + 1] = "route " .. id .. " needs scope " .. scope ..
        ", docs/openapi.json says " .. ops[id]
    end
  end
  for id in pairs(ops) do
    if routes[id] == nil then
      out[#out + 1] = "docs/openapi.json has " .. id .. ", which no route declares"
    end
  end
  table.sort(out)
  return out
end

local routes, ops = route_set(app.routes), op_set(doc)
local n = 0
for _ in pairs(routes) do n = n + 1 end
tap.ok(n >= 35, "the app declares the API, webhook and health routes (" .. n .. ")")
local d = drift(routes, ops)
tap.ok(#d == 0, "docs/openapi.json and the route table agree", table.concat(d, "\n"))
tap.is(routes["GET " .. mount .. "/openapi.json"], "public",
  "the description's own route is the public one")

-- The check itself can fail: a route the document lacks, an operation no
-- route has, and a scope that differs are each reported.
local less = op_set(doc)
less["DELETE " .. mount .. "/models/{id}"] = nil
less["GET " .. mount .. "/nowhere"] = "any"
less["GET " .. mount .. "/me"] = "tokens:read"
local want = {
  "docs/openapi.json has GET " .. mount .. "/nowhere, which no route declares",
  "route DELETE " .. mount .. "/models/{id} is not in docs/openapi.json",
  "route GET " .. mount .. "/me needs scope any, docs/openapi.json says tokens:read",
}
tap.is(table.concat(drift(routes, less), "\n"), table.concat(want, "\n"),
  "a drift either way is reported")
local more = router.new()
more:add("GET", mount .. "/extra/{x}", function() end, "objects:read")
local with_extra = route_set(app.routes)
for id, s in pairs(route_set(more.routes)) do with_extra[id] = s end
tap.is(table.concat(drift(with_extra, ops), "\n"),
  "route GET " .. mount .. "/extra/{x} is not in docs/openapi.json",
  "a new route without its description is reported")

-- Served: no credentials, JSON, cacheable, the file byte for byte.
local status, headers, body = test.request{ path = mount .. "/openapi.json" }
tap.is(status, 200, "GET /api/openapi.json without credentials")
tap.is(headers["content-type"], "application/json", "as application/json")
tap.like(headers["cache-control"] or "", "^public, max%-age=%d+$", "cacheable")
tap.ok(body == raw, "the body is openapi_file as it is", #body .. " bytes served")
status, headers, body = test.request{ method = "HEAD", path = mount .. "/openapi.json" }
tap.is(status, 200, "HEAD answers too")
tap.is(body, "", "without a body")
status, headers, body = test.request{ path = mount .. "/openapi.json",
  headers = { HTTP_AUTHORIZATION = "Basic bm90OmF0b2tlbg==" } }
tap.is(status, 200, "credentials sent are not looked at")
status, headers, body = test.request{ method = "POST", path = mount .. "/openapi.json" }
tap.is(status, 401, "another method is no public route: credentials first")
status = test.request{ path = mount .. "/openapi.jsonx" }
tap.is(status, 401, "a path beside it still needs credentials")

return tap.done()
