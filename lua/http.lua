-- http.lua -- building responses: JSON envelopes, HTML, redirects, errors.
-- A response is a plain table {status=, headers=, body=}; the host adds
-- the security headers and Content-Length.

local M = {}

local json_type = "application/json"
local html_type = "text/html; charset=utf-8"
-- Shared by every plain response; the host only reads them.
local JSON_HEADERS = { ["Content-Type"] = json_type }
local HTML_HEADERS = { ["Content-Type"] = html_type }

-- Any JSON value, as is (used where the platform answers without the
-- envelope).
function M.json(status, value, headers)
  local h = JSON_HEADERS
  if headers then
    h = { ["Content-Type"] = json_type }
    for k, v in pairs(headers) do h[k] = v end
  end
  return { status = status, headers = h, body = host.json.encode(value) }
end

-- {"success": true, "data": data}
function M.ok(data, status, headers)
  return M.json(status or 200, { success = true, data = data }, headers)
end

-- Adds headers (a table or nil) to response r; returns r.
local function with_headers(r, headers)
  for k, v in pairs(headers or {}) do r.headers[k] = v end
  return r
end

-- {"error": code, "message": message, "success": false}, rendered by the
-- host as it renders its own errors (host.error).
function M.fail(status, code, message, headers)
  return with_headers(host.error(status, code, message, { json = true }),
    headers)
end

-- The answer for a refusal from host.tokens ({ status, code, message,
-- field, required }): the failure envelope with the field at fault and,
-- for INSUFFICIENT_SCOPE, the scope required.
function M.refused(err)
  return host.error(err.status, err.code, err.message,
    { field = err.field, required = err.required, json = true })
end

function M.html(status, body, headers)
  local h = HTML_HEADERS
  if headers then
    h = { ["Content-Type"] = html_type }
    for k, v in pairs(headers) do h[k] = v end
  end
  return { status = status, headers = h, body = body }
end

function M.redirect(location, status, headers)
  local h = { Location = location }
  for k, v in pairs(headers or {}) do h[k] = v end
  return { status = status or 303, headers = h, body = "" }
end

-- Statuses a browser gets as a page with the header and a way home
-- (views/error.lua); others get the host's small page.
local PAGE = { [400] = true, [403] = true, [404] = true, [405] = true }

-- An error in the form the client expects: the JSON envelope (as the
-- host decided for the request being served, req.wants_json), or for a
-- browser the error page with the header, the user's menu when logged
-- in, and the way home.
function M.error(req, status, code, message, headers)
  if req and not req.wants_json and PAGE[status] then
    local page = require("views.error")({ status = status, message = message,
      session = host.auth.session() })
    return with_headers(M.html(status, page, {}), headers)
  end
  return with_headers(host.error(status, code, message), headers)
end

return M
