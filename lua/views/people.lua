-- views/people.lua -- Settings -> People (/settings/users): the account's
-- people for an admin (add, role, switch off/on, a new set-password
-- link), and everyone's own profile and password form; the set-password
-- page of a link and the page of a link that no longer works. Pure
-- functions of their data, escaped by html.render. Every form works
-- without JavaScript (app.js only shows the Copy button).
local html = require "html"
local layout = require "views.layout"

local M = {}

local body_tpl = [[<div class="page-head">
  <div><p class="crumbs"><a href="/settings">Settings</a> › People</p>
  <h1>{{title}}</h1></div>
</div>
{{{notice}}}{{{error}}}{{{link}}}
{{{admin}}}
<section class="card" id="profile" aria-labelledby="me-h">
  <h2 id="me-h">Your profile</h2>
  <dl class="facts">
    <dt>Email</dt><dd>{{me.email}}</dd>
    <dt>Account</dt><dd>{{account}}</dd>
    <dt>Role</dt><dd>{{me.role}}</dd>
    <dt>Last login</dt><dd>{{last_login}}</dd>
    <dt>Tokens</dt><dd>{{tokens}}</dd>
  </dl>
  <h3 id="pw-h">Change your password</h3>
  {{{password_error}}}
  <form method="post" action="/settings/users/password" class="stack narrow-form" aria-labelledby="pw-h">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <input type="text" name="username" value="{{me.email}}" autocomplete="username" hidden>
    <label>Current password
      <input type="password" name="current_password" autocomplete="current-password" required maxlength="1024">
    </label>
    <label>New password <span class="hint">(8 characters or more)</span>
      <input type="password" name="password" autocomplete="new-password" required minlength="8" maxlength="1024">
    </label>
    <label>New password again
      <input type="password" name="confirm_password" autocomplete="new-password" required minlength="8" maxlength="1024">
    </label>
    <p class="hint">Your other sessions end; this one stays.</p>
    <button type="submit" class="primary">Change password</button>
  </form>
</section>]]

local admin_tpl = [[<section class="card" id="add" aria-labelledby="add-h">
  <h2 id="add-h">Add a person</h2>
  <p>They get no password: you get a link, shown once, for them to set one
  within 24 hours.</p>
  <form method="post" action="/settings/users" class="add-person">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <label>Email <input type="email" name="email" value="{{form.email}}" required maxlength="254" autocomplete="off" spellcheck="false"></label>
    <label>Role <select name="role">{{{roles}}}</select></label>
    <button type="submit" class="primary">Add person</button>
  </form>
</section>
<section class="card" aria-labelledby="people-h">
  <h2 id="people-h">People of {{account}}</h2>
  {{{list}}}
</section>]]

local table_tpl = [[<div class="table-wrap"><table class="events people">
<caption>{{caption}}</caption>
<thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">Last login</th><th scope="col">Tokens</th><th scope="col">Actions</th></tr></thead>
<tbody>{{{rows}}}</tbody>
</table></div>]]

local row_tpl = [[<tr id="user-{{p.id}}"><th scope="row" class="who"><span class="addr" title="{{p.email}}">{{p.email}}</span>{{{you}}}</th>
<td class="role"><form method="post" action="/settings/users/{{p.id}}/role" class="inline">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label class="sr-only" for="role-{{p.id}}">Role of {{p.email}}</label>
  <select id="role-{{p.id}}" name="role">{{{roles}}}</select>
  <button type="submit" aria-label="Change the role of {{p.email}}">Change</button>
</form></td>
<td class="status"><span class="badge {{status}}">{{status}}</span></td>
<td class="when">{{last_login}}</td>
<td class="count">{{tokens}}</td>
<td class="actions">{{{switch}}}{{{link}}}</td></tr>
]]

local switch_tpl = [[<form method="post" action="/settings/users/{{id}}/{{verb}}" class="inline">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <button type="submit" aria-label="{{label}} {{email}}"{{{danger}}}>{{label}}</button>
</form>]]
local link_form_tpl = [[<form method="post" action="/settings/users/{{id}}/link" class="inline">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <button type="submit" aria-label="New link for {{email}}" title="A new set-password link (the old one ends)">New link</button>
</form>]]

local option_tpl = [[<option value="{{value}}"{{{sel}}}>{{value}}</option>]]
local SELECTED = html.raw(" selected")
local DANGER = html.raw(' class="danger"')
local YOU = html.raw(' <span class="you">(you)</span>')

local notice_tpl = [[<p class="notice" role="status">{{message}}</p>]]
local error_tpl = [[<p class="alert" role="alert">{{message}}</p>]]

local link_tpl = [[<section class="card secret-card" aria-labelledby="link-h">
  <h2 id="link-h">{{heading}}</h2>
  <p>Send this link to <strong>{{email}}</strong>. It is shown only now,
  works once, and expires <time datetime="{{iso}}">{{when}}</time>.</p>
  <p id="link-label" class="sr-only">Set-password link for {{email}}</p>
  <p class="secret-line"><span class="oneline" tabindex="0" role="textbox" aria-readonly="true" aria-labelledby="link-label"><code id="set-password-link">{{url}}</code></span>
  <button type="button" class="copy" data-copy="set-password-link" aria-label="Copy the link" hidden>Copy</button></p>
</section>]]

local pager_tpl = [[<nav class="pager" aria-label="People pages">
  <span class="page-of">Page {{page}} of {{pages}} · {{total}} people</span>
  {{{prev}}} {{{next}}}
</nav>]]
local page_link_tpl = [[<a class="button" rel="{{rel}}" href="/settings/users?page={{n}}">{{text}}</a>]]
local none_tpl = [[<p class="empty">{{text}}</p>]]

