-- 002 (PostgreSQL only): tell every host when what the gate checks for a
-- token changes, so the per-worker cache of verified tokens (fcgi/domain/authcache.c)
-- drops it at once. NOTIFY is delivered when the transaction commits, to
-- every connection that LISTENs on "tessera_auth" (each worker's does).
-- The payload is the token's id, or '*' when a user or an account changed
-- (a role, an email, a switch): then every host drops every entry.
-- The columns written on every use (last_used_*, first_used_at, the
-- counters) notify nobody: a host that still thinks a token unused only
-- tries to mark its first use again, and that write changes nothing. SQLite has no cache (a lookup there is a read of a local file)
-- and so no such triggers; test_pg_queries knows these by their suffix.

CREATE FUNCTION tessera_auth_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_TABLE_NAME = 'tokens' THEN
		PERFORM pg_notify('tessera_auth', OLD.id::text);
	ELSE
		PERFORM pg_notify('tessera_auth', '*');
	END IF;
	RETURN NULL;
END;
$$;

CREATE TRIGGER tokens_auth_notify AFTER UPDATE ON tokens FOR EACH ROW
WHEN ((OLD.secret_hash, OLD.active, OLD.expires_at, OLD.kind,
       OLD.description, OLD.key, OLD.user_id, OLD.account_id, OLD.scopes,
       OLD.allowed_ips, OLD.prev_secret_hash, OLD.prev_expires_at,
       OLD.parent_id, OLD.destination_id)
      IS DISTINCT FROM
      (NEW.secret_hash, NEW.active, NEW.expires_at, NEW.kind,
       NEW.description, NEW.key, NEW.user_id, NEW.account_id, NEW.scopes,
       NEW.allowed_ips, NEW.prev_secret_hash, NEW.prev_expires_at,
       NEW.parent_id, NEW.destination_id))
EXECUTE FUNCTION tessera_auth_notify();

CREATE TRIGGER tokens_delete_auth_notify AFTER DELETE ON tokens
FOR EACH ROW EXECUTE FUNCTION tessera_auth_notify();

CREATE TRIGGER users_auth_notify AFTER UPDATE OF email, role, active,
account_id OR DELETE ON users
FOR EACH STATEMENT EXECUTE FUNCTION tessera_auth_notify();

CREATE TRIGGER accounts_auth_notify AFTER UPDATE OF name, active OR DELETE
ON accounts FOR EACH STATEMENT EXECUTE FUNCTION tessera_auth_notify();
