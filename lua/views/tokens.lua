-- views/tokens.lua -- Settings -> Tokens: the Via tokens, the user's
-- tokens with CREATE +, and the dialogs: create (description, expiry,
-- scopes, allowed IPs), edit, rotate, and, right after a creation or a
-- rotation, the one that shows the key and the secret once. Pure
-- functions of their data; every value is escaped by html.render.
local html = require "html"
local layout = require "views.layout"
local token_list = require "views.token_list"

local M = {}

local DAY = 86400

-- The dialog that shows a secret once: after a creation or a rotation.
local created_inner = [[
  <h2 id="created-h">{{title}}</h2>
  <p class="token-name">For <strong id="token-name">{{description}}</strong></p>
  <p class="note" role="status"><strong>Copy the token now.</strong> It will not be shown again: only its hash is kept. Use the Token Key as the username and the Token as the password.{{{previous}}}</p>
  <dl class="secret">
    <dt id="token-key-label">Token Key</dt>
    <dd><span class="oneline" tabindex="0" role="textbox" aria-readonly="true" aria-labelledby="token-key-label"><code id="token-key">{{key}}</code></span><button type="button" class="copy" data-copy="token-key" aria-label="Copy the Token Key" hidden>Copy</button></dd>
    <dt id="token-secret-label">Token</dt>
    <dd><span class="oneline" tabindex="0" role="textbox" aria-readonly="true" aria-labelledby="token-secret-label"><code id="token-secret">{{token}}</code></span><button type="button" class="copy" data-copy="token-secret" aria-label="Copy the Token" hidden>Copy</button></dd>
    <dt id="token-example-label">Try it</dt>
    <dd><span class="oneline" tabindex="0" role="textbox" aria-readonly="true" aria-labelledby="token-example-label"><code id="token-example">curl -u <span class="ex-key">{{key}}</span>:<span class="ex-token">{{token}}</span> <span class="ex-origin">{{origin}}</span>/api/me</code></span><button type="button" class="copy" data-copy="token-example" aria-label="Copy the example command" hidden>Copy</button></dd>
  </dl>
  <div class="actions"><a class="button primary" id="created-ok" href="/settings/tokens">OK</a></div>
]]
local created_tpl = [[<dialog id="created" class="modal" aria-labelledby="created-h" open>]] ..
  created_inner .. [[</dialog>]]
-- For the page's script: the same dialog, empty, filled in the browser.
local created_template = html.render([[<template id="created-template">]] ..
  created_inner .. [[</template>]], { title = "Token created" })
local notice_tpl = [[<p class="note" role="status" id="notice">{{text}}</p>]]
-- After a deactivation: what went off, and Undo (a form, so it works
-- without JavaScript) that switches those tokens on again.
local undo_tpl = [[<div class="note undo" role="status" id="notice"><span id="notice-text">{{text}}</span> <form method="post" action="/settings/tokens/activate" class="inline"><input type="hidden" name="csrf" value="{{csrf}}">{{{keys}}}{{{state}}}<button type="submit" id="undo">Undo</button></form></div>]]
local key_field_tpl = [[<input type="hidden" name="keys" value="{{key}}">]]
-- The confirmation of a bulk deactivation (the page's script fills and
-- opens it; without JavaScript the server renders it open).
local confirm_tpl = [[<dialog id="bulk-confirm" class="modal" aria-labelledby="bulk-confirm-h" {{open}}>
  <form method="post" action="/settings/tokens/deactivate" class="stack">
    <h2 id="bulk-confirm-h">Deactivate <span class="bulk-n">{{n}}</span> token<span class="bulk-s">{{s}}</span>?</h2>
    <p>They stop working at once, and so do the tokens made from them through the API. You can switch them on again.</p>
    <ul class="bulk-list">{{{items}}}</ul>
    <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="confirm" value="1">{{{state}}}
    <div class="bulk-keys">{{{keys}}}</div>
    <div class="actions">
      <a class="button" href="{{back}}" id="bulk-cancel">Cancel</a>
      <button type="submit" class="primary danger" id="bulk-ok">Deactivate <span class="bulk-n">{{n}}</span> token<span class="bulk-s">{{s}}</span></button>
    </div>
  </form>
</dialog>]]
local item_tpl = [[<li>{{description}} <code>{{key}}</code></li>]]
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
  <details class="about"><summary>Rotating a token</summary><p class="muted rotate">Rotate gives a token a new secret and keeps the old one working for a grace period you choose, so your application can switch without downtime. A deactivated token stops working at once, and so do the tokens made from it through the API; you can switch it back on.</p></details>
  {{{filter}}}
  {{{notice}}}
  <p class="alert" role="alert" id="switch-error" hidden></p>
  {{{bulkbar}}}
  {{{mine}}}
