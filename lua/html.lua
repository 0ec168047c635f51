-- html.lua -- HTML templates, escaped by default.
--
--   html.render('<p class="{{cls}}">{{user.email}}</p>', data)
--
-- {{ name }} or {{ a.b.c }} is looked up in data and HTML-escaped;
-- {{{ name }}} inserts a value made by html.raw() unescaped (anything
-- else there is an error, so a plain string can never slip in raw).
-- nil and false render as nothing.
-- Templates are compiled once and cached.

local M = {}

local escape = host.html.escape
local raw_mt = { __name = "html.raw" }

-- Marks trusted HTML (built by the views themselves).
function M.raw(s)
  return setmetatable({ html = s }, raw_mt)
end

function M.is_raw(v)
  return getmetatable(v) == raw_mt
end

M.escape = escape

local cache = {}

local function lookup(data, path)
  local v = data
  for key in string.gmatch(path, "[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[key]
  end
  return v
end

local function compile(tpl)
  local parts, pos = {}, 1
  while true do
    local s, e, brace, name = string.find(tpl, "{{({?)%s*([%w_.]+)%s*}?}}", pos)
    if not s then break end
    parts[#parts + 1] = string.sub(tpl, pos, s - 1)
    parts[#parts + 1] = { name = name, raw = brace == "{" }
    pos = e + 1
  end
  parts[#parts + 1] = string.sub(tpl, pos)
  return parts
end

-- Renders tpl with data; returns an html.raw value, so rendered fragments
-- can be placed inside other templates with {{{ }}}.
function M.render(tpl, data)
  local parts = cache[tpl]
  if not parts then
    parts = compile(tpl)
    cache[tpl] = parts
  end
  local out = {}
  for i = 1, #parts do
    local p = parts[i]
    if type(p) == "string" then
      out[i] = p
    else
      local v = lookup(data, p.name)
      if v == false then v = nil end  -- the `cond and value` idiom
      if p.raw then
        if v == nil then
          out[i] = ""
        elseif M.is_raw(v) then
          out[i] = v.html
        else
          error("{{{" .. p.name .. "}}} needs an html.raw value", 2)
        end
      elseif M.is_raw(v) then
        out[i] = v.html
      else
        out[i] = v == nil and "" or escape(v)
      end
    end
  end
  return M.raw(table.concat(out))
end

-- Joins a list of raw fragments into one.
function M.join(list)
  local out = {}
  for i, v in ipairs(list) do
    assert(M.is_raw(v), "html.join takes html.raw values")
    out[i] = v.html
  end
  return M.raw(table.concat(out))
end

return M
