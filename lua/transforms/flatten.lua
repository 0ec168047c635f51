-- transforms/flatten.lua -- an example transform: nested objects become
-- top-level fields joined by "_" ({"a": {"b": 1}} -> {"a_b": 1}), so a
-- BI tool sees one column each; arrays are kept as they are. Name it in a
-- pipeline's config: {"transform": "flatten"}.
local function is_array(t)
  return getmetatable(t) ~= nil or (next(t) ~= nil and #t > 0)
end

local function flatten(into, prefix, t)
  for k, v in pairs(t) do
    local name = prefix and (prefix .. "_" .. k) or k
    if type(v) == "table" and not is_array(v) and next(v) ~= nil then
      flatten(into, name, v)
    else
      into[name] = v
    end
  end
  return into
end

return function(record)
  return flatten({}, nil, record)
end
