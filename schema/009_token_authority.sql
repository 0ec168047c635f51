-- 009: what a token may do (HTTP.md "Token authority").
--
-- scopes       bits of fcgi/domain/authority.h (objects:read 1, objects:write 2,
--              pipelines:run 4, webhook:write 8, records:read 16,
--              tokens:read 32, tokens:write 64, via:read 128). Existing
--              user tokens get the defaults (63: all but tokens:write),
--              Via tokens exactly via:read.
-- allowed_ips  canonical CIDRs joined by ',' ("" = any address).
-- parent_id    the token that made this one through the API (NULL: a
--              person or the command line made it; so are all tokens
--              made before this migration, API-made or not).
-- prev_secret_hash, prev_expires_at
--              the secret before the last rotation, valid until then.
-- expiry_warned_at, expiry_noticed_at
--              when the token_expiring and token_expired hooks fired
--              (each fires once per token).
ALTER TABLE tokens ADD COLUMN scopes INTEGER NOT NULL DEFAULT 63
	CHECK (scopes BETWEEN 0 AND 255);
UPDATE tokens SET scopes = 128 WHERE kind = 'via';
ALTER TABLE tokens ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN parent_id INTEGER REFERENCES tokens (id);
ALTER TABLE tokens ADD COLUMN prev_secret_hash BLOB;
ALTER TABLE tokens ADD COLUMN prev_expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN expiry_warned_at INTEGER;
ALTER TABLE tokens ADD COLUMN expiry_noticed_at INTEGER;

-- A Bearer secret is looked up in both hash columns.
CREATE UNIQUE INDEX tokens_prev_secret ON tokens (prev_secret_hash)
	WHERE prev_secret_hash IS NOT NULL;
-- Lineage: the tokens made from a token.
CREATE INDEX tokens_parent ON tokens (parent_id) WHERE parent_id IS NOT NULL;
-- The runner's look for tokens expiring or expired.
CREATE INDEX tokens_expiry ON tokens (expires_at) WHERE expires_at IS NOT NULL;

-- "user X via token KEY": the key of the token that performed an action
-- ('' when a person did, on a page or the command line).
ALTER TABLE audit_log ADD COLUMN via_token TEXT NOT NULL DEFAULT '';

-- token_rows (008) with what the token may do and its parent's key.
DROP VIEW token_rows;
CREATE VIEW token_rows AS
SELECT t.id, t.key, t.kind, t.description, t.account_id, t.user_id,
       t.active, t.created_at, t.updated_at, t.last_used_at,
       t.last_used_ip, t.expires_at, t.scopes, t.allowed_ips, t.parent_id,
       p.key AS parent_key, t.destination_id,
       u.email AS created_by, ub.email AS updated_by, d.name AS destination
FROM tokens t
JOIN users u ON u.id = t.user_id
LEFT JOIN users ub ON ub.id = t.updated_by
LEFT JOIN destinations d ON d.id = t.destination_id
LEFT JOIN tokens p ON p.id = t.parent_id;
