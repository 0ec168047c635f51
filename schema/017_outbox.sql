-- 017_outbox.sql -- notifications out (host.notify, fcgi/process/notify.c):
-- one row per message, written in the transaction of what caused it; the
-- runner claims a due row with a lease (lease_until), POSTs it to the
-- URL notify_targets names for it, and marks it delivered on a 2xx, or
-- due again at next_at (backoff), or failed after notify_max_attempts
-- (with an audit row). A runner killed part-way leaves a lease that runs
-- out: the message is sent again (at least once).
CREATE TABLE outbox (
	id		INTEGER PRIMARY KEY,
	name		TEXT NOT NULL,
	payload		TEXT NOT NULL,
	created_at	INTEGER NOT NULL,
	status		TEXT NOT NULL DEFAULT 'queued'
			CHECK (status IN ('queued', 'delivered', 'failed')),
	attempts	INTEGER NOT NULL DEFAULT 0,
	next_at		INTEGER NOT NULL,
	lease_until	INTEGER NOT NULL DEFAULT 0,
	last_status	INTEGER NOT NULL DEFAULT 0,
	finished_at	INTEGER
) STRICT;
CREATE INDEX outbox_due ON outbox (status, next_at);
