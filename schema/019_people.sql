-- 019_people.sql -- Settings -> People (/settings/users, lua/routes/
-- people.lua).
--   users.last_login_at  the last successful login (NULL: never); written
--                        by host.auth.login
--   password_links       the one-time set-password links an admin makes
--                        for a new (invited) user or one who needs a new
--                        password: only the keyed BLAKE2b of the link's
--                        secret is kept (fcgi/domain/people.c), it ends at
--                        expires_at, and used_at marks it spent. A user
--                        has at most one unused link: a new one replaces
--                        it.
-- An invited user is one whose password_hash is '' (no password verifies
-- against it) until they set one through a link.
ALTER TABLE users ADD COLUMN last_login_at INTEGER;

CREATE TABLE password_links (
	id		INTEGER PRIMARY KEY,
	user_id		INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	secret_hash	BLOB NOT NULL UNIQUE,
	created_by	INTEGER REFERENCES users (id),
	created_at	INTEGER NOT NULL,
	expires_at	INTEGER NOT NULL,
	used_at		INTEGER
) STRICT;
CREATE INDEX password_links_user ON password_links (user_id);
