-- 007: how many tokens each person has, per kind, kept by triggers, so the
-- tokens page counts in one indexed read instead of walking every token.
-- (Tokens never change account, owner or kind after they are made.)
CREATE TABLE token_counts (
	account_id	INTEGER NOT NULL,
	kind		TEXT NOT NULL,
	user_id		INTEGER NOT NULL,
	n		INTEGER NOT NULL,
	PRIMARY KEY (account_id, kind, user_id)
) STRICT, WITHOUT ROWID;

INSERT INTO token_counts (account_id, kind, user_id, n)
SELECT account_id, kind, user_id, count(*) FROM tokens GROUP BY 1, 2, 3;

CREATE TRIGGER token_counts_add AFTER INSERT ON tokens BEGIN
	INSERT INTO token_counts (account_id, kind, user_id, n)
	VALUES (new.account_id, new.kind, new.user_id, 1)
	ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER token_counts_remove AFTER DELETE ON tokens BEGIN
	UPDATE token_counts SET n = n - 1
	WHERE account_id = old.account_id AND kind = old.kind
	  AND user_id = old.user_id;
END;
