-- transforms.lua -- a pipeline's config.transform: the name of a module
-- lua/transforms/{name}.lua returning function(record, meta) -> record
-- or nil (drop it). record is the decoded JSON object; meta is
-- { id, received_at } of the stored record. Transforms run in the same
-- sandbox as everything else: no io, no os, named queries only.
local M = {}

local function identity(record) return record end

-- The transform function named by name (nil: none), or ctx.fail.
function M.load(name, ctx)
  if name == nil or name == host.null then return identity end
  if type(name) ~= "string" or not string.match(name, "^[a-z][a-z0-9_]*$") then
    ctx.fail("config.transform must name a module: lower-case letters, digits and _")
  end
  local found, fn = pcall(require, "transforms." .. name)
  if not found then
    -- The whole error to the log; the run's message names no server path.
    host.log("info", "transform " .. name .. ": " ..
      tostring(type(fn) == "table" and fn.message or fn))
    ctx.fail("no transform '" .. name .. "' (lua/transforms/" .. name ..
      ".lua) loads here")
  end
  if type(fn) ~= "function" then
    ctx.fail("lua/transforms/" .. name .. ".lua must return a function")
  end
  return function(record, meta)
    local out = fn(record, { id = meta.id, received_at = meta.received_at })
    if out ~= nil and type(out) ~= "table" then
      ctx.fail("transform '" .. name .. "' returned a " .. type(out) ..
        ", not a record or nil")
    end
    return out
  end
end

return M
