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

-- Accounts and users ------------------------------------------------------

-- name: account_by_name
SELECT id, name, active, created_at FROM accounts WHERE name = :name;

-- name: account_add
INSERT INTO accounts (name, created_at) VALUES (:name, :now);

-- name: user_by_email
SELECT u.id, u.account_id, u.email, u.password_hash, u.role, u.active,
       a.name AS account_name, a.active AS account_active
FROM users u JOIN accounts a ON a.id = u.account_id
WHERE u.email_norm = :email_norm;

-- name: user_add
INSERT INTO users (account_id, email, email_norm, password_hash, role,
                   created_at, updated_at)
VALUES (:account_id, :email, :email_norm, :password_hash, :role, :now, :now);

-- name: user_set_password
UPDATE users SET password_hash = :password_hash, updated_at = :now
WHERE id = :id;

-- name: user_set_active
UPDATE users SET active = :active, updated_at = :now WHERE id = :id;

-- name: users_all
SELECT u.id, u.email, u.role, u.active, u.created_at, a.name AS account_name
FROM users u JOIN accounts a ON a.id = u.account_id
ORDER BY a.name, u.email_norm;

-- name: user_count
SELECT count(*) FROM users;

-- Sessions -----------------------------------------------------------------

-- name: session_add
INSERT INTO sessions (id_hash, user_id, csrf, created_at, last_seen_at,
                      expires_at, ip, user_agent)
VALUES (:id_hash, :user_id, :csrf, :now, :now, :expires_at, :ip,
        :user_agent);

-- A live session of an active user in an active account.
-- name: session_by_hash
SELECT s.id, s.csrf, s.last_seen_at, s.expires_at, s.created_at,
       u.id AS user_id, u.email, u.role, u.account_id,
       a.name AS account_name
FROM sessions s
JOIN users u ON u.id = s.user_id AND u.active = 1
JOIN accounts a ON a.id = u.account_id AND a.active = 1
WHERE s.id_hash = :id_hash;

-- name: session_touch
UPDATE sessions SET last_seen_at = :now WHERE id = :id;

-- name: session_delete
DELETE FROM sessions WHERE id = :id;

-- name: session_delete_user
DELETE FROM sessions WHERE user_id = :user_id;

-- name: sessions_expire
DELETE FROM sessions WHERE expires_at <= :now OR last_seen_at <= :idle_before;

-- Login throttling ---------------------------------------------------------

-- name: login_failures_count
SELECT count(*) AS n, min(at) AS oldest FROM login_failures
WHERE scope = :scope AND key = :key AND at > :since;

-- name: login_failure_add
INSERT INTO login_failures (scope, key, at) VALUES (:scope, :key, :now);

-- name: login_failures_prune
DELETE FROM login_failures WHERE at <= :since;

-- name: login_failures_clear
DELETE FROM login_failures WHERE scope = :scope AND key = :key;

-- Audit log ----------------------------------------------------------------

-- name: audit_add
INSERT INTO audit_log (at, account_id, user_id, action, object, ip, detail)
VALUES (:now, :account_id, :user_id, :action, :object, :ip, :detail);

-- name: audit_recent
SELECT l.id, l.at, l.action, l.object, l.ip, l.detail, u.email
FROM audit_log l LEFT JOIN users u ON u.id = l.user_id
WHERE l.account_id = :account_id
ORDER BY l.id DESC LIMIT :limit;

-- Tokens -------------------------------------------------------------------

-- name: token_add
INSERT INTO tokens (key, secret_hash, kind, description, account_id, user_id,
                    destination_id, created_at, updated_at)
VALUES (:key, :secret_hash, :kind, :description, :account_id, :user_id,
        :destination_id, :now, :now);

-- The tokens one person may see, newest first: all of the account's for
-- an admin (:all = 1), their own for a member. :q filters by description
-- (case-insensitive) or by the start of the key.
-- name: tokens_page
SELECT t.id, t.key, t.kind, t.description, t.active, t.created_at,
       t.updated_at, t.last_used_at, t.last_used_ip, t.expires_at,
       u.email AS created_by, ub.email AS updated_by,
       d.name AS destination
FROM tokens t
JOIN users u ON u.id = t.user_id
LEFT JOIN users ub ON ub.id = t.updated_by
LEFT JOIN destinations d ON d.id = t.destination_id
WHERE t.account_id = :account_id AND t.kind = :kind
  AND (:all = 1 OR t.user_id = :user_id)
  AND (:q = '' OR instr(lower(t.description), lower(:q)) > 0
       OR t.key LIKE :q || '%')
ORDER BY t.id DESC
LIMIT :limit OFFSET :offset;

-- name: tokens_count
SELECT count(*) FROM tokens t
WHERE t.account_id = :account_id AND t.kind = :kind
  AND (:all = 1 OR t.user_id = :user_id)
  AND (:q = '' OR instr(lower(t.description), lower(:q)) > 0
       OR t.key LIKE :q || '%');

-- One token as its owner or an admin of its account sees it.
-- name: token_visible
SELECT t.id, t.key, t.kind, t.description, t.active, t.created_at,
       t.updated_at, t.last_used_at, t.last_used_ip, t.expires_at,
       t.user_id, u.email AS created_by, ub.email AS updated_by,
       d.name AS destination
FROM tokens t
JOIN users u ON u.id = t.user_id
LEFT JOIN users ub ON ub.id = t.updated_by
LEFT JOIN destinations d ON d.id = t.destination_id
WHERE t.key = :key AND t.account_id = :account_id
  AND (:all = 1 OR t.user_id = :user_id);

-- name: token_set_active
UPDATE tokens SET active = :active, updated_at = :now, updated_by = :actor
WHERE id = :id;

-- Destinations -------------------------------------------------------------

-- name: destination_by_name
SELECT id, name, type FROM destinations
WHERE account_id = :account_id AND name = :name;

-- name: destination_add
INSERT INTO destinations (account_id, name, type, config, created_by,
                          created_at, updated_at)
VALUES (:account_id, :name, :type, :config, :created_by, :now, :now);

-- name: account_first_admin
SELECT id, email FROM users
WHERE account_id = :account_id AND role = 'admin' AND active = 1
ORDER BY id LIMIT 1;
