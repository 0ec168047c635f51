-- policy.lua -- the hooks that decide: before_token_create,
-- before_pipeline_run and before_webhook (lua/hooks.lua's header says
-- what each gets). The routes ask policy.check(name, event) before they
-- write anything; a hook allows by returning nothing (or true) and
-- refuses by returning false and a message:
--
--   function M.before_token_create(ev)
--     if not ev.description:match("^%[%w+%]") then
--       return false, "descriptions must name a team, like [data] ..."
--     end
--   end
--
-- A refusal answers 403 FORBIDDEN with the hook's message (the tokens
-- page shows it in its dialog). A hook that raises an error, or runs out
-- of the request's instruction or memory budget, also stops the action
-- before anything is written, but answers 500 INTERNAL_ERROR with a
-- generic message and logs the error: a broken policy is the service's
-- fault, not the caller's, and webhook senders retry a 5xx where they
-- would drop data on a 403.
local hooks = require "hooks"

local M = {}

local MAX_MESSAGE = 500
local GENERIC = "this action was refused by this service's policy"

-- The hook for name, or nil when the operator defined none (then the
-- caller need not even build the event: the webhook path stays cheap).
function M.hook(name)
  local fn = hooks[name]
  if type(fn) == "function" then return fn end
  return nil
end

-- Runs the before_ hook name with event ev. nil when the action may go
-- on; else the refusal { status, code, message } (http.refused's shape).
function M.check(name, ev)
  local fn = M.hook(name)
  if not fn then return nil end
  local ok, allow, msg = pcall(fn, ev)
  if not ok then
    host.log("error", "hook " .. name .. " failed, the action was " ..
      "refused: " .. tostring(type(allow) == "table" and allow.message or allow))
    return { status = 500, code = "INTERNAL_ERROR",
      message = "a policy hook of this service failed, so nothing was " ..
        "changed; the administrator can find why in the log" }
  end
  if allow ~= false then return nil end
  if type(msg) ~= "string" or msg == "" or not utf8.len(msg) then
    msg = GENERIC
  end
  local cut = utf8.offset(msg, MAX_MESSAGE + 1)   -- at most 500 characters
  if cut then msg = string.sub(msg, 1, cut - 1) end
  return { status = 403, code = "FORBIDDEN", message = msg }
end

return M
