-- views/layout.lua -- the page frame: top bar with the product name and,
-- for a logged-in user, their email opening a menu (Settings, Log out).
-- A pure function of its data.
local html = require "html"

local page = [[<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · {{brand}}</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js" defer></script>
</head>
<body>
<header class="topbar">
  <a class="brand" href="/">{{brand}}</a>
  {{{menu}}}
</header>
<main id="main" class="{{main_class}}">
{{{content}}}
</main>
</body>
</html>
]]

local menu = [[<details class="usermenu">
    <summary><span class="avatar" aria-hidden="true">{{initial}}</span><span class="sr-only">Account menu for </span><span class="email">{{email}}</span></summary>
    <div class="menu" role="menu">
      <div class="menu-head">Signed in as<br><strong>{{email}}</strong></div>
      <a role="menuitem" href="/settings">Settings</a>
      <a role="menuitem" href="/settings/users">{{people}}</a>
      <a role="menuitem" href="/settings/activity">Activity</a>
      <form method="post" action="/logout">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit" role="menuitem">Log out</button>
      </form>
    </div>
  </details>]]

-- data: title, content (html.raw), session (or nil), main_class
return function(data)
  local s = data.session
  local m
  if s then
    m = html.render(menu, {
      email = s.user.email,
      initial = string.upper(string.sub(s.user.email, 1, 1)),
      csrf = s.csrf,
      people = s.user.role == "admin" and "People" or "Your profile",
    })
  end
  return html.render(page, {
    title = data.title,
    brand = host.config.brand,
    menu = m,
    content = data.content,
    main_class = data.main_class or "",
  }).html
end
