-- views/login.lua -- the login form.
local html = require "html"
local layout = require "views.layout"

local form = [[<section class="card narrow">
  <h1>Log in to {{brand}}</h1>
  {{{error}}}{{{notice}}}
  <form method="post" action="/login" class="stack">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <input type="hidden" name="next" value="{{next}}">
    <label>Email
      <input type="email" name="email" value="{{email}}" autocomplete="username" required autofocus>
    </label>
    <label>Password
      <input type="password" name="password" autocomplete="current-password" required>
    </label>
    <button type="submit" class="primary">Log in</button>
  </form>
</section>]]

local err = [[<p class="alert" role="alert">{{message}}</p>]]
local note = [[<p class="notice" role="status">{{message}}</p>]]

-- data: csrf, next, email, message (or nil), notice (or nil)
return function(data)
  return layout({
    title = "Log in",
    main_class = "center",
    content = html.render(form, {
      brand = host.config.brand,
      csrf = data.csrf,
      next = data.next or "",
      email = data.email or "",
      error = data.message and html.render(err, { message = data.message }),
      notice = data.notice and html.render(note, { message = data.notice }),
    }),
  })
end
