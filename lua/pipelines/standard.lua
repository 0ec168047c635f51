-- pipelines/standard.lua -- the "standard" pipeline kind: what moves the
-- data depends on the source. A webhook source's records are moved by
-- the webhook kind; other sources (databases, SaaS APIs) are fetched by
-- the platform's connectors, which this service does not run: such a run
-- fails saying so, rather than pretending.
local webhook = require "pipelines.webhook"

local M = {}

function M.run(ctx)
  if ctx.pipeline.source_type == "webhook" then return webhook.run(ctx) end
  ctx.fail("sources of type '" .. ctx.pipeline.source_type ..
    "' are not fetched by this service; only webhook sources are")
end

return M
