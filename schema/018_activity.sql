-- 018_activity.sql -- the activity page (/settings/activity, lua/routes/
-- activity.lua) reads the audit log by account, newest first, filtered by
-- who acted and by whose token it was. Two columns make the rows say the
-- truth (lua/hooks.lua writes them through audit_add_by):
--   owner_id  the user whose token (or thing) the event is about, when
--             that is not who acted: an admin switching off a member's
--             token, the runner's expiry notices; NULL when the same
--   actor     who acted when no person did: 'runner' (expiry notices,
--             failed runs), 'cli' (the command line); '' when a person
--             (user_id) or one of their tokens (via_token) acted
-- The gate's and the command line's rows through audit_add leave both at
-- their defaults.
ALTER TABLE audit_log ADD COLUMN owner_id INTEGER REFERENCES users (id);
ALTER TABLE audit_log ADD COLUMN actor TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_log_user ON audit_log (account_id, user_id, at);
CREATE INDEX audit_log_owner ON audit_log (account_id, owner_id, at);
