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

-- name: tokens_any
SELECT count(*) AS n FROM (SELECT 1 FROM tokens LIMIT 1) AS t;

-- name: schema_version
SELECT coalesce(max(version), 0) AS version FROM schema_migrations;

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
INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at,
                      expires_at, ip, user_agent)
VALUES (:id_hash, :user_id, :now, :now, :expires_at, :ip,
        :user_agent);

-- A live session of an active user in an active account.
-- name: session_by_hash
SELECT s.id, s.last_seen_at, s.expires_at, s.created_at,
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
SELECT count(*) AS n, min(at) AS oldest, max(at) AS newest FROM login_failures
WHERE scope = :scope AND key = :key AND at > :since;

-- name: login_failure_add
INSERT INTO login_failures (scope, key, at) VALUES (:scope, :key, :now);

-- name: login_failures_prune
DELETE FROM login_failures WHERE at <= :since;

-- name: login_failures_clear
DELETE FROM login_failures WHERE scope = :scope AND key = :key;

-- An attempt is counted before its password is checked (so concurrent
-- tries see each other); a right password takes its rows back.
-- name: login_failure_remove
DELETE FROM login_failures WHERE rowid = :id;

-- Audit log ----------------------------------------------------------------

-- via_token: the key of the token that acted ('' when a person did).
-- name: audit_add
INSERT INTO audit_log (at, account_id, user_id, action, object, ip, detail,
                       via_token)
VALUES (:now, :account_id, :user_id, :action, :object, :ip, :detail,
        :via_token);

-- name: audit_recent
SELECT l.id, l.at, l.action, l.object, l.ip, l.detail, l.via_token, u.email,
       iso_time(l.at) AS at_iso, utc_minute(l.at) AS at_text
FROM audit_log l LEFT JOIN users u ON u.id = l.user_id
WHERE l.account_id = :account_id
ORDER BY l.id DESC LIMIT :limit;

-- Tokens -------------------------------------------------------------------

-- name: token_add
INSERT INTO tokens (key, secret_hash, kind, description, account_id, user_id,
                    destination_id, created_at, updated_at, scopes,
                    expires_at, allowed_ips, parent_id)
VALUES (:key, :secret_hash, :kind, :description, :account_id, :user_id,
        :destination_id, :now, :now, :scopes, :expires_at, :allowed_ips,
        :parent_id);

-- The tokens one person may see, newest first: all of the account's for
-- an admin (:all = 1), their own for a member (token_rows: 008), filtered
-- when :q is not empty by description (case-insensitive) or by the start
-- of the key. Counting without a filter reads token_counts (007); with
-- one, tokens_count_q scans the account's tokens. A row has
-- what the tokens page shows, nothing more (it renders 20 of them a page);
-- the times of the last change only when there was one.
-- name: tokens_page
SELECT r.key, r.description, r.active, r.last_used_at, r.last_used_ip,
       r.created_by, r.updated_by, r.destination, r.scopes,
       r.allowed_ips, r.expires_at,
       iso_time(r.expires_at) AS expires_iso,
       utc_minute(r.expires_at) AS expires_text,
       iso_time(r.created_at) AS created_iso,
       utc_minute(r.created_at) AS created_text,
       CASE WHEN r.updated_by IS NOT NULL THEN iso_time(r.updated_at)
       END AS updated_iso,
       CASE WHEN r.updated_by IS NOT NULL THEN utc_minute(r.updated_at)
       END AS updated_text,
       iso_time(r.last_used_at) AS last_used_iso,
       utc_minute(r.last_used_at) AS last_used_text
FROM token_rows r
WHERE account_id = :account_id AND kind = :kind
  AND (:all = 1 OR user_id = :user_id)
  AND (:q = '' OR instr(lower(description), lower(:q)) > 0
       OR key LIKE :q || '%')
ORDER BY id DESC LIMIT :limit OFFSET :offset;

-- name: tokens_count
SELECT coalesce(sum(n), 0) FROM token_counts
WHERE account_id = :account_id AND kind = :kind
  AND (:all = 1 OR user_id = :user_id);

-- name: tokens_count_q
SELECT count(*) FROM tokens t
WHERE t.account_id = :account_id AND t.kind = :kind
  AND (:all = 1 OR t.user_id = :user_id)
  AND (instr(lower(t.description), lower(:q)) > 0 OR t.key LIKE :q || '%');

-- One token as its owner or an admin of its account sees it.
-- name: token_visible
SELECT r.*,
       iso_time(r.created_at) AS created_iso,
       utc_minute(r.created_at) AS created_text,
       iso_time(r.updated_at) AS updated_iso,
       utc_minute(r.updated_at) AS updated_text,
       iso_time(r.last_used_at) AS last_used_iso,
       utc_minute(r.last_used_at) AS last_used_text,
       iso_time(r.expires_at) AS expires_iso,
       utc_minute(r.expires_at) AS expires_text
FROM token_rows r
WHERE key = :key AND account_id = :account_id
  AND (:all = 1 OR user_id = :user_id);

-- Any token by key, for the command line (no visibility rule: the
-- operator sees all).
-- name: token_by_key
SELECT r.* FROM token_rows r WHERE r.key = :key;

