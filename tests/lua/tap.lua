-- tap.lua -- a small TAP producer for Lua tests run by `tessera lua-test`.
-- A test file ends with `return tap.done()`: its value is the exit status.

local M = {}
local count, failed = 0, 0

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

function M.ok(cond, name, diag)
  count = count + 1
  if cond then
    print(string.format("ok %d - %s", count, name))
  else
    failed = failed + 1
    print(string.format("not ok %d - %s", count, name))
    if diag then print("# " .. string.gsub(diag, "\n", "\n# ")) end
  end
  return cond
end

function M.is(got, want, name)
  return M.ok(got == want, name, "got " .. show(got) .. ", want " .. show(want))
end

function M.like(s, pattern, name)
  return M.ok(type(s) == "string" and string.find(s, pattern) ~= nil, name,
    "got " .. show(s) .. ", want a match for " .. show(pattern))
end

function M.unlike(s, pattern, name)
  return M.ok(type(s) == "string" and string.find(s, pattern) == nil, name,
    "got " .. show(s) .. ", want no match for " .. show(pattern))
end

-- Asserts that fn raises an error whose message matches pattern.
function M.raises(fn, pattern, name)
  local ok, err = pcall(fn)
  if ok then return M.ok(false, name, "no error raised") end
  local msg = type(err) == "table" and tostring(err.message) or tostring(err)
  return M.like(msg, pattern, name)
end

function M.done()
  print("1.." .. count)
  return failed == 0 and 0 or 1
end

return M
