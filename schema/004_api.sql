-- 004: what tokens are for. The platform objects the API creates and
-- edits (destinations exist since 003), pipeline runs, webhook records,
-- and per-token counters (no row per request).

CREATE TABLE sources (
	id		INTEGER PRIMARY KEY,
	account_id	INTEGER NOT NULL REFERENCES accounts (id),
	name		TEXT NOT NULL,
	type		TEXT NOT NULL,
	config		TEXT NOT NULL DEFAULT '{}',
	created_by	INTEGER NOT NULL REFERENCES users (id),
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL
) STRICT;
CREATE INDEX sources_account ON sources (account_id, id);

-- status is one of the platform's words (see HTTP.md); a run request
-- makes an active pipeline 'scheduled'.
CREATE TABLE pipelines (
	id		INTEGER PRIMARY KEY,
	account_id	INTEGER NOT NULL REFERENCES accounts (id),
	name		TEXT NOT NULL,
	type		TEXT NOT NULL,
	config		TEXT NOT NULL DEFAULT '{}',
	source_id	INTEGER NOT NULL REFERENCES sources (id),
	destination_id	INTEGER NOT NULL REFERENCES destinations (id),
	active		INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
	status		TEXT NOT NULL DEFAULT 'active' CHECK (status IN (
			  'running', 'scheduled', 'active', 'not_active',
			  'building_tables', 'error_building_tables',
			  'too_many_consecutive_failed_builds',
			  'too_many_consecutive_failed_builds__blocked')),
	raw_msg		TEXT NOT NULL DEFAULT '',
	created_by	INTEGER NOT NULL REFERENCES users (id),
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL
) STRICT;
CREATE INDEX pipelines_account ON pipelines (account_id, id);

CREATE TABLE models (
	id		INTEGER PRIMARY KEY,
	account_id	INTEGER NOT NULL REFERENCES accounts (id),
	name		TEXT NOT NULL,
	type		TEXT NOT NULL,
	config		TEXT NOT NULL DEFAULT '{}',
	destination_id	INTEGER NOT NULL REFERENCES destinations (id),
	sql		TEXT NOT NULL,
	created_by	INTEGER NOT NULL REFERENCES users (id),
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL
) STRICT;
CREATE INDEX models_account ON models (account_id, id);

CREATE TABLE pipeline_runs (
	id		INTEGER PRIMARY KEY,
	pipeline_id	INTEGER NOT NULL REFERENCES pipelines (id),
	token_id	INTEGER REFERENCES tokens (id),
	status		TEXT NOT NULL DEFAULT 'queued',
	requested_at	INTEGER NOT NULL
) STRICT;
CREATE INDEX pipeline_runs_pipeline ON pipeline_runs (pipeline_id, id);

-- Webhook deliveries: one row per JSON object, stored for the pipeline's
-- destination before the 200 is sent.
CREATE TABLE records (
	id		INTEGER PRIMARY KEY,
	pipeline_id	INTEGER NOT NULL REFERENCES pipelines (id),
	destination_id	INTEGER NOT NULL REFERENCES destinations (id),
	token_id	INTEGER NOT NULL REFERENCES tokens (id),
	received_at	INTEGER NOT NULL,
	data		TEXT NOT NULL
) STRICT;
CREATE INDEX records_pipeline ON records (pipeline_id, id);

ALTER TABLE tokens ADD COLUMN first_used_at INTEGER;
ALTER TABLE tokens ADD COLUMN runs_requested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN webhooks_received INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN records_received INTEGER NOT NULL DEFAULT 0;
