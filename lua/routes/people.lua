-- routes/people.lua -- Settings -> People (/settings/users) and the
-- one-time set-password link (/set-password?token=...).
--
-- Admins list the account's people (paged), add one (an invited user
-- with no password, and a set-password link shown once, for a day),
-- change a role, switch a person off or on (their sessions end and their
-- tokens stop at once: host.people.set_active, the command line's code),
-- and make a fresh link for an invited person (the old one ends). Everyone
-- sees their own profile and changes their own password (the current one
-- asked; their other sessions end). A member asking for an admin's action
-- gets 403; a person of another account (or none) is 404, whoever asks.
-- The account's last admin who can act cannot be made a member or be
-- switched off (409). Passwords and links' secrets stay in C
-- (host.people); every change is audited through hooks.lua.
local http = require "http"
local auth = require "auth"
local hooks = require "hooks"
local view = require "views.people"

local PER_PAGE = 50
local MAX_PAGE = 100000
local EMAIL_MAX = 254

-- What a redirect after a change says (?done=KEY&u=ID).
local DONE = {
  role = "Role changed.", disabled = "Switched off: their sessions ended " ..
    "and their tokens stopped working.", enabled = "Switched on again.",
  password = "Your password was changed; your other sessions ended.",
}

local GONE = "That set-password link was shown once and cannot be shown " ..
  "again. If it was not copied, make a fresh link (the old one then ends)."

local function is_admin(s) return s.user.role == "admin" end

local function me(s)
  return host.db.row("person", { id = s.user.id,
    account_id = s.user.account_id })
end

-- The page's data for session s at page pg (admins: the people).
local function data(s, pg)
  local d = { session = s, page = pg or 1, per_page = PER_PAGE }
  host.db.read(function()
    d.me = me(s)
    if is_admin(s) then
      d.total = host.db.row("people_count",
        { account_id = s.user.account_id }).n
      d.people = host.db.rows("people_page", { account_id = s.user.account_id,
        limit = PER_PAGE, offset = (d.page - 1) * PER_PAGE })
    end
  end)
  return d
end

local function render(status, d)
  return http.html(status, view.page(d))
end

-- The page again with a message (an error: alert; else a notice).
local function again(s, status, message, extra)
  local d = data(s, 1)
  if status >= 400 then d.error = message else d.notice = message end
  for k, v in pairs(extra or {}) do d[k] = v end
  return render(status, d)
end

local function list(req)
  local s, resp = auth.require(req)
  if not s then return resp end
  local pg = 1
  if req.query.page and req.query.page ~= "" then
    pg = host.input.int(req.query.page, 1, MAX_PAGE)
    if not pg then
      return http.error(req, 400, "BAD_REQUEST",
        "The page is a number from 1 to " .. MAX_PAGE .. ".")
    end
  end
  local d = data(s, is_admin(s) and pg or 1)
  if req.query.shown and is_admin(s) then
    local id = host.input.int(req.query.shown, 1)
    local v = id and host.reveal.take(id)
    local p = v and host.db.row("person", { id = tonumber(v.key),
      account_id = s.user.account_id })
    if p then
      d.link = { email = p.email, url = v.token,
        expires_at = v.previous_expires_at, added = v.rotated }
    else
      d.notice = GONE
    end
    return render(200, d)
  end
  local done = req.query.done
  if done and DONE[done] then
    d.notice = DONE[done]
    local u = host.input.int(req.query.u or "", 1)
    if u and is_admin(s) then
      local p = host.db.row("person", { id = u, account_id = s.user.account_id })
      if p then d.notice = p.email .. ": " .. d.notice end
    end
  end
  return render(200, d)
end

-- An admin's action on person params.id: the session and the person, or
-- nil and the answer (403 for a member, 404 for no such person here).
local function target(req, params)
  local s, resp = auth.require(req)
  if not s then return nil, nil, resp end
  if not is_admin(s) then
    return nil, nil, http.error(req, 403, "FORBIDDEN",
      "Only an admin of the account can change people.")
  end
  local id = host.input.int(params.id, 1)
  local p = id and host.db.row("person", { id = id,
    account_id = s.user.account_id })
  if not p then
    return nil, nil, http.error(req, 404, "NOT_FOUND", "no such person")
  end
  return s, p
end

local function event(req, s, p, extra)
  local ev = { account_id = s.user.account_id, user_id = s.user.id,
    email = s.user.email, ip = req.remote_addr, owner_id = p.id,
    target_email = p.email }
  for k, v in pairs(extra or {}) do ev[k] = v end
  return ev
end

-- Would taking admin p away (demoted or switched off) leave the account
-- without an admin who can act? Asked inside the write's transaction,
-- after locking the account and reading p again: two admins demoting each
-- other at the same moment cannot both pass.
local function last_admin(s, p)
  local a = { account_id = s.user.account_id }
  host.db.row("people_lock_account", a)
  p = host.db.row("person", { id = p.id, account_id = a.account_id })
  if not p or p.role ~= "admin" or p.active ~= 1 or p.invited == 1 then
    return false
  end
  return host.db.row("people_admins_active", a).n <= 1
end

local LAST = "is the account's last admin: make another person admin first."

-- The link shown once, as a full URL when the host knows its base.
local function link_url(req, secret)
  local host_hdr = req.headers.host
  local path = "/set-password?token=" .. secret
  if host_hdr and string.match(host_hdr, "^[%w%.%-:%[%]]+$") then
    return (req.scheme == "https" and "https" or "http") .. "://" ..
      host_hdr .. path
  end
  return path
end

-- The answer to a form that made a link: 303 to its one-time view
-- (host.reveal, as the tokens page does), so a reload neither shows the
-- link again nor makes a new one; if the view cannot be kept, the link in
-- this answer.
local function show_link(req, s, p, secret, expires, added)
  local url = link_url(req, secret)
  local id = host.reveal.stash{ key = tostring(p.id), token = url,
    rotated = added, previous_expires_at = expires }
  if id then return http.redirect("/settings/users?shown=" .. id) end
  return again(s, added and 201 or 200, nil, { link = { email = p.email,
    url = url, expires_at = expires, added = added } })
end

local function add(req)
  local s, resp = auth.require(req)
  if not s then return resp end
  if not is_admin(s) then
    return http.error(req, 403, "FORBIDDEN",
      "Only an admin of the account can add people.")
  end
  local email, role = req.form.email or "", req.form.role or ""
  local shown = { email = #email <= EMAIL_MAX and email or "", role = role }
  if role ~= "admin" and role ~= "member" then
    return again(s, 400, "Choose the role: admin or member.", { form = shown })
  end
  if email == "" or #email > EMAIL_MAX then
    return again(s, 400, "Enter an email address of at most " .. EMAIL_MAX ..
      " characters.", { form = shown })
  end
  local secret, expires, id, why
  host.db.tx(function()
    id, why = host.people.add(s.user.account_id, email, role)
    if id then secret, expires = host.people.link(id, s.user.id) end
  end)
  if not id then
    if why == "exists" then
      return again(s, 409, "A person with this email already exists.",
        { form = shown })
    end
    return again(s, 400, "That is not an email address.", { form = shown })
  end
  local p = host.db.row("person", { id = id, account_id = s.user.account_id })
  hooks.fire("user_added", event(req, s, p, { role = role }))
  hooks.fire("user_link_made", event(req, s, p, { expires_at = expires }))
  return show_link(req, s, p, secret, expires, true)
end

local function new_link(req, params)
  local s, p, resp = target(req, params)
  if not s then return resp end
  if p.active ~= 1 then
    return again(s, 409, p.email .. " is switched off: switch them on first.")
  end
  -- Only for a person who has no password yet (the page offers it only
  -- there): a link for anyone else would let an admin set another
  -- admin's password and log in as them.
  if p.invited ~= 1 then
    return again(s, 409, p.email .. " has set a password already: a " ..
      "set-password link is only for an invited person.")
  end
  local secret, expires
  host.db.tx(function()
    secret, expires = host.people.link(p.id, s.user.id)
  end)
  hooks.fire("user_link_made", event(req, s, p, { expires_at = expires }))
  return show_link(req, s, p, secret, expires, false)
end

local function role(req, params)
  local s, p, resp = target(req, params)
  if not s then return resp end
  local r = req.form.role
  if r ~= "admin" and r ~= "member" then
    return again(s, 400, "Choose the role: admin or member.")
  end
  if r == p.role then return http.redirect("/settings/users") end
  local refused
  host.db.tx(function()
    if r == "member" and last_admin(s, p) then refused = true; return end
    host.db.exec("user_set_role", { role = r, now = host.now(), id = p.id })
  end)
  if refused then return again(s, 409, p.email .. " " .. LAST) end
  hooks.fire("user_role_changed", event(req, s, p, { role = r }))
  return http.redirect("/settings/users?done=role&u=" .. p.id)
end

local function switch(on)
  return function(req, params)
    local s, p, resp = target(req, params)
    if not s then return resp end
    if (p.active == 1) == on then
      return http.redirect("/settings/users")
    end
    local refused
    host.db.tx(function()
      if not on and last_admin(s, p) then refused = true; return end
      host.people.set_active(p.id, on)
    end)
    if refused then return again(s, 409, p.email .. " " .. LAST) end
    hooks.fire(on and "user_enabled" or "user_disabled", event(req, s, p))
    if p.id == s.user.id then return http.redirect("/login") end
    return http.redirect("/settings/users?done=" ..
      (on and "enabled" or "disabled") .. "&u=" .. p.id)
  end
end

local PASSWORD_WHY = {
  current = "The current password is not right.",
  weak = "The new password must be 8 to 1024 characters.",
  mismatch = "The new password and its confirmation differ.",
  same = "The new password is the one you have.",
}

-- Wrong current passwords are limited as logins are: login_max_failures
-- in login_window for the person, so a stolen session cannot guess the
-- password at Argon2's speed. They are login_failures rows of the "pair"
-- scope keyed "password-change ID" (a login's pair key is "EMAIL ADDRESS",
-- which never starts so). A right one clears them.
local function failure_key(s) return "password-change " .. s.user.id end

local function password_wait(s)
  local c = host.config
  local now = host.now()
  local f = host.db.row("login_failures_count", { scope = "pair",
    key = failure_key(s), since = now - c.login_window })
  if f and f.n >= c.login_max_failures then
    return math.max(1, f.oldest + c.login_window - now)
  end
end

local function password(req)
  local s, resp = auth.require(req)
  if not s then return resp end
  local wait = password_wait(s)
  if wait then
    return again(s, 429, "Too many wrong current passwords: try again in " ..
      math.ceil(wait / 60) .. " minutes.", { password_error = true })
  end
  local ok, why = host.people.change_password()
  local key = failure_key(s)
  if not ok then
    if why == "current" then
      host.db.exec("login_failure_add", { scope = "pair", key = key,
        now = host.now() })
    end
    return again(s, why == "current" and 403 or 400, PASSWORD_WHY[why] or why,
      { password_error = true })
  end
  host.db.exec("login_failures_clear", { scope = "pair", key = key })
  hooks.fire("user_password_changed", { account_id = s.user.account_id,
    user_id = s.user.id, email = s.user.email, ip = req.remote_addr })
  return http.redirect("/settings/users?done=password")
end

-- /set-password: no session needed; the link is the credential.
local LINK_WHY = {
  invalid = { 404, "This link is not valid. Ask an admin of your account " ..
    "for a new one." },
  used = { 410, "This link was used already: it works once. Log in with " ..
    "your password, or ask an admin for a new link." },
  expired = { 410, "This link has expired (links last 24 hours). Ask an " ..
    "admin of your account for a new one." },
  disabled = { 403, "This account is switched off." },
}

local function csrf_for_link()
  local s = host.auth.session()
  return s and s.csrf or host.auth.login_csrf()
end

local function link_refused(why)
  local w = LINK_WHY[why] or LINK_WHY.invalid
  return http.html(w[1], view.link_gone({ status = w[1], message = w[2] }))
end

local function set_password_get(req)
  local l, why = host.people.link_check()
  if not l then return link_refused(why) end
  return http.html(200, view.set_password({ email = l.email,
    csrf = csrf_for_link(), expires_at = l.expires_at }))
end

local function set_password_post(req)
  local l, why = host.people.link_use()
  if not l then
    if LINK_WHY[why] then return link_refused(why) end
    local c = host.people.link_check()
    return http.html(400, view.set_password({ email = c and c.email or "",
      csrf = csrf_for_link(), expires_at = c and c.expires_at,
      message = PASSWORD_WHY[why] or why }))
  end
  hooks.fire("user_password_set", { account_id = l.account_id,
    user_id = l.user_id, email = l.email, ip = req.remote_addr })
  return http.redirect("/login?set=1")
end

return function(r)
  r:add("GET", "/settings/users", list)
  r:add("POST", "/settings/users", add)
  r:add("POST", "/settings/users/password", password)
  r:add("POST", "/settings/users/{id}/role", role)
  r:add("POST", "/settings/users/{id}/disable", switch(false))
  r:add("POST", "/settings/users/{id}/enable", switch(true))
  r:add("POST", "/settings/users/{id}/link", new_link)
  r:add("GET", "/set-password", set_password_get)
  r:add("POST", "/set-password", set_password_post)
end
