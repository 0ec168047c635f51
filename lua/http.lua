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

-- {"success": false, "error": code, "message": message}
function M.fail(status, code, message, headers)
  return M.json(status, { success = false, error = code, message = message },
    headers)
end

-- The answer for a refusal from host.tokens ({ status, code, message,
-- field, required }): the failure envelope with the field at fault and,
-- for INSUFFICIENT_SCOPE, the scope required.
function M.refused(err)
  return M.json(err.status, { success = false, error = err.code,
    message = err.message, field = err.field, required = err.required })
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

local reasons = {
  [400] = "Bad request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not found", [405] = "Method not allowed",
  [413] = "Payload too large", [415] = "Unsupported media type",
  [429] = "Too many requests", [500] = "Internal error",
  [503] = "Service unavailable",
}

-- An error in the form the client expects: the JSON envelope or a small
-- HTML page. views.error_page is used when it exists (pages come later).
function M.error(req, status, code, message, headers)
  if req.wants_json then
    return M.fail(status, code, message, headers)
  end
  local title = reasons[status] or "Error"
  local e = host.html.escape
  return M.html(status, "<!doctype html><html lang=\"en\"><head>" ..
    "<meta charset=\"utf-8\"><title>" .. e(title) .. "</title>" ..
    "<link rel=\"stylesheet\" href=\"/static/app.css\"></head><body>" ..
    "<main class=\"error\"><h1>" .. e(title) .. "</h1><p>" .. e(message) ..
    "</p></main></body></html>", headers)
end

return M
