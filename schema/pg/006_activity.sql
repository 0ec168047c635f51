-- 006 (PostgreSQL): SQLite's 018, the activity page's columns and indexes
-- on the audit log (see there).
ALTER TABLE audit_log ADD COLUMN owner_id bigint REFERENCES users (id);
ALTER TABLE audit_log ADD COLUMN actor text NOT NULL DEFAULT '';
CREATE INDEX audit_log_user ON audit_log (account_id, user_id, at);
CREATE INDEX audit_log_owner ON audit_log (account_id, owner_id, at);