local function roles(current)
  local out = {}
  for i, r in ipairs({ "member", "admin" }) do
    out[i] = html.render(option_tpl, { value = r,
      sel = r == current and SELECTED or nil })
  end
  return html.join(out)
end

local function when(t)
  if t == nil or t == host.null then return "never" end
  return string.sub(host.iso8601(t), 1, 16):gsub("T", " ") .. " UTC"
end

local function status(p)
  if p.active ~= 1 then return "disabled" end
  if p.invited == 1 then return "invited" end
  return "active"
end

local function tokens(p)
  if p.tokens == 0 then return "0" end
  return string.format("%d (%d on)", p.tokens, p.active_tokens)
end

local function row(d, p)
  local on = p.active == 1
  return html.render(row_tpl, {
    p = p, csrf = d.session.csrf, roles = roles(p.role),
    you = p.id == d.session.user.id and YOU or nil,
    status = status(p), last_login = when(p.last_login_at),
    tokens = tokens(p),
    switch = html.render(switch_tpl, { id = p.id, csrf = d.session.csrf,
      verb = on and "disable" or "enable", email = p.email,
      label = on and "Disable" or "Enable", danger = on and DANGER or nil }),
    link = on and p.invited == 1 and html.render(link_form_tpl,
      { id = p.id, csrf = d.session.csrf, email = p.email }) or nil,
  })
end

local function list(d)
  local total, per = d.total or 0, d.per_page
  local pages = math.max(1, (total + per - 1) // per)
  if d.page > pages then
    return html.render(none_tpl, { text = string.format(
      "Page %d is past the end: there %s.", d.page,
      pages == 1 and "is 1 page" or ("are " .. pages .. " pages")) })
  end
  local rows = {}
  for i, p in ipairs(d.people or {}) do rows[i] = row(d, p) end
  local first = (d.page - 1) * per + 1
  return html.join({
    html.render(table_tpl, { caption = string.format(
      "People %d to %d of %d, by email", first, first + #rows - 1, total),
      rows = html.join(rows) }),
    pages > 1 and html.render(pager_tpl, { page = d.page, pages = pages,
      total = total,
      prev = d.page > 1 and html.render(page_link_tpl, { rel = "prev",
        n = d.page - 1, text = "Previous" }),
      next = d.page < pages and html.render(page_link_tpl, { rel = "next",
        n = d.page + 1, text = "Next" }) }) or nil,
  })
end

-- d: session, me (the viewer's row), people, total, page, per_page (admins),
-- notice, error, password_error, link ({ email, url, expires_at, added }),
-- form ({ email, role }: the add form again)
function M.page(d)
  local s = d.session
  local admin = s.user.role == "admin"
  local me = d.me or { email = s.user.email, role = s.user.role, tokens = 0 }
  local pw_err = d.password_error and d.error
  return layout({
    title = admin and "People" or "Your profile",
    session = s,
    main_class = "people-page",
    content = html.render(body_tpl, {
      title = admin and "People" or "Your profile",
      me = me, account = s.user.account_name, csrf = s.csrf,
      last_login = when(me.last_login_at), tokens = tokens(me),
      notice = d.notice and html.render(notice_tpl, { message = d.notice }),
      error = d.error and not pw_err and
        html.render(error_tpl, { message = d.error }),
      password_error = pw_err and html.render(error_tpl, { message = pw_err }),
      link = d.link and html.render(link_tpl, {
        heading = d.link.added and ("Added " .. d.link.email) or
          ("New link for " .. d.link.email),
        email = d.link.email, url = d.link.url,
        iso = host.iso8601(d.link.expires_at), when = when(d.link.expires_at) }),
      admin = admin and html.render(admin_tpl, {
        csrf = s.csrf, account = s.user.account_name,
        form = d.form or { email = "" },
        roles = roles(d.form and d.form.role or "member"),
        list = list(d) }),
    }),
  })
end

local set_tpl = [[<section class="card narrow">
  <h1>Set your password</h1>
  <p>For <strong>{{email}}</strong>. This link works once{{{till}}}.</p>
  {{{error}}}
  <form method="post" class="stack">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <input type="text" name="username" value="{{email}}" autocomplete="username" hidden>
    <label>New password <span class="hint">(8 characters or more)</span>
      <input type="password" name="password" autocomplete="new-password" required minlength="8" maxlength="1024" autofocus>
    </label>
    <label>New password again
      <input type="password" name="confirm_password" autocomplete="new-password" required minlength="8" maxlength="1024">
    </label>
    <button type="submit" class="primary">Set password</button>
  </form>
</section>]]
local until_tpl = [[, until <time datetime="{{iso}}">{{when}}</time>]]

-- d: email, csrf, expires_at, message. The form posts to the page's own
-- address: the link's secret stays in the query, read by the host.
function M.set_password(d)
  return layout({
    title = "Set your password",
    main_class = "center",
    content = html.render(set_tpl, { email = d.email, csrf = d.csrf,
      till = d.expires_at and html.render(until_tpl, {
        iso = host.iso8601(d.expires_at), when = when(d.expires_at) }),
      error = d.message and html.render(error_tpl, { message = d.message }) }),
  })
end

local gone_tpl = [[<section class="card error-card" aria-labelledby="error-h">
  <p class="status-code">{{status}}</p>
  <h1 id="error-h">This link does not work</h1>
  <p>{{message}}</p>
  <p class="actions-left"><a class="button primary" href="/login" id="home">Log in</a></p>
</section>]]

-- d: status, message
function M.link_gone(d)
  return layout({ title = "Link not valid", main_class = "error",
    content = html.render(gone_tpl, d) })
end

return M
