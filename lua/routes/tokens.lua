-- routes/tokens.lua -- Settings -> Tokens: list, create (the secret is
-- shown once, in this response only), activate, deactivate, edit and
-- rotate. Each POST answers JSON when the page's script asks for it
-- (Accept: application/json), else a page or a redirect, so it all works
-- without JavaScript. Without it, a new secret is shown after a redirect
-- (post/redirect/get): the form's answer is 303 to ?shown=ID, whose page
-- takes the secret from host.reveal once, so a reload makes no second
-- token and shows the secret no second time. What a token may do is decided by host.tokens (the
-- operator's expiry policy, the scope names, the CIDRs); this file turns
-- the form into its arguments and its refusals into the form again.
local http = require "http"
local auth = require "auth"
local hooks = require "hooks"
local policy = require "policy"
local token = require "token"
local view = require "views.tokens"

local page = require "tokens_page"

local actor = page.actor

-- Trims and checks a description (host.input.text): 1 to 200 characters
-- of any script that show as they are. Returns it, or nil and a message.
local function clean_description(s)
  local d, why = host.input.text(s or "", 200)
  if d then return d end
  if why == "it is empty" then return nil, "Enter a description." end
  if why == "it is too long" then
    return nil, "The description can be at most 200 characters."
  end
  return nil, "The description cannot be used: " .. why .. "."
end

-- The checked scopes: a list and a set, or nil for "not asked" (a form
-- without any scopes field: the defaults). The dialogs send
-- scope_choice=1 with their checkboxes, so unchecking all is an error
-- there, not the defaults.
local function form_scopes(req)
  local list, set = {}, {}
  for _, kv in ipairs(req.form_list) do
    if kv[1] == "scopes" then
      list[#list + 1] = kv[2]
      set[kv[2]] = true
    end
  end
  if #list > 0 then return list, set end
  if req.form.scope_choice then return nil, {}, "Choose at least one scope." end
  return nil
end

-- The expiry asked for: expires_in_days ("" or 0: never; "date": the
-- expires_at date) or a lone expires_at date; neither: the operator's
-- default. Returns the arguments for host.tokens.create and the choice
-- to show again, or nil and a message.
local function form_expiry(req)
  local days, date = req.form.expires_in_days, req.form.expires_at
  if days == nil then
    if date and date ~= "" then return { expires_at = date }, "date" end
    return {}, nil
  end
  if days == "date" then
    if not date or date == "" then
      return nil, "date", "Choose the date the token expires on."
    end
    return { expires_at = date }, "date"
  end
  if days == "" or days == "0" then return { expires_at = host.null }, "0" end
  local n = host.input.int(days, 1, 3660)
  if not n then
    return nil, nil, "Choose how long the token lasts."
  end
  return { expires_in_days = n }, days
end

-- The page in the state of the request's query (or, for a POST, the
-- state the form carried back; a bad one is just the first page).
local function render(req, s, status, extra)
  local st = page.state(req.method == "GET" and req.query or req.form) or
    page.state({})
  return page.render(req, s, st, status, extra)
end

local GONE = "This token's secret was shown once and cannot be shown again. " ..
  "If you did not copy it, rotate the token to get a new one."

local function list(req)
  local s, resp = auth.require(req)
  if not s then return resp end
  local st, bad = page.query_state(req)
  if not st then return bad end
  if req.query.shown then
    local id = host.input.int(req.query.shown, 1)
    local v = id and host.reveal.take(id)
    if v then
      if v.rotated then v.title = "Token rotated" end
      local t = host.tokens.get{ key = v.key, actor = actor(s) }
      v.description = t and t.description
      return render(req, s, 200, { created = v })
    end
    return render(req, s, 200, { notice = GONE })
  end
  -- After a switch or a bulk change (no JavaScript): the switch to focus
  -- and the tokens just deactivated, for the notice with Undo.
  local focus = req.query.focus
  if focus and focus ~= "" and not page.is_key(focus) then
    return http.error(req, 400, "INVALID_REQUEST", "focus is a token key.")
  end
  local undo
  if req.query.off and req.query.off ~= "" then
    local keys = page.key_list(req.query.off, 100)
    if not keys then
      return http.error(req, 400, "INVALID_REQUEST", "off is a list of token keys.")
    end
    local rows = {}
    for _, k in ipairs(keys) do
      local t = host.tokens.get{ key = k, actor = actor(s) }
      if t and t.active ~= 1 and t.active ~= true then rows[#rows + 1] = t end
    end
    if #rows > 0 then undo = { rows = rows } end
  end
  return page.render(req, s, st, 200, { focus = focus, undo = undo })
end

-- The answer to a form that made a secret: 303 to its one-time view; if
-- the view cannot be kept, the secret in this answer as before.
local function show_once(req, s, shown)
  local id = host.reveal.stash(shown)
  if id then return http.redirect("/settings/tokens?shown=" .. id) end
  return render(req, s, 200, { created = shown })
end

-- A refusal in the form the request wants: the JSON envelope, or the
-- page with the dialog open again and the message in it.
local function refuse(req, s, status, message, field, extra)
  if req.wants_json then
    return http.refused({ status = status, code = status == 403 and
      "INSUFFICIENT_SCOPE" or "INVALID_REQUEST", message = message,
      field = field })
  end
  return render(req, s, status, extra)
end

local function create(req)
  local s, resp = auth.require(req)
  if not s then return resp end
  local scopes, set, serr = form_scopes(req)
  local exp, choice, eerr = form_expiry(req)
  local c = { open = true, description = req.form.description,
    expires_choice = choice, expires_at = req.form.expires_at,
    scopes = set, allowed_ips = req.form.allowed_ips }
  local desc, err = clean_description(req.form.description)
  err = err or serr or eerr
  if not desc or err then
    c.error = err
    return refuse(req, s, 400, err, nil, { create = c })
  end
  -- The operator's before_token_create hook may refuse (lua/policy.lua).
  local no = policy.check("before_token_create", token.event(req, actor(s),
    { kind = "user", description = desc }))
  if no then
    c.error = no.message
    if req.wants_json then return http.refused(no) end
    return render(req, s, no.status, { create = c })
  end
  local t, e = host.tokens.create{ kind = "user", description = desc,
    actor = actor(s), scopes = scopes, expires_at = exp.expires_at,
    expires_in_days = exp.expires_in_days, allowed_ips = req.form.allowed_ips }
  if not t then
    c.error = e.message
    return refuse(req, s, e.status, e.message, e.field, { create = c })
  end
  hooks.fire("token_created", token.event(req, actor(s), t))
  if req.wants_json then
    return http.ok(token.with_secret(t, t.token), 201)
  end
  return show_once(req, s, { key = t.key, token = t.token })
end

local function not_found(req)
  return http.error(req, 404, "NOT_FOUND", "No such token.")
end

local function switch(active)
  return function(req, params)
    local s, resp = auth.require(req)
    if not s then return resp end
    local t, n = host.tokens.set_active{ key = params.key, active = active,
      actor = actor(s) }
    if not t then return not_found(req) end
    hooks.fire(active and "token_activated" or "token_deactivated",
      token.event(req, actor(s), t, { cascaded = n }))
    if req.wants_json then
      local out = token.public(t)
      out.cascaded = n   -- the page reloads when others went off too
      return http.ok(out)
    end
    -- Back to the list as it was, the switch focused (autofocus, which
    -- also scrolls to it; a #fragment would stop the browser from
    -- focusing), and after a deactivation the notice with Undo.
    local st = page.state(req.form) or page.state({})
    return http.redirect(page.href(st, { focus = t.key,
      off = not active and t.key or nil }))
  end
end

-- The session and the token of the path (as the session may see it), or
-- nil, nil and the answer: the way to log in, or 404.
local function session_and_token(req, params)
  local s, resp = auth.require(req)
  if not s then return nil, nil, resp end
  local t = host.tokens.get{ key = params.key, actor = actor(s) }
  if not t then return nil, nil, not_found(req) end
  return s, t
end

-- GET of a token's edit or rotate form: the page with that dialog open.
local function form_page(dialog)
  return function(req, params)
    local s, t, resp = session_and_token(req, params)
    if not s then return resp end
    return render(req, s, 200, { dialog = function(d) return dialog(d, t) end })
  end
end

local function edit(req, params)
  local s, t, resp = session_and_token(req, params)
  if not s then return resp end
  local scopes, set, err
  if t.kind == "user" then scopes, set, err = form_scopes(req) end
  local desc, derr = clean_description(req.form.description)
  err = derr or err
  local e = { description = req.form.description, scopes = set,
    allowed_ips = req.form.allowed_ips }
  local status, field = 400, nil
  if not err then
    local u, uerr = host.tokens.update{ key = t.key, actor = actor(s),
      description = desc, scopes = scopes,
      allowed_ips = req.form.allowed_ips }   -- no field: unchanged
    if u then
      hooks.fire("token_updated", token.event(req, actor(s), u))
      if req.wants_json then return http.ok(token.public(u)) end
      return http.redirect("/settings/tokens")
    end
    err, status, field = uerr.message, uerr.status, uerr.field
  end
  e.error = err
  return refuse(req, s, status, err, field, { dialog = function(d)
    return view.edit_dialog(d, t, e) end })
end

local function rotate(req, params)
  local s, t, resp = session_and_token(req, params)
  if not s then return resp end
  local g = req.form.grace_seconds or "86400"
  local grace = host.input.int(g, 0)   -- the range is host.tokens.rotate's
  local r, err
  if grace then
    r, err = host.tokens.rotate{ key = t.key, actor = actor(s),
      grace_seconds = grace }
  end
  if not r then
    local msg = err and err.message or "Choose how long the current secret keeps working."
    return refuse(req, s, 400, msg, "grace_seconds", { dialog = function(d)
      return view.rotate_dialog(d, t, msg) end })
  end
  hooks.fire("token_rotated", token.event(req, actor(s), t,
    { previous_expires_at = r.previous_expires_at }))
  if req.wants_json then
    return http.ok({ key = r.key, token = r.token,
      previous_expires_at = r.previous_expires_at and
        host.iso8601(r.previous_expires_at) or host.null })
  end
  return show_once(req, s, { key = r.key, token = r.token, title = "Token rotated",
    rotated = true, previous_expires_at = r.previous_expires_at })
end

return function(r)
  r:add("GET", "/settings/tokens", list)
  r:add("POST", "/settings/tokens", create)
  r:add("POST", "/settings/tokens/{key}/activate", switch(true))
  r:add("POST", "/settings/tokens/{key}/deactivate", switch(false))
  r:add("GET", "/settings/tokens/{key}/edit", form_page(view.edit_dialog))
  r:add("POST", "/settings/tokens/{key}/edit", edit)
  r:add("GET", "/settings/tokens/{key}/rotate", form_page(view.rotate_dialog))
  r:add("POST", "/settings/tokens/{key}/rotate", rotate)
end
