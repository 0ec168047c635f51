-- 001: the host's own bookkeeping. schema_migrations is created by the
-- host itself before the first migration runs.

-- Small key/value facts about this installation (when it was set up,
-- flags for later migrations). value is ANY so integers stay integers.
CREATE TABLE meta (
	key	TEXT PRIMARY KEY,
	value	ANY NOT NULL
) STRICT;

INSERT INTO meta (key, value) VALUES ('installed_at', unixepoch());
