-- 012: login throttling per (email, address) as well (step 8): a scope
-- 'pair' beside 'ip' and 'email'. An email's own failures now only slow
-- its logins down; the lock is per pair, so five wrong passwords from
-- anywhere no longer lock the right one out from another address.
CREATE TABLE login_failures_new (
	scope		TEXT NOT NULL CHECK (scope IN ('ip', 'email', 'pair')),
	key		TEXT NOT NULL,
	at		INTEGER NOT NULL
) STRICT;
INSERT INTO login_failures_new (scope, key, at)
SELECT scope, key, at FROM login_failures;
DROP TABLE login_failures;
ALTER TABLE login_failures_new RENAME TO login_failures;
CREATE INDEX login_failures_key ON login_failures (scope, key, at);
