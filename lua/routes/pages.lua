-- routes/pages.lua -- the browser's way in: /, /login, /logout, /settings.
local http = require "http"
local auth = require "auth"
local hooks = require "hooks"
local login_view = require "views.login"
local settings_view = require "views.settings"

local GENERIC = "Invalid email or password."

local function login_page(status, req, data, headers)
  data.csrf = host.auth.login_csrf()
  return http.html(status, login_view(data), headers)
end

local function root()
  if host.auth.session() then return http.redirect(auth.home) end
  return http.redirect("/login")
end

local function login_get(req)
  local nxt = auth.safe_next(req.query.next)
  if host.auth.session() then
    return http.redirect(nxt or auth.home)
  end
  return login_page(200, req, { next = nxt, notice = req.query.set == "1" and
    "Your password is set. Log in with it." or nil })
end

local function login_post(req)
  local email = req.form.email or ""
  local nxt = auth.safe_next(req.form.next)
  local ok, why, retry
  -- The password stays in C: host.auth.login reads it from the form.
  if email ~= "" and #email <= 254 then
    ok, why, retry = host.auth.login{ email = email }
  end
  if not ok and (why == nil or why == "incomplete") then
    return login_page(400, req, { next = nxt, email = email,
      message = "Enter your email and password." })
  end
  if ok then
    local s = host.auth.session()
    hooks.fire("login", { account_id = s.user.account_id,
      user_id = s.user.id, email = s.user.email, ip = req.remote_addr,
      user_agent = req.headers.user_agent })
    return http.redirect(nxt or auth.home)
  end
  if why == "throttled" then
    local minutes = math.max(1, (retry + 59) // 60)
    return login_page(429, req, { next = nxt, email = email,
      message = string.format("Too many attempts. Try again in %d minute%s.",
        minutes, minutes == 1 and "" or "s") },
      { ["Retry-After"] = tostring(retry) })
  end
  return login_page(401, req, { next = nxt, email = email, message = GENERIC })
end

local function logout(req)
  local s = host.auth.session()
  host.auth.logout()
  if s then
    hooks.fire("logout", { account_id = s.user.account_id,
      user_id = s.user.id, email = s.user.email, ip = req.remote_addr })
  end
  return http.redirect("/login")
end

local function settings(req)
  local s, resp = auth.require(req)
  if not s then return resp end
  -- The last 5 events the viewer may see (all on /settings/activity).
  local activity = host.db.rows("activity_page", {
    account_id = s.user.account_id,
    mine = s.user.role == "admin" and 0 or s.user.id, user_id = 0, key = "",
    action = "", since = 0, ["until"] = 253402300800, limit = 5, offset = 0 })
  return http.html(200, settings_view({ session = s, activity = activity }))
end

return function(r)
  r:add("GET", "/", root)
  r:add("GET", "/login", login_get)
  r:add("POST", "/login", login_post)
  r:add("POST", "/logout", logout)
  r:add("GET", "/settings", settings)
end
