-- sqlbox_test.lua -- host.sql.box (fcgi/store/sqlbox.c, lhost_sql.c): a
-- model's SELECT over copies of its destination's tables, and what it may
-- not do.
local tap = require "tap"

local box = host.sql.box{ steps = 1000 }   -- a million steps
box:create("sales", { { name = "kind", type = "text" },
  { name = "n", type = "integer" }, { name = "price", type = "real" },
  { name = "paid", type = "boolean" }, { name = "weird \"name\"", type = "json" } })
box:insert({ "book", 1, 12.5, true, '{"a":1}' })
box:insert({ "pen", 2, 2, false, host.null })
box:insert({ "book", 3, 30, true })   -- a missing value is NULL
local names, rows = box:select(
  "SELECT kind, count(*) AS c, sum(price) AS total, sum(paid) AS paid " ..
  "FROM sales GROUP BY kind ORDER BY kind")
tap.is(table.concat(names, ","), "kind,c,total,paid", "the column names")
tap.is(#rows, 2, "two groups")
tap.is(rows[1][1], "book", "book first")
tap.is(rows[1][2], 2, "... 2 of them")
tap.is(rows[1][3], 42.5, "... 42.5 in all")
tap.is(rows[1][4], 2, "booleans are 0/1")
tap.is(rows[2][3], 2.0, "a real column keeps reals")
names, rows = box:select('SELECT "weird ""name""" AS w FROM sales ORDER BY n')
tap.is(rows[1][1], '{"a":1}', "a quoted column name, json as text")
tap.ok(rows[2][1] == host.null, "NULL is host.null")
names, rows = box:select("SELECT kind FROM sales WHERE 0")
tap.is(#names, 1, "no rows: the names still come")
tap.is(#rows, 0, "... and no rows")
names, rows = box:select("SELECT json_extract('{\"a\":[1,2]}', '$.a[1]') AS x, " ..
  "upper('a') AS u, date('2026-01-02') AS d")
tap.is(rows[1][1], 2, "JSON functions")
tap.is(rows[1][3], "2026-01-02", "date functions")

local refused = {
  { "SELECT * FROM sqlite_master", "sqlite_master" },
  { "SELECT name FROM sqlite_schema", "sqlite_" },
  { "SELECT * FROM sqlite_temp_master", "sqlite_" },
  { "ATTACH DATABASE ':memory:' AS x", "not authorized" },
  { "SELECT load_extension('/tmp/x.so')", "not authorized" },
  { "SELECT fts3_tokenizer('simple')", "" },
  { "SELECT sqlite_version()", "not authorized" },
  { "PRAGMA table_info(sales)", "not authorized" },
  { "SELECT 1; SELECT 2", "exactly one SELECT" },
  { "DELETE FROM sales", "not authorized" },
  { "INSERT INTO sales (n) VALUES (9)", "not authorized" },
  { "CREATE TABLE x (a)", "not authorized" },
  { "EXPLAIN SELECT 1", "exactly one SELECT" },
  { "SELECT * FROM nosuch", "no such table" },
  { "", "exactly one SELECT" },
  { "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) " ..
    "SELECT count(*) FROM c", "budget" },
  { "SELECT length(zeroblob(100000000))", "" },
  { "SELECT 'x' LIKE '" .. string.rep("%a", 60) .. "'", "pattern too complex" },
  { "SELECT * FROM json_each('[1,2]')", "" },
  { "SELECT * FROM pragma_table_info('sales')", "" },
  { "VACUUM INTO '/tmp/tessera-sqlbox-vacuum.db'", "" },
}
for _, case in ipairs(refused) do
  local ok, err = pcall(box.select, box, case[1])
  tap.ok(not ok and string.find(tostring(err), case[2], 1, true),
    "refused: " .. case[1] .. " (" .. tostring(err) .. ")")
end
names, rows = box:select("SELECT count(*) FROM sales")
tap.is(rows[1][1], 3, "after the refusals the table is whole")

local ok, err = pcall(box.create, box, "bad", {})
tap.ok(not ok, "a table needs a column")
ok, err = pcall(box.insert, box, { {} })
tap.ok(not ok, "a table is not a value (" .. tostring(err) .. ")")
box:close()
ok, err = pcall(box.select, box, "SELECT 1")
tap.ok(not ok and string.find(err, "closed"), "a closed box refuses")

-- A table of many columns (each value passes through the Lua stack).
local wide, cols, row = host.sql.box(), {}, {}
for i = 1, 1500 do cols[i] = { name = "c" .. i, type = "integer" }; row[i] = i end
wide:create("wide", cols)
wide:insert(row)
names, rows = wide:select("SELECT c1, c1500 FROM wide")
tap.is(rows[1][2], 1500, "1500 columns made, filled and read")
wide:close()

-- The memory budget: a table past it is refused, not grown.
local small = host.sql.box{ memory_mb = 1 }
small:create("big", { { name = "s", type = "text" } })
ok, err = pcall(function()
  for _ = 1, 2000 do small:insert({ string.rep("x", 4000) }) end
end)
tap.ok(not ok and string.find(tostring(err), "full"), "past memory_mb: database or disk is full (" ..
  tostring(err) .. ")")
small:close()

tap.done()
