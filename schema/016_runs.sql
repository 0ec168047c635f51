-- 016: runs that run (step 11).
--
-- runs replaces pipeline_runs: a queued run of a pipeline or of a model,
-- claimed by a runner with a lease (lease_until), so a runner that dies
-- part-way leaves a run another one takes up again (attempts counts the
-- claims) or marks failed; never one stuck 'running'.
CREATE TABLE runs (
	id		INTEGER PRIMARY KEY,
	account_id	INTEGER NOT NULL REFERENCES accounts (id),
	pipeline_id	INTEGER REFERENCES pipelines (id),
	model_id	INTEGER REFERENCES models (id),
	token_id	INTEGER REFERENCES tokens (id),
	status		TEXT NOT NULL DEFAULT 'queued' CHECK (status IN (
			  'queued', 'running', 'success', 'failed')),
	queued_at	INTEGER NOT NULL,
	started_at	INTEGER,
	finished_at	INTEGER,
	records		INTEGER NOT NULL DEFAULT 0,
	message		TEXT NOT NULL DEFAULT '',
	lease_until	INTEGER,
	attempts	INTEGER NOT NULL DEFAULT 0,
	CHECK ((pipeline_id IS NULL) <> (model_id IS NULL))
) STRICT;
CREATE INDEX runs_pipeline ON runs (pipeline_id, id) WHERE pipeline_id IS NOT NULL;
CREATE INDEX runs_model ON runs (model_id, id) WHERE model_id IS NOT NULL;
CREATE INDEX runs_open ON runs (status, id) WHERE status IN ('queued', 'running');

-- The requests of before: each active pipeline's newest stays queued (it
-- runs now), the others are history.
INSERT INTO runs (id, account_id, pipeline_id, token_id, status, queued_at,
                  finished_at, message)
SELECT r.id, p.account_id, r.pipeline_id, r.token_id,
       CASE WHEN r.id = m.last AND p.active = 1 THEN 'queued' ELSE 'failed' END,
       r.requested_at,
       CASE WHEN r.id = m.last AND p.active = 1 THEN NULL
            ELSE r.requested_at END,
       CASE WHEN r.id = m.last AND p.active = 1 THEN ''
            WHEN r.id = m.last THEN 'the pipeline was not active (016)'
            ELSE 'superseded by a later request (016)' END
FROM pipeline_runs r JOIN pipelines p ON p.id = r.pipeline_id
JOIN (SELECT pipeline_id, max(id) AS last FROM pipeline_runs
      GROUP BY pipeline_id) m ON m.pipeline_id = r.pipeline_id;
DROP TABLE pipeline_runs;

-- cursor: the last records.id a run moved to the destination (moved in
-- the transaction that advances it: exactly once); failures: failed runs
-- in a row (pipeline_max_failures of them block the pipeline).
ALTER TABLE pipelines ADD COLUMN cursor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pipelines ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;

-- A Via destination's tables, held here: the columns (a JSON array of
-- {"name", "type"} in the order first seen) and the row count; each row
-- is a JSON object. Reached only through the destination's id.
CREATE TABLE via_tables (
	id		INTEGER PRIMARY KEY,
	account_id	INTEGER NOT NULL REFERENCES accounts (id),
	destination_id	INTEGER NOT NULL REFERENCES destinations (id),
	name		TEXT NOT NULL,
	columns		TEXT NOT NULL DEFAULT '[]',
	row_count	INTEGER NOT NULL DEFAULT 0,
	updated_at	INTEGER NOT NULL,
	UNIQUE (destination_id, name)
) STRICT;

CREATE TABLE via_rows (
	table_id	INTEGER NOT NULL REFERENCES via_tables (id),
	id		INTEGER NOT NULL,
	data		TEXT NOT NULL,
	PRIMARY KEY (table_id, id)
) STRICT, WITHOUT ROWID;
