-- views/tokens.lua -- Settings -> Tokens: the Via tokens, the user's
-- tokens with CREATE +, and the dialogs: create (description, expiry,
-- scopes, allowed IPs), edit, rotate, and, right after a creation or a
-- rotation, the one that shows the key and the secret once. Pure
-- functions of their data; every value is escaped by html.render.
local html = require "html"
local layout = require "views.layout"

local M = {}

local DAY = 86400
local DEFAULT_SCOPES = 63   -- authority.h SCOPE_USER_DEFAULT

-- One row, kept lean (a page holds up to 40 of them): no indentation, the
-- phone layout's cell labels come from the stylesheet (td:nth-child), the
-- Activity line appears only when someone switched the token since its
-- creation (the Created columns already say who made it and when), and
-- every switch submits the page's one "switches" form (which holds the
-- CSRF token) to its own formaction, so it works without JavaScript.
local row_tpl = [[<tr data-key="{{key}}" class="{{state}}"><td><div><span class="desc">{{description}}</span>{{{dest}}}<span class="grant"><span class="scopes">{{scope_text}}</span>{{{ips}}}</span>{{{change}}}</div></td><td><code class="key">{{key}}</code></td><td>{{created_by}}</td><td><time datetime="{{created_iso}}">{{created_text}}</time></td><td class="expires">{{{expires}}}</td><td class="last-used"><div>{{{last_used}}}</div></td><td><button form="switches" formaction="/settings/tokens/{{key}}/{{action}}" class="switch" role="switch" aria-checked="{{checked}}" aria-label="Active: {{description}}" title="{{title}}"><span class="knob"></span><span class="state">{{onoff}}</span></button></td><td class="row-actions"><a href="/settings/tokens/{{key}}/rotate" aria-label="Rotate: {{description}}">Rotate</a> <a href="/settings/tokens/{{key}}/edit" aria-label="Edit: {{description}}">Edit</a></td></tr>
]]

local dest_tpl = [[ <span class="dest">· {{destination}}</span>]]
local change_tpl = [[<details class="activity"><summary>Activity</summary><p>Created by {{created_by}} at <time datetime="{{created_iso}}">{{created_text}}</time>. Last change by {{updated_by}} at <time datetime="{{updated_iso}}">{{updated_text}}</time>.</p></details>]]
local used_tpl = [[<time datetime="{{last_used_iso}}">{{last_used_text}}</time><br><span class="muted">{{last_used_ip}}</span>]]
local ips_tpl = [[ <span class="ips" title="Works only from {{list}}">from {{first}}{{more}}</span>]]
local expires_tpl = [[<time datetime="{{expires_iso}}" title="{{expires_text}}" class="{{class}}">{{when}}</time>]]

local NEVER = html.raw("never")
local NEVER_EXPIRES = html.raw('<span class="muted">never</span>')

