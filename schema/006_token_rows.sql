-- 006: tokens as the pages and the API list them: without the secret's
-- hash, with their creator, last switcher and destination, and with the
-- times already formatted (ISO 8601, and "2026-11-27 23:10 UTC").
CREATE VIEW token_rows AS
SELECT t.id, t.key, t.kind, t.description, t.account_id, t.user_id,
       t.active, t.created_at, t.updated_at, t.last_used_at,
       t.last_used_ip, t.expires_at,
       u.email AS created_by, ub.email AS updated_by, d.name AS destination,
       strftime('%Y-%m-%dT%H:%M:%SZ', t.created_at, 'unixepoch') AS created_iso,
       strftime('%Y-%m-%d %H:%M UTC', t.created_at, 'unixepoch') AS created_text,
       strftime('%Y-%m-%dT%H:%M:%SZ', t.updated_at, 'unixepoch') AS updated_iso,
       strftime('%Y-%m-%d %H:%M UTC', t.updated_at, 'unixepoch') AS updated_text,
       strftime('%Y-%m-%dT%H:%M:%SZ', t.last_used_at, 'unixepoch') AS last_used_iso,
       strftime('%Y-%m-%d %H:%M UTC', t.last_used_at, 'unixepoch') AS last_used_text
FROM tokens t
JOIN users u ON u.id = t.user_id
LEFT JOIN users ub ON ub.id = t.updated_by
LEFT JOIN destinations d ON d.id = t.destination_id;
