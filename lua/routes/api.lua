-- routes/api.lua -- the token-authenticated API (HTTP.md "API"). The C
-- gate has already checked the credentials and the rate limits: every
-- handler here finds the caller in req.auth and acts with that user's
-- rights inside that account, nothing more.
local http = require "http"
local hooks = require "hooks"
local objects = require "objects"
local policy = require "policy"
local objects_delete = require "objects_delete"
local token = require "token"

local LIST_MAX = 1000
local MIB = 1024 * 1024

-- The request's JSON body, or nil and the error response.
local function body_of(req)
  if req.body == "" then
    return nil, http.fail(400, "INVALID_REQUEST", "a JSON body is required")
  end
  if req.content_type ~= "application/json" then
    return nil, http.fail(415, "UNSUPPORTED_MEDIA_TYPE",
      "send Content-Type: application/json")
  end
  local v, err = host.json.decode(req.body)
  if v == nil then
    return nil, http.fail(400, "INVALID_JSON", "body is not JSON: " .. err)
  end
  return v
end

local function invalid(e)
  return http.json(400, { success = false, error = "INVALID_REQUEST",
    message = e.message, field = e.field })
end

-- The most stored JSON one page of a list carries (past its first item):
-- what a worker holds while answering it stays well inside lua_memory_mb.
local function page_bytes()
  return math.min(4 * 1024 * 1024, host.config.lua_memory_mb * 1024 * 1024 // 8)
end

-- ?limit= and ?offset= by the one strict rule (host.input.int).
local function paging(req)
  local limit = host.input.int(req.query.limit or "100", 1, LIST_MAX)
  local offset = host.input.int(req.query.offset or "0", 0)
  if not limit or not offset then return nil end
  return limit, offset
end

local function id_of(s)
  return host.input.int(s, 1)
end

local function not_found(what)
  return http.fail(404, "NOT_FOUND", "no such " .. what .. " in this account")
end

-- /me -------------------------------------------------------------------

local function me(req)
  local a = req.auth
  return http.ok({
    user = { id = a.user.id, email = a.user.email },
    account = { id = a.account.id, name = a.account.name },
    token = { key = a.token.key, description = a.token.description,
      kind = a.token.kind, scopes = a.token.scopes,
      expires_at = a.token.expires_at and host.iso8601(a.token.expires_at)
        or host.null },
  })
end

-- Tokens: only the calling user's own, whatever their role; a token
-- changes only itself and the tokens made from it, and grants nothing it
-- does not hold (host.tokens enforces both). ----------------------------

-- Who acts, for the hooks: the token's user (ev.via is the token).
local function actor(req)
  return { id = req.auth.user.id, account_id = req.auth.account.id,
    email = req.auth.user.email }
end

local function clean_description(d)
  local desc, why = host.input.text(d, 200)
  if not desc then
    return nil, invalid({ field = "description",
      message = "description: 1 to 200 characters of text (" .. why .. ")" })
  end
  return desc
end

local function is_object(b)
  return type(b) == "table" and string.sub(host.json.encode(b), 1, 1) == "{"
end

local function tokens_list(req)
  local limit, offset = paging(req)
  if not limit then
    return http.fail(400, "INVALID_REQUEST", "limit is 1 to 1000, offset >= 0")
  end
  local rows = host.db.rows("tokens_of_user", { user_id = req.auth.user.id,
    limit = limit, offset = offset })
  local out = host.json.array()
  for i, t in ipairs(rows) do out[i] = token.public(t) end
  return http.ok(out)
end

local function tokens_get(req, p)
  local t = host.tokens.get{ key = p.key }
  if not t then return not_found("token") end
  return http.ok(token.public(t))
end

local function tokens_create(req)
  local b, resp = body_of(req)
  if not b then return resp end
  if not is_object(b) then
    return invalid({ field = "body", message = "body: must be a JSON object" })
  end
  local desc, bad = clean_description(b.description)
  if not desc then return bad end
  local days = b.expires_in_days
  if days ~= nil and (math.type(days) ~= "integer" or days < 1) then
    return invalid({ field = "expires_in_days",
      message = "expires_in_days: a whole number of days, 1 to 3660" })
  end
  local no = policy.check("before_token_create", token.event(req, actor(req),
    { kind = "user", description = desc }))
  if no then return http.refused(no) end
  local t, err = host.tokens.create{ kind = "user", description = desc,
    scopes = b.scopes, expires_at = b.expires_at, expires_in_days = days,
    allowed_ips = b.allowed_ips }
  if not t then return http.refused(err) end
  hooks.fire("token_created", token.event(req, actor(req), t))
  return http.ok(token.with_secret(t, t.token), 201)
end

local PATCHABLE = { description = true, scopes = true, allowed_ips = true }

local function tokens_update(req, p)
  local b, resp = body_of(req)
  if not b then return resp end
  if not is_object(b) then
    return invalid({ field = "body", message = "body: must be a JSON object" })
  end
  local any = false
  for k in pairs(b) do
    if not PATCHABLE[k] then
      return invalid({ field = k, message = k .. ": cannot be changed " ..
        "(description, scopes and allowed_ips can)" })
    end
    any = true
  end
  if not any then
    return invalid({ field = "body",
      message = "name at least one of description, scopes, allowed_ips" })
  end
  local desc
  if b.description ~= nil then
    local bad
    desc, bad = clean_description(b.description)
    if not desc then return bad end
  end
  local t, err = host.tokens.update{ key = p.key, description = desc,
    scopes = b.scopes, allowed_ips = b.allowed_ips }
  if not t then return http.refused(err) end
  hooks.fire("token_updated", token.event(req, actor(req), t))
  return http.ok(token.public(t))
end

local function tokens_switch(active)
  return function(req, p)
    local t, n = host.tokens.set_active{ key = p.key, active = active }
    if not t then return http.refused(n) end
    hooks.fire(active and "token_activated" or "token_deactivated",
      token.event(req, actor(req), t, { cascaded = n }))
    return http.ok(token.public(t))
  end
end

local function tokens_rotate(req, p)
  local grace
  if req.body ~= "" then
    local b, resp = body_of(req)
    if not b then return resp end
    if not is_object(b) then
      return invalid({ field = "body", message = "body: must be a JSON object" })
    end
    grace = b.grace_seconds
    if grace ~= nil and math.type(grace) ~= "integer" then
      return invalid({ field = "grace_seconds",
        message = "grace_seconds: a whole number, 0 to 604800" })
    end
  end
  local r, err = host.tokens.rotate{ key = p.key, grace_seconds = grace }
  if not r then return http.refused(err) end
  local t = host.tokens.get{ key = p.key }
  hooks.fire("token_rotated", token.event(req, actor(req), t,
    { previous_expires_at = r.previous_expires_at }))
  return http.ok({ key = r.key, token = r.token,
    previous_expires_at = r.previous_expires_at and
      host.iso8601(r.previous_expires_at) or host.null })
end

-- Platform objects --------------------------------------------------------

-- A page of objects: at most ?limit= and, past the first, at most
-- page_bytes() of their config (and SQL) text, so that a page of large
-- objects still fits the worker's memory (the configs are spliced in as
-- stored, never decoded). "next" is the offset of the rest, or null at
-- the end.
local function list(kind)
  return function(req)
    local limit, offset = paging(req)
    if not limit then
      return http.fail(400, "INVALID_REQUEST", "limit is 1 to 1000, offset >= 0")
    end
    local q = { account_id = req.auth.account.id, limit = limit + 1, offset = offset }
    local sizes, rows = host.db.read(function()
      local sizes, budget, total, n = host.db.rows(kind .. "_sizes", q), page_bytes(), 0, 0
      for i, r in ipairs(sizes) do
        if i > limit or (i > 1 and total + r.size > budget) then break end
        total, n = total + r.size, i
      end
      q.limit = n
      return sizes, n > 0 and host.db.rows(kind .. "_list", q) or {}
    end)
    local parts = {}
    for i, row in ipairs(rows) do parts[i] = objects.public_json(kind, row) end
    return { status = 200, headers = { ["Content-Type"] = "application/json" },
      body = '{"data":[' .. table.concat(parts, ",") .. '],"next":' ..
        (#sizes > #parts and tostring(offset + #parts) or "null") .. ',"success":true}' }
  end
end

local function fetch(kind, req, p)
  local id = id_of(p.id)
  return id and host.db.row(kind .. "_get", { account_id = req.auth.account.id, id = id })
end

local function get(kind)
  return function(req, p)
    local row = fetch(kind, req, p)
    if not row then return not_found(objects.kinds[kind].one) end
    return http.ok(objects.public(kind, row))
  end
end

-- Binds the validated fields for kind's add/update query.
local function params(kind, v, req, extra)
  local q = { account_id = req.auth.account.id, name = v.name,
    config = v.config, now = host.now() }
  for field in pairs(objects.kinds[kind].links) do q[field] = v[field] end
  if objects.kinds[kind].sql then q.sql = v.sql end
  for k, x in pairs(extra) do q[k] = x end
  return q
end

-- The bytes of an object account_quota_mb counts: its config and SQL.
local function object_bytes(o)
  return #o.config + #(o.sql or "")
end

-- Adds delta bytes of objects to the account's usage, inside the write
-- transaction; false (nothing added) when that would pass
-- account_quota_mb, which counts records and objects together.
local function object_usage(req, delta)
  local quota = host.config.account_quota_mb * MIB
  if delta > 0 and quota > 0 and host.db.value("account_usage_bytes",
      { account_id = req.auth.account.id }) + delta > quota then
    return false
  end
  host.db.exec("account_objects_add", { account_id = req.auth.account.id,
    bytes = delta })
  return true
end

local function over_quota()
  return http.fail(507, "QUOTA_EXCEEDED", string.format(
    "this account's data would pass its quota of %d MiB", host.config.account_quota_mb))
end

local function create(kind)
  return function(req)
    local b, resp = body_of(req)
    if not b then return resp end
    local v, e = objects.validate(kind, b, req.auth.account.id)
    if not v then return invalid(e) end
    if kind == "destinations" and v.type == "via" then
      -- its Via token is a token created: the same hook decides
      local no = policy.check("before_token_create", token.event(req,
        actor(req), { kind = "via", description = v.name }))
      if no then return http.refused(no) end
    end
    local via
    local row = host.db.tx(function()
      if not object_usage(req, object_bytes(v)) then return nil end
      local _, id = host.db.exec(kind .. "_add", params(kind, v, req,
        { type = v.type, user_id = req.auth.user.id }))
      -- A Via destination gets its token, made by the caller (its
      -- parent: it dies with the caller and never outlives it).
      if kind == "destinations" and v.type == "via" then
        local err
        via, err = host.tokens.create{ kind = "via", description = v.name,
          destination_id = id }
        if not via then error(err.message) end
      end
      return host.db.row(kind .. "_get", { account_id = req.auth.account.id, id = id })
    end)
    if not row then return over_quota() end
    local out = objects.public(kind, row)
    hooks.fire("object_created", { account_id = req.auth.account.id,
      user_id = req.auth.user.id, email = req.auth.user.email, kind = kind,
      id = row.id, name = row.name, ip = req.remote_addr,
      via = req.auth.token.key })
    if via then
      hooks.fire("token_created", token.event(req, actor(req), via))
      out.via_token = { key = via.key, token = via.token }
    end
    return http.ok(out, 201)
  end
end

local function update(kind)
  return function(req, p)
    local existing = fetch(kind, req, p)
    if not existing then return not_found(objects.kinds[kind].one) end
    if not objects.may_change(req.auth.user, existing) then
      return http.fail(403, "FORBIDDEN", "only an admin of the account or the " ..
        objects.kinds[kind].one .. "'s creator may change it")
    end
    local b, resp = body_of(req)
    if not b then return resp end
    local v, e = objects.validate(kind, b, req.auth.account.id, existing)
    if not v then return invalid(e) end
    local ok = host.db.tx(function()
      -- as it is now, inside the transaction: the usage stays exact
      local cur = fetch(kind, req, p) or existing
      if not object_usage(req, object_bytes(v) - object_bytes(cur)) then
        return false
      end
      host.db.exec(kind .. "_update", params(kind, v, req, { id = existing.id }))
      return true
    end)
    if not ok then return over_quota() end
    local row = fetch(kind, req, p)
    hooks.fire("object_updated", { account_id = req.auth.account.id,
      user_id = req.auth.user.id, email = req.auth.user.email, kind = kind,
      id = row.id, name = row.name, ip = req.remote_addr,
      via = req.auth.token.key })
    return http.ok(objects.public(kind, row))
  end
end

-- DELETE: 204, or 409 IN_USE naming what still refers to the object
-- (lua/objects_delete.lua). Who may: as for PUT.
local function delete(kind)
  local one = objects.kinds[kind].one
  return function(req, p)
    local id = id_of(p.id)
    if not id then return not_found(one) end
    local row, why, use = objects_delete.delete(kind, req.auth.account.id, id,
      function(r) return objects.may_change(req.auth.user, r) end)
    if why == "missing" then return not_found(one) end
    if why == "forbidden" then
      return http.fail(403, "FORBIDDEN", "only an admin of the account or the " ..
        one .. "'s creator may delete it")
    end
    if why == "in_use" then
      return http.fail(409, "IN_USE", objects_delete.in_use_message(one, use))
    end
    hooks.fire("object_deleted", { account_id = req.auth.account.id,
      user_id = req.auth.user.id, email = req.auth.user.email, kind = kind,
      id = row.id, name = row.name, ip = req.remote_addr,
      via = req.auth.token.key })
    return { status = 204, headers = {}, body = "" }
  end
end

-- Pipelines: run, status, records -------------------------------------------

-- A run request queues a run (runs, 016) unless one is queued or running
-- already; the runner does it (lua/runs.lua).
local function run(req, p)
  local id = id_of(p.id)
  local pl = id and host.db.row("pipeline_status", { account_id = req.auth.account.id, id = id })
  if not pl then return not_found("pipeline") end
  local no = policy.check("before_pipeline_run", { account_id = req.auth.account.id,
    user_id = req.auth.user.id, email = req.auth.user.email, pipeline_id = id,
    key = req.auth.token.key, ip = req.remote_addr, via = req.auth.token.key })
  if no then return http.refused(no) end
  local queued = 0
  host.db.tx(function()
    local now = host.now()
    queued = host.db.exec("run_queue_pipeline", { account_id = req.auth.account.id,
      pipeline_id = id, token_id = req.auth.token.id, now = now })
    if queued == 1 then
      host.db.exec("pipeline_schedule", { id = id, now = now })
    end
    host.db.exec("token_count_run", { id = req.auth.token.id })
  end)
  hooks.fire("pipeline_run", { account_id = req.auth.account.id,
    user_id = req.auth.user.id, pipeline_id = id, key = req.auth.token.key,
    ip = req.remote_addr, via = req.auth.token.key, queued = queued == 1 })
  return http.json(200, { success = true })
end

local function model_run(req, p)
  local id = id_of(p.id)
  if not id or not host.db.row("model_exists", { account_id = req.auth.account.id, id = id }) then
    return not_found("model")
  end
  -- The same policy as a pipeline's run request, with model_id set.
  local no = policy.check("before_pipeline_run", { account_id = req.auth.account.id,
    user_id = req.auth.user.id, email = req.auth.user.email, model_id = id,
    key = req.auth.token.key, ip = req.remote_addr, via = req.auth.token.key })
  if no then return http.refused(no) end
  local queued = 0
  host.db.tx(function()
    queued = host.db.exec("run_queue_model", { account_id = req.auth.account.id,
      model_id = id, token_id = req.auth.token.id, now = host.now() })
    host.db.exec("token_count_run", { id = req.auth.token.id })
  end)
  hooks.fire("model_run", { account_id = req.auth.account.id,
    user_id = req.auth.user.id, model_id = id, key = req.auth.token.key,
    ip = req.remote_addr, via = req.auth.token.key, queued = queued == 1 })
  return http.json(200, { success = true })
end

local function iso(t)
  return t and t ~= host.null and host.iso8601(t) or host.null
end

-- A pipeline's or model's runs, newest first (?limit=, 1 to 1000, 20).
local RUNS_OF = {
  pipelines = { one = "pipeline", exists = "pipeline_status",
    query = "runs_of_pipeline", key = "pipeline_id" },
  models = { one = "model", exists = "model_exists",
    query = "runs_of_model", key = "model_id" },
}

local function runs_list(kind)
  local k = RUNS_OF[kind]
  return function(req, p)
    local id = id_of(p.id)
    if not id or not host.db.row(k.exists, { account_id = req.auth.account.id, id = id }) then
      return not_found(k.one)
    end
    local limit = host.input.int(req.query.limit or "20", 1, LIST_MAX)
    if not limit then return http.fail(400, "INVALID_REQUEST", "limit 1 to 1000") end
    local out = {}
    for i, r in ipairs(host.db.rows(k.query, { [k.key] = id, limit = limit })) do
      out[i] = { id = r.id, status = r.status, queued_at = iso(r.queued_at),
        started_at = iso(r.started_at), finished_at = iso(r.finished_at),
        records = r.records, message = r.message }
    end
    return http.ok(host.json.array(out))
  end
end

-- The platform's own shape: no envelope, keyed by the id.
local function status(req, p)
  local id = id_of(p.id)
  local pl = id and host.db.row("pipeline_status", { account_id = req.auth.account.id, id = id })
  if not pl then return not_found("pipeline") end
  return http.json(200, { [tostring(id)] = {
    status = pl.status,
    is_running = pl.status == "running",
    is_active = pl.active == 1,
    is_blocked = pl.failures >= host.config.pipeline_max_failures
      or string.sub(pl.status, -9) == "__blocked",
    raw_msg = pl.raw_msg,
  } })
end

-- Records in order, after an id, a page at a time: at most ?limit= of
-- them and, past the first, at most page_bytes() of their JSON (a page of
-- records of a megabyte each would not fit the worker's memory), so the
-- service answers every record it accepted. "next" is the id to pass as
-- ?after= for the rest, or null at the end. The stored JSON is spliced in
-- as is, so what comes back is exactly what was stored.

local function records(req, p)
  local id = id_of(p.id)
  if not id or not host.db.row("pipeline_status", { account_id = req.auth.account.id, id = id }) then
    return not_found("pipeline")
  end
  local after = host.input.int(req.query.after or "0", 0)
  local limit = host.input.int(req.query.limit or "100", 1, LIST_MAX)
  if not after or not limit then
    return http.fail(400, "INVALID_REQUEST", "after >= 0, limit 1 to 1000")
  end
  local budget, upto, n, total = page_bytes(), nil, 0, 0
  local sizes = host.db.rows("records_sizes", { pipeline_id = id, after = after,
    limit = limit + 1 })
  for i, r in ipairs(sizes) do
    if i > limit or (i > 1 and total + r.size > budget) then break end
    total, upto, n = total + r.size, r.id, i
  end
  local parts = {}
  if upto then
    for i, r in ipairs(host.db.rows("records_page", { pipeline_id = id,
        after = after, upto = upto })) do
      parts[i] = string.format('{"data":%s,"id":%d,"received_at":"%s"}',
        r.data, r.id, host.iso8601(r.received_at))
    end
  end
  local more = #sizes > n
  return { status = 200, headers = { ["Content-Type"] = "application/json" },
    body = '{"data":[' .. table.concat(parts, ",") .. '],"next":' ..
      (more and tostring(upto) or "null") .. ',"success":true}' }
end

-- Each route names the scope a token needs (HTTP.md "Token authority");
-- the host checks it before the handler runs.
return function(r)
  local m = host.config.api_mount
  r:add("GET", m .. "/me", me, "any")
  r:add("GET", m .. "/tokens", tokens_list, "tokens:read")
  r:add("POST", m .. "/tokens", tokens_create, "tokens:write")
  r:add("GET", m .. "/tokens/{key}", tokens_get, "tokens:read")
  r:add("PATCH", m .. "/tokens/{key}", tokens_update, "tokens:write")
  r:add("POST", m .. "/tokens/{key}/activate", tokens_switch(true), "tokens:write")
  r:add("POST", m .. "/tokens/{key}/deactivate", tokens_switch(false), "tokens:write")
  r:add("POST", m .. "/tokens/{key}/rotate", tokens_rotate, "tokens:write")
  for _, kind in ipairs(objects.order) do
    r:add("GET", m .. "/" .. kind, list(kind), "objects:read")
    r:add("POST", m .. "/" .. kind, create(kind), "objects:write")
    r:add("GET", m .. "/" .. kind .. "/{id}", get(kind), "objects:read")
    r:add("PUT", m .. "/" .. kind .. "/{id}", update(kind), "objects:write")
    r:add("DELETE", m .. "/" .. kind .. "/{id}", delete(kind), "objects:write")
  end
  r:add("POST", m .. "/pipelines/{id}/run", run, "pipelines:run")
  r:add("GET", m .. "/pipelines/{id}/status", status, "objects:read")
  r:add("GET", m .. "/pipelines/{id}/records", records, "records:read")
  r:add("GET", m .. "/pipelines/{id}/runs", runs_list("pipelines"), "objects:read")
  r:add("POST", m .. "/models/{id}/run", model_run, "pipelines:run")
  r:add("GET", m .. "/models/{id}/runs", runs_list("models"), "objects:read")
end
