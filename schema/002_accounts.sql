-- 002: accounts (customer teams), their users, browser sessions, login
-- throttling and the audit log.

CREATE TABLE accounts (
	id		INTEGER PRIMARY KEY,
	name		TEXT NOT NULL UNIQUE,
	active		INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
	created_at	INTEGER NOT NULL
) STRICT;

-- email keeps what the person typed; email_norm (lower case, trimmed) is
-- what logins match and what must be unique.
CREATE TABLE users (
	id		INTEGER PRIMARY KEY,
	account_id	INTEGER NOT NULL REFERENCES accounts (id),
	email		TEXT NOT NULL,
	email_norm	TEXT NOT NULL UNIQUE,
	password_hash	TEXT NOT NULL,
	role		TEXT NOT NULL DEFAULT 'member'
			CHECK (role IN ('admin', 'member')),
	active		INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL
) STRICT;
CREATE INDEX users_account ON users (account_id);

-- Only the keyed hash of a session id is stored. expires_at is the
-- absolute end; last_seen_at drives the idle timeout.
CREATE TABLE sessions (
	id		INTEGER PRIMARY KEY,
	id_hash		BLOB NOT NULL UNIQUE,
	user_id		INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf		TEXT NOT NULL,
	created_at	INTEGER NOT NULL,
	last_seen_at	INTEGER NOT NULL,
	expires_at	INTEGER NOT NULL,
	ip		TEXT NOT NULL,
	user_agent	TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);

-- One row per failed login, per scope ('ip' or 'email'); rows older than
-- the window are deleted as new ones arrive.
CREATE TABLE login_failures (
	scope		TEXT NOT NULL CHECK (scope IN ('ip', 'email')),
	key		TEXT NOT NULL,
	at		INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_key ON login_failures (scope, key, at);

CREATE TABLE audit_log (
	id		INTEGER PRIMARY KEY,
	at		INTEGER NOT NULL,
	account_id	INTEGER REFERENCES accounts (id),
	user_id		INTEGER REFERENCES users (id),
	action		TEXT NOT NULL,
	object		TEXT NOT NULL DEFAULT '',
	ip		TEXT NOT NULL DEFAULT '',
	detail		TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_log_account ON audit_log (account_id, at);
