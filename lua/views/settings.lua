-- views/settings.lua -- Settings: the profile and the sections, one of
-- them Tokens.
local html = require "html"
local layout = require "views.layout"

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

local activity_tpl = [[<section class="card wide" id="activity" aria-labelledby="activity-h">
    <h2 id="activity-h">Recent activity</h2>
    <p class="muted">The account's latest events: logins, token changes and what tokens did, with who (and through which token) and from where.</p>
    <div class="table-wrap"><table class="audit">
      <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Object</th><th scope="col">From</th></tr></thead>
      <tbody>{{{rows}}}</tbody>
    </table></div>
  </section>]]
local activity_row = [[<tr><td><time datetime="{{at_iso}}">{{at_text}}</time></td><td>{{email}}{{{via}}}</td><td>{{action}}</td><td class="object">{{object}}<span class="muted detail">{{detail}}</span></td><td>{{ip}}</td></tr>]]
-- An action a token performed: "user X via token KEY".
local via_tpl = [[ <span class="muted via">via token <code title="{{via_token}}">{{short}}</code></span>]]

-- data: session, activity (rows of audit_recent, admins only)
return function(data)
  local activity
  if data.activity then
    local rows = {}
    for i, a in ipairs(data.activity) do
      a.detail = a.detail ~= "" and (" " .. a.detail) or nil
      a.via = a.via_token ~= "" and html.render(via_tpl, { via_token = a.via_token,
        short = string.sub(a.via_token, 1, 8) .. "…" }) or nil
      rows[i] = html.render(activity_row, a)
    end
    activity = html.render(activity_tpl, { rows = html.join(rows) })
  end
  return layout({
    title = "Settings",
    session = data.session,
    content = html.render(body, {
      user = data.session.user,
      brand = host.config.brand,
      activity = activity,
    }),
  })
end
