-- views/error.lua -- the page of a browser's error (404, 403, 405, 400):
-- the header with the user's menu when logged in, what went wrong, and
-- the way home. A pure function of its data.
local html = require "html"
local layout = require "views.layout"

local TITLES = { [400] = "Bad request", [403] = "Forbidden",
  [404] = "Not found", [405] = "Method not allowed" }

local body = [[<section class="card error-card" aria-labelledby="error-h">
  <p class="status-code">{{status}}</p>
  <h1 id="error-h">{{title}}</h1>
  <p>{{message}}</p>
  <p class="actions-left">{{{home}}}</p>
</section>]]

local HOME = html.raw([[<a class="button primary" href="/settings/tokens" id="home">Go to your tokens</a> <a class="button" href="/settings">Settings</a>]])
local LOGIN = html.raw([[<a class="button primary" href="/login" id="home">Log in</a>]])

-- data: status, message, session (or nil). Returns the page's text.
return function(data)
  local title = TITLES[data.status] or "Error"
  -- "no such page" -> "No such page." (the hosts' messages are terse).
  local msg = tostring(data.message or "")
  msg = string.upper(string.sub(msg, 1, 1)) .. string.sub(msg, 2)
  if msg ~= "" and not string.find(msg, "[.!?]$") then msg = msg .. "." end
  return layout({
    title = title,
    session = data.session,
    main_class = "error",
    content = html.render(body, { status = data.status, title = title,
      message = msg, home = data.session and HOME or LOGIN }),
  })
end
