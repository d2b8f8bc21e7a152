-- 0001: the initial schema. Times are timestamptz and NULL where the domain
-- has a zero time; ids are text; hashes and key material are bytea.

CREATE TABLE users (
	id                 text PRIMARY KEY,
	username           text NOT NULL,
	-- COLLATE "C": Users pages by byte order, like Go's string comparison
	-- and the SQLite backend, whatever the database's locale is.
	canonical_username text COLLATE "C" NOT NULL,
	password_hash      text NOT NULL,
	created_at         timestamptz,
	locked_at          timestamptz,
	CONSTRAINT users_canonical_username_key UNIQUE (canonical_username)
);

CREATE TABLE sessions (
	id              text PRIMARY KEY,
	-- Deleting a user deletes its (already revoked) sessions and their
	-- tokens; the revocation feed keeps its own copy of the ids.
	user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at      timestamptz,
	last_used_at    timestamptz,
	expires_at      timestamptz,
	idle_expires_at timestamptz,
	auth_time       timestamptz,
	transport       text NOT NULL,
	client_id       text NOT NULL,
	user_agent      text NOT NULL,
	ip              text NOT NULL,
	binding         text NOT NULL,
	revoked_at      timestamptz,
	revoke_reason   text NOT NULL DEFAULT ''
);

-- Sessions (newest first), RevokeUserSessions, DeleteUser.
CREATE INDEX sessions_user_id_idx ON sessions (user_id, created_at DESC);
-- Prune: LEAST ignores NULLs, so this is the earliest of the absolute
-- expiry, the idle expiry and the revocation.
CREATE INDEX sessions_prune_idx ON sessions ((LEAST(expires_at, idle_expires_at, revoked_at)));

CREATE TABLE refresh_tokens (
	hash       bytea PRIMARY KEY,
	session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	created_at timestamptz,
	spent_at   timestamptz
);

-- The cascade from sessions and DeleteUser's token locks.
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
-- Prune of spent tokens; unspent tokens (one per session) stay out of it.
CREATE INDEX refresh_tokens_spent_at_idx ON refresh_tokens (spent_at) WHERE spent_at IS NOT NULL;

-- The revocation feed. seq is taken while holding a transaction-level
-- advisory lock (see revoke.go) so that seq order is commit order.
CREATE TABLE revocations (
	seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	-- No foreign key: the entry outlives its session (DeleteUser).
	session_id text NOT NULL,
	revoked_at timestamptz,
	until      timestamptz
);

-- Prune of entries whose access tokens have all expired.
CREATE INDEX revocations_until_idx ON revocations (until);

-- Every revocation entry is announced to the other instances, in the
-- inserting transaction, so listeners hear of it only once it is committed;
-- a trigger cannot be forgotten by a future code path.
CREATE FUNCTION baton_notify_revocation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('baton_revocations', NEW.session_id);
	RETURN NULL;
END
$$;

CREATE TRIGGER revocations_notify AFTER INSERT ON revocations
	FOR EACH ROW EXECUTE FUNCTION baton_notify_revocation();

CREATE TABLE keys (
	id          text PRIMARY KEY,
	use         text NOT NULL,
	algorithm   text NOT NULL,
	secret      bytea NOT NULL,
	public      bytea,
	created_at  timestamptz,
	activate_at timestamptz,
	retired_at  timestamptz
);

-- EnsureKey looks up the unretired key of a use.
CREATE INDEX keys_use_idx ON keys (use, created_at) WHERE retired_at IS NULL;

CREATE TABLE audit_events (
	seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time       timestamptz,
	type       text NOT NULL,
	user_id    text NOT NULL,
	session_id text NOT NULL,
	ip         text NOT NULL,
	user_agent text NOT NULL,
	outcome    text NOT NULL,
	detail     text NOT NULL
);
