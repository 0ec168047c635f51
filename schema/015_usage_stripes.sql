-- 015: the counters a webhook delivery and a pipeline run add to (step 9)
-- are striped: each is the sum of a few rows, and a writer adds to the row
-- of its own stripe, so that writers side by side never wait on one row.
--
-- Before, every delivery updated its token's row (webhooks_received,
-- records_received) and its account's usage row: on PostgreSQL, where
-- deliveries are written side by side, every delivery of a token queued
-- on those two row locks until the one before it committed. SQLite has
-- one writer at a time, so its queries always write stripe 0 (one row,
-- as before); PostgreSQL's write the stripe of the connection's backend
-- (schema/pg/queries.sql). Readers sum the stripes.

-- What each token has done: webhook deliveries and their records,
-- pipeline runs it requested.
CREATE TABLE token_usage (
	token_id	INTEGER NOT NULL REFERENCES tokens (id),
	stripe		INTEGER NOT NULL,
	webhooks	INTEGER NOT NULL DEFAULT 0,
	records		INTEGER NOT NULL DEFAULT 0,
	runs		INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (token_id, stripe)
) STRICT, WITHOUT ROWID;
INSERT INTO token_usage (token_id, stripe, webhooks, records, runs)
SELECT id, 0, webhooks_received, records_received, runs_requested
FROM tokens
WHERE webhooks_received > 0 OR records_received > 0 OR runs_requested > 0;
ALTER TABLE tokens DROP COLUMN runs_requested;
ALTER TABLE tokens DROP COLUMN webhooks_received;
ALTER TABLE tokens DROP COLUMN records_received;

-- What each account stores (011, 014), now in stripes.
CREATE TABLE account_usage_striped (
	account_id	INTEGER NOT NULL REFERENCES accounts (id),
	stripe		INTEGER NOT NULL,
	records		INTEGER NOT NULL DEFAULT 0,
	bytes		INTEGER NOT NULL DEFAULT 0,
	object_bytes	INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, stripe)
) STRICT, WITHOUT ROWID;
INSERT INTO account_usage_striped
	(account_id, stripe, records, bytes, object_bytes)
SELECT account_id, 0, records, bytes, object_bytes FROM account_usage;
DROP TABLE account_usage;
ALTER TABLE account_usage_striped RENAME TO account_usage;