-- Switching a token on: only while the token it was made from is on
-- (an active token's ancestors are all active), and, when a token asks,
-- while that token still is. No change: refused.
-- name: token_activate
UPDATE tokens SET active = 1, updated_at = :now, updated_by = :actor
WHERE id = :id
  AND (parent_id IS NULL
       OR (SELECT p.active FROM tokens p WHERE p.id = tokens.parent_id) = 1)
  AND (:by_token IS NULL
       OR (SELECT c.active FROM tokens c WHERE c.id = :by_token) = 1);

-- Lineage (009). Deactivating a token deactivates every token made from
-- it, recursively, in this one statement.
-- name: token_deactivate_tree
WITH RECURSIVE tree (id) AS (
  SELECT :id UNION SELECT t.id FROM tokens t JOIN tree ON t.parent_id = tree.id
)
UPDATE tokens SET active = 0, updated_at = :now, updated_by = :actor
WHERE id IN tree AND (active = 1 OR id = :id);

-- 1 when :id is :ancestor or was made from it (walking up from :id).
-- name: token_in_tree
WITH RECURSIVE up (id, parent_id) AS (
  SELECT id, parent_id FROM tokens WHERE id = :id
  UNION ALL SELECT t.id, t.parent_id FROM tokens t JOIN up ON t.id = up.parent_id
)
SELECT count(*) FROM up WHERE id = :ancestor;

-- Every token made from :id, recursively (not :id itself).
-- name: token_descendants
WITH RECURSIVE tree (id) AS (
  SELECT id FROM tokens WHERE parent_id = :id
  UNION SELECT t.id FROM tokens t JOIN tree ON t.parent_id = tree.id
)
SELECT t.id, t.scopes, t.allowed_ips, t.active, t.parent_id, t.kind
FROM tokens t WHERE t.id IN tree ORDER BY t.id;

-- What a token may do, and its parent's, for the subset rule (read
-- inside the write transaction of the change: the columns' order is
-- read by fcgi/bridge/lhost_tokens.c).
-- name: token_grant
SELECT t.scopes, t.expires_at, t.allowed_ips, t.parent_id, t.kind,
       p.scopes AS parent_scopes, p.expires_at AS parent_expires_at,
       p.allowed_ips AS parent_allowed_ips, t.active
FROM tokens t LEFT JOIN tokens p ON p.id = t.parent_id
WHERE t.id = :id;

-- name: token_update
UPDATE tokens SET description = :description, scopes = :scopes,
       allowed_ips = :allowed_ips, updated_at = :now, updated_by = :actor
WHERE id = :id;

-- A descendant narrowed to its ancestor's new rights (or switched off
-- when no address is left to it).
-- name: token_narrow
UPDATE tokens SET scopes = :scopes, allowed_ips = :allowed_ips,
       active = active AND :keep, updated_at = :now, updated_by = :actor
WHERE id = :id;

-- Rotation: a new secret; the current one stays valid until
-- :prev_expires_at (NULL with it: ends now). An older one ends at once.
-- name: token_rotate
UPDATE tokens SET prev_secret_hash = CASE WHEN :prev_expires_at IS NULL
                    THEN NULL ELSE secret_hash END,
       prev_expires_at = :prev_expires_at, secret_hash = :secret_hash,
       updated_at = :now, updated_by = :actor
WHERE id = :id;

-- Expiry hooks (the runner). Each fires once per token: the mark is set
-- by the one runner whose UPDATE changed the row.
-- name: tokens_expiring_due
SELECT t.id, t.key, t.kind, t.description, t.account_id, t.user_id,
       t.expires_at, t.active AND u.active AS active, u.email
FROM tokens t JOIN users u ON u.id = t.user_id
WHERE t.expires_at IS NOT NULL AND t.expires_at <= :warn_until
  AND t.expires_at > :now AND t.expiry_warned_at IS NULL
ORDER BY t.expires_at LIMIT :limit;

-- name: token_mark_warned
UPDATE tokens SET expiry_warned_at = :now
WHERE id = :id AND expiry_warned_at IS NULL;

-- name: tokens_expired_due
SELECT t.id, t.key, t.kind, t.description, t.account_id, t.user_id,
       t.expires_at, t.active AND u.active AS active, u.email
FROM tokens t JOIN users u ON u.id = t.user_id
WHERE t.expires_at IS NOT NULL AND t.expires_at <= :now
  AND t.expiry_noticed_at IS NULL
ORDER BY t.expires_at LIMIT :limit;

-- Marks both: a token found already expired was past its warning too.
-- name: token_mark_noticed
UPDATE tokens SET expiry_noticed_at = :now,
       expiry_warned_at = coalesce(expiry_warned_at, :now)
WHERE id = :id AND expiry_noticed_at IS NULL;

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

-- API authentication ---------------------------------------------------------

-- Everything the credential check needs, in one indexed lookup. The
-- columns' order is read by fcgi/http/api.c.
-- name: token_auth_by_key
SELECT t.id, t.secret_hash, t.active, t.expires_at, t.last_used_at,
       t.kind, t.description, t.key, u.id, u.email, u.role, u.active,
       a.id, a.name, a.active, t.first_used_at, t.scopes, t.allowed_ips,
       t.prev_secret_hash, t.prev_expires_at, t.parent_id, t.destination_id
FROM tokens t JOIN users u ON u.id = t.user_id
JOIN accounts a ON a.id = t.account_id
WHERE t.key = :key;

-- The secret alone (Bearer): either of a token's two hashes. Both
-- indexes are probed whatever the answer.
-- name: token_auth_by_hash
SELECT t.id, t.secret_hash, t.active, t.expires_at, t.last_used_at,
       t.kind, t.description, t.key, u.id, u.email, u.role, u.active,
       a.id, a.name, a.active, t.first_used_at, t.scopes, t.allowed_ips,
       t.prev_secret_hash, t.prev_expires_at, t.parent_id, t.destination_id
FROM tokens t JOIN users u ON u.id = t.user_id
JOIN accounts a ON a.id = t.account_id
WHERE t.secret_hash = :secret_hash OR t.prev_secret_hash = :secret_hash;

