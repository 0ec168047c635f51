-- scripts_test.lua -- host.scripts(folder), the one folder listing a
-- script gets (fcgi/bridge/lhost_scripts.c), and what app.lua builds on
-- it; and the messages of a refused DELETE (lua/objects_delete.lua).
local tap = require "tap"
local objects_delete = require "objects_delete"

-- lua_dir is tests/lua/fixtures:lua; the fixtures have no routes/ folder.
local routes = host.scripts("routes")
tap.is(table.concat(routes, ","),
  "routes.activity,routes.api,routes.health,routes.openapi,routes.pages,routes.people,routes.tokens,routes.tokens_bulk,routes.via,routes.webhook",
  "host.scripts lists lua/routes/ as sorted module names")
for _, name in ipairs(routes) do
  tap.is(type(require(name)), "function", name .. " is a route module")
end
tap.is(#host.scripts("views"), 8, "another folder: lua/views/")
tap.is(#host.scripts("no_such_folder"), 0, "a missing folder lists nothing")
tap.is(#host.scripts("routes.none"), 0, "a dotted folder name is a path")
for _, bad in ipairs({ "..", "../schema", "/etc", "routes/", "Routes", "",
    "routes..api", ".routes", "a b" }) do
  tap.raises(function() return host.scripts(bad) end, "invalid folder",
    "host.scripts refuses " .. string.format("%q", bad))
end
tap.raises(function() return host.scripts() end, "string expected",
  "host.scripts needs a folder")

-- The app's routes: every module of routes/ once, then extra_routes.
local app = require "app"
local seen = {}
for _, r in ipairs(app.routes) do seen[r.method .. " " .. r.pattern] = true end
tap.ok(seen["GET /healthz"] and seen["GET /settings/tokens"] and
  seen["DELETE " .. host.config.api_mount .. "/sources/{id}"] and
  seen["GET /_test/version"], "app.routes has routes of every module and extra_routes")

tap.like(objects_delete.in_use_message("source",
  { what = "pipeline", id = 3, name = "orders" }),
  "^this source is used by pipeline 3 %(orders%)", "IN_USE: a pipeline")
tap.like(objects_delete.in_use_message("destination",
  { what = "Via token", id = 9, name = "KEY-1" }),
  "Via token KEY%-1 .*inactive Via tokens count too", "IN_USE: a Via token")
tap.like(objects_delete.in_use_message("pipeline",
  { what = "run", id = 5, name = "queued" }),
  "has run 5 queued", "IN_USE: a run")
tap.like(objects_delete.in_use_message("destination",
  { what = "records of pipeline", id = 7, name = "" }),
  "records of pipeline 7", "IN_USE: records left")

return tap.done()
