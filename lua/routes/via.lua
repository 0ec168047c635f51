-- routes/via.lua -- a Via destination's tables, read by its Via tokens
-- (HTTP.md "Pipelines that run, and the Via destination"), so a BI tool
-- can pull them: JSON by default, CSV with Accept: text/csv.
--
--   GET /api/via/tables          [{name, rows, columns: [{name, type}]}]
--   GET /api/via/tables/{name}   {rows: [...], next: cursor|null}
--                                ?after=CURSOR&limit=1..1000 (100)
--
-- Only a Via token (kind "via", scope via:read) reads, and only the
-- tables of its own destination: the destination comes from the token,
-- never from the request.
local http = require "http"
local via = require "via"

local LIMIT_MAX = 1000

-- The caller's destination, or nil and the refusal.
local function destination(req)
  local t = req.auth.token
  if t.kind ~= "via" or not t.destination_id then
    return nil, http.fail(403, "FORBIDDEN",
      "only a Via token reads a Via destination's tables")
  end
  return t.destination_id
end

local function tables(req)
  local d, refused = destination(req)
  if not d then return refused end
  local out = {}
  for i, t in ipairs(via.tables(d)) do
    out[i] = { name = t.name, rows = t.rows,
      columns = host.json.array(t.columns) }
  end
  return http.ok(host.json.array(out))
end

-- One CSV field (RFC 4180): quoted when it holds a comma, a quote or a
-- line break; nested values as their JSON; null as an empty field.
local function csv_field(v)
  if v == nil or v == host.null then return "" end
  if type(v) == "table" then v = host.json.encode(v)
  elseif type(v) == "boolean" then v = v and "true" or "false"
  elseif type(v) == "number" then
    return math.type(v) == "integer" and tostring(v) or string.format("%.17g", v)
  end
  if string.find(v, '[,"\r\n]') then
    return '"' .. string.gsub(v, '"', '""') .. '"'
  end
  return v
end

local function csv(columns, rows, next_url)
  local lines, names = {}, {}
  for i, c in ipairs(columns) do names[i] = csv_field(c.name) end
  lines[1] = table.concat(names, ",")
  for _, r in ipairs(rows) do
    local data, cells = host.json.decode(r.data), {}
    for i, c in ipairs(columns) do cells[i] = csv_field(data[c.name]) end
    lines[#lines + 1] = table.concat(cells, ",")
  end
  local headers = { ["Content-Type"] = "text/csv; charset=utf-8" }
  if next_url then headers.Link = "<" .. next_url .. '>; rel="next"' end
  return { status = 200, headers = headers,
    body = table.concat(lines, "\r\n") .. "\r\n" }
end

local function rows(req, p)
  local d, refused = destination(req)
  if not d then return refused end
  local t = not via.hidden(p.name) and
    host.db.row("via_table_get", { destination_id = d, name = p.name })
  if not t then return http.fail(404, "NOT_FOUND", "no such table") end
  local after = host.input.int(req.query.after or "0", 0)
  local limit = host.input.int(req.query.limit or "100", 1, LIMIT_MAX)
  if not after or not limit then
    return http.fail(400, "INVALID_REQUEST", "after >= 0, limit 1 to 1000")
  end
  local page = host.db.rows("via_rows_page", { table_id = t.id, after = after,
    limit = limit + 1 })
  local more = #page > limit
  if more then page[#page] = nil end
  local next = more and page[#page].id or nil
  if string.find(req.headers.accept or "", "text/csv", 1, true) then
    return csv(host.json.decode(t.columns), page, next and string.format(
      "%s/via/tables/%s?after=%d&limit=%d", host.config.api_mount,
      host.url.encode(p.name), next, limit))
  end
  -- The stored JSON is spliced in as is: what comes back is what was moved.
  local parts = {}
  for i, r in ipairs(page) do parts[i] = r.data end
  return { status = 200, headers = { ["Content-Type"] = "application/json" },
    body = '{"data":{"next":' .. (next and tostring(next) or "null") ..
      ',"rows":[' .. table.concat(parts, ",") .. ']},"success":true}' }
end

return function(r)
  local m = host.config.api_mount
  r:add("GET", m .. "/via/tables", tables, "via:read")
  r:add("GET", m .. "/via/tables/{name}", rows, "via:read")
end
