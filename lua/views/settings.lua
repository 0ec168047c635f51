-- views/settings.lua -- Settings: the profile (with the way to People,
-- /settings/users) and the sections, one of them Tokens.
local html = require "html"
local layout = require "views.layout"
local activity_view = require "views.activity"

local body = [[<div class="page-head">
  <h1>Settings</h1>
</div>
<div class="grid">
  <section class="card" aria-labelledby="profile-h">
    <h2 id="profile-h">Profile</h2>
    <dl class="facts">
      <dt>Email</dt><dd>{{user.email}}</dd>
      <dt>Account</dt><dd>{{user.account_name}}</dd>
      <dt>Role</dt><dd>{{user.role}}</dd>
    </dl>
    <p class="push"><a class="button" href="/settings/users">{{people}}</a></p>
  </section>
  <section class="card" id="tokens" aria-labelledby="tokens-h">
    <h2 id="tokens-h">Tokens</h2>
    <p>API tokens let your programs call the {{brand}} API and send data by
    webhook with your rights. Create one per application and deactivate
    the ones you no longer use.</p>
    <p class="push"><a class="button" href="/settings/tokens">Manage tokens</a></p>
  </section>
  {{{activity}}}
</div>]]

-- data: session, activity (the last events the viewer may see: the
-- activity page's rows, shown by views/activity.lua with a link to it)
return function(data)
  local activity = data.activity and activity_view.recent(data.activity)
  return layout({
    title = "Settings",
    session = data.session,
    content = html.render(body, {
      user = data.session.user,
      brand = host.config.brand,
      activity = activity,
      people = data.session.user.role == "admin" and "People" or
        "Your profile and password",
    }),
  })
end
