-- routes/tokens.lua -- Settings -> Tokens: list, create (the secret is
-- shown once, in this response only), activate, deactivate. Each POST
-- answers JSON when the page's script asks for it (Accept:
-- application/json), else a page or a redirect, so it all works without
-- JavaScript.
local http = require "http"
local auth = require "auth"
local hooks = require "hooks"
local view = require "views.tokens"

local PER_PAGE = 20  -- as GitLab lists them; the filter finds the rest

local function actor(s)
  return { id = s.user.id, role = s.user.role, account_id = s.user.account_id }
end

-- Trims and checks a description: 1 to 200 characters of any script,
-- no control characters. Returns it, or nil and a message.
local function clean_description(s)
  s = string.match(s or "", "^%s*(.-)%s*$")
  local n = utf8.len(s)
  if not n then return nil, "The description must be valid text." end
  if n == 0 then return nil, "Enter a description." end
  if n > 200 then return nil, "The description can be at most 200 characters." end
  if string.find(s, "%c") then
    return nil, "The description cannot contain control characters."
  end
  return s
end

local function page_number(v)
  local n = math.tointeger(tonumber(v or "1"))
  if not n or n < 1 or n > 1000000 then return 1 end
  return n
end

local function token_list(s, kind, q, page, param, id, empty, label)
  local rows, total = host.tokens.list{ actor = actor(s), kind = kind, q = q,
    limit = PER_PAGE, offset = (page - 1) * PER_PAGE }
  return { rows = rows, total = total, page = page, per_page = PER_PAGE,
    param = param, q = q, id = id, empty = empty, label = label }
end

local function render(req, s, status, extra)
  local q = string.sub(req.query.q or "", 1, 200)
  -- Both lists and their counts from one snapshot (one read transaction).
  local via, mine = host.db.read(function()
    return token_list(s, "via", "", page_number(req.query.vpage), "vpage",
      "via-tokens", "No Via tokens yet. One is made with each Via destination.",
      "Via token pages"),
    token_list(s, "user", q, page_number(req.query.page), "page",
      "user-tokens", q ~= "" and "No token matches this filter." or
      "No tokens yet. Use CREATE + to make one.", "Token pages")
  end)
  local d = { session = s, q = q, via = via, mine = mine }
  for k, v in pairs(extra or {}) do d[k] = v end
  if req.query.new then d.create = d.create or { open = true } end
  return http.html(status or 200, view.page(d))
end

local function list(req)
  local s, resp = auth.require(req)
  if not s then return resp end
  return render(req, s)
end

-- The token as the API and the page's script see it: never a secret.
local function public(t)
  return {
    key = t.key, kind = t.kind, description = t.description,
    active = t.active == 1, created_at = host.iso8601(t.created_at),
    last_used_at = t.last_used_at and host.iso8601(t.last_used_at) or host.null,
    created_by = t.created_by,
  }
end

local function create(req)
  local s, resp = auth.require(req)
  if not s then return resp end
  local desc, err = clean_description(req.form.description)
  if not desc then
    if http.wants_json(req) then
      return http.fail(400, "INVALID_REQUEST", err)
    end
    return render(req, s, 400, { create = { open = true, error = err,
      description = req.form.description } })
  end
  local t = host.tokens.create{ kind = "user", description = desc, actor = actor(s) }
  hooks.fire("token_created", { account_id = s.user.account_id,
    user_id = s.user.id, email = s.user.email, key = t.key, kind = "user",
    description = desc, ip = req.remote_addr })
  if http.wants_json(req) then
    return http.ok({ key = t.key, token = t.token, description = desc,
      kind = "user", active = true, created_at = host.iso8601(t.created_at) }, 201)
  end
  return render(req, s, 200, { created = { key = t.key, token = t.token } })
end

local function switch(active)
  return function(req, params)
    local s, resp = auth.require(req)
    if not s then return resp end
    local t = host.tokens.set_active{ key = params.key, active = active,
      actor = actor(s) }
    if not t then
      return http.error(req, 404, "NOT_FOUND", "No such token.")
    end
    hooks.fire(active and "token_activated" or "token_deactivated", {
      account_id = s.user.account_id, user_id = s.user.id,
      email = s.user.email, key = t.key, kind = t.kind, ip = req.remote_addr })
    if http.wants_json(req) then
      return http.ok(public(t))
    end
    return http.redirect("/settings/tokens")
  end
end

return function(r)
  r:add("GET", "/settings/tokens", list)
  r:add("POST", "/settings/tokens", create)
  r:add("POST", "/settings/tokens/{key}/activate", switch(true))
  r:add("POST", "/settings/tokens/{key}/deactivate", switch(false))
end
