-- db_test.lua -- host.db against the real database: named queries,
-- parameters, int64, transactions.
local tap = require "tap"
local db = host.db

-- meta.value keeps an integer an integer on SQLite (a column of type ANY);
-- PostgreSQL's is text, so an integer reads back as its decimal text
-- (schema/pg/001, README "What differs on PostgreSQL").
local pg = db.engine == "postgresql"
tap.ok(db.engine == "sqlite" or pg, "host.db.engine names the engine")
local function as_stored(n)
  return pg and string.format("%d", n) or n
end

if pg then
  tap.ok(tostring(db.value("meta_get", { key = "installed_at" })):match("^%d+$"),
    "installed_at is the text of an integer")
else
  tap.ok(math.type(db.value("meta_get", { key = "installed_at" })) == "integer",
    "installed_at is an integer")
end
tap.is(db.row("health", {}).ok, 1, "row() returns the first row")
tap.is(#db.rows("health"), 1, "rows() without params")
tap.is(db.row("meta_get", { key = "no such key" }), nil, "row() is nil when empty")

for _, n in ipairs({ math.mininteger, math.maxinteger, 9007199254740993, -1, 0 }) do
  db.exec("meta_set", { key = "n", value = n })
  local got = db.value("meta_get", { key = "n" })
  tap.ok(got == as_stored(n) and (pg or math.type(got) == "integer"),
    "int64 round trip " .. n)
end
db.exec("meta_set", { key = "s", value = "héllo" })
tap.is(db.value("meta_get", { key = "s" }), "héllo", "text round trip")

local changes = db.exec("meta_delete", { key = "s" })
tap.is(changes, 1, "exec() returns the number of changed rows")

tap.raises(function() db.row("meta_get", {}) end, "missing parameter :key",
  "a missing parameter is an error")
tap.raises(function() db.row("meta_get", { key = "a", kye = "b" }) end,
  "no parameter :kye", "an unknown parameter is an error")
tap.raises(function() db.rows("no_such_query", {}) end, "no query named",
  "an unknown query is an error")
tap.raises(function() db.exec("meta_set", { key = "x", value = {} }) end,
  "cannot be a table", "a table cannot be bound")

-- Transactions.
local r1, r2 = db.tx(function(a, b)
  db.exec("meta_set", { key = "tx1", value = 1 })
  return a + b, "done"
end, 2, 3)
tap.is(r1, 5, "tx passes arguments and returns results")
tap.is(db.value("meta_get", { key = "tx1" }), as_stored(1), "tx commits")

local ok, err = pcall(db.tx, function()
  db.exec("meta_set", { key = "tx2", value = 1 })
  error("abort this")
end)
tap.ok(not ok and string.find(err, "abort this"), "tx re-raises the error")
tap.is(db.value("meta_get", { key = "tx2" }), nil, "tx rolled back")

db.tx(function()
  db.exec("meta_set", { key = "outer", value = 1 })
  local inner_ok = pcall(db.tx, function()
    db.exec("meta_set", { key = "inner", value = 1 })
    error("inner fails")
  end)
  tap.ok(not inner_ok, "the nested tx failed")
end)
tap.is(db.value("meta_get", { key = "outer" }), as_stored(1), "outer work kept")
tap.is(db.value("meta_get", { key = "inner" }), nil, "inner work rolled back")

-- read(): one snapshot, no exec inside, nests in tx.
local a, b = db.read(function(x)
  return db.value("meta_get", { key = "outer" }), x
end, 7)
tap.ok(a == as_stored(1) and b == 7, "read passes arguments and returns results")
local rok, rerr = pcall(db.read, function()
  db.exec("meta_set", { key = "inread", value = 1 })
end)
tap.ok(not rok and string.find(rerr, "inside host.db.read"),
  "exec inside read is refused")
tap.is(db.value("meta_get", { key = "inread" }), nil, "... and wrote nothing")
tap.raises(function()
  db.read(function() db.tx(function() end) end)
end, "inside host.db.read", "tx inside read is refused")
local rok2 = pcall(db.read, function() error("stop") end)
tap.ok(not rok2, "read re-raises an error")
tap.is(db.value("meta_get", { key = "outer" }), as_stored(1),
  "queries work after a failed read")
db.tx(function()
  db.exec("meta_set", { key = "intx", value = 2 })
  tap.is(db.read(function() return db.value("meta_get", { key = "intx" }) end),
    as_stored(2), "read inside tx sees the transaction's own write")
end)
tap.is(db.value("meta_get", { key = "intx" }), as_stored(2), "the tx around it committed")

-- batch(): one write transaction of statements that add and count.
db.batch({ { "meta_set", { key = "b1", value = "x" } },
  { "meta_set", { key = "b2", value = "y" } } })
tap.ok(db.value("meta_get", { key = "b1" }) == "x" and
  db.value("meta_get", { key = "b2" }) == "y", "batch writes every statement")
tap.raises(function() db.batch({ { "meta_get", { key = "b1" } } }) end,
  "only reads", "a batch takes writes only")
tap.raises(function()
  db.batch({ { "meta_set", { key = "b3", value = "z" } },
    { "meta_set", { kye = "b4" } } })
end, "missing parameter", "a bad item raises before anything is sent")
tap.is(db.value("meta_get", { key = "b3" }), nil, "... and nothing of it is written")
local bok, berr = pcall(db.batch, {
  { "meta_set", { key = "b5", value = "z" } },
  { "account_add", { name = "Batch", now = 1 } },
  { "account_add", { name = "Batch", now = 2 } } })
tap.ok(not bok and type(berr) == "table" and berr.status == 409,
  "a statement failing inside a batch raises 409 CONSTRAINT")
tap.ok(db.value("meta_get", { key = "b5" }) == nil and
  db.row("account_by_name", { name = "Batch" }) == nil,
  "... and the whole batch is rolled back")
tap.raises(function() db.tx(function() db.batch({ { "meta_set",
  { key = "b6", value = "z" } } }) end) end, "inside a transaction",
  "a batch is a transaction of its own")

return tap.done()
