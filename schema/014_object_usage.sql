-- 014: account_quota_mb counts an account's objects as well as its records
-- (step 8): the config (and a model's SQL) of its sources, destinations,
-- pipelines and models, in bytes, kept up to date by the API's creates and
-- edits (objects are never deleted).
ALTER TABLE account_usage ADD COLUMN object_bytes INTEGER NOT NULL DEFAULT 0;
INSERT INTO account_usage (account_id, object_bytes)
SELECT account_id, sum(n) FROM (
	SELECT account_id, length(CAST(config AS BLOB)) AS n FROM sources
	UNION ALL
	SELECT account_id, length(CAST(config AS BLOB)) FROM destinations
	UNION ALL
	SELECT account_id, length(CAST(config AS BLOB)) FROM pipelines
	UNION ALL
	SELECT account_id, length(CAST(config AS BLOB)) +
	    length(CAST(sql AS BLOB)) FROM models
) GROUP BY account_id
ON CONFLICT (account_id) DO UPDATE SET object_bytes = excluded.object_bytes;
