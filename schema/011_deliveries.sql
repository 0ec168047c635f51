-- 011: bounded webhook deliveries (step 8).
--
-- A delivery of many records is written in short transactions, so that
-- other accounts' writers get turns; its records become visible (to the
-- API, to pipeline runs) only when its last transaction marks it done. A
-- worker killed part-way leaves an open delivery, which the runner removes
-- with its records (lua/deliveries.lua). Records of small deliveries and
-- of earlier versions have no delivery and are visible as they are.
CREATE TABLE deliveries (
	id		INTEGER PRIMARY KEY,
	pipeline_id	INTEGER NOT NULL REFERENCES pipelines (id),
	account_id	INTEGER NOT NULL REFERENCES accounts (id),
	token_id	INTEGER NOT NULL REFERENCES tokens (id),
	records		INTEGER NOT NULL,
	bytes		INTEGER NOT NULL,
	started_at	INTEGER NOT NULL,
	done_at		INTEGER			-- NULL while it is written
) STRICT;
CREATE INDEX deliveries_open ON deliveries (started_at) WHERE done_at IS NULL;

ALTER TABLE records ADD COLUMN delivery_id INTEGER REFERENCES deliveries (id);
CREATE INDEX records_delivery ON records (delivery_id)
	WHERE delivery_id IS NOT NULL;

-- What each account stores (the records' JSON bytes), for account_quota_mb.
CREATE TABLE account_usage (
	account_id	INTEGER PRIMARY KEY REFERENCES accounts (id),
	records		INTEGER NOT NULL DEFAULT 0,
	bytes		INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO account_usage (account_id, records, bytes)
SELECT p.account_id, count(*), coalesce(sum(length(r.data)), 0)
FROM records r JOIN pipelines p ON p.id = r.pipeline_id GROUP BY 1;