-- One refused address is written once a minute per token and address.
-- name: audit_ip_denied_recent
SELECT count(*) FROM audit_log
WHERE account_id = :account_id AND at > :since AND action = 'token.ip_denied'
  AND object = :key AND ip = :ip;

-- At most once a minute per token (see api.c).
-- name: token_touch
UPDATE tokens SET last_used_at = :now, last_used_ip = :ip WHERE id = :id;

-- Exactly one request wins the first use (changes() = 1), even when two
-- workers see the token unused at the same moment.
-- name: token_first_use
UPDATE tokens SET first_used_at = :now
WHERE id = :id AND first_used_at IS NULL;

-- What a token has done, in striped counters (015): SQLite has one
-- writer at a time and writes stripe 0 only.
-- name: token_count_run
INSERT INTO token_usage (token_id, stripe, runs) VALUES (:id, 0, 1)
ON CONFLICT (token_id, stripe) DO UPDATE SET runs = runs + 1;

-- name: token_count_webhook
INSERT INTO token_usage (token_id, stripe, webhooks, records)
VALUES (:id, 0, 1, :records)
ON CONFLICT (token_id, stripe) DO UPDATE SET webhooks = webhooks + 1,
  records = records + excluded.records;

-- Platform objects -----------------------------------------------------------
-- One family per table: NAME_list, NAME_get, NAME_add, NAME_update.
-- created_by is answered as the creator's email; NAME_get also says who
-- that is (owner_id), for the rule on who may change an object; NAME_sizes
-- how large each row's text is, for paging by bytes (a list reads the
-- sizes of its page first, then only the rows that fit).

-- name: sources_sizes
SELECT length(o.config) AS size FROM sources o
WHERE o.account_id = :account_id ORDER BY o.id LIMIT :limit OFFSET :offset;

-- name: sources_list
SELECT o.id, o.name, o.type, o.config, o.created_at, o.updated_at,
       u.email AS created_by
FROM sources o JOIN users u ON u.id = o.created_by
WHERE o.account_id = :account_id ORDER BY o.id LIMIT :limit OFFSET :offset;

-- name: sources_get
SELECT o.created_by AS owner_id, o.id, o.name, o.type, o.config, o.created_at, o.updated_at,
       u.email AS created_by
FROM sources o JOIN users u ON u.id = o.created_by
WHERE o.account_id = :account_id AND o.id = :id;

-- name: sources_add
INSERT INTO sources (account_id, name, type, config, created_by, created_at,
                     updated_at)
VALUES (:account_id, :name, :type, :config, :user_id, :now, :now);

-- name: sources_update
UPDATE sources SET name = :name, config = :config, updated_at = :now
WHERE account_id = :account_id AND id = :id;

-- name: destinations_sizes
SELECT length(o.config) AS size FROM destinations o
WHERE o.account_id = :account_id ORDER BY o.id LIMIT :limit OFFSET :offset;

-- name: destinations_list
SELECT o.id, o.name, o.type, o.config, o.created_at, o.updated_at,
       u.email AS created_by
FROM destinations o JOIN users u ON u.id = o.created_by
WHERE o.account_id = :account_id ORDER BY o.id LIMIT :limit OFFSET :offset;

-- name: destinations_get
SELECT o.created_by AS owner_id, o.id, o.name, o.type, o.config, o.created_at, o.updated_at,
       u.email AS created_by
FROM destinations o JOIN users u ON u.id = o.created_by
WHERE o.account_id = :account_id AND o.id = :id;

-- name: destinations_add
INSERT INTO destinations (account_id, name, type, config, created_by,
                          created_at, updated_at)
VALUES (:account_id, :name, :type, :config, :user_id, :now, :now);

-- name: destinations_update
UPDATE destinations SET name = :name, config = :config, updated_at = :now
WHERE account_id = :account_id AND id = :id;

-- name: pipelines_sizes
SELECT length(o.config) AS size FROM pipelines o
WHERE o.account_id = :account_id ORDER BY o.id LIMIT :limit OFFSET :offset;

-- name: pipelines_list
SELECT o.id, o.name, o.type, o.config, o.source_id, o.destination_id,
       o.created_at, o.updated_at, u.email AS created_by
FROM pipelines o JOIN users u ON u.id = o.created_by
WHERE o.account_id = :account_id ORDER BY o.id LIMIT :limit OFFSET :offset;

-- name: pipelines_get
SELECT o.created_by AS owner_id, o.id, o.name, o.type, o.config, o.source_id, o.destination_id,
       o.created_at, o.updated_at, u.email AS created_by
FROM pipelines o JOIN users u ON u.id = o.created_by
WHERE o.account_id = :account_id AND o.id = :id;

-- name: pipelines_add
INSERT INTO pipelines (account_id, name, type, config, source_id,
                       destination_id, created_by, created_at, updated_at)
VALUES (:account_id, :name, :type, :config, :source_id, :destination_id,
        :user_id, :now, :now);

-- name: pipelines_update
UPDATE pipelines SET name = :name, config = :config, source_id = :source_id,
       destination_id = :destination_id, updated_at = :now
WHERE account_id = :account_id AND id = :id;

-- name: models_sizes
SELECT length(o.config) + length(o.sql) AS size FROM models o
WHERE o.account_id = :account_id ORDER BY o.id LIMIT :limit OFFSET :offset;

-- name: models_list
SELECT o.id, o.name, o.type, o.config, o.destination_id, o.sql,
       o.created_at, o.updated_at, u.email AS created_by
FROM models o JOIN users u ON u.id = o.created_by
WHERE o.account_id = :account_id ORDER BY o.id LIMIT :limit OFFSET :offset;

