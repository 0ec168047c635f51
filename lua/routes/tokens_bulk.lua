-- routes/tokens_bulk.lua -- the tokens page's selected rows: deactivate
-- them (after one confirmation naming the count: a page with the
-- confirmation open, or the page's script's dialog, which posts
-- confirm=1), and activate them again (the Undo of the notice that
-- follows). Each key goes through host.tokens.set_active, which holds the
-- rules: a member's own tokens, an admin's the account's, and a
-- deactivated token's descendants go off with it. Keys the actor may not
-- see answer 404 and nothing changes.
local http = require "http"
local auth = require "auth"
local hooks = require "hooks"
local token = require "token"
local page = require "tokens_page"

local MAX = 100   -- more than a page of rows; a form with more is refused

-- The keys of the form (repeated "keys" fields), or nil and why.
local function form_keys(req)
  local keys, seen = {}, {}
  for _, kv in ipairs(req.form_list) do
    if kv[1] == "keys" then
      if not page.is_key(kv[2]) then return nil, "A key is not a token key." end
      if not seen[kv[2]] then
        seen[kv[2]] = true
        keys[#keys + 1] = kv[2]
      end
    end
  end
  if #keys == 0 then return nil, "Select at least one token." end
  if #keys > MAX then return nil, "Select at most " .. MAX .. " tokens." end
  return keys
end

-- The session, the tokens named by the form (as the actor sees them) and
-- the list's state, or nil, nil, nil and the answer.
local function prepare(req)
  local s, resp = auth.require(req)
  if not s then return nil, nil, nil, resp end
  local st = page.state(req.form) or page.state({})
  local keys, why = form_keys(req)
  if not keys then
    return nil, nil, nil, http.error(req, 400, "INVALID_REQUEST", why)
  end
  local rows = {}
  for i, k in ipairs(keys) do
    rows[i] = host.tokens.get{ key = k, actor = page.actor(s) }
    if not rows[i] then
      return nil, nil, nil, http.error(req, 404, "NOT_FOUND", "No such token.")
    end
  end
  return s, rows, st
end

local function set_all(req, s, rows, active)
  local a = page.actor(s)
  local keys = {}
  for i, r in ipairs(rows) do
    local t, n = host.tokens.set_active{ key = r.key, active = active, actor = a }
    if t then
      hooks.fire(active and "token_activated" or "token_deactivated",
        token.event(req, a, t, { cascaded = n }))
    end
    keys[i] = r.key
  end
  return keys
end

local function deactivate(req)
  local s, rows, st, resp = prepare(req)
  if not s then return resp end
  if req.form.confirm ~= "1" then
    return page.render(req, s, st, 200, { confirm = { rows = rows } })
  end
  local keys = set_all(req, s, rows, false)
  if req.wants_json then return http.ok({ deactivated = #keys }) end
  return http.redirect(page.href(st, { off = table.concat(keys, ",") }) ..
    "#notice")
end

local function activate(req)
  local s, rows, st, resp = prepare(req)
  if not s then return resp end
  local keys = set_all(req, s, rows, true)
  if req.wants_json then return http.ok({ activated = #keys }) end
  return http.redirect(page.href(st, { focus = #keys == 1 and keys[1] or nil }))
end

return function(r)
  r:add("POST", "/settings/tokens/deactivate", deactivate)
  r:add("POST", "/settings/tokens/activate", activate)
end
