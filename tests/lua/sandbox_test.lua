-- sandbox_test.lua -- the sandbox, in this (test) state and in the app's
-- state through real requests: limits end runaway handlers with a 500
-- and the worker goes on serving.
local tap = require "tap"
local test = require "test"

-- This state is built by the same code as the app's.
for _, name in ipairs({ "io", "os", "debug", "load", "loadfile", "dofile",
    "collectgarbage", "rawset", "package" }) do
  tap.is(rawget(_G, name), nil, name .. " is not available")
end
tap.is(string.dump, nil, "string.dump is not available")
tap.raises(function() return undeclared_thing end, "undeclared global",
  "reading an undeclared global is an error")
tap.raises(function() new_global = 1 end, "undeclared global",
  "assigning a global is an error")
tap.raises(function() host.extra = 1 end, "read%-only",
  "host is read-only")
tap.raises(function() host.db.rows = nil end, "read%-only",
  "host.db is read-only")
tap.raises(function() setmetatable(host, {}) end, "protected",
  "host's metatable is protected")
tap.is(getmetatable(host), "read-only", "host's metatable is hidden")
tap.is(getmetatable(host.json), "read-only", "host.json's metatable is hidden")
tap.is(rawget(host, "json"), nil, "rawget finds nothing to reach behind host")
tap.raises(function() rawset(host.json, "encode", print) end,
  "undeclared global", "rawset is not there to go around the proxy")
tap.raises(function() table.insert(host.json, print) end, "read%-only",
  "table.insert cannot add to a host table")
tap.is(type(host.json.encode), "function", "host.json.encode is still there")
local n = 0
for k in pairs(host.json) do n = n + 1 end
tap.ok(n >= 3, "pairs sees host.json's functions")
tap.raises(function() require "../schema/queries" end, "invalid module",
  "require refuses paths")
tap.raises(function() require "no_such_module" end, "not found",
  "require reports a missing module")

local json = host.json
local status, headers, body = test.request{ path = "/_test/sandbox" }
tap.is(status, 200, "sandbox report answers")
local seen = json.decode(body).data
for _, name in ipairs({ "io", "os", "debug", "load", "loadfile", "dofile",
    "collectgarbage", "rawset", "package", "coroutine" }) do
  tap.is(seen[name], "nil", "app state: " .. name .. " is absent")
end
tap.is(seen.string_dump, "nil", "app state: string.dump is absent")

local t0 = test.clock()
status, headers, body = test.request{ path = "/_test/loop" }
local took = test.clock() - t0
tap.is(status, 500, "while true do end becomes a 500")
tap.ok(took < 5, "... in bounded time", string.format("took %.2fs", took))
tap.unlike(body, "fixture", "... without leaking details")
status = test.request{ path = "/healthz" }
tap.is(status, 200, "the next request succeeds")

status = test.request{ path = "/_test/pcall_loop" }
tap.is(status, 500, "a loop hidden behind pcall is still stopped")
status = test.request{ path = "/healthz" }
tap.is(status, 200, "... and the next request succeeds")

status = test.request{ path = "/_test/membomb" }
tap.is(status, 500, "a memory bomb becomes a 500")
status = test.request{ path = "/healthz" }
tap.is(status, 200, "... and the next request succeeds")

status, headers, body = test.request{ path = "/_test/error" }
tap.is(status, 500, "a Lua error becomes a 500")
tap.unlike(body, "boom", "... the message stays in the log")
tap.unlike(body, "traceback", "... so does the traceback")

status = test.request{ path = "/_test/modify_req" }
tap.is(status, 500, "req is read-only")
status, headers, body = test.request{ path = "/_test/proxies" }
local px = json.decode(body).data
tap.ok(px.next_req and px.next_host and px.next_headers and px.next_config,
  "next() finds nothing inside host, req.headers, host.config, and refuses req")
tap.ok(px.rawget_method and px.method == "GET",
  "rawget() refuses req; req.method still reads")
status, headers, body = test.request{ path = "/_test/stale_req" }
tap.is(status, 500, "a req kept after its request ended refuses to be read")
tap.ok(next(host) == nil and next(host.json) == nil,
  "next() finds nothing inside host here either")
local iter, state = pairs(host)
tap.is(state, nil, "pairs(host) hands out no table to reach behind it")
local names = {}
for k in pairs(host.json) do names[k] = true end
tap.ok(names.encode and names.decode, "pairs(host.json) still lists its functions")
tap.ok(px.pairs_req_state_nil and px.pairs_auth_state_nil,
  "pairs(req) and pairs(req.headers) hand out no table either")
status, headers = test.request{ path = "/_test/bad_header" }
tap.is(status, 500, "CR/LF in a header value is refused")
tap.is(headers["set-cookie"], nil, "... and no header was injected")
tap.is(headers["x-bad"], nil, "... and the bad header is not sent")
status = test.request{ path = "/_test/bad_status" }
tap.is(status, 500, "an impossible status is refused")

return tap.done()
