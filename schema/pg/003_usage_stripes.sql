-- 003 (PostgreSQL): SQLite's 015. The counters a webhook delivery and a
-- pipeline run add to are striped: each is the sum of a few rows, and a
-- connection adds to the row of its own stripe (its backend's pid modulo
-- 64, schema/pg/queries.sql), so that deliveries written side by side no
-- longer queue on their token's row and their account's usage row, each
-- held until the transaction before commits. Two connections whose pids
-- share a stripe only wait for each other, as everyone did before.

CREATE TABLE token_usage (
	token_id	bigint NOT NULL REFERENCES tokens (id),
	stripe		bigint NOT NULL,
	webhooks	bigint NOT NULL DEFAULT 0,
	records		bigint NOT NULL DEFAULT 0,
	runs		bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (token_id, stripe)
);
INSERT INTO token_usage (token_id, stripe, webhooks, records, runs)
SELECT id, 0, webhooks_received, records_received, runs_requested
FROM tokens
WHERE webhooks_received > 0 OR records_received > 0 OR runs_requested > 0;
ALTER TABLE tokens DROP COLUMN runs_requested,
	DROP COLUMN webhooks_received, DROP COLUMN records_received;

CREATE TABLE account_usage_striped (
	account_id	bigint NOT NULL REFERENCES accounts (id),
	stripe		bigint NOT NULL,
	records		bigint NOT NULL DEFAULT 0,
	bytes		bigint NOT NULL DEFAULT 0,
	object_bytes	bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, stripe)
);
INSERT INTO account_usage_striped
	(account_id, stripe, records, bytes, object_bytes)
SELECT account_id, 0, records, bytes, object_bytes FROM account_usage;
DROP TABLE account_usage;
ALTER TABLE account_usage_striped RENAME TO account_usage;
ALTER INDEX account_usage_striped_pkey RENAME TO account_usage_pkey;