-- name: models_get
SELECT o.created_by AS owner_id, o.id, o.name, o.type, o.config, o.destination_id, o.sql,
       o.created_at, o.updated_at, u.email AS created_by
FROM models o JOIN users u ON u.id = o.created_by
WHERE o.account_id = :account_id AND o.id = :id;

-- name: models_add
INSERT INTO models (account_id, name, type, config, destination_id, sql,
                    created_by, created_at, updated_at)
VALUES (:account_id, :name, :type, :config, :destination_id, :sql,
        :user_id, :now, :now);

-- name: models_update
UPDATE models SET name = :name, config = :config,
       destination_id = :destination_id, sql = :sql, updated_at = :now
WHERE account_id = :account_id AND id = :id;

-- Pipelines: runs, status, webhook records -----------------------------------

-- name: pipeline_for_webhook
SELECT p.id, p.destination_id, s.type AS source_type
FROM pipelines p JOIN sources s ON s.id = p.source_id
WHERE p.account_id = :account_id AND p.id = :id;

-- name: pipeline_status
SELECT id, active, status, raw_msg, failures FROM pipelines
WHERE account_id = :account_id AND id = :id;

-- Runs (016, lua/runs.lua) ---------------------------------------------------

-- A run request: queued unless the pipeline (or model) has one queued or
-- running already. changes = 0: it had.
-- name: run_queue_pipeline
INSERT INTO runs (account_id, pipeline_id, token_id, queued_at)
SELECT :account_id, :pipeline_id, :token_id, :now
WHERE NOT EXISTS (SELECT 1 FROM runs WHERE pipeline_id = :pipeline_id
                  AND status IN ('queued', 'running'));

-- name: run_queue_model
INSERT INTO runs (account_id, model_id, token_id, queued_at)
SELECT :account_id, :model_id, :token_id, :now
WHERE NOT EXISTS (SELECT 1 FROM runs WHERE model_id = :model_id
                  AND status IN ('queued', 'running'));

-- A run request schedules an idle or failed active pipeline.
-- name: pipeline_schedule
UPDATE pipelines SET status = 'scheduled', updated_at = :now
WHERE id = :id AND active = 1 AND status NOT IN ('running', 'scheduled');

-- name: runs_of_pipeline
SELECT id, status, queued_at, started_at, finished_at, records, message
FROM runs WHERE pipeline_id = :pipeline_id ORDER BY id DESC LIMIT :limit;

-- name: runs_of_model
SELECT id, status, queued_at, started_at, finished_at, records, message
FROM runs WHERE model_id = :model_id ORDER BY id DESC LIMIT :limit;

