-- views/activity.lua -- Settings -> Activity: the filter form, the audit
-- rows in words ("ana@x via token 1a2b3c4d…", "the runner", "the command
-- line"), the pager; the same words as CSV; and the last few events for
-- the Settings page. Pure functions of their data, escaped by
-- html.render.
local html = require "html"
local layout = require "views.layout"

local M = {}

-- What an action means, in words; an action not named here is shown as
-- it is (an operator's hook may write its own).
local WORDS = {
  ["login"] = "logged in",
  ["logout"] = "logged out",
  ["token.created"] = "created token",
  ["token.activated"] = "switched on token",
  ["token.deactivated"] = "switched off token",
  ["token.rotated"] = "rotated token",
  ["token.updated"] = "edited token",
  ["token.first_used"] = "first use of token",
  ["token.expiring"] = "warned that token expires soon",
  ["token.expired"] = "noted that token expired",
  ["token.ip_denied"] = "refused token from an address not allowed",
  ["user.added"] = "added user",
  ["user.enabled"] = "enabled user",
  ["user.disabled"] = "disabled user",
  ["user.password_changed"] = "changed the password of",
  ["user.role_changed"] = "changed the role of user",
  ["user.link_made"] = "made a set-password link for",
  ["user.password_set"] = "set their password with a link",
  ["pipeline.run"] = "asked to run pipeline",
  ["model.run"] = "asked to run model",
  ["pipeline.run_failed"] = "failed to run pipeline",
  ["model.run_failed"] = "failed to run model",
}

-- Who acted, in words, and the token that acted (its key, or nil).
-- user_id NULL: actor names what acted ("runner"); the command line's
-- rows (ip "cli") say so, with the person whose name it used, if any.
-- As three parts: words before the address, the address (or nil), the
-- key of the token that acted (or nil).
function M.actor(r)
  local via = r.via_token ~= "" and r.via_token or nil
  if r.actor == "runner" then return "the runner", nil, via end
  if r.actor == "cli" or r.ip == "cli" then
    if r.email then return "the command line, as ", r.email, via end
    return "the command line", nil, via
  end
  if r.email then return "", r.email, via end
  return "the system", nil, via
end

function M.who(r)
  local words, addr, via = M.actor(r)
  return words .. (addr or ""), via
end

-- The platform's objects: "pipelines.created" -> "created pipeline".
local VERBS = { created = "created", updated = "changed", deleted = "deleted" }
local KINDS = { sources = "source", destinations = "destination",
  pipelines = "pipeline", models = "model" }

-- Settings -> People's rows name the person acted on (owner_email):
-- "added bob@x" (the detail then says "as member"), "disabled bob@x".
local PEOPLE = {
  ["user.added"] = "added",
  ["user.role_changed"] = "changed the role of",
  ["user.disabled"] = "disabled",
  ["user.enabled"] = "enabled",
  ["user.link_made"] = "made a set-password link for",
  ["user.password_changed"] = "changed the password of",
}

-- What was done, in words, and whom it was about when not the actor.
function M.what(r)
  if PEOPLE[r.action] and r.owner_email and r.owner_email ~= r.email then
    return PEOPLE[r.action] .. " " .. r.owner_email
  end
  if r.action == "user.password_changed" and r.email and
      r.object == r.email then
    return "changed their password"
  end
  local kind, verb = string.match(r.action, "^(%l+)%.(%l+)$")
  local w = WORDS[r.action] or (KINDS[kind] and VERBS[verb] and
    (VERBS[verb] .. " " .. KINDS[kind])) or r.action
  if r.owner_email and r.owner_email ~= r.email then
    w = w .. " of " .. r.owner_email
  end
  return w
end

local function is_key(r)
  return string.sub(r.action, 1, 6) == "token." and
    string.match(r.object, "^%x+%-%x+%-%x+%-%x+%-%x+$") ~= nil
end

local body_tpl = [[<div class="page-head">
  <div><p class="crumbs"><a href="/settings">Settings</a> › Activity</p>
  <h1>Activity</h1></div>
  <a class="button" href="/settings/activity.csv{{qs}}" download>Download CSV</a>
</div>
<p class="lead">{{scope}}</p>
{{{error}}}
<form class="activity-filter card" method="get" action="/settings/activity" role="search" aria-label="Filter the activity">
  {{{who}}}
  <label>Token <input type="search" name="key" value="{{f.key}}" maxlength="36" placeholder="key or its start" autocomplete="off" spellcheck="false"></label>
  <label>Action <select name="action"><option value="">Any action</option>{{{actions}}}</select></label>
  <label>From <input type="date" name="from" value="{{f.from}}"></label>
  <label>To <input type="date" name="to" value="{{f.to}}"></label>
  <div class="filter-actions"><button type="submit" class="primary">Filter</button> <a href="/settings/activity">Clear</a></div>
</form>
<section class="card" aria-labelledby="events-h">
<h2 id="events-h" class="sr-only">Events</h2>
{{{list}}}
</section>]]

local who_tpl = [[<label>Who <select name="who"><option value="">Anyone</option>{{{options}}}</select></label>]]
local option_tpl = [[<option value="{{value}}"{{{sel}}}>{{text}}</option>]]
local SELECTED = html.raw(" selected")
local error_tpl = [[<p class="alert" role="alert">{{message}}</p>]]

local table_tpl = [[<div class="table-wrap"><table class="events">
<caption>{{caption}}</caption>
<thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">From</th></tr></thead>
<tbody>{{{rows}}}</tbody>
</table></div>]]

-- One event; on a phone each row is a card (the stylesheet).
local row_tpl = [[<tr><td class="when"><time datetime="{{at_iso}}">{{at_text}}</time></td><td class="who"><span class="actor">{{words}}{{{addr}}}</span>{{{via}}}</td><td class="what"><span class="action" title="{{action}}">{{what}}</span>{{{object}}}{{{detail}}}</td><td class="from">{{ip}}</td></tr>
]]
-- An address never breaks (a hyphen would let it): cut when too long,
-- whole in its title.
local addr_tpl = [[<span class="addr" title="{{addr}}">{{addr}}</span>]]
local via_tpl = [[ <span class="via">via token <code title="{{key}}">{{short}}</code></span>]]
local key_tpl = [[ <code class="object" title="{{key}}">{{short}}</code>]]
local object_tpl = [[ <span class="object">{{object}}</span>]]
local detail_tpl = [[<span class="detail" title="{{detail}}">{{detail}}</span>]]

local pager_tpl = [[<nav class="pager" aria-label="Activity pages">
  <span>Page {{page}} of {{pages}} · {{first}}–{{last}} of {{total}} events</span>
  {{{newer}}} {{{older}}}
</nav>]]
local link_tpl = [[<a class="button" rel="{{rel}}" href="{{href}}">{{text}}</a>]]
local past_tpl = [[<p class="empty">Page {{page}} is past the end: there {{are}}. <a href="{{href}}">Go to page {{pages}}</a>.</p>]]
local none_tpl = [[<p class="empty">{{text}}</p>]]

-- The first 8 characters of a key, the whole one in the title.
local function short(key)
  return string.sub(key, 1, 8) .. "…"
end

-- One event row (html.raw).
function M.row(r)
  local words, addr, via = M.actor(r)
  local object
  if is_key(r) then
    object = html.render(key_tpl, { key = r.object, short = short(r.object) })
  elseif r.object ~= "" and r.object ~= r.email and
      not (PEOPLE[r.action] and r.object == r.owner_email) then
    object = html.render(object_tpl, { object = r.object })
  end
  return html.render(row_tpl, {
    at_iso = r.at_iso, at_text = r.at_text, words = words,
    addr = addr and html.render(addr_tpl, { addr = addr }),
    via = via and html.render(via_tpl, { key = via, short = short(via) }),
    action = r.action, what = M.what(r), object = object,
    detail = r.detail ~= "" and html.render(detail_tpl, { detail = r.detail }),
    ip = r.ip ~= "cli" and r.ip or "",
  })
end

-- The query string of filters f with page p ("" when all are empty).
local function query(f, p)
  local parts = {}
  for _, k in ipairs({ "who", "key", "action", "from", "to" }) do
    if f[k] and f[k] ~= "" then
      parts[#parts + 1] = k .. "=" .. host.url.encode(f[k])
    end
  end
  if p and p > 1 then parts[#parts + 1] = "page=" .. p end
  return #parts > 0 and ("?" .. table.concat(parts, "&")) or ""
end

local function list(d)
  local f, total, per = d.f, d.total, d.per_page
  local pages = math.max(1, (total + per - 1) // per)
  if total == 0 then
    return html.render(none_tpl, { text = d.error and "Nothing shown." or
      (query(f) ~= "" and "No event matches this filter." or "No events yet.") })
  end
  if d.page > pages then
    return html.render(past_tpl, { page = d.page, pages = pages,
      are = pages == 1 and "is 1 page" or ("are " .. pages .. " pages"),
      href = "/settings/activity" .. query(f, pages) })
  end
  local rows = {}
  for i, r in ipairs(d.rows) do rows[i] = M.row(r) end
  local first = (d.page - 1) * per + 1
  return html.join({
    html.render(table_tpl, { caption = string.format(
      "Events %d to %d of %d, newest first", first, first + #d.rows - 1, total),
      rows = html.join(rows) }),
    html.render(pager_tpl, { page = d.page, pages = pages, first = first,
      last = first + #d.rows - 1, total = total,
      newer = d.page > 1 and html.render(link_tpl, { rel = "prev",
        href = "/settings/activity" .. query(f, d.page - 1), text = "Newer" }),
      older = d.page < pages and html.render(link_tpl, { rel = "next",
        href = "/settings/activity" .. query(f, d.page + 1), text = "Older" }) }),
  })
end

-- d: session, f (filters as given), users, actions, rows, total, page,
-- per_page, error
function M.page(d)
  local f = d.f
  local who
  if f.admin then
    local opts = {}
    for i, u in ipairs(d.users) do
      opts[i] = html.render(option_tpl, { value = u.id, text = u.email,
        sel = f.who_id == u.id and SELECTED or nil })
    end
    who = html.render(who_tpl, { options = html.join(opts) })
  end
  local acts, seen = {}, false
  for i, a in ipairs(d.actions) do
    if a == f.action then seen = true end
    acts[i] = html.render(option_tpl, { value = a, text = a,
      sel = a == f.action and SELECTED or nil })
  end
  if f.action ~= "" and not seen and not d.error then
    acts[#acts + 1] = html.render(option_tpl, { value = f.action,
      text = f.action, sel = SELECTED })
  end
  return layout({
    title = "Activity",
    session = d.session,
    main_class = "activity-page",
    content = html.render(body_tpl, {
      f = f, qs = not d.error and query(f) or "",
      scope = f.admin and "Everything that happened in the account: who " ..
        "did what, through which token, and from where." or
        "What you did, what your tokens did, and what was done to them.",
      error = d.error and html.render(error_tpl, { message = d.error }),
      who = who, actions = html.join(acts), list = list(d),
    }),
  })
end

-- The last few events for the Settings page, with a link to all.
local recent_tpl = [[<section class="card wide" id="activity" aria-labelledby="activity-h">
    <h2 id="activity-h">Recent activity</h2>
    {{{list}}}
    <p><a class="button" href="/settings/activity">All activity</a></p>
  </section>]]
local recent_table = [[<div class="table-wrap"><table class="events">
<caption class="sr-only">The latest events, newest first</caption>
<thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">From</th></tr></thead>
<tbody>{{{rows}}}</tbody>
</table></div>]]

function M.recent(rows)
  local out = {}
  for i, r in ipairs(rows or {}) do out[i] = M.row(r) end
  return html.render(recent_tpl, { list = #out > 0 and
    html.render(recent_table, { rows = html.join(out) }) or
    html.render(none_tpl, { text = "No events yet." }) })
end

-- CSV (RFC 4180): a header row, CRLF line ends, a field with a comma,
-- quote, CR or LF quoted (quotes doubled). A field that starts with =,
-- +, -, @, tab or CR gets a leading ' so a spreadsheet shows it as text
-- instead of running it as a formula (OWASP "CSV injection").
local function cell(v)
  v = v == nil and "" or tostring(v)
  if string.find(v, "^[=+%-@\t\r]") then v = "'" .. v end
  if string.find(v, '[,"\r\n]') then
    v = '"' .. string.gsub(v, '"', '""') .. '"'
  end
  return v
end

local HEADER = "time,who,user,via_token,action,what,object,owner,detail,ip\r\n"

function M.csv(rows)
  local out = { HEADER }
  for i, r in ipairs(rows) do
    local who, via = M.who(r)
    out[i + 1] = table.concat({ cell(r.at_iso), cell(who), cell(r.email),
      cell(via), cell(r.action), cell(M.what(r)), cell(r.object),
      cell(r.owner_email), cell(r.detail), cell(r.ip) }, ",") .. "\r\n"
  end
  return table.concat(out)
end

return M
