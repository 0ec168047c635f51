-- views/tokens.lua -- Settings -> Tokens: the Via tokens, the user's
-- tokens with CREATE +, the create dialog and, right after a creation,
-- the dialog that shows the key and the secret once. Pure functions of
-- their data; every value is escaped by html.render.
local html = require "html"
local layout = require "views.layout"

local M = {}


-- One row, kept lean (a page holds up to 40 of them): no indentation, the
-- phone layout's cell labels come from the stylesheet (td:nth-child), the
-- Activity line appears only when someone switched the token since its
-- creation (the Created columns already say who made it and when), and
-- every switch submits the page's one "switches" form (which holds the
-- CSRF token) to its own formaction, so it works without JavaScript.
local row_tpl = [[<tr data-key="{{key}}" class="{{state}}"><td><div><span class="desc">{{description}}</span>{{{dest}}}{{{change}}}</div></td><td><code class="key">{{key}}</code></td><td>{{created_by}}</td><td><time datetime="{{created_iso}}">{{created_text}}</time></td><td class="last-used"><div>{{{last_used}}}</div></td><td><button form="switches" formaction="/settings/tokens/{{key}}/{{action}}" class="switch" role="switch" aria-checked="{{checked}}" aria-label="Active: {{description}}" title="{{title}}"><span class="knob"></span><span class="state">{{onoff}}</span></button></td></tr>
]]

local dest_tpl = [[ <span class="dest">· {{destination}}</span>]]
local change_tpl = [[<details class="activity"><summary>Activity</summary><p>Created by {{created_by}} at <time datetime="{{created_iso}}">{{created_text}}</time>. Last change by {{updated_by}} at <time datetime="{{updated_iso}}">{{updated_text}}</time>.</p></details>]]
local used_tpl = [[<time datetime="{{last_used_iso}}">{{last_used_text}}</time><br><span class="muted">{{last_used_ip}}</span>]]

local NEVER = html.raw("never")

-- t: a row of tokens_page (times already formatted by SQL); the fields
-- the row template needs besides are added to it, and it is rendered as
-- it is (no copy per row).
function M.row(t)
  local active = t.active == 1 or t.active == true
  t.change = t.updated_by and html.render(change_tpl, t)
  t.last_used = t.last_used_at and html.render(used_tpl, t) or NEVER
  t.dest = t.destination and t.destination ~= t.description and
    html.render(dest_tpl, t)
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
  <th scope="col">Last used</th><th scope="col">Active</th></tr></thead>
  <tbody>{{{rows}}}</tbody>
</table></div>]]

local empty_tpl = [[<p class="empty" id="{{id}}">{{text}}</p>]]

local pager_tpl = [[<nav class="pager" aria-label="{{label}}">
  <span>{{first}}–{{last}} of {{total}}</span>
  {{{prev}}} {{{next}}}
</nav>]]
local link_tpl = [[<a class="button" rel="{{rel}}" href="{{href}}">{{text}}</a>]]

-- list: { rows, total, page, per_page, param, q, id, empty, label }
local function list(l)
  if #l.rows == 0 then
    return html.render(empty_tpl, { id = l.id, text = l.empty })
  end
  local rows = {}
  for i, t in ipairs(l.rows) do rows[i] = M.row(t) end
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

local created_inner = [[
  <h2 id="created-h">Token created</h2>
  <p class="note" role="status"><strong>Copy the token now.</strong> It will not be shown again: only its hash is kept. Use the Token Key as the username and the Token as the password.</p>
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
local created_template = [[<template id="created-template">]] ..
  string.gsub(string.gsub(created_inner, "{{key}}", ""), "{{token}}", "") ..
  [[</template>]]

local create_tpl = [[<dialog id="create" class="modal" aria-labelledby="create-h" {{open}}>
  <form method="post" action="/settings/tokens" class="stack" id="create-form">
    <h2 id="create-h">New token</h2>
    <input type="hidden" name="csrf" value="{{csrf}}">
    <label>Description
      <input type="text" name="description" maxlength="200" required value="{{description}}" placeholder="What will use it, e.g. nightly export script" autocomplete="off">
    </label>
    <p class="alert" role="alert" id="create-error" {{error_hidden}}>{{error}}</p>
    <div class="actions">
      <a class="button" href="/settings/tokens" id="create-cancel">Cancel</a>
      <button type="submit" class="primary">OK</button>
    </div>
  </form>
</dialog>]]

local page_tpl = [[<div class="page-head">
  <div>
    <nav class="crumbs" aria-label="Breadcrumb"><a href="/settings">Settings</a> <span aria-hidden="true">/</span> Tokens</nav>
    <h1>Tokens</h1>
  </div>
</div>
<p class="lead">A token lets a program call the {{brand}} API and send data by webhook with your rights. Its <strong>Token Key</strong> is the username and its <strong>Token</strong> the password, e.g. <code>curl -u KEY:TOKEN</code>.</p>

<section class="card" aria-labelledby="via-h" id="via">
  <h2 id="via-h">Via {{brand}} Tokens</h2>
  <p class="muted">Made for your Via destinations, one per destination.</p>
  {{{via}}}
</section>

<section class="card" aria-labelledby="tokens-h" id="user">
  <div class="section-head">
    <h2 id="tokens-h">Tokens</h2>
    <a class="button primary" id="create-open" href="/settings/tokens?new=1#create">CREATE +</a>
  </div>
  <p class="muted rotate"><strong>Rotating a token:</strong> create a new one, switch your application to it, check that it works, then deactivate the old one here. A deactivated token stops working at once; you can switch it back on.</p>
  <form class="filter" method="get" action="/settings/tokens" role="search">
    <input type="search" name="q" value="{{q}}" placeholder="Filter by description or key" aria-label="Filter tokens by description or key">
    <button type="submit">Filter</button>{{{clear}}}
  </form>
  {{{mine}}}
</section>
<form id="switches" class="switch-form" method="post" action="/settings/tokens" hidden><input type="hidden" name="csrf" value="{{csrf}}"></form>
{{{create}}}
{{{created}}}]]

-- data: session, via = list, mine = list, q, create = { open, description,
-- error }, created = { key, token } (right after a creation only)
function M.page(d)
  local csrf = d.session.csrf
  local c = d.create or {}
  return layout({
    title = "Tokens",
    session = d.session,
    content = html.render(page_tpl, {
      csrf = csrf,
      brand = host.config.brand,
      q = d.q,
      clear = d.q ~= "" and html.raw(' <a class="button" href="/settings/tokens">Clear</a>'),
      via = list(d.via),
      mine = list(d.mine),
      create = html.render(create_tpl, {
        csrf = csrf, open = c.open and html.raw("open") or nil,
        description = c.description or "", error = c.error or "",
        error_hidden = c.error and "" or html.raw("hidden"),
      }),
      created = d.created and html.render(created_tpl, {
        key = d.created.key, token = d.created.token,
      }) or html.raw(created_template),
    }),
  })
end

return M
