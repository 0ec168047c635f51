-- pipelines/webhook.lua -- the webhook pipeline kind: moves the records
-- received since the last run into the destination's table
-- pipeline_{id} (one column per top-level field seen, plus _record_id and
-- _received_at), exactly once.
--
-- Exactly once: each batch of run_batch_records is one transaction that
-- writes its rows and moves the pipeline's cursor from the value it read
-- (pipeline_cursor changes nothing if another run moved it: the batch is
-- rolled back). A runner killed part-way leaves the cursor at the last
-- batch committed, and the next claim of the run goes on from there.
--
-- config.transform names a module lua/transforms/{name}.lua (see
-- lua/transforms/flatten.lua) that maps each record to a record, or to
-- nil to drop it.
local via = require "via"
local transforms = require "transforms"

local M = {}

function M.run(ctx)
  local p = ctx.pipeline
  if p.destination_type ~= "via" then
    ctx.fail("destinations of type '" .. p.destination_type ..
      "' are not written by this service; only 'via' destinations are")
  end
  local transform = transforms.load(p.config.transform, ctx)
  local name = "pipeline_" .. p.id
  local cursor, moved, dropped = p.cursor, 0, 0
  local batch_size = host.config.run_batch_records
  while true do
    -- The batch is read inside its write transaction: on PostgreSQL a
    -- webhook's records commit side by side, and a read outside could see
    -- a record while an earlier one is not yet committed, then move the
    -- cursor past it. The write lock waits for every delivery in flight.
    local n = host.db.tx(function()
      local batch = host.db.rows("records_to_move", { pipeline_id = p.id,
        after = cursor, limit = batch_size })
      if #batch == 0 then return 0 end
      local rows = {}
      for _, rec in ipairs(batch) do
        local data = transform(host.json.decode(rec.data), rec)
        if data == nil then
          dropped = dropped + 1
        else
          data._record_id = rec.id
          data._received_at = host.iso8601(rec.received_at)
          rows[#rows + 1] = { id = rec.id, data = data }
        end
      end
      local last = batch[#batch].id
      if host.db.exec("pipeline_cursor", { id = p.id, old = cursor,
          new = last }) ~= 1 then
        ctx.fail("another run moved this pipeline's records first")
      end
      via.open(p.account_id, p.destination_id, name):append(rows)
      ctx.progress(#rows)
      cursor, moved = last, moved + #rows
      return #batch
    end)
    if n == 0 then break end
  end
  return string.format("moved %d record%s to %s%s", moved,
    moved == 1 and "" or "s", name,
    dropped > 0 and string.format(" (%d dropped by the transform)", dropped) or "")
end

return M
