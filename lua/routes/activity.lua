-- routes/activity.lua -- Settings -> Activity: the audit log, newest
-- first, paged, filtered by a GET form (who, token, action, dates), and
-- the same rows as CSV (/settings/activity.csv with the same query).
-- The token field is named key: the host hides a field named token from
-- scripts (a credential's name).
-- Admins see the account; a member sees what they did and what was done
-- to their tokens (user_id or owner_id theirs). Every query field is
-- checked: a value that cannot be meant answers 400 and reads nothing.
local http = require "http"
local auth = require "auth"
local view = require "views.activity"

local PER_PAGE = 25
local MAX_PAGE = 100000
local CSV_MAX = 100000        -- rows in one export; the form narrows it
local END_OF_TIME = 253402300800  -- 10000-01-01T00:00:00Z
local DAY = 86400


-- Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's
-- days_from_civil), y >= 1.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- "YYYY-MM-DD" (what <input type="date"> sends) -> its 00:00 UTC in unix
-- seconds, or nil for anything else (31 February included).
local function day(s)
  local y, m, d = string.match(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if y < 1970 or m < 1 or m > 12 or d < 1 then return nil end
  local leap = y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)
  local len = ({ 31, leap and 29 or 28, 31, 30, 31, 30, 31, 31, 30, 31,
    30, 31 })[m]
  if d > len then return nil end
  return days_from_civil(y, m, d) * DAY
end

-- The viewer's filters from the query, checked. Returns f (the values
-- as given, for the form and the links) and the query's arguments, or
-- nil and a message.
local function filters(req, s)
  local q = req.query
  local admin = s.user.role == "admin"
  local f = { who = q.who or "", key = q.key or "", action = q.action or "",
    from = q.from or "", to = q.to or "", admin = admin }
  local a = { account_id = s.user.account_id, mine = admin and 0 or s.user.id,
    user_id = 0, key = "", action = "", since = 0, ["until"] = END_OF_TIME }
  for k, v in pairs(f) do
    if type(v) == "string" and #v > 100 then
      return nil, "The filter's " .. k .. " is too long."
    end
  end
  if f.who ~= "" then
    local id = host.input.int(f.who, 1)
    if not id then return nil, "Choose who from the list." end
    if not admin and id ~= s.user.id then
      return nil, "You can see only your own activity."
    end
    a.user_id = id
    f.who_id = id
  end
  if f.key ~= "" then
    local k = string.lower(f.key)
    if not string.match(k, "^[0-9a-f%-]+$") or #k > 36 then
      return nil, "A token is given by its key or the start of it " ..
        "(digits, a to f and hyphens)."
    end
    a.key = k
  end
  if f.action ~= "" then
    if not string.match(f.action, "^[a-z][a-z_]*%.?[a-z_]*$") then
      return nil, "Choose the action from the list."
    end
    a.action = f.action
  end
  if f.from ~= "" then
    a.since = day(f.from)
    if not a.since then return nil, "From is a date: YYYY-MM-DD." end
  end
  if f.to ~= "" then
    local t = day(f.to)
    if not t then return nil, "To is a date: YYYY-MM-DD." end
    a["until"] = t + DAY   -- the whole day
  end
  if a.since >= a["until"] then
    return nil, "From must be on or before To."
  end
  return f, a
end

-- The page number asked for (1 when none), or nil.
local function page_number(v)
  if v == nil or v == "" then return 1 end
  return host.input.int(v, 1, MAX_PAGE)
end

-- The choices of the form: the account's people (admins) and the
-- actions in the viewer's rows.
local function choices(s, a)
  local users = {}
  if s.user.role == "admin" then
    users = host.db.rows("activity_users", { account_id = s.user.account_id })
  end
  local actions = {}
  for i, r in ipairs(host.db.rows("activity_actions",
      { account_id = a.account_id, mine = a.mine })) do
    actions[i] = r.action
  end
  return users, actions
end

local function page(req)
  local s, resp = auth.require(req)
  if not s then return resp end
  local f, a = filters(req, s)
  local pg = page_number(req.query.page)
  -- A refused filter is shown again as typed, to be corrected: the text
  -- fields when they are short printable ASCII (escaped like any value).
  local function again(v)
    v = v or ""
    return #v <= 100 and string.match(v, "^[%g ]*$") and v or ""
  end
  local q = req.query
  local d = { session = s, f = f or { admin = s.user.role == "admin",
    who = "", key = again(q.key), action = "", from = again(q.from),
    to = again(q.to) }, per_page = PER_PAGE }
  if not f or not pg then
    d.error = not f and a or
      ("The page is a number from 1 to " .. MAX_PAGE .. ".")
    d.users, d.actions = choices(s, { account_id = s.user.account_id,
      mine = s.user.role == "admin" and 0 or s.user.id })
    d.rows, d.total, d.page = {}, 0, 1
    return http.html(400, view.page(d))
  end
  host.db.read(function()
    d.users, d.actions = choices(s, a)
    d.total = host.db.row("activity_count", a).n
    a.limit, a.offset = PER_PAGE, (pg - 1) * PER_PAGE
    d.rows = host.db.rows("activity_page", a)
  end)
  d.page = pg
  return http.html(200, view.page(d))
end

-- Every row of the filter (up to CSV_MAX), whatever the page.
local function csv(req)
  local s, resp = auth.require(req)
  if not s then return resp end
  local f, a = filters(req, s)
  if f and not page_number(req.query.page) then   -- checked, not used
    f, a = nil, "The page is a number from 1 to " .. MAX_PAGE .. "."
  end
  if not f then
    return { status = 400, headers = { ["Content-Type"] =
      "text/plain; charset=utf-8" }, body = a .. "\n" }
  end
  a.limit, a.offset = CSV_MAX, 0
  local rows = host.db.rows("activity_page", a)
  local day_text = string.sub(host.iso8601(host.now()), 1, 10)
  return { status = 200, headers = {
    ["Content-Type"] = "text/csv; charset=utf-8; header=present",
    ["Content-Disposition"] = 'attachment; filename="activity-' .. day_text ..
      '.csv"',
    ["Cache-Control"] = "no-store",
  }, body = view.csv(rows) }
end


return function(r)
  r:add("GET", "/settings/activity", page)
  r:add("GET", "/settings/activity.csv", csv)
end
