-- app_test.lua -- requests through the whole host (parse, route, Lua,
-- response), without a web server.
local tap = require "tap"
local test = require "test"
local json = host.json

-- A browser's pre-session CSRF pair: the cookie and the same token sent
-- back in X-CSRF-Token.
local function csrf_headers(extra)
  local _, h = test.request{ path = "/login" }
  local tok = string.match(h["set-cookie"], "^tessera_csrf=([%w_-]+)")
  local headers = { HTTP_COOKIE = "tessera_csrf=" .. tok,
    HTTP_X_CSRF_TOKEN = tok }
  for k, v in pairs(extra or {}) do
    if v == false then headers[k] = nil else headers[k] = v end
  end
  return headers
end

local status, headers, body = test.request{ path = "/healthz" }
tap.is(status, 200, "GET /healthz")
tap.is(body, '{"data":{"db":"ok"},"success":true}', "health body")
tap.is(headers["content-type"], "application/json", "JSON content type")
tap.like(headers["content-security-policy"] or "", "frame%-ancestors 'none'",
  "CSP on every response")
tap.is(headers["x-content-type-options"], "nosniff", "nosniff")

status, headers, body = test.request{ method = "HEAD", path = "/healthz" }
tap.is(status, 200, "HEAD /healthz")
tap.is(body, "", "HEAD has no body")
tap.is(headers["content-length"], "35", "HEAD keeps Content-Length")

status, headers, body = test.request{ method = "POST", path = "/healthz" }
tap.is(status, 405, "POST /healthz is 405")
tap.is(headers["allow"], "GET, HEAD", "with Allow")

status, headers, body = test.request{ path = "/nowhere" }
tap.is(status, 404, "unknown page is 404")
tap.like(headers["content-type"], "text/html", "as HTML for a browser")
status, headers, body = test.request{ path = "/api/nowhere" }
tap.is(status, 401, "an API path without credentials is 401, known or not")
tap.is(json.decode(body).error, "INVALID_TOKEN", "with the JSON envelope")
status, headers, body = test.request{ method = "DELETE", path = "/webhook/x" }
tap.is(json.decode(body).success, false, "webhook paths get JSON errors")

status, headers, body = test.request{
  method = "POST", path = "/_test/echo/fred?a=1&a=2&b=",
  headers = csrf_headers{
    CONTENT_TYPE = "application/x-www-form-urlencoded; charset=UTF-8",
    HTTP_X_CSRF_TOKEN = false },
  body = "desc=h%C3%A9llo+world&empty=&flag",
}
tap.is(status, 403, "a POST without the CSRF token is refused")
local h = csrf_headers{
  CONTENT_TYPE = "application/x-www-form-urlencoded; charset=UTF-8" }
h.HTTP_COOKIE = "theme=dark; junk; x=1; " .. h.HTTP_COOKIE
status, headers, body = test.request{
  method = "POST", path = "/_test/echo/fred?a=1&a=2&b=", headers = h,
  body = "desc=h%C3%A9llo+world&empty=&flag",
}
local e = json.decode(body).data
tap.is(status, 200, "echo answers")
tap.is(e.name, "fred", "route capture")
tap.is(e.query.a, "1", "first of repeated query values")
tap.is(e.query.b, "", "empty query value")
tap.is(e.form.desc, "héllo world", "form decoded (+ and UTF-8)")
tap.is(e.form.flag, "", "form key without =")
tap.is(e.content_type, "application/x-www-form-urlencoded", "media type only")
tap.is(e.cookies.theme, "dark", "cookies parsed, junk skipped")