-- "in 5 days", "in 3 hours", "in 12 minutes": secs ahead, to the nearest
-- unit (a token made "for 5 days" a minute ago expires in 5 days).
local function until_text(secs)
  local n, unit
  if secs >= 2 * DAY - 1800 then n, unit = (secs + DAY // 2) // DAY, "day"
  elseif secs >= 2 * 3600 - 30 then n, unit = (secs + 1800) // 3600, "hour"
  else n, unit = math.max(1, (secs + 30) // 60), "minute" end
  return string.format("in %d %s%s", n, unit, n == 1 and "" or "s")
end

-- The Expires cell: never, the date, "in 5 days" marked when within the
-- warning window, or "expired".
function M.expiry(t, now, warn_days)
  if not t.expires_at then return NEVER_EXPIRES end
  local left = t.expires_at - now
  local class, when = "", t.expires_text
  if left <= 0 then
    class, when = "expired", "expired"
  elseif left <= warn_days * DAY then
    class, when = "expiring", until_text(left)
  end
  return html.render(expires_tpl, { expires_iso = t.expires_iso,
    expires_text = t.expires_text, class = class, when = when })
end

-- The compact summary of what a token may do, made once per scope mask
-- (there are at most 256 of them) and kept for the life of the Lua state.
local summaries = {}

local function scope_summary(mask)
  local s = summaries[mask]
  if s then return s end
  if mask == DEFAULT_SCOPES then
    s = "default scopes"
  else
    s = table.concat(host.tokens.scope_names(mask), ", ")
    if s == "" then s = "no scopes" end
  end
  summaries[mask] = s
  return s
end

local function ips_badge(text)
  if not text or text == "" then return nil end
  local first, n = string.match(text, "^[^,]+"), 0
  for _ in string.gmatch(text, "[^,]+") do n = n + 1 end
  return html.render(ips_tpl, { list = string.gsub(text, ",", ", "),
    first = first, more = n > 1 and string.format(" +%d", n - 1) or nil })
end

-- t: a row of tokens_page (times already formatted by SQL); the fields
-- the row template needs besides are added to it, and it is rendered as
-- it is (no copy per row). ctx: { now, warn_days }.
function M.row(t, ctx)
  local active = t.active == 1 or t.active == true
  t.change = t.updated_by and html.render(change_tpl, t)
  t.last_used = t.last_used_at and html.render(used_tpl, t) or NEVER
  t.dest = t.destination and t.destination ~= t.description and
    html.render(dest_tpl, t)
  t.scope_text = scope_summary(t.scopes or 0)
  t.ips = ips_badge(t.allowed_ips)
  t.expires = M.expiry(t, ctx.now, ctx.warn_days)
  t.state = active and "active" or "inactive"
  t.action = active and "deactivate" or "activate"
  t.checked = active and "true" or "false"
  t.onoff = active and "On" or "Off"
  t.title = active and "Active: click to deactivate" or "Inactive: click to activate"
  return html.render(row_tpl, t)
end

local table_tpl = [[<div class="table-wrap"><table class="tokens" id="{{id}}">
  <thead><tr><th scope="col">Description</th><th scope="col">Key</th>
  <th scope="col">Created by</th><th scope="col">Created</th>
  <th scope="col">Expires</th><th scope="col">Last used</th>
  <th scope="col">Active</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
  <tbody>{{{rows}}}</tbody>
</table></div>]]

local empty_tpl = [[<p class="empty" id="{{id}}">{{text}}</p>]]

local pager_tpl = [[<nav class="pager" aria-label="{{label}}">
  <span>{{first}}–{{last}} of {{total}}</span>
  {{{prev}}} {{{next}}}
</nav>]]
local link_tpl = [[<a class="button" rel="{{rel}}" href="{{href}}">{{text}}</a>]]

-- list: { rows, total, page, per_page, param, q, id, empty, label };
-- ctx: { now, warn_days }
local function list(l, ctx)
  if #l.rows == 0 then
    return html.render(empty_tpl, { id = l.id, text = l.empty })
  end
  local rows = {}
  for i, t in ipairs(l.rows) do rows[i] = M.row(t, ctx) end
  local out = { html.render(table_tpl, { id = l.id, rows = html.join(rows) }) }
  if l.total > l.per_page then
    local function href(p)
      local s = "/settings/tokens?" .. l.param .. "=" .. p
      if l.q ~= "" then s = s .. "&q=" .. host.url.encode(l.q) end
      return s
    end
    local last_page = (l.total + l.per_page - 1) // l.per_page
    out[2] = html.render(pager_tpl, {
      label = l.label,
      first = (l.page - 1) * l.per_page + 1,
      last = math.min(l.page * l.per_page, l.total),
      total = l.total,
      prev = l.page > 1 and html.render(link_tpl, { rel = "prev",
        href = href(l.page - 1), text = "Newer" }),
      next = l.page < last_page and html.render(link_tpl, { rel = "next",
        href = href(l.page + 1), text = "Older" }),
    })
  end
  return html.join(out)
end

-- The dialog that shows a secret once: after a creation or a rotation.
local created_inner = [[
  <h2 id="created-h">{{title}}</h2>
  <p class="note" role="status"><strong>Copy the token now.</strong> It will not be shown again: only its hash is kept. Use the Token Key as the username and the Token as the password.{{{previous}}}</p>
  <dl class="secret">
    <dt>Token Key</dt>
    <dd><code id="token-key">{{key}}</code><button type="button" class="copy" data-copy="token-key">Copy</button></dd>
    <dt>Token</dt>
    <dd><code id="token-secret">{{token}}</code><button type="button" class="copy" data-copy="token-secret">Copy</button></dd>
  </dl>
  <div class="actions"><a class="button primary" id="created-ok" href="/settings/tokens">OK</a></div>
]]
local created_tpl = [[<dialog id="created" class="modal" aria-labelledby="created-h" open>]] ..
  created_inner .. [[</dialog>]]
-- For the page's script: the same dialog, empty, filled in the browser.
local created_template = html.render([[<template id="created-template">]] ..
  created_inner .. [[</template>]], { title = "Token created" })
local notice_tpl = [[<p class="note" role="status" id="notice">{{text}}</p>]]
local previous_tpl = [[ <span id="previous-until">The previous token keeps working until <time datetime="{{iso}}">{{text}}</time>.</span>]]
local previous_none = html.raw([[ <span id="previous-until">The previous token no longer works.</span>]])

-- The scope checkboxes: one per scope a user token may hold, each with
-- the line saying what it allows; checked: { name = true }.
local scope_tpl = [[<label class="check"><input type="checkbox" name="scopes" value="{{name}}" {{{checked}}}> <span><code>{{name}}</code> <span class="muted">{{grants}}</span></span></label>]]
local CHECKED = html.raw("checked")

local default_boxes   -- the boxes with the defaults checked, made once

local function scope_boxes(checked)
  if checked == nil then
    if not default_boxes then
      local d = {}
      for _, s in ipairs(host.tokens.scopes) do d[s.name] = s.default end
      default_boxes = scope_boxes(d)
    end
    return default_boxes
  end
  local out = {}
  for _, s in ipairs(host.tokens.scopes) do
    if s.user then
      out[#out + 1] = html.render(scope_tpl, { name = s.name,
        grants = s.grants, checked = checked[s.name] and CHECKED })
    end
  end
  return html.join(out)
end

-- The expiry choice: never (unless the operator sets a maximum), 7, 30,
-- 90 days (those within the maximum), the operator's default when it is
-- another number, or a date. choice: the value to preselect.
local option_tpl = [[<option value="{{value}}" {{{selected}}}>{{text}}</option>]]
local SELECTED = html.raw("selected")

local option_cache = {}   -- by choice: the config is fixed per Lua state

local function expiry_options(choice)
  if option_cache[choice] then return option_cache[choice] end
  local cfg = host.config
  local max, def = cfg.token_max_expiry_days, cfg.token_default_expiry_days
  local days = { 7, 30, 90 }
  if def > 0 and def ~= 7 and def ~= 30 and def ~= 90 then
    days[#days + 1] = def
    table.sort(days)
  end
  local out = {}
  if max == 0 then
    out[1] = html.render(option_tpl, { value = "0", text = "Never",
      selected = choice == "0" and SELECTED })
  end
  for _, d in ipairs(days) do
    if max == 0 or d <= max then
      out[#out + 1] = html.render(option_tpl, { value = tostring(d),
        text = d .. " days", selected = choice == tostring(d) and SELECTED })
    end
  end
  out[#out + 1] = html.render(option_tpl, { value = "date",
    text = "On a date…", selected = choice == "date" and SELECTED })
  local joined = html.join(out)
  -- Only the choices the page itself makes (a refused form may bring any).
  if choice == "0" or choice == "date" or choice == M.default_expiry() then
    option_cache[choice] = joined
  end
  return joined
