-- objects_delete.lua -- deleting a platform object (HTTP.md "DELETE
-- /api/{kind}/{id}"): refused while something refers to it, and
-- otherwise gone with what belongs to it, the account's usage counters
-- kept true, in one transaction (no window between the check and the
-- delete: a write transaction is the only writer, on both engines).
--
-- What "in use" means for each kind is one named query,
-- object_in_use_{kind} (schema/queries.sql, "Deleting objects"): its
-- first row names the referrer.
local M = {}

-- The bytes of an object that account_quota_mb counts (as routes/api.lua
-- adds them): its config and SQL.
local function object_bytes(row)
  return #row.config + #(row.sql or "")
end

-- What belongs to a pipeline goes with it: its records (and the usage
-- they count for), deliveries and runs. Its table in the destination
-- stays, renamed pipeline_{id}_deleted_{time}: SQLite may give a later
-- pipeline the same id, which must start with a table of its own.
local function drop_pipeline_data(account_id, id, row)
  host.db.exec("via_table_rename", { destination_id = row.destination_id,
    old = "pipeline_" .. id, now = host.now(),
    new = string.format("pipeline_%d_deleted_%d", id, host.now()) })
  local u = host.db.row("pipeline_records_usage", { id = id })
  host.db.exec("pipeline_records_delete", { id = id })
  host.db.exec("pipeline_deliveries_delete", { id = id })
  host.db.exec("pipeline_runs_delete", { id = id })
  if u.records > 0 or u.bytes > 0 then
    host.db.exec("account_usage_add", { account_id = account_id,
      records = -u.records, bytes = -u.bytes })
  end
end

-- What belongs to a destination goes with it: its Via tables (016; a
-- pipeline's table stays in its destination when the pipeline goes, as
-- a warehouse keeps a table its loader no longer fills).
local function drop_destination_data(id)
  host.db.exec("via_rows_delete_of_destination", { id = id })
  host.db.exec("via_tables_delete_of_destination", { id = id })
end

-- What belongs to a model goes with it: its runs and its table model_{id}.
local function drop_model_data(row)
  host.db.exec("model_runs_delete", { id = row.id })
  local t = { destination_id = row.destination_id, name = "model_" .. row.id }
  host.db.exec("via_table_rows_delete", t)
  host.db.exec("via_table_delete", t)
end

-- Deletes kind's object id of account_id, if may(row) allows it.
-- Returns the deleted row, or nil and why: "missing", "forbidden", or
-- "in_use" with the referrer ({ what, id, name }).
function M.delete(kind, account_id, id, may)
  return host.db.tx(function()
    local key = { account_id = account_id, id = id }
    local row = host.db.row(kind .. "_get", key)
    if not row then return nil, "missing" end
    if not may(row) then return nil, "forbidden" end
    local use = host.db.row("object_in_use_" .. kind, { id = id })
    if use then return nil, "in_use", use end
    if kind == "pipelines" then drop_pipeline_data(account_id, id, row) end
    if kind == "destinations" then drop_destination_data(id) end
    if kind == "models" then drop_model_data(row) end
    host.db.exec(kind .. "_delete", key)
    host.db.exec("account_objects_add", { account_id = account_id,
      bytes = -object_bytes(row) })
    return row
  end)
end

-- The message of a 409 IN_USE: what refers to the object.
function M.in_use_message(one, use)
  if use.what == "Via token" then
    return string.format("this %s is used by Via token %s (delete the " ..
      "token first; inactive Via tokens count too)", one, use.name)
  end
  if use.what == "run" then
    return string.format("this %s has run %d %s; try again when it has " ..
      "finished", one, use.id, use.name)
  end
  if use.what == "records of pipeline" then
    return string.format("this %s holds records of pipeline %d; delete " ..
      "that pipeline first", one, use.id)
  end
  return string.format("this %s is used by %s %d (%s); delete or change " ..
    "it first", one, use.what, use.id, use.name)
end

return M
