-- objects.lua -- the platform objects the API creates and edits: sources,
-- destinations, pipelines and models. One declared table per kind says
-- which links it has; validation names the field that is wrong.
local M = {}

-- kind -> { table = query family, links = { field = kind it points at },
--           sql = has a sql text }
M.kinds = {
  sources = { one = "source", links = {} },
  destinations = { one = "destination", links = {} },
  pipelines = { one = "pipeline",
    links = { source_id = "sources", destination_id = "destinations" } },
  models = { one = "model", links = { destination_id = "destinations" },
    sql = true },
}

-- The kinds in a fixed order (routes are declared in it).
M.order = { "sources", "destinations", "pipelines", "models" }

local NAME_MAX, TYPE_MAX, CONFIG_MAX, SQL_MAX = 200, 64, 65536, 100000

-- A validation failure: { field = ..., message = ... }.
local function bad(field, message)
  return nil, { field = field, message = field .. ": " .. message }
end

local function text(v, field, max)
  if type(v) ~= "string" then return bad(field, "required, a string") end
  local s, why = host.input.text(v, max)
  if not s then
    return bad(field, string.format("1 to %d characters of text (%s)", max, why))
  end
  return s
end

-- Checks a decoded JSON body for kind. For an update, existing is the
-- stored object (type never changes). Returns the fields to store, or
-- nil and the failure.
function M.validate(kind, body, account_id, existing)
  local k = M.kinds[kind]
  if type(body) ~= "table" or string.sub(host.json.encode(body), 1, 1) ~= "{" then
    return bad("body", "must be a JSON object")
  end
  local out = {}
  local err
  out.name, err = text(body.name, "name", NAME_MAX)
  if not out.name then return nil, err end
  if existing then
    if body.type ~= nil and body.type ~= existing.type then
      return bad("type", "cannot be changed")
    end
    out.type = existing.type
  else
    if type(body.type) ~= "string" or not string.match(body.type, "^[a-z][a-z0-9_]*$")
        or #body.type > TYPE_MAX then
      return bad("type", "required, lower-case letters, digits and _ (at most 64)")
    end
    out.type = body.type
  end
  local config = body.config
  if config == nil then config = {} end
  if type(config) ~= "table" then return bad("config", "must be a JSON object") end
  local ctext = host.json.encode(config)
  if string.sub(ctext, 1, 1) ~= "{" then return bad("config", "must be a JSON object") end
  if #ctext > CONFIG_MAX then return bad("config", "larger than 64 KiB") end
  out.config = ctext
  for field, target in pairs(k.links) do
    local id = body[field]
    if math.type(id) ~= "integer" then return bad(field, "required, an integer id") end
    if not host.db.row(target .. "_get", { account_id = account_id, id = id }) then
      return bad(field, "no such " .. M.kinds[target].one .. " in this account")
    end
    out[field] = id
  end
  if k.sql then
    out.sql, err = text(body.sql, "sql", SQL_MAX)
    if not out.sql then return nil, err end
  end
  return out
end

-- Who may change an object: everyone in the account reads every object
-- and may build on it (a pipeline may use an admin's source), but only an
-- admin, or the member who created it, may change it. user is req.auth.user
-- (a token acts with its creator's role); row a NAME_get row.
function M.may_change(user, row)
  return user.role == "admin" or row.owner_id == user.id
end

-- The JSON shape of a stored row (config left null when raw is set).
function M.public(kind, row, raw)
  local o = {
    id = row.id, name = row.name, type = row.type,
    config = raw and host.null or host.json.decode(row.config) or {},
    created_at = host.iso8601(row.created_at),
    updated_at = host.iso8601(row.updated_at),
    created_by = row.created_by,
  }
  for field in pairs(M.kinds[kind].links) do o[field] = row[field] end
  if M.kinds[kind].sql then o.sql = row.sql end
  return o
end

-- The same shape as JSON text, with the stored config spliced in as it
-- is: it was written by host.json.encode, so it is that encoding already,
-- and a page of large configs is never decoded into Lua tables. Keys are
-- sorted, so "config" comes first.
local CONFIG_NULL = '{"config":null,'
function M.public_json(kind, row)
  local j = host.json.encode(M.public(kind, row, true))
  assert(string.sub(j, 1, #CONFIG_NULL) == CONFIG_NULL, "config is not the first key")
  return '{"config":' .. row.config .. "," .. string.sub(j, #CONFIG_NULL + 1)
end

return M