end

-- What the expiry choice preselects: the operator's default, else never
-- (or the longest offered when "never" is not allowed).
function M.default_expiry()
  local cfg = host.config
  if cfg.token_default_expiry_days > 0 then
    return tostring(cfg.token_default_expiry_days)
  end
  if cfg.token_max_expiry_days > 0 then return "date" end
  return "0"
end

local create_tpl = [[<dialog id="create" class="modal" aria-labelledby="create-h" {{open}}>
  <form method="post" action="/settings/tokens" class="stack" id="create-form">
    <h2 id="create-h">New token</h2>
    <input type="hidden" name="csrf" value="{{csrf}}">
    <input type="hidden" name="scope_choice" value="1">
    <label>Description
      <input type="text" name="description" maxlength="200" required value="{{description}}" placeholder="What will use it, e.g. nightly export script" autocomplete="off">
    </label>
    <div class="expiry">
      <label>Expiration
        <select name="expires_in_days" id="expires-choice">{{{expiry_options}}}</select>
      </label>
      <label class="expires-date">Expires on (UTC)
        <input type="date" name="expires_at" id="expires-at" value="{{expires_at}}" min="{{date_min}}" {{{date_max}}}>
      </label>
    </div>
    <fieldset class="scopes">
      <legend>Scopes <span class="muted">— what the token may do</span></legend>
      {{{scopes}}}
    </fieldset>
    <label>Allowed IPs <span class="muted">optional: addresses or networks (CIDR) it may be used from, separated by commas or new lines; empty means any</span>
      <textarea name="allowed_ips" rows="2" placeholder="203.0.113.0/24, 2001:db8::/32" autocomplete="off" spellcheck="false">{{allowed_ips}}</textarea>
    </label>
    <p class="alert" role="alert" id="create-error" {{error_hidden}}>{{error}}</p>
    <div class="actions">
      <a class="button" href="/settings/tokens" id="create-cancel">Cancel</a>
      <button type="submit" class="primary">OK</button>
    </div>
  </form>
</dialog>]]

