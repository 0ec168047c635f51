-- 013: one-time views of a new secret (step 8): a page form that makes or
-- rotates a token without JavaScript redirects to a page that takes the
-- secret from here once (post/redirect/get), so a reload makes no second
-- token. The secret is sealed under a key derived from the session's
-- cookie and the pepper (fcgi/bridge/lhost_reveal.c): this table alone opens
-- nothing. A view goes when it is shown, with its session, or after ten
-- minutes.
CREATE TABLE secret_views (
	id		INTEGER PRIMARY KEY,
	session_id	INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	nonce		BLOB NOT NULL,
	box		BLOB NOT NULL,
	created_at	INTEGER NOT NULL
) STRICT;
CREATE INDEX secret_views_session ON secret_views (session_id);
CREATE INDEX secret_views_created ON secret_views (created_at);
