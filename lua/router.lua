-- router.lua -- maps method + path to a handler.
--
--   local r = router.new()
--   r:add("GET", "/settings/tokens/{key}", handler)
--   local handler, params, allow = r:match("GET", "/settings/tokens/abc")
--
-- Patterns are literal segments and {name} captures; a capture matches one
-- non-empty segment. HEAD is answered by the GET handler unless a HEAD
-- route exists. No match for the path: nil. The path matches but not the
-- method: nil, nil, "GET, HEAD, POST" (the Allow header's value).

local router = {}
router.__index = router

local M = {}

-- Splits "/a/b/c" into {"a", "b", "c"}; "/" gives {}; "/a/" gives
-- {"a", ""} so a trailing slash is a different path.
local function split(path)
  local segs = {}
  if path == "/" then return segs end
  for seg in string.gmatch(string.sub(path, 2), "([^/]*)") do
    segs[#segs + 1] = seg
  end
  -- gmatch yields one extra empty match at the end in Lua 5.4 only when
  -- the string ends with "/"; keep the segment count exact.
  return segs
end

local function compile(pattern)
  assert(string.sub(pattern, 1, 1) == "/", "route pattern must start with /")
  local segs = {}
  for i, seg in ipairs(split(pattern)) do
    local name = string.match(seg, "^{([%a_][%w_]*)}$")
    if name then
      segs[i] = { capture = name }
    else
      assert(not string.find(seg, "[{}]"), "bad route segment: " .. seg)
      segs[i] = { literal = seg }
    end
  end
  return segs
end

function M.new()
  return setmetatable({ routes = {}, exact = {} }, router)
end

-- Registers handler(req, params) for method and pattern.
function router:add(method, pattern, handler)
  assert(type(handler) == "function", "handler must be a function")
  assert(string.match(method, "^%u+$"), "method must be upper case")
  local segs = compile(pattern)
  self.routes[#self.routes + 1] = {
    method = method, pattern = pattern, segs = segs, handler = handler,
  }
  -- Patterns without captures also go in a table keyed by "METHOD path":
  -- the common request is one lookup.
  if not string.find(pattern, "{", 1, true) then
    local k = method .. " " .. pattern
    if self.exact[k] == nil then self.exact[k] = handler end
  end
  return self
end

local NO_PARAMS = setmetatable({}, { __newindex = function()
  error("route params are read-only", 2)
end })

local function match_segs(segs, parts)
  if #segs ~= #parts then return nil end
  local params
  for i = 1, #segs do
    local s, p = segs[i], parts[i]
    if s.literal then
      if s.literal ~= p then return nil end
    else
      if p == "" then return nil end
      params = params or {}
      params[s.capture] = p
    end
  end
  return params or {}
end

function router:match(method, path)
  local h = self.exact[method .. " " .. path]
  if h then return h, NO_PARAMS end
  local parts = split(path)
  local allowed, fallback, fallback_params
  for _, r in ipairs(self.routes) do
    local params = match_segs(r.segs, parts)
    if params then
      if r.method == method then
        return r.handler, params
      end
      if method == "HEAD" and r.method == "GET" and not fallback then
        fallback, fallback_params = r.handler, params
      end
      allowed = allowed or {}
      allowed[r.method] = true
    end
  end
  if fallback then return fallback, fallback_params end
  if not allowed then return nil end
  if allowed.GET then allowed.HEAD = true end
  local list = {}
  for m in pairs(allowed) do list[#list + 1] = m end
  table.sort(list)
  return nil, nil, table.concat(list, ", ")
end

return M
