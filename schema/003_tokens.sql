-- 003: API tokens, and the destinations that Via tokens are made for.

-- Platform objects arrive in full with the API; destinations come first
-- because a Via token names the destination it was made for.
CREATE TABLE destinations (
	id		INTEGER PRIMARY KEY,
	account_id	INTEGER NOT NULL REFERENCES accounts (id),
	name		TEXT NOT NULL,
	type		TEXT NOT NULL,
	config		TEXT NOT NULL DEFAULT '{}',
	created_by	INTEGER NOT NULL REFERENCES users (id),
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL
) STRICT;
CREATE INDEX destinations_account ON destinations (account_id, id);

-- key is the public UUID (the "username"); the secret is stored only as
-- its BLAKE2b-256 keyed with the pepper. A token acts with the rights of
-- user_id, its creator, inside account_id.
CREATE TABLE tokens (
	id		INTEGER PRIMARY KEY,
	key		TEXT NOT NULL UNIQUE,
	secret_hash	BLOB NOT NULL UNIQUE,
	kind		TEXT NOT NULL CHECK (kind IN ('user', 'via')),
	description	TEXT NOT NULL,
	account_id	INTEGER NOT NULL REFERENCES accounts (id),
	user_id		INTEGER NOT NULL REFERENCES users (id),
	destination_id	INTEGER REFERENCES destinations (id),
	active		INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL,
	updated_by	INTEGER REFERENCES users (id),	-- last switch, if any
	last_used_at	INTEGER,
	last_used_ip	TEXT,
	expires_at	INTEGER,
	CHECK ((kind = 'via') = (destination_id IS NOT NULL))
) STRICT;
CREATE INDEX tokens_account ON tokens (account_id, kind, id);
CREATE INDEX tokens_user ON tokens (user_id, kind, id);