local edit_tpl = [[<dialog id="edit" class="modal" aria-labelledby="edit-h" open>
  <form method="post" action="/settings/tokens/{{key}}/edit" class="stack" id="edit-form">
    <h2 id="edit-h">Edit “{{name}}”</h2>
    <p class="muted">Key <code>{{key}}</code>. {{expiry_note}} Narrowing what it may do narrows the tokens made from it too.</p>
    <input type="hidden" name="csrf" value="{{csrf}}">
    <input type="hidden" name="scope_choice" value="1">
    <label>Description
      <input type="text" name="description" maxlength="200" required value="{{description}}" autocomplete="off">
    </label>
    {{{scope_part}}}
    <label>Allowed IPs <span class="muted">addresses or networks (CIDR), separated by commas or new lines; empty means any</span>
      <textarea name="allowed_ips" rows="3" autocomplete="off" spellcheck="false">{{allowed_ips}}</textarea>
    </label>
    <p class="alert" role="alert" id="edit-error" {{error_hidden}}>{{error}}</p>
    <div class="actions">
      <a class="button" href="/settings/tokens" id="edit-cancel">Cancel</a>
      <button type="submit" class="primary">Save</button>
    </div>
  </form>
</dialog>]]
local edit_scopes_tpl = [[<fieldset class="scopes"><legend>Scopes</legend>{{{boxes}}}</fieldset>]]
local via_scope = html.raw([[<p class="muted">Scope <code>via:read</code>: a Via token reads its one destination, nothing else.</p>]])

local rotate_tpl = [[<dialog id="rotate" class="modal" aria-labelledby="rotate-h" open>
  <form method="post" action="/settings/tokens/{{key}}/rotate" class="stack" id="rotate-form">
    <h2 id="rotate-h">Rotate “{{description}}”</h2>
    <p>Rotating gives the token a new secret; its Token Key, scopes and everything else stay. The new secret is shown once. Until the grace period ends, the current secret works too, so your application can switch without downtime.</p>
    <input type="hidden" name="csrf" value="{{csrf}}">
    <label>The current secret keeps working
      <select name="grace_seconds" id="grace">
        <option value="0">No longer: it stops now</option>
        <option value="3600">For 1 hour</option>
        <option value="86400" selected>For 1 day</option>
        <option value="604800">For 7 days</option>
      </select>
    </label>
    <p class="alert" role="alert" id="rotate-error" {{error_hidden}}>{{error}}</p>
    <div class="actions">
      <a class="button" href="/settings/tokens" id="rotate-cancel">Cancel</a>
      <button type="submit" class="primary">Rotate</button>
    </div>
  </form>
</dialog>]]

local page_tpl = [[<div class="page-head">
  <div>
    <nav class="crumbs" aria-label="Breadcrumb"><a href="/settings">Settings</a> <span aria-hidden="true">/</span> Tokens</nav>
    <h1>Tokens</h1>
  </div>
</div>
<p class="lead">A token lets a program call the {{brand}} API and send data by webhook with your rights, limited to its scopes. Its <strong>Token Key</strong> is the username and its <strong>Token</strong> the password, e.g. <code>curl -u KEY:TOKEN</code>.</p>

<section class="card" aria-labelledby="via-h" id="via">
  <h2 id="via-h">Via {{brand}} Tokens</h2>
  <p class="muted">Made for your Via destinations, one per destination. Each reads its one destination and nothing else.</p>
  {{{via}}}
</section>

<section class="card" aria-labelledby="tokens-h" id="user">
  <div class="section-head">
    <h2 id="tokens-h">Tokens</h2>
    <a class="button primary" id="create-open" href="/settings/tokens?new=1#create">CREATE +</a>
  </div>
  <p class="muted rotate"><strong>Rotating a token:</strong> Rotate gives it a new secret and keeps the old one working for a grace period you choose, so your application can switch without downtime. A deactivated token stops working at once, and so do the tokens made from it through the API; you can switch it back on.</p>
  <form class="filter" method="get" action="/settings/tokens" role="search">
    <input type="search" name="q" value="{{q}}" placeholder="Filter by description or key" aria-label="Filter tokens by description or key">
    <button type="submit">Filter</button>{{{clear}}}
  </form>
  {{{notice}}}
  {{{mine}}}
</section>
<form id="switches" class="switch-form" method="post" action="/settings/tokens" hidden><input type="hidden" name="csrf" value="{{csrf}}"></form>
{{{create}}}
{{{dialog}}}
{{{created}}}]]

