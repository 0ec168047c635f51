-- 005: the account's token index also carries user_id, so counting a
-- member's tokens (or an admin's view) reads the index alone.
DROP INDEX tokens_account;
CREATE INDEX tokens_account ON tokens (account_id, kind, id, user_id);
