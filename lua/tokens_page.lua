-- tokens_page.lua -- what the tokens page shows, from its GET parameters:
-- the list's state (page, sort, direction, filter by description, key
-- prefix or scope; each checked, a bad one is refused with 400), the two
-- lists read in one snapshot, the URL of a state, and the page rendered.
-- routes/tokens.lua and routes/tokens_bulk.lua share it.
local http = require "http"
local view = require "views.tokens"

local M = {}

M.PER_PAGE = 20   -- as GitLab lists them; jump to a page or filter for the rest

local SORTS = { created = true, last_used = true, expires = true,
  description = true }
local DIRS = { asc = true, desc = true }

function M.actor(s)
  return { id = s.user.id, role = s.user.role, account_id = s.user.account_id,
    email = s.user.email }
end

-- The bit of each scope a user token may hold, by name (from
-- host.tokens.scope_names, so the numbers stay in C).
local scope_bits
local function bits()
  if scope_bits then return scope_bits end
  scope_bits = {}
  for i = 0, 30 do
    local names = host.tokens.scope_names(1 << i)
    if names[1] then scope_bits[names[1]] = 1 << i end
  end
  return scope_bits
end

-- "" or absent -> default; else a whole number in 1..1000000 or nil.
local function page_param(v)
  if v == nil or v == "" then return 1 end
  return host.input.int(v, 1, 1000000)
end

-- The state of the list from a table of parameters (a query or a form):
-- { q, scope, sort, dir, page, vpage }, or nil and what is wrong.
function M.state(p)
  local st = { q = p.q or "", scope = p.scope or "", sort = p.sort or "created",
    dir = p.dir or "desc" }
  if #st.q > 200 then return nil, "The filter can be at most 200 characters." end
  if st.sort == "" then st.sort = "created" end
  if st.dir == "" then st.dir = "desc" end
  if not SORTS[st.sort] then return nil, "Sort by created, last_used, expires or description." end
  if not DIRS[st.dir] then return nil, "The direction is asc or desc." end
  if st.scope ~= "" and not bits()[st.scope] then return nil, "No such scope." end
  st.page = page_param(p.page)
  st.vpage = page_param(p.vpage)
  if not st.page or not st.vpage then
    return nil, "A page is a whole number from 1."
  end
  return st
end

-- The query string of a state (without the defaults), with changes
-- (a table of name = value; false drops one). Starts with "?" or is "".
function M.query(st, changes)
  local v = {}
  for k, x in pairs(st) do v[k] = x end
  for k, x in pairs(changes or {}) do v[k] = x end
  local parts = {}
  local function add(name, value, default)
    if value and value ~= default and value ~= "" then
      parts[#parts + 1] = name .. "=" .. host.url.encode(tostring(value))
    end
  end
  add("q", v.q); add("scope", v.scope); add("sort", v.sort, "created")
  add("dir", v.dir, "desc"); add("page", v.page, 1); add("vpage", v.vpage, 1)
  add("focus", v.focus); add("off", v.off)
  if #parts == 0 then return "" end
  return "?" .. table.concat(parts, "&")
end

function M.href(st, changes)
  return "/settings/tokens" .. M.query(st, changes)
end

-- One list: the rows of the page asked for, the total and the paging.
local function token_list(s, kind, st, page, extra)
  local a = M.actor(s)
  local rows, total
  local offset = (page - 1) * M.PER_PAGE
  if kind == "user" and (st.sort ~= "created" or st.dir ~= "desc" or st.scope ~= "") then
    local p = { account_id = a.account_id, kind = kind,
      all = a.role == "admin" and 1 or 0, user_id = a.id, q = st.q,
      scope = st.scope ~= "" and bits()[st.scope] or 0, sort = st.sort,
      dir = st.dir, limit = M.PER_PAGE, offset = offset }
    rows = host.db.rows("tokens_page_sorted", p)
    total = host.db.value("tokens_count_sorted", { account_id = p.account_id,
      kind = kind, all = p.all, user_id = p.user_id, q = p.q, scope = p.scope })
  else
    rows, total = host.tokens.list{ actor = a, kind = kind,
      q = kind == "user" and st.q or "", limit = M.PER_PAGE, offset = offset }
  end
  local l = { rows = rows, total = total, page = page, per_page = M.PER_PAGE,
    pages = math.max(1, (total + M.PER_PAGE - 1) // M.PER_PAGE) }
  for k, v in pairs(extra) do l[k] = v end
  return l
end

-- The page, with extra: create = the create dialog's state, dialog =
-- function(d) -> an edit or rotate dialog, created = a secret to show,
-- notice, undo = { keys }, confirm = { rows } (bulk deactivation asked).
function M.render(req, s, st, status, extra)
  local admin = s.user.role == "admin"
  local via, mine, via_hidden = host.db.read(function()
    local v = token_list(s, "via", st, st.vpage, { param = "vpage",
      id = "via-tokens", label = "Via token pages", kind = "via" })
    local m = token_list(s, "user", st, st.page, { param = "page",
      id = "user-tokens", label = "Token pages", kind = "user" })
    local hidden = 0
    if not admin and v.total == 0 then
      -- Via tokens the member may not see: say they exist.
      hidden = host.db.value("tokens_count", { account_id = s.user.account_id,
        kind = "via", all = 1, user_id = s.user.id })
    end
    return v, m, hidden
  end)
  local d = { session = s, st = st, via = via, mine = mine, now = host.now(),
    admin = admin, via_hidden = via_hidden, href = M.href,
    origin = (req.scheme or "https") .. "://" ..
      ((req.headers and req.headers.host) or "HOST") }
  for k, v in pairs(extra or {}) do d[k] = v end
  if type(d.dialog) == "function" then d.dialog = d.dialog(d) end
  if req.query.new then d.create = d.create or { open = true } end
  return http.html(status or 200, view.page(d))
end

-- The state of a request's query, or nil and the 400 answer.
function M.query_state(req)
  local st, why = M.state(req.query)
  if st then return st end
  return nil, http.error(req, 400, "INVALID_REQUEST", why)
end

-- A UUID key as the page writes them.
local KEY = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
function M.is_key(k)
  return type(k) == "string" and string.find(k, KEY) ~= nil
end

-- The keys of a comma-separated list (at most max), or nil when one is
-- not a key.
function M.key_list(s, max)
  local out = {}
  for k in string.gmatch(s or "", "[^,]+") do
    if not M.is_key(k) or #out >= max then return nil end
    out[#out + 1] = k
  end
  return out
end

return M