-- The oldest run that is queued, or running with its lease past (its
-- runner died), whose account runs fewer than :per_account, while fewer
-- than :total run in all. It runs in a write transaction, which is the
-- only writer on either engine (PostgreSQL: the writers' advisory lock),
-- so two runners never count the same free place; the outer condition is
-- checked again on the row itself all the same.
-- name: run_claim
UPDATE runs SET status = 'running', started_at = :now,
       lease_until = :now + :lease, attempts = attempts + 1
WHERE (status = 'queued' OR (status = 'running' AND lease_until < :now))
  AND id = (
    SELECT r.id FROM runs r
    WHERE (r.status = 'queued'
           OR (r.status = 'running' AND r.lease_until < :now))
      AND (SELECT count(*) FROM runs x WHERE x.account_id = r.account_id
           AND x.status = 'running' AND x.lease_until >= :now) < :per_account
      AND (SELECT count(*) FROM runs x WHERE x.status = 'running'
           AND x.lease_until >= :now) < :total
    ORDER BY r.id LIMIT 1)
RETURNING id, account_id, pipeline_id, model_id, token_id, attempts;

-- The run's own claim (:attempts) renews, counts and ends it: a runner
-- whose lease passed and whose run was claimed again changes nothing.
-- name: run_lease
UPDATE runs SET lease_until = :lease_until
WHERE id = :id AND status = 'running' AND attempts = :attempts;

-- name: run_get
SELECT id, account_id, pipeline_id, model_id, token_id, status, attempts
FROM runs WHERE id = :id;

-- name: run_records_add
UPDATE runs SET records = records + :n
WHERE id = :id AND status = 'running' AND attempts = :attempts;

-- name: run_finish
UPDATE runs SET status = :status, finished_at = :now, message = :message,
       lease_until = NULL
WHERE id = :id AND status = 'running' AND attempts = :attempts;

-- What a pipeline's run needs: its kind, config, cursor, source and
-- destination.
-- name: pipeline_for_run
SELECT p.id, p.account_id, p.name, p.type, p.config, p.cursor, p.active,
       p.destination_id, s.type AS source_type, d.type AS destination_type,
       d.config AS destination_config
FROM pipelines p JOIN sources s ON s.id = p.source_id
JOIN destinations d ON d.id = p.destination_id
WHERE p.id = :id;

-- name: pipeline_running
UPDATE pipelines SET status = 'running', updated_at = :now WHERE id = :id;

-- name: pipeline_succeeded
UPDATE pipelines SET status = CASE WHEN active = 1 THEN 'active'
                                   ELSE 'not_active' END,
       raw_msg = '', failures = 0, updated_at = :now
WHERE id = :id;

-- name: pipeline_failed
UPDATE pipelines SET failures = failures + 1,
       status = CASE WHEN failures + 1 >= :max_failures
                     THEN 'too_many_consecutive_failed_builds'
                     ELSE 'error_building_tables' END,
       raw_msg = :message, updated_at = :now
WHERE id = :id;

-- Moves the cursor from :old to :new; changes = 0 when another run moved
-- it first (the batch is then rolled back).
-- name: pipeline_cursor
UPDATE pipelines SET cursor = :new WHERE id = :id AND cursor = :old;

-- The next records a run moves: visible ones after the cursor, and only
-- below the first record of a delivery still being written (whose
-- records become visible later: the cursor must not pass them).
-- name: records_to_move
SELECT r.id, r.received_at, r.data FROM records r
WHERE r.pipeline_id = :pipeline_id AND r.id > :after
  AND r.id < coalesce((SELECT min(x.id) FROM deliveries d
                       JOIN records x ON x.delivery_id = d.id
                       WHERE d.pipeline_id = :pipeline_id
                         AND d.done_at IS NULL), 9223372036854775807)
ORDER BY r.id LIMIT :limit;

-- name: model_for_run
SELECT m.id, m.account_id, m.name, m.sql, m.config, m.destination_id,
       d.type AS destination_type
FROM models m JOIN destinations d ON d.id = m.destination_id
WHERE m.id = :id;

-- name: model_exists
SELECT id FROM models WHERE account_id = :account_id AND id = :id;

-- A Via destination's tables (016) -------------------------------------------

-- name: via_table_get
SELECT id, columns, row_count FROM via_tables
WHERE destination_id = :destination_id AND name = :name;

-- name: via_table_add
INSERT INTO via_tables (account_id, destination_id, name, updated_at)
VALUES (:account_id, :destination_id, :name, :now)
ON CONFLICT (destination_id, name) DO NOTHING;

-- name: via_table_grow
UPDATE via_tables SET columns = :columns, row_count = row_count + :added,
       updated_at = :now
WHERE id = :id;

-- Up to :limit rows of a table (a table is dropped a batch at a time).
-- name: via_rows_delete_some
DELETE FROM via_rows WHERE table_id = :table_id AND id IN (
  SELECT id FROM via_rows WHERE table_id = :table_id ORDER BY id LIMIT :limit);

-- name: via_table_rename
UPDATE via_tables SET name = :new, updated_at = :now
WHERE destination_id = :destination_id AND name = :old;

-- name: via_row_add
INSERT INTO via_rows (table_id, id, data) VALUES (:table_id, :id, :data);

-- name: via_tables_of
SELECT id, name, columns, row_count, updated_at FROM via_tables
WHERE destination_id = :destination_id ORDER BY name;

-- name: via_rows_page
SELECT id, data FROM via_rows WHERE table_id = :table_id AND id > :after
ORDER BY id LIMIT :limit;

-- :delivery_id is host.null for a delivery written in one transaction.
-- name: record_add
INSERT INTO records (pipeline_id, destination_id, token_id, received_at, data,
                     delivery_id)
VALUES (:pipeline_id, :destination_id, :token_id, :now, :data, :delivery_id);

-- Deliveries written in several transactions (011).
-- name: delivery_open
INSERT INTO deliveries (pipeline_id, account_id, token_id, records, bytes,
                        started_at)
VALUES (:pipeline_id, :account_id, :token_id, :records, :bytes, :now);

-- name: delivery_done
UPDATE deliveries SET done_at = :now WHERE id = :id AND done_at IS NULL;

-- name: delivery_drop_records
DELETE FROM records WHERE delivery_id = :id;

-- name: delivery_drop
DELETE FROM deliveries WHERE id = :id AND done_at IS NULL;

-- Open deliveries older than :before (their worker died): the runner
-- removes them.
-- name: deliveries_stale
SELECT id FROM deliveries WHERE done_at IS NULL AND started_at < :before
ORDER BY id LIMIT :limit;

-- What account_quota_mb counts: the account's records and objects, the
-- sum of its stripes (015; SQLite writes stripe 0 only).
-- name: account_usage_bytes
SELECT coalesce((SELECT sum(bytes + object_bytes) FROM account_usage
                 WHERE account_id = :account_id), 0) AS bytes;

-- name: account_objects_add
INSERT INTO account_usage (account_id, stripe, object_bytes)
VALUES (:account_id, 0, :bytes)
ON CONFLICT (account_id, stripe) DO UPDATE SET
  object_bytes = object_bytes + excluded.object_bytes;

-- name: account_usage_add
INSERT INTO account_usage (account_id, stripe, records, bytes)
VALUES (:account_id, 0, :records, :bytes)
ON CONFLICT (account_id, stripe) DO UPDATE SET
  records = records + excluded.records, bytes = bytes + excluded.bytes;

-- The visible records of a pipeline after an id (a delivery's only once
-- it is done): their ids and sizes, so a page can stop at a byte budget
-- before any data is read.
-- name: records_sizes
SELECT r.id, length(r.data) AS size FROM records r
WHERE r.pipeline_id = :pipeline_id AND r.id > :after
  AND (r.delivery_id IS NULL OR (SELECT d.done_at FROM deliveries d
                                 WHERE d.id = r.delivery_id) IS NOT NULL)
ORDER BY r.id LIMIT :limit;

-- The records of one page: after :after up to :upto (visible ones).
-- name: records_page
SELECT r.id, r.received_at, r.data FROM records r
WHERE r.pipeline_id = :pipeline_id AND r.id > :after AND r.id <= :upto
  AND (r.delivery_id IS NULL OR (SELECT d.done_at FROM deliveries d
                                 WHERE d.id = r.delivery_id) IS NOT NULL)
ORDER BY r.id;

-- The caller's own tokens (the API manages only those), as token_rows
-- has them (lua/tokens.lua shapes them).
-- name: tokens_of_user
SELECT r.* FROM token_rows r WHERE r.user_id = :user_id
ORDER BY r.id DESC LIMIT :limit OFFSET :offset;

-- One-time views of a new secret (fcgi/bridge/lhost_reveal.c, schema 013).
-- name: reveal_put
INSERT INTO secret_views (session_id, nonce, box, created_at)
VALUES (:session_id, :nonce, :box, :now);

-- name: reveal_prune
DELETE FROM secret_views WHERE created_at < :since;

-- name: reveal_get
SELECT nonce, box FROM secret_views
WHERE id = :id AND session_id = :session_id AND created_at >= :since;

-- name: reveal_delete
DELETE FROM secret_views WHERE id = :id;

-- The outbox of host.notify (fcgi/bridge/lhost_notify.c adds,
-- fcgi/process/notify.c delivers).
-- name: outbox_add
INSERT INTO outbox (name, payload, created_at, next_at)
VALUES (:name, :payload, :now, :now);

-- name: outbox_due
SELECT id FROM outbox
WHERE status = 'queued' AND next_at <= :now AND lease_until <= :now
ORDER BY next_at, id LIMIT :limit;

-- name: outbox_claim
UPDATE outbox SET lease_until = :lease_until, attempts = attempts + 1
WHERE id = :id AND status = 'queued' AND lease_until <= :now;

-- name: outbox_get
SELECT id, name, payload, created_at, attempts FROM outbox WHERE id = :id;

-- name: outbox_delivered
UPDATE outbox SET status = 'delivered', last_status = :last_status,
       finished_at = :now, lease_until = 0
WHERE id = :id;

-- name: outbox_retry
UPDATE outbox SET next_at = :next_at, last_status = :last_status,
       lease_until = 0
WHERE id = :id;

-- Messages done with (delivered, or failed and audited) before :before:
-- the runner's tick removes them (lua/app.lua).
-- name: outbox_prune
DELETE FROM outbox WHERE status IN ('delivered', 'failed')
  AND finished_at < :before;

-- name: outbox_failed
UPDATE outbox SET status = 'failed', last_status = :last_status,
       finished_at = :now, lease_until = 0
WHERE id = :id;

-- Deleting objects (lua/objects_delete.lua) ---------------------------------------
-- What refers to an object, one query per kind ("is it in use", HTTP.md
-- DELETE): the first referrer as { what, id, name }, or no row. A source
-- is used by a pipeline; a destination by a pipeline, a model, a Via
-- token (any, active or not) or the records a pipeline moved there; a
-- pipeline or a model while it has a run queued or running. Referrers are
-- looked for in every account (an id is one row), so the delete never
-- leaves a dangling reference.

-- name: object_in_use_sources
SELECT 'pipeline' AS what, p.id AS id, p.name AS name FROM pipelines p
WHERE p.source_id = :id ORDER BY p.id LIMIT 1;

-- name: object_in_use_destinations
SELECT what, id, name FROM (
  SELECT 1 AS k, 'pipeline' AS what, p.id AS id, p.name AS name
  FROM pipelines p WHERE p.destination_id = :id
  UNION ALL
  SELECT 2, 'model', m.id, m.name FROM models m WHERE m.destination_id = :id
  UNION ALL
  SELECT 3, 'Via token', t.id, t.key FROM tokens t WHERE t.destination_id = :id
  UNION ALL
  SELECT * FROM (SELECT 4, 'records of pipeline', r.pipeline_id, ''
                 FROM records r WHERE r.destination_id = :id LIMIT 1)
) ORDER BY k, id LIMIT 1;

-- name: object_in_use_pipelines
SELECT 'run' AS what, r.id AS id, r.status AS name FROM runs r
WHERE r.pipeline_id = :id AND r.status IN ('queued', 'running')
ORDER BY r.id LIMIT 1;

-- name: object_in_use_models
SELECT 'run' AS what, r.id AS id, r.status AS name FROM runs r
WHERE r.model_id = :id AND r.status IN ('queued', 'running')
ORDER BY r.id LIMIT 1;

-- The records of a pipeline that account_usage counts (a done delivery's
-- or one written whole: lua/deliveries.lua), and their JSON bytes.
-- name: pipeline_records_usage
SELECT count(*) AS records,
       coalesce(sum(length(CAST(r.data AS BLOB))), 0) AS bytes
FROM records r
WHERE r.pipeline_id = :id
  AND (r.delivery_id IS NULL OR (SELECT d.done_at FROM deliveries d
                                 WHERE d.id = r.delivery_id) IS NOT NULL);

-- name: pipeline_records_delete
DELETE FROM records WHERE pipeline_id = :id;

-- name: pipeline_deliveries_delete
DELETE FROM deliveries WHERE pipeline_id = :id;

-- name: pipeline_runs_delete
DELETE FROM runs WHERE pipeline_id = :id;

-- name: model_runs_delete
DELETE FROM runs WHERE model_id = :id;

-- A destination's Via tables go with it (016).
-- name: via_rows_delete_of_destination
DELETE FROM via_rows WHERE table_id IN (SELECT id FROM via_tables
                                        WHERE destination_id = :id);

-- name: via_tables_delete_of_destination
DELETE FROM via_tables WHERE destination_id = :id;

-- A model's table (model_{id}) goes with the model.
-- name: via_table_rows_delete
DELETE FROM via_rows WHERE table_id IN (SELECT id FROM via_tables
                                        WHERE destination_id = :destination_id
                                          AND name = :name);

-- name: via_table_delete
DELETE FROM via_tables WHERE destination_id = :destination_id AND name = :name;

-- name: sources_delete
DELETE FROM sources WHERE account_id = :account_id AND id = :id;

-- name: destinations_delete
DELETE FROM destinations WHERE account_id = :account_id AND id = :id;

-- name: pipelines_delete
DELETE FROM pipelines WHERE account_id = :account_id AND id = :id;

-- name: models_delete
DELETE FROM models WHERE account_id = :account_id AND id = :id;

-- The command line -----------------------------------------------------------

-- What tessera user and tessera token did (fcgi/domain/audit.c's
-- audit_write_cli): no user acted (user_id NULL), ip 'cli', no token. The
-- object names what changed; the account is the object's.
-- name: audit_add_cli
INSERT INTO audit_log (at, account_id, user_id, action, object, ip, detail,
                       via_token)
VALUES (:now, :account_id, NULL, :action, :object, 'cli', :detail, '');

-- tessera token list: newest first, never a secret or a hash; '' is no
-- filter; the tokens of active users of active accounts unless :all = 1.
-- name: cli_tokens
SELECT r.key, r.kind, r.active, r.description, r.scopes, r.expires_at,
       r.last_used_at
FROM token_rows r
JOIN users u ON u.id = r.user_id
JOIN accounts a ON a.id = r.account_id
WHERE (:account = '' OR a.name = :account)
  AND (:email_norm = '' OR u.email_norm = :email_norm)
  AND (:kind = '' OR r.kind = :kind)
  AND (:all = 1 OR (u.active = 1 AND a.active = 1))
ORDER BY r.id DESC;

-- tessera audit list: newest first, at most :limit, in [:since, :until).
-- :email_norm selects what that person did (the command line's rows are
-- nobody's, even the old ones that named the token's owner).
-- name: cli_audit
SELECT l.at, coalesce(a.name, '') AS account, coalesce(u.email, '') AS email,
       l.via_token, l.action, l.object, l.ip, l.detail
FROM audit_log l
LEFT JOIN accounts a ON a.id = l.account_id
LEFT JOIN users u ON u.id = l.user_id
WHERE (:account = '' OR a.name = :account)
  AND (:email_norm = '' OR (u.email_norm = :email_norm AND l.ip <> 'cli'))
  AND (:action = '' OR l.action = :action)
  AND l.at >= :since AND l.at < :until
ORDER BY l.id DESC LIMIT :limit;

-- The activity page ----------------------------------------------------------
-- /settings/activity (lua/routes/activity.lua) and the audit rows that
-- say who acted (lua/hooks.lua). A token.* row is about the token its
-- object names; its owner is owner_id or, for rows written without one
-- (the command line's, older ones), that token's user. Filters: mine (a
-- member: rows they did or that were about their tokens; 0 = the whole
-- account), user_id (who
-- acted; 0 = anyone), key (a token key or its start, lower-case hex and
-- hyphens only: the token that acted or, for token.* rows, the token
-- acted on; '' = any), action ('' = any), since <= at < until.

-- name: audit_add_by
INSERT INTO audit_log (at, account_id, user_id, action, object, ip, detail,
                       via_token, owner_id, actor)
VALUES (:now, :account_id, :user_id, :action, :object, :ip, :detail,
        :via_token, :owner_id, :actor);

-- name: activity_count
SELECT count(*) AS n FROM audit_log l
     LEFT JOIN tokens t ON l.action LIKE 'token.%' AND t.key = l.object
WHERE l.account_id = :account_id
  AND (:mine = 0 OR l.user_id = :mine OR l.owner_id = :mine
       OR t.user_id = :mine)
  AND (:user_id = 0 OR l.user_id = :user_id)
  AND (:key = '' OR l.via_token LIKE :key || '%'
       OR (l.action LIKE 'token.%' AND l.object LIKE :key || '%'))
  AND (:action = '' OR l.action = :action)
  AND l.at >= :since AND l.at < :until;

-- name: activity_page
SELECT l.id, l.at, l.action, l.object, l.ip, l.detail, l.via_token, l.actor,
       l.user_id, u.email, l.owner_id, o.email AS owner_email,
       iso_time(l.at) AS at_iso, utc_minute(l.at) AS at_text
FROM audit_log l LEFT JOIN users u ON u.id = l.user_id
     LEFT JOIN tokens t ON l.action LIKE 'token.%' AND t.key = l.object
     LEFT JOIN users o ON o.id = coalesce(l.owner_id, t.user_id)
WHERE l.account_id = :account_id
  AND (:mine = 0 OR l.user_id = :mine OR l.owner_id = :mine
       OR t.user_id = :mine)
  AND (:user_id = 0 OR l.user_id = :user_id)
  AND (:key = '' OR l.via_token LIKE :key || '%'
       OR (l.action LIKE 'token.%' AND l.object LIKE :key || '%'))
  AND (:action = '' OR l.action = :action)
  AND l.at >= :since AND l.at < :until
ORDER BY l.at DESC, l.id DESC LIMIT :limit OFFSET :offset;

-- The actions the filter offers: those in the viewer's rows.
-- name: activity_actions
SELECT l.action FROM audit_log l
     LEFT JOIN tokens t ON l.action LIKE 'token.%' AND t.key = l.object
WHERE l.account_id = :account_id
  AND (:mine = 0 OR l.user_id = :mine OR l.owner_id = :mine
       OR t.user_id = :mine)
GROUP BY l.action ORDER BY l.action;

-- The people the "who" filter offers: the account's users.
-- name: activity_users
SELECT id, email FROM users WHERE account_id = :account_id
ORDER BY email_norm;

-- The tokens page, sorted and paged ------------------------------------------

-- A page of tokens as tokens_page shows them, for the sorts other than
-- newest first and for the scope filter: :sort is created, last_used,
-- expires or description, :dir asc or desc (routes/tokens.lua checks
-- both), :scope a mask of scope bits the token must all hold (0: any).
-- Never used sorts after used; never expires after any date; ties by id.
-- It reads the account's tokens and sorts them (a few thousand: a
-- millisecond or two); newest first stays on tokens_page and its index.
-- name: tokens_page_sorted
SELECT r.key, r.description, r.active, r.last_used_at, r.last_used_ip,
       r.created_by, r.updated_by, r.destination, r.scopes,
       r.allowed_ips, r.expires_at,
       iso_time(r.expires_at) AS expires_iso,
       utc_minute(r.expires_at) AS expires_text,
       iso_time(r.created_at) AS created_iso,
       utc_minute(r.created_at) AS created_text,
       CASE WHEN r.updated_by IS NOT NULL THEN iso_time(r.updated_at)
       END AS updated_iso,
       CASE WHEN r.updated_by IS NOT NULL THEN utc_minute(r.updated_at)
       END AS updated_text,
       iso_time(r.last_used_at) AS last_used_iso,
       utc_minute(r.last_used_at) AS last_used_text
FROM token_rows r
WHERE account_id = :account_id AND kind = :kind
  AND (:all = 1 OR user_id = :user_id)
  AND (:q = '' OR instr(lower(description), lower(:q)) > 0
       OR key LIKE :q || '%')
  AND (r.scopes & :scope) = :scope
ORDER BY
  CASE WHEN :sort = 'created' AND :dir = 'asc' THEN r.id END ASC,
  CASE WHEN :sort = 'last_used' THEN r.last_used_at IS NULL END ASC,
  CASE WHEN :sort = 'last_used' AND :dir = 'asc' THEN r.last_used_at END ASC,
  CASE WHEN :sort = 'last_used' AND :dir = 'desc' THEN r.last_used_at END DESC,
  CASE WHEN :sort = 'expires' AND :dir = 'asc'
       THEN coalesce(r.expires_at, 9223372036854775807) END ASC,
  CASE WHEN :sort = 'expires' AND :dir = 'desc'
       THEN coalesce(r.expires_at, 9223372036854775807) END DESC,
  CASE WHEN :sort = 'description' AND :dir = 'asc'
       THEN lower(r.description) END ASC,
  CASE WHEN :sort = 'description' AND :dir = 'desc'
       THEN lower(r.description) END DESC,
  r.id DESC
LIMIT :limit OFFSET :offset;

-- How many tokens tokens_page_sorted pages through.
-- name: tokens_count_sorted
SELECT count(*) AS n FROM tokens t
WHERE t.account_id = :account_id AND t.kind = :kind
  AND (:all = 1 OR t.user_id = :user_id)
  AND (:q = '' OR instr(lower(t.description), lower(:q)) > 0
       OR t.key LIKE :q || '%')
  AND (t.scopes & :scope) = :scope;

-- People (Settings -> People, lua/routes/people.lua; fcgi/domain/people.c) --

-- name: user_logged_in
UPDATE users SET last_login_at = :now WHERE id = :id;

-- name: session_delete_user_except
DELETE FROM sessions WHERE user_id = :user_id AND id <> :keep;

-- name: people_count
SELECT count(*) AS n FROM users WHERE account_id = :account_id;

-- The account's people, by email; tokens: how many they own (any kind),
-- active_tokens: how many of those are on. invited: no password yet.
-- name: people_page
SELECT u.id, u.email, u.role, u.active,
       CASE WHEN u.password_hash = '' THEN 1 ELSE 0 END AS invited,
       u.last_login_at, u.created_at,
       (SELECT count(*) FROM tokens t WHERE t.user_id = u.id) AS tokens,
       (SELECT count(*) FROM tokens t WHERE t.user_id = u.id AND t.active = 1)
         AS active_tokens
FROM users u WHERE u.account_id = :account_id
ORDER BY u.email_norm LIMIT :limit OFFSET :offset;

-- One person of the account (nothing for another account's).
-- name: person
SELECT u.id, u.email, u.role, u.active,
       CASE WHEN u.password_hash = '' THEN 1 ELSE 0 END AS invited,
       u.last_login_at, u.created_at,
       (SELECT count(*) FROM tokens t WHERE t.user_id = u.id) AS tokens,
       (SELECT count(*) FROM tokens t WHERE t.user_id = u.id AND t.active = 1)
         AS active_tokens
FROM users u WHERE u.id = :id AND u.account_id = :account_id;

-- name: people_lock_account
-- Taken first by a change that asks people_admins_active (SQLite runs one
-- writer at a time already; PostgreSQL locks the account's row).
SELECT id FROM accounts WHERE id = :account_id;

-- The account's admins who can act: on, with a password.
-- name: people_admins_active
SELECT count(*) AS n FROM users
WHERE account_id = :account_id AND role = 'admin' AND active = 1
  AND password_hash <> '';

-- name: user_set_role
UPDATE users SET role = :role, updated_at = :now WHERE id = :id;

-- name: password_link_add
INSERT INTO password_links (user_id, secret_hash, created_by, created_at,
                            expires_at)
VALUES (:user_id, :secret_hash, :created_by, :now, :expires_at);

-- name: password_links_drop_user
DELETE FROM password_links WHERE user_id = :user_id;

-- name: password_link_by_hash
SELECT l.id, l.user_id, l.expires_at, l.used_at, u.email, u.account_id,
       u.active, a.active AS account_active
FROM password_links l JOIN users u ON u.id = l.user_id
     JOIN accounts a ON a.id = u.account_id
WHERE l.secret_hash = :secret_hash;

-- name: password_link_use
UPDATE password_links SET used_at = :now WHERE id = :id AND used_at IS NULL;

-- name: password_hash_of
SELECT password_hash FROM users WHERE id = :id;

-- Metrics (fcgi/process/worker.c, metrics_path) -------------------------------

-- name: metrics_runs
SELECT status, count(*) AS n FROM runs
WHERE status IN ('queued', 'running') GROUP BY status ORDER BY status;
