-- deliveries.lua -- storing a webhook delivery: durably, and in short
-- turns at the database, so that one account sending ten thousand
-- records never holds the write lock for long while another account's
-- single record waits.
--
-- A delivery of up to CHUNK records (and CHUNK_BYTES of JSON) is one
-- transaction. A larger one is opened as a row of deliveries (011), its
-- records written CHUNK at a time, each chunk its own transaction (the
-- fsync of one overlaps the next writer's turn), and marked done by the
-- last: only then do its records count as received (records_sizes and
-- records_page skip an open delivery's). A failure part-way removes what
-- was written; a worker killed part-way leaves an open delivery that the
-- runner removes (M.sweep, from app.tick) after STALE seconds.
local M = {}

local CHUNK = 500
local CHUNK_BYTES = 256 * 1024
local STALE = 600

-- Cuts recs into runs of at most CHUNK records and CHUNK_BYTES: a list
-- of { first, last } index pairs.
local function chunks(recs)
  local out, first, bytes = {}, 1, 0
  for i, data in ipairs(recs) do
    if i > first and (i - first >= CHUNK or bytes + #data > CHUNK_BYTES) then
      out[#out + 1] = { first, i - 1 }
      first, bytes = i, 0
    end
    bytes = bytes + #data
  end
  out[#out + 1] = { first, #recs }
  return out
end

-- Removes an open delivery and its records (one transaction).
function M.drop(id)
  host.db.tx(function()
    host.db.exec("delivery_drop_records", { id = id })
    host.db.exec("delivery_drop", { id = id })
  end)
end

-- Stores recs (JSON texts, bytes of them in all) for pipeline p ({ id,
-- destination_id }) as the request's token. Raises like host.db.tx (503
-- when the database is busy or full); nothing is left half-written.
function M.store(req, p, recs, bytes)
  local token, account = req.auth.token.id, req.auth.account.id
  local now = host.now()
  -- A batch (host.db.batch): statements that only add and count, one
  -- round trip on PostgreSQL, where deliveries are written side by side.
  local function records(run, delivery, batch)
    for i = run[1], run[2] do
      batch[#batch + 1] = { "record_add", { pipeline_id = p.id,
        destination_id = p.destination_id, token_id = token, now = now,
        data = recs[i], delivery_id = delivery or host.null } }
    end
    return batch
  end
  local function counts(batch)
    batch[#batch + 1] = { "token_count_webhook", { id = token,
      records = #recs } }
    batch[#batch + 1] = { "account_usage_add", { account_id = account,
      records = #recs, bytes = bytes } }
    return batch
  end
  local runs = chunks(recs)
  if #runs == 1 then
    host.db.batch(counts(records(runs[1], nil, {})))
    return
  end
  local id = host.db.tx(function()
    local _, did = host.db.exec("delivery_open", { pipeline_id = p.id,
      account_id = account, token_id = token, records = #recs,
      bytes = bytes, now = now })
    for _, item in ipairs(records(runs[1], did, {})) do
      host.db.exec(item[1], item[2])
    end
    return did
  end)
  -- Each part is synced: the writers' turn is free while this worker
  -- waits for the disk, so another account's writer gets it (unsynced
  -- parts made the flood test's other account wait four times longer).
  local ok, err = pcall(function()
    for k = 2, #runs do
      local batch = records(runs[k], id, {})
      if k == #runs then
        counts(batch)
        batch[#batch + 1] = { "delivery_done", { id = id,
          now = host.now() } }
      end
      host.db.batch(batch)
    end
  end)
  if not ok then
    pcall(M.drop, id)      -- else the runner's sweep removes it
    error(err, 0)
  end
end

-- The runner: open deliveries whose worker died.
function M.sweep(now)
  for _, d in ipairs(host.db.rows("deliveries_stale",
      { before = now - STALE, limit = 20 })) do
    M.drop(d.id)
  end
end

return M
