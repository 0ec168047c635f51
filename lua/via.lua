-- via.lua -- a Via destination's tables, held in the service (016:
-- via_tables, via_rows). A table is reached only through its
-- destination's id: the runs write the tables of their own pipeline's or
-- model's destination, a Via token reads those of its own.
--
-- Each row is a JSON object; the table keeps its columns (one per
-- top-level field seen, in the order first seen, each with a type:
-- integer, real, text, boolean, json, or null while only nulls were
-- seen) and its row count.
local M = {}

-- The most columns a table may have (a record's top-level fields, all
-- records together); a model copies every column into its box.
M.COLUMNS_MAX = 1000

local Table = {}
Table.__index = Table

-- The type of one value, as a column sees it.
local function kind(v)
  local t = type(v)
  if t == "number" then return math.type(v) == "integer" and "integer" or "real" end
  if t == "string" then return "text" end
  if t == "boolean" then return "boolean" end
  if v == host.null then return "null" end
  return "json"
end

-- Two types seen in one column: integers and reals make real; any other
-- mix is kept as json (the value as it came).
local function merge(a, b)
  if a == "null" or a == b then return b end
  if b == "null" then return a end
  if (a == "integer" and b == "real") or (a == "real" and b == "integer") then
    return "real"
  end
  return "json"
end

-- The table name of destination d, made when new (in the caller's
-- transaction).
function M.open(account_id, destination_id, name)
  local p = { destination_id = destination_id, name = name }
  local row = host.db.row("via_table_get", p)
  if not row then
    host.db.exec("via_table_add", { account_id = account_id,
      destination_id = destination_id, name = name, now = host.now() })
    row = host.db.row("via_table_get", p)
  end
  local t = setmetatable({ id = row.id, name = name, rows = row.row_count,
    columns = host.json.decode(row.columns), index = {}, changed = false }, Table)
  for i, c in ipairs(t.columns) do t.index[c.name] = i end
  return t
end

-- Notes the fields of one row in the columns (new keys sorted, so the
-- order does not depend on the hash of the table).
function Table:see(row)
  local new = {}
  for k, v in pairs(row) do
    local i = self.index[k]
    if i then
      local ty = merge(self.columns[i].type, kind(v))
      if ty ~= self.columns[i].type then
        self.columns[i].type, self.changed = ty, true
      end
    else
      new[#new + 1] = k
    end
  end
  table.sort(new)
  if #self.columns + #new > M.COLUMNS_MAX then
    error(string.format("table %s would have more than %d columns", self.name,
      M.COLUMNS_MAX), 0)
  end
  for _, k in ipairs(new) do
    self.columns[#self.columns + 1] = { name = k, type = kind(row[k]) }
    self.index[k] = #self.columns
    self.changed = true
  end
end

-- Adds rows ({ id = n, data = object }) in the caller's transaction.
function Table:append(rows)
  for _, r in ipairs(rows) do
    self:see(r.data)
    host.db.exec("via_row_add", { table_id = self.id, id = r.id,
      data = host.json.encode(r.data) })
  end
  host.db.exec("via_table_grow", { id = self.id, added = #rows,
    columns = host.json.encode(host.json.array(self.columns)), now = host.now() })
  self.rows = self.rows + #rows
end

-- Sets the columns (in their order) before the first rows (a model's
-- result, whose columns are its SELECT's).
function Table:set_columns(columns)
  self.columns, self.index = columns, {}
  for i, c in ipairs(columns) do self.index[c.name] = i end
end

-- Deletes table name of destination d, its rows a batch a transaction,
-- so that no one transaction holds the write lock for long.
function M.drop(destination_id, name, batch)
  local p = { destination_id = destination_id, name = name }
  while true do
    local t = host.db.row("via_table_get", p)
    if not t then return end
    local n = host.db.tx(function()
      return host.db.exec("via_rows_delete_some", { table_id = t.id, limit = batch })
    end)
    if n == 0 then
      host.db.tx(function() host.db.exec("via_table_delete", p) end)
      return
    end
  end
end

-- Renames table old of destination d to new (nothing when there is none).
function M.rename(destination_id, old, new)
  host.db.exec("via_table_rename", { destination_id = destination_id,
    old = old, new = new, now = host.now() })
end

-- Tables whose names start with "_" are being built or dropped (a
-- model's result before it replaces the last one): no reader sees them.
function M.hidden(name)
  return string.sub(name, 1, 1) == "_"
end

-- The tables of destination d: { id, name, rows, columns, updated_at }.
function M.tables(destination_id)
  local out = {}
  for _, t in ipairs(host.db.rows("via_tables_of", { destination_id = destination_id })) do
    if not M.hidden(t.name) then
      out[#out + 1] = { id = t.id, name = t.name, rows = t.row_count,
        columns = host.json.decode(t.columns), updated_at = t.updated_at }
    end
  end
  return out
end

return M
