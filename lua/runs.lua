-- runs.lua -- what the runner does with queued runs (HTTP.md "Pipelines
-- that run, and the Via destination"). The host's runner
-- (fcgi/process/runner.c, fcgi/bridge/lhost_runs.c) calls, one run at a
-- time:
--
--   claim()        takes the oldest run it may (runs_per_account,
--                  runs_total) with a lease of run_lease_seconds; a run
--                  whose runner died (lease past) is taken again, up to
--                  run_max_attempts claims. Returns its id, true when it
--                  only settled one (gave up on it), or nil.
--   run(id)        does it, under the run's own budgets
--                  (run_max_instructions, run_memory_mb): a pipeline's
--                  kind module lua/pipelines/{type}.lua, or a model
--                  (lua/models.lua).
--   abort(id, why) records a run those budgets stopped.
--
-- A kind module returns { run = function(ctx) ... end }; run returns a
-- short message for the run's record (or nothing) and raises to fail.
-- ctx (made below): ctx.run {id, attempts}, ctx.pipeline {id, name, type,
-- config, account_id, destination_id, source_type, destination_type,
-- cursor}, ctx.progress(n) (adds n to the run's records and renews its
-- lease; call it in each batch's transaction, and at least every
-- run_lease_seconds), ctx.fail(message) (raises a failure with exactly
-- that message).
--
-- The pipeline's status words follow (HTTP.md): running while it runs,
-- active after a success, error_building_tables with raw_msg after a
-- failure, too_many_consecutive_failed_builds after
-- pipeline_max_failures failures in a row.
local hooks = require "hooks"

local M = {}

local FAILURE = {}      -- the metatable of ctx.fail's errors

local function cfg() return host.config end

local function fail(message)
  error(setmetatable({ message = message }, FAILURE), 0)
end

-- The text of an error raised in a run (a kind's ctx.fail keeps its own
-- words; anything else is the Lua error as it came, with a script's place
-- cut to its folder and file: "transforms/x.lua:4:", not the server's
-- path, which the account reading the run has no business seeing).
local function reason(err)
  if getmetatable(err) == FAILURE then return err.message end
  if type(err) == "table" and err.message then err = err.message end
  return (string.gsub(tostring(err),
    "[^%s'\"]*/([%w_%-]+/[%w_%-]+%.lua:%d+:)", "%1"))
end

-- Ends run r (status "success" or "failed") and moves its pipeline's
-- status words, in one transaction; nothing when the run is no longer
-- this claim's (its lease passed and another runner took it).
local function finish(r, ok, message)
  message = string.sub(message or "", 1, 2000)
  local mine = host.db.tx(function()
    local now = host.now()
    if host.db.exec("run_finish", { id = r.id, now = now, message = message,
        status = ok and "success" or "failed", attempts = r.attempts }) ~= 1 then
      return false
    end
    if r.pipeline_id then
      if ok then
        host.db.exec("pipeline_succeeded", { id = r.pipeline_id, now = now })
      else
        host.db.exec("pipeline_failed", { id = r.pipeline_id, now = now,
          message = message, max_failures = cfg().pipeline_max_failures })
      end
    end
    return true
  end)
  if not mine then
    host.log("info", string.format("run %d: claimed again by another runner; "
      .. "this one's result dropped", r.id))
    return
  end
  host.run_finished(ok and "success" or "failed")
  hooks.fire(ok and "run_succeeded" or "run_failed", { account_id = r.account_id,
    run_id = r.id, pipeline_id = r.pipeline_id, model_id = r.model_id,
    message = message })
end

function M.claim()
  local c, now = cfg(), host.now()
  local r
  host.db.tx(function()
    r = host.db.row("run_claim", { now = now, lease = c.run_lease_seconds,
      per_account = c.runs_per_account, total = c.runs_total })
    if r and r.pipeline_id and r.attempts <= c.run_max_attempts then
      host.db.exec("pipeline_running", { id = r.pipeline_id, now = now })
    end
  end)
  if not r then return nil end
  if r.attempts > c.run_max_attempts then
    local n = r.attempts - 1
    finish(r, false, string.format("the runner stopped during this run %d " ..
      "time%s; giving up", n, n == 1 and "" or "s"))
    return true
  end
  return r.id
end

local function context(r)
  local ctx = { run = { id = r.id, attempts = r.attempts } }
  -- Adds n to the run's records and renews its lease; fails the run when
  -- the lease had passed and another runner claimed it since.
  function ctx.progress(n)
    if host.db.exec("run_lease", { id = r.id, attempts = r.attempts,
        lease_until = host.now() + cfg().run_lease_seconds }) ~= 1 then
      fail("the lease of this run passed and another runner took it")
    end
    if n > 0 then
      host.db.exec("run_records_add", { id = r.id, n = n, attempts = r.attempts })
    end
  end
  ctx.fail = fail
  return ctx
end

local function run_pipeline(r, ctx)
  local p = host.db.row("pipeline_for_run", { id = r.pipeline_id })
  if not p then fail("the pipeline is gone") end
  local config = host.json.decode(p.config) or {}
  ctx.pipeline = { id = p.id, name = p.name, type = p.type, config = config,
    account_id = p.account_id, destination_id = p.destination_id,
    source_type = p.source_type, destination_type = p.destination_type,
    cursor = p.cursor }
  if p.active ~= 1 then fail("the pipeline is not active") end
  if not string.match(p.type, "^[a-z][a-z0-9_]*$") then
    fail("pipeline type '" .. p.type .. "' cannot name a module")
  end
  local found, kind = pcall(require, "pipelines." .. p.type)
  if not found then
    -- The log has the whole error; the run's message (which the
    -- account reads) names no path of the server.
    host.log("info", "pipeline kind " .. p.type .. ": " .. reason(kind))
    fail("no pipeline kind '" .. p.type .. "' (lua/pipelines/" .. p.type ..
      ".lua) loads here")
  end
  if type(kind) ~= "table" or type(kind.run) ~= "function" then
    fail("lua/pipelines/" .. p.type .. ".lua must return { run = function(ctx) }")
  end
  return kind.run(ctx)
end

function M.run(id)
  local r = host.db.row("run_get", { id = id })
  if not r or r.status ~= "running" then return end
  local ctx = context(r)
  local ok, msg = pcall(function()
    if r.pipeline_id then return run_pipeline(r, ctx) end
    return require("models").run(r, ctx)
  end)
  if ok then
    finish(r, true, type(msg) == "string" and msg or "")
  else
    host.log("info", string.format("run %d failed: %s", id, reason(msg)))
    finish(r, false, reason(msg))
  end
end

function M.abort(id, why)
  local r = host.db.row("run_get", { id = id })
  if r and r.status == "running" then finish(r, false, reason(why)) end
end

M.fail = fail
return M
