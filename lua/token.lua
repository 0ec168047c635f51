-- token.lua -- a token as the outside sees it: the one declaration of
-- its public shape, shared by the API, the page's script and the JSON
-- answers. A row comes from token_rows (schema/009) through any named
-- query or host.tokens; never with a secret, except where one is made
-- (with_secret). A new field is a column of token_rows and a line here.
local M = {}

local function iso(t)
  return t and host.iso8601(t) or host.null
end

-- allowed_ips as stored (canonical CIDRs joined by ",") -> a JSON array.
function M.ips(text)
  local out = host.json.array()
  for cidr in string.gmatch(text or "", "[^,]+") do out[#out + 1] = cidr end
  return out
end

function M.public(t)
  return {
    key = t.key,
    kind = t.kind,
    description = t.description,
    active = t.active == 1 or t.active == true,
    scopes = host.tokens.scope_names(t.scopes or 0),
    expires_at = iso(t.expires_at),
    allowed_ips = M.ips(t.allowed_ips),
    parent_key = t.parent_key or host.null,
    created_at = host.iso8601(t.created_at),
    last_used_at = iso(t.last_used_at),
    last_used_ip = t.last_used_ip or host.null,
  }
end

-- The answer that creates or rotates a secret: the token and, this once,
-- its secret.
function M.with_secret(t, secret)
  local o = M.public(t)
  o.token = secret
  return o
end

-- An event for hooks.lua about token t, done by whoever acts in req
-- (a session's person, or a token: then via = its key); owner_id is the
-- token's owner (the audit row names them when someone else acted).
function M.event(req, actor, t, extra)
  local ev = {
    account_id = actor.account_id, user_id = actor.id, email = actor.email,
    owner_id = t.user_id,
    key = t.key, kind = t.kind, description = t.description,
    ip = req.remote_addr, via = req.auth and req.auth.token.key or nil,
  }
  for k, v in pairs(extra or {}) do ev[k] = v end
  return ev
end

return M
