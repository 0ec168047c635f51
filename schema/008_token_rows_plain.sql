-- 008: token_rows without the formatted times of 006. The named queries
-- (queries.sql) format them with the host's iso_time() and utc_minute(),
-- at a tenth of strftime's cost; the view itself stays plain SQL, so it
-- still works in the sqlite3 shell.
DROP VIEW token_rows;
CREATE VIEW token_rows AS
SELECT t.id, t.key, t.kind, t.description, t.account_id, t.user_id,
       t.active, t.created_at, t.updated_at, t.last_used_at,
       t.last_used_ip, t.expires_at,
       u.email AS created_by, ub.email AS updated_by, d.name AS destination
FROM tokens t
JOIN users u ON u.id = t.user_id
LEFT JOIN users ub ON ub.id = t.updated_by
LEFT JOIN destinations d ON d.id = t.destination_id;