-- Credentials never reach a script: C reads the password, ?token= and the
-- CSRF field itself; the script sees the rest of the form and query.
h = csrf_headers{ CONTENT_TYPE = "application/x-www-form-urlencoded" }
status, headers, body = test.request{
  method = "POST",
  path = "/_test/echo/c?key=K&token=tsr_q&%73ecret=s&Session=x&page=2",
  headers = h,
  body = "email=a%40b.c&password=hunter2&csrf=" .. h.HTTP_X_CSRF_TOKEN ..
    "&next=%2Fx",
}
e = json.decode(body).data
tap.is(status, 200, "echo with credentials answers")
tap.is(e.form.email, "a@b.c", "the form's other fields are there")
tap.is(e.form.password, nil, "req.form has no password")
tap.is(e.form.csrf, nil, "req.form has no csrf field")
tap.is(#e.form_list, 2, "req.form_list: email and next only")
tap.is(e.body, "", "req.body of a form with a credential is empty")
tap.is(e.query.key, "K", "the key (not secret) stays in req.query")
tap.is(e.query.token, nil, "req.query has no token")
tap.is(e.query.secret, nil, "nor a percent-encoded secret name")
tap.is(e.query.Session, nil, "nor one in another case")
tap.is(e.query_string, "key=K&page=2", "req.query_string without them")
tap.is(#e.query_list, 2, "req.query_list: key and page only")
status, headers, body = test.request{
  method = "POST", path = "/_test/echo/c",
  headers = csrf_headers{ CONTENT_TYPE = "application/x-www-form-urlencoded" },
  body = "a=1&b=2",
}
tap.is(json.decode(body).data.body, "a=1&b=2",
  "req.body of a form without a credential is the raw body")

status, headers, body = test.request{ path = "/_test/echo/x?a=%ff" }
tap.is(status, 400, "invalid UTF-8 in the query is 400")
status = test.request{ path = "/_test/echo/x?a=%4" }
tap.is(status, 400, "truncated escape is 400")
status = test.request{ path = "/_test/echo/%00" }
tap.is(status, 400, "NUL in the path is 400")
status, headers, body = test.request{
  method = "POST", path = "/_test/echo/x",
  headers = { CONTENT_TYPE = "application/x-www-form-urlencoded" },
  body = string.rep("k=v&", 2000),
}
tap.is(status, 400, "more form pairs than max_params is 400")

status, headers, body = test.request{ path = "/_test/int64" }
tap.is(body, '{"data":{"big":9007199254740993,"max":9223372036854775807,' ..
  '"min":-9223372036854775808},"success":true}', "int64 exact in responses")

status, headers, body = test.request{ method = "POST", path = "/_test/json",
  headers = csrf_headers{ CONTENT_TYPE = "application/json" },
  body = '{"a":[1,9007199254740993,-9223372036854775808],"b":{}}' }
tap.is(body, '{"data":{"a":[1,9007199254740993,-9223372036854775808],' ..
  '"b":{}},"success":true}', "JSON body round trip is exact")

-- An API request through the C gate: req.auth reaches the handler.
host.db.exec("account_add", { name = "Lua test", now = host.now() })
local acct = host.db.value("account_by_name", { name = "Lua test" })
host.db.exec("user_add", { account_id = acct, email = "lua@example.com",
  email_norm = "lua@example.com", password_hash = "x", role = "member",
  now = host.now() })
local uid = host.db.row("user_by_email", { email_norm = "lua@example.com" }).id
local t = host.tokens.create{ kind = "user", description = "lua test",
  actor = { id = uid, role = "member", account_id = acct } }
local function b64(s)
  local al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((s:gsub(".", function(c)
    local b, r = string.byte(c), ""
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (string.sub(x, i, i) == "1" and 2 ^ (6 - i) or 0) end
    return string.sub(al, c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end
status, headers, body = test.request{ path = "/api/me",
  headers = { HTTP_AUTHORIZATION = "Basic " .. b64(t.key .. ":" .. t.token) } }
tap.is(status, 200, "GET /api/me with Basic credentials")
local me = json.decode(body).data
tap.is(me.user.email, "lua@example.com", "req.auth.user reaches the handler")
tap.is(me.token.key, t.key, "req.auth.token too")
tap.is(me.account.name, "Lua test", "and req.auth.account")
local last = string.sub(t.token, -1)
local typo = string.sub(t.token, 1, -2) .. (last == "x" and "y" or "x")
status = test.request{ path = "/api/me",
  headers = { HTTP_AUTHORIZATION = "Bearer " .. typo } }
tap.is(status, 401, "a mistyped secret is 401")

-- Over HTTPS the host's cookies are __Host- prefixed and Secure.
status, headers, body = test.request{ path = "/login",
  headers = { HTTPS = "on", HTTP_HOST = "app.example" } }
tap.like(headers["set-cookie"] or "", "^__Host%-tessera_csrf=[%w_-]+; Path=/; " ..
  "HttpOnly; SameSite=Lax; Secure$", "HTTPS: __Host- prefix and Secure")
status, headers, body = test.request{ path = "/login" }
tap.like(headers["set-cookie"] or "", "^tessera_csrf=[%w_-]+; Path=/; " ..
  "HttpOnly; SameSite=Lax$", "HTTP: plain name, no Secure")
status, headers, body = test.request{ path = "/_test/echo/c",
  headers = { HTTP_COOKIE = "tessera=abc; tessera_csrf=def; theme=x" } }
local seen = json.decode(body).data.cookies
tap.ok(seen.tessera == nil and seen.tessera_csrf == nil and seen.theme == "x",
  "the host's cookies are never shown to Lua")

-- host.error: the host's one renderer of errors, for scripts too.
local e = host.error(409, "PARENT_INACTIVE", "a <b> & c",
  { field = "active", required = "tokens:write" })
tap.is(e.status, 409, "host.error: the status")
tap.is(e.headers["Content-Type"], "application/json",
  "host.error: JSON outside a request (no page to show)")
tap.is(e.body, '{"error":"PARENT_INACTIVE","field":"active",' ..
  '"message":"a <b> & c","required":"tokens:write","success":false}',
  "host.error: the envelope, keys sorted, the field and the scope")
local page = host.error(404, "NOT_FOUND", "no <such> page", { json = false })
tap.like(page.headers["Content-Type"], "^text/html", "host.error: a page when asked")
tap.ok(page.body:find("<h1>Not found</h1>", 1, true) and
  page.body:find("no &lt;such&gt; page", 1, true) and
  not page.body:find("<such>", 1, true), "... titled by the status, escaped")
tap.ok(not pcall(host.error, 200, "OK", "fine"), "host.error refuses a status below 400")
-- Issue 18 (10): a browser's 404 is the page with the header and a way
-- home (views/error.lua), not the host's bare page.
status, headers, body = test.request{ path = "/no/such/page" }
tap.ok(status == 404 and body:find('<header class="topbar">', 1, true) and
  body:find("<h1 id=\"error-h\">Not found</h1>", 1, true) and body:find('id="home"', 1, true),
  "a route's 404 page has the header and a way home")
status, headers, body = test.request{ path = "/no/such/page",
  headers = { HTTP_ACCEPT = "application/json" } }
tap.is(body, '{"error":"NOT_FOUND","message":"no such page","success":false}',
  "... and its JSON, for a client that asks")

return tap.done()
