-- router_test.lua -- the router module on its own.
local tap = require "tap"
local router = require "router"

local function h(name) return function() return name end end

local r = router.new()
r:add("GET", "/", h("root"))
r:add("GET", "/healthz", h("health"))
r:add("GET", "/settings/tokens", h("list"))
r:add("POST", "/settings/tokens", h("create"))
r:add("POST", "/settings/tokens/{key}/activate", h("activate"))
r:add("GET", "/a/{x}/b/{y}", h("two"))
r:add("PUT", "/a/{x}/b/{y}", h("two-put"))

local fn, params, allow = r:match("GET", "/")
tap.is(fn and fn(), "root", "/ matches the root route")
fn = r:match("GET", "/healthz")
tap.is(fn and fn(), "health", "literal route")
fn = r:match("POST", "/settings/tokens")
tap.is(fn and fn(), "create", "same path, other method")
fn, params = r:match("POST", "/settings/tokens/0b6f-uuid/activate")
tap.is(fn and fn(), "activate", "capture route")
tap.is(params and params.key, "0b6f-uuid", "capture value")
fn, params = r:match("GET", "/a/1/b/two")
tap.is(params and params.x .. "," .. params.y, "1,two", "two captures")

fn, params, allow = r:match("DELETE", "/settings/tokens")
tap.is(fn, nil, "wrong method: no handler")
tap.is(allow, "GET, HEAD, POST", "wrong method: Allow lists methods, HEAD with GET")
fn, params, allow = r:match("GET", "/settings/tokens/k/activate")
tap.is(allow, "POST", "Allow for a POST-only route")
fn, params, allow = r:match("DELETE", "/a/1/b/2")
tap.is(allow, "GET, HEAD, PUT", "Allow merges methods of a capture route")

fn = r:match("HEAD", "/healthz")
tap.is(fn and fn(), "health", "HEAD falls back to GET")
fn, params, allow = r:match("GET", "/nope")
tap.ok(fn == nil and allow == nil, "unknown path: no handler, no Allow")
fn = r:match("GET", "/healthz/")
tap.is(fn, nil, "a trailing slash is another path")
fn = r:match("POST", "/settings/tokens//activate")
tap.is(fn, nil, "an empty segment does not fill a capture")
fn = r:match("GET", "/a/1/b")
tap.is(fn, nil, "too few segments")
fn = r:match("GET", "/a/1/b/2/c")
tap.is(fn, nil, "too many segments")
fn = r:match("GET", "/HEALTHZ")
tap.is(fn, nil, "matching is case-sensitive")

tap.raises(function() r:add("GET", "relative", h("x")) end,
  "must start with /", "a pattern must start with /")
tap.raises(function() r:add("get", "/x", h("x")) end,
  "upper case", "methods are upper case")
tap.raises(function() r:add("GET", "/x{y}", h("x")) end,
  "bad route segment", "a brace inside a segment is refused")

return tap.done()
