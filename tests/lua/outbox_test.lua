-- outbox_test.lua -- the runner's tick removes notifications done with
-- (delivered or failed) a week ago, and keeps the rest.
local tap = require "tap"
local app = require "app"

local now = host.now()
local function add(finished, how)
  host.db.exec("outbox_add", { name = "n", payload = "{}", now = finished })
  local id = host.db.value("outbox_due", { now = finished + 1, limit = 1 })
  if how then
    host.db.exec("outbox_" .. how, { id = id, now = finished, last_status = 200 })
  end
  return id
end
local old_done = add(now - 8 * 86400, "delivered")
local old_failed = add(now - 8 * 86400, "failed")
local new_done = add(now - 86400, "delivered")
local queued = add(now - 30 * 86400, nil)

app.tick()
tap.ok(host.db.row("outbox_get", { id = old_done }) == nil,
  "a message delivered 8 days ago is gone")
tap.ok(host.db.row("outbox_get", { id = old_failed }) == nil,
  "... and one that failed 8 days ago (its audit row stays)")
tap.ok(host.db.row("outbox_get", { id = new_done }) ~= nil,
  "one delivered yesterday stays")
tap.ok(host.db.row("outbox_get", { id = queued }) ~= nil,
  "a queued one stays, however old")
tap.done()
