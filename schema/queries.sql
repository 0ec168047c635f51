-- Named queries, prepared once per worker. Lua runs them by name:
--   host.db.rows("name", {param = value})
-- One statement per query, :named parameters only. Operators may add
-- their own in schema/queries.d/*.sql.

-- name: health
SELECT 1 AS ok;

-- name: meta_get
SELECT value FROM meta WHERE key = :key;

-- name: meta_set
INSERT INTO meta (key, value) VALUES (:key, :value)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: meta_delete
DELETE FROM meta WHERE key = :key;
