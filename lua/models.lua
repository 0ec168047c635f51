-- models.lua -- a model's run: its sql (one SELECT) over its own
-- destination's tables, materialised as that destination's table
-- model_{id}.
--
-- The SELECT runs in a private in-memory database (host.sql.box,
-- fcgi/store/sqlbox.c) holding copies of this destination's tables and
-- nothing else, under an authorizer: reads of those tables and pure
-- functions only (no sqlite_master, no ATTACH, no PRAGMA, no writes).
-- Another account's or destination's tables are simply not there. Any
-- refusal or database error fails the run with the database's message.
local via = require "via"

local M = {}

local PAGE = 1000
local SQL_TYPE = { integer = "integer", real = "real", boolean = "boolean",
  text = "text", json = "json", null = "text" }

-- Copies destination d's tables into box.
local function load(box, destination_id)
  for _, t in ipairs(via.tables(destination_id)) do   -- not the hidden ones
    if #t.columns > 0 then
      local cols = {}
      for i, c in ipairs(t.columns) do
        cols[i] = { name = c.name, type = SQL_TYPE[c.type] or "text" }
      end
      box:create(t.name, cols)
      local after = 0
      repeat
        local page = host.db.rows("via_rows_page", { table_id = t.id,
          after = after, limit = PAGE })
        for _, r in ipairs(page) do
          local data, values = host.json.decode(r.data), {}
          for i, c in ipairs(t.columns) do
            local v = data[c.name]
            if type(v) == "table" then v = host.json.encode(v) end
            values[i] = v
          end
          box:insert(values)
          after = r.id
        end
      until #page < PAGE
    end
  end
end

-- The type of a result column: that of its first non-null value.
local function column_type(rows, i)
  for _, row in ipairs(rows) do
    local v = row[i]
    if v ~= host.null and v ~= nil then
      if type(v) == "number" then
        return math.type(v) == "integer" and "integer" or "real"
      end
      return "text"
    end
  end
  return "null"
end

function M.run(r, ctx)
  local m = host.db.row("model_for_run", { id = r.model_id })
  if not m then ctx.fail("the model is gone") end
  if m.destination_type ~= "via" then
    ctx.fail("models run over 'via' destinations only; this one is '" ..
      m.destination_type .. "'")
  end
  local box <close> = host.sql.box()
  load(box, m.destination_id)
  ctx.progress(0)                      -- the lease, renewed after the copy
  local ok, names, rows = pcall(box.select, box, m.sql)
  if not ok then ctx.fail(tostring(names)) end
  ctx.progress(0)                      -- ... and after the SELECT
  local columns, seen = {}, {}
  for i, name in ipairs(names) do
    if seen[name] then ctx.fail("the SELECT names column '" .. name .. "' twice") end
    seen[name] = true
    columns[i] = { name = name, type = column_type(rows, i) }
  end
  local out = {}
  for n, row in ipairs(rows) do
    local obj = {}
    for i, c in ipairs(columns) do obj[c.name] = row[i] end
    out[n] = { id = n, data = obj }
  end
  -- The result is built as a hidden table a batch a transaction (no one
  -- transaction holds the write lock for long), then swapped in for the
  -- last one in one short transaction, which is then dropped the same
  -- way: a reader sees the old rows or the new, never half.
  local name, batch = "model_" .. m.id, host.config.run_batch_records
  local building, old = "_building_" .. name, "_old_" .. name
  via.drop(m.destination_id, building, batch)   -- left by a run that died
  via.drop(m.destination_id, old, batch)
  local i = 1
  repeat
    host.db.tx(function()
      local t = via.open(m.account_id, m.destination_id, building)
      if i == 1 then t:set_columns(columns) end
      t:append(table.move(out, i, math.min(i + batch - 1, #out), 1, {}))
      ctx.progress(math.min(batch, #out - i + 1))
    end)
    i = i + batch
  until i > #out
  host.db.tx(function()
    via.rename(m.destination_id, name, old)
    via.rename(m.destination_id, building, name)
    ctx.progress(0)
  end)
  via.drop(m.destination_id, old, batch)
  return string.format("%d row%s in %s", #out, #out == 1 and "" or "s", name)
end

return M
