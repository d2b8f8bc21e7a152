-- Times are INTEGER unix microseconds (PostgreSQL's precision), NULL for a
-- zero time. Tables are STRICT so a wrongly typed bind fails loudly instead
-- of being stored as text.

CREATE TABLE users (
	id                 TEXT    PRIMARY KEY,
	username           TEXT    NOT NULL,
	-- The constraint name in the driver's message ("users.canonical_username")
	-- is what turns a violation into username_taken.
	canonical_username TEXT    NOT NULL UNIQUE,
	password_hash      TEXT    NOT NULL,
	created_at         INTEGER NOT NULL,
	locked_at          INTEGER
) STRICT;

CREATE TABLE sessions (
	id              TEXT    PRIMARY KEY,
	-- Deleting a user deletes its sessions and, through them, their tokens:
	-- the revocation feed (which has no foreign key) keeps what resource
	-- servers need.
	user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at      INTEGER NOT NULL,
	last_used_at    INTEGER,
	expires_at      INTEGER NOT NULL,
	idle_expires_at INTEGER NOT NULL,
	auth_time       INTEGER,
	transport       TEXT    NOT NULL,
	client_id       TEXT    NOT NULL,
	user_agent      TEXT    NOT NULL,
	ip              TEXT    NOT NULL,
	binding         TEXT    NOT NULL,
	revoked_at      INTEGER,
	revoke_reason   TEXT    NOT NULL
) STRICT;

-- Sessions(user) newest first, RevokeUserSessions, and the cascade from users.
CREATE INDEX sessions_user_id ON sessions (user_id, created_at);
-- Prune: one index per arm of "revoked before or expired before", so the OR
-- is answered by two index range scans. The expression index covers both
-- expiries with one index maintained on rotation.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_dead_at ON sessions (min(expires_at, idle_expires_at));

-- WITHOUT ROWID: the hash is the only way a token is looked up, so the rows
-- are clustered by it and the rotation CAS is a single b-tree probe.
CREATE TABLE refresh_tokens (
	hash       BLOB    PRIMARY KEY,
	session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	spent_at   INTEGER
) STRICT, WITHOUT ROWID;

-- The cascade from sessions and Prune's "tokens of dead sessions".
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
-- Prune's "spent before": unspent tokens (one per live session) stay out of it.
CREATE INDEX refresh_tokens_spent_at ON refresh_tokens (spent_at) WHERE spent_at IS NOT NULL;

-- AUTOINCREMENT: a seq is never reused after Prune deleted the newest
-- entries, so a resource server's cursor never skips a later revocation.
CREATE TABLE revocations (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	session_id TEXT    NOT NULL,
	revoked_at INTEGER NOT NULL,
	until      INTEGER NOT NULL
) STRICT;

CREATE INDEX revocations_until ON revocations (until);

CREATE TABLE keys (
	id          TEXT    PRIMARY KEY,
	use         TEXT    NOT NULL,
	algorithm   TEXT    NOT NULL,
	secret      BLOB    NOT NULL,
	public      BLOB,
	created_at  INTEGER NOT NULL,
	activate_at INTEGER,
	retired_at  INTEGER
) STRICT;

-- EnsureKey's "unretired key of this use".
CREATE INDEX keys_use ON keys (use, created_at) WHERE retired_at IS NULL;

CREATE TABLE audit_events (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	time       INTEGER NOT NULL,
	type       TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	session_id TEXT    NOT NULL,
	ip         TEXT    NOT NULL,
	user_agent TEXT    NOT NULL,
	outcome    TEXT    NOT NULL,
	detail     TEXT    NOT NULL
) STRICT;
