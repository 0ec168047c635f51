-- routes/health.lua -- GET /healthz: the database answers a query.
local http = require "http"

return function(r)
  r:add("GET", "/healthz", function()
    local row = host.db.row("health", {})
    if not row or row.ok ~= 1 then
      return http.fail(503, "UNAVAILABLE", "database check failed")
    end
    return http.ok({ db = "ok" })
  end)
end