-- "YYYY-MM-DD" of Unix time t (UTC).
local function date_of(t)
  return string.sub(host.iso8601(t), 1, 10)
end

-- The create dialog. c: { open, description, error, expires_choice,
-- expires_at, scopes = { name = true } or nil (defaults), allowed_ips }
local function create_dialog(d, c)
  local now = d.now
  local max = host.config.token_max_expiry_days
  return html.render(create_tpl, {
    csrf = d.session.csrf, open = c.open and html.raw("open") or nil,
    description = c.description or "", error = c.error or "",
    error_hidden = c.error and "" or html.raw("hidden"),
    expiry_options = expiry_options(c.expires_choice or M.default_expiry()),
    expires_at = c.expires_at or "",
    date_min = date_of(now + DAY),
    date_max = max > 0 and html.raw('max="' .. date_of(now + max * DAY) .. '"'),
    scopes = scope_boxes(c.scopes),
    allowed_ips = c.allowed_ips or "",
  })
end

-- The edit dialog for token t (a row of host.tokens.get). e: { error,
-- description, scopes, allowed_ips } after a refused save.
function M.edit_dialog(d, t, e)
  e = e or {}
  local checked = e.scopes
  if not checked then
    checked = {}
    for _, name in ipairs(host.tokens.scope_names(t.scopes or 0)) do
      checked[name] = true
    end
  end
  local ips = e.allowed_ips or string.gsub(t.allowed_ips or "", ",", "\n")
  return html.render(edit_tpl, {
    key = t.key, csrf = d.session.csrf, name = t.description,
    description = e.description or t.description,
    expiry_note = t.expires_at and ("It expires " .. t.expires_text ..
      " (an expiry cannot be changed: make a new token).") or
      "It never expires.",
    scope_part = t.kind == "via" and via_scope or
      html.render(edit_scopes_tpl, { boxes = scope_boxes(checked) }),
    allowed_ips = ips,
    error = e.error or "", error_hidden = e.error and "" or html.raw("hidden"),
  })
end

function M.rotate_dialog(d, t, err)
  return html.render(rotate_tpl, { key = t.key, description = t.description,
    csrf = d.session.csrf, error = err or "",
    error_hidden = err and "" or html.raw("hidden") })
end

-- data: session, now, via = list, mine = list, q, create = (see
-- create_dialog), dialog = an edit or rotate dialog (html), created =
-- { key, token, title, previous_expires_at (rotation) } right after a
-- creation or a rotation only, notice = a line to show above the list
function M.page(d)
  local csrf = d.session.csrf
  local ctx = { now = d.now, warn_days = host.config.token_expiry_warning_days }
  local created = created_template
  if d.created then
    local p = d.created
    created = html.render(created_tpl, {
      key = p.key, token = p.token, title = p.title or "Token created",
      previous = p.rotated and (p.previous_expires_at and
        html.render(previous_tpl, { iso = host.iso8601(p.previous_expires_at),
          text = string.gsub(string.gsub(host.iso8601(p.previous_expires_at),
            "T", " "), "Z", " UTC") }) or previous_none),
    })
  end
  return layout({
    title = "Tokens",
    session = d.session,
    content = html.render(page_tpl, {
      csrf = csrf,
      brand = host.config.brand,
      q = d.q,
      clear = d.q ~= "" and html.raw(' <a class="button" href="/settings/tokens">Clear</a>'),
      via = list(d.via, ctx),
      mine = list(d.mine, ctx),
      create = create_dialog(d, d.create or {}),
      dialog = d.dialog,
      notice = d.notice and html.render(notice_tpl, { text = d.notice }),
      created = created,
    }),
  })
end

return M