</section>
<form id="switches" class="switch-form" method="post" action="/settings/tokens" hidden><input type="hidden" name="csrf" value="{{csrf}}">{{{state}}}</form>
<form id="bulk" method="post" action="/settings/tokens/deactivate" hidden><input type="hidden" name="csrf" value="{{csrf}}">{{{state}}}</form>
{{{confirm}}}
{{{create}}}
{{{dialog}}}
{{{created}}}]]

local filter_tpl = [[<form class="filter" method="get" action="/settings/tokens" role="search" aria-label="Filter tokens">
    <input type="search" name="q" value="{{q}}" placeholder="Description or start of key" aria-label="Filter tokens by description or start of key">
    <select name="scope" aria-label="Only tokens with the scope"><option value="">Any scope</option>{{{scopes}}}</select>
    {{{keep}}}<button type="submit">Filter</button>{{{clear}}}
  </form>]]
local scope_option_tpl = [[<option value="{{name}}" {{{selected}}}>{{name}}</option>]]
local bulkbar_tpl = [[<div class="bulkbar"><button type="submit" form="bulk" id="bulk-open">Deactivate selected</button> <span id="bulk-count" class="muted" aria-live="polite"></span></div>]]

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
  local st = d.st
  local ctx = { now = d.now, warn_days = host.config.token_expiry_warning_days,
    admin = d.admin, st = st, href = d.href, focus = d.focus }
  local created = created_template
  if d.created then
    local p = d.created
    created = html.render(created_tpl, {
      key = p.key, token = p.token, title = p.title or "Token created",
      description = p.description or "this token", origin = d.origin,
      previous = p.rotated and (p.previous_expires_at and
        html.render(previous_tpl, { iso = host.iso8601(p.previous_expires_at),
          text = string.gsub(string.gsub(host.iso8601(p.previous_expires_at),
            "T", " "), "Z", " UTC") }) or previous_none),
    })
  end
  local filtered = st.q ~= "" or st.scope ~= ""
  local via, mine = d.via, d.mine
  via.anchor, mine.anchor = "via", "user"
  if d.via_hidden > 0 then
    via.empty = string.format("%d Via token%s in this account %s managed by admins.",
      d.via_hidden, d.via_hidden == 1 and "" or "s", d.via_hidden == 1 and "is" or "are")
  else
    via.empty = "No Via tokens yet. One is made with each Via destination."
  end
  mine.empty = filtered and "No token matches this filter." or
    "No tokens yet. Use CREATE + to make one."
  local state = token_list.hidden(st)
  local filter
  if mine.total > 0 or filtered then
    local opts = {}
    for _, sc in ipairs(host.tokens.scopes) do
      if sc.user then
        opts[#opts + 1] = html.render(scope_option_tpl, { name = sc.name,
          selected = st.scope == sc.name and html.raw("selected") })
      end
    end
    local keep = {}
    if st.sort ~= "created" or st.dir ~= "desc" then
      keep = { token_list.hidden({ sort = st.sort, dir = st.dir }) }
    end
    filter = html.render(filter_tpl, { q = st.q, scopes = html.join(opts),
      keep = keep[1],
      clear = filtered and html.raw(' <a class="button" href="/settings/tokens">Clear</a>') })
  end
  local notice
  if d.undo then
    local keys, rows = {}, d.undo.rows
    for i, t in ipairs(rows) do keys[i] = html.render(key_field_tpl, t) end
    notice = html.render(undo_tpl, { csrf = csrf, keys = html.join(keys),
      state = state,
      text = #rows == 1 and ("“" .. rows[1].description .. "” deactivated.") or
        (#rows .. " tokens deactivated.") })
  elseif d.notice then
    notice = html.render(notice_tpl, { text = d.notice })
  end
  local confirm
  do
    local rows = d.confirm and d.confirm.rows or {}
    local items, keys = {}, {}
    for i, t in ipairs(rows) do
      items[i] = html.render(item_tpl, t)
      keys[i] = html.render(key_field_tpl, t)
    end
    confirm = html.render(confirm_tpl, { csrf = csrf, state = state,
      open = d.confirm and html.raw("open"), n = #rows, s = #rows == 1 and "" or "s",
      items = html.join(items), keys = html.join(keys),
      back = d.href(st) })
  end
  local mine_ctx = {}
  for k, v in pairs(ctx) do mine_ctx[k] = v end
  mine_ctx.select, mine_ctx.sortable = true, true
  return layout({
    title = "Tokens",
    session = d.session,
    main_class = "wide",
    content = html.render(page_tpl, {
      csrf = csrf,
      brand = host.config.brand,
      filter = filter,
      state = state,
      bulkbar = #mine.rows > 0 and html.raw(bulkbar_tpl),
      via = token_list.render(via, ctx),
      mine = token_list.render(mine, mine_ctx),
      create = create_dialog(d, d.create or {}),
      dialog = d.dialog,
      notice = notice,
      confirm = confirm,
      created = created,
    }),
  })
end

return M
