-- routes/openapi.lua -- GET API_MOUNT/openapi.json: the OpenAPI 3.0
-- description of the token API and the webhook, for programs (code
-- generators, API consoles, gateways). It is docs/openapi.json, the one
-- copy kept in the repository and installed beside lua/ and schema/
-- (openapi_file; host.openapi reads it). The only token-path route that
-- needs no credentials ("public": the C gate checks none, and a GET is all
-- it may be). It describes paths under /api; under another api_mount the
-- paths are renamed to it.
local http = require "http"

local CACHE = "public, max-age=3600"

local text   -- the answer's body, read once per Lua state

local function load()
  local raw, why = host.openapi()
  if not raw then return nil, why end
  local m = host.config.api_mount
  if m == "/api" then return raw end
  local doc = host.json.decode(raw)
  if type(doc) ~= "table" or type(doc.paths) ~= "table" then
    return nil, "openapi_file is not an OpenAPI document"
  end
  local paths = {}
  for p, item in pairs(doc.paths) do
    if string.sub(p, 1, 5) == "/api/" then p = m .. string.sub(p, 5) end
    paths[p] = item
  end
  doc.paths = paths
  return host.json.encode(doc)
end

local function describe()
  -- With reload on (development), a changed file is served at once.
  local body, why = text, nil
  if not body or host.config.reload then
    body, why = load()
    if not body then
      host.log("error", "the API description cannot be served: " .. why)
      return http.fail(500, "INTERNAL_ERROR",
        "the API description is not installed on this server")
    end
    text = body
  end
  return { status = 200, body = body, headers = {
    ["Content-Type"] = "application/json", ["Cache-Control"] = CACHE } }
end

return function(r)
  r:add("GET", host.config.api_mount .. "/openapi.json", describe, "public")
end
