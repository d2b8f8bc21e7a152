-- Second factors. A user's TOTP secret (sealed by the engine when a master
-- key is set) and a pending enrolment; last_step makes every time step's
-- code work once, by compare-and-set.
CREATE TABLE totp (
	user_id        TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret         BLOB,
	pending_secret BLOB,
	pending_at     INTEGER,
	enabled_at     INTEGER,
	last_step      INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Recovery codes, only as keyed hashes; used_at is set once, by
-- compare-and-set.
CREATE TABLE recovery_codes (
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash       BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	used_at    INTEGER,
	PRIMARY KEY (user_id, hash)
) STRICT, WITHOUT ROWID;

-- One-time challenges of multi-step ceremonies (the mfa_token, WebAuthn
-- challenges), only as hashes, with what the ceremony needs to finish on
-- any instance. Spent by compare-and-set; Prune deletes spent and expired
-- ones after the retention.
CREATE TABLE challenges (
	id         TEXT    PRIMARY KEY,
	hash       BLOB    NOT NULL UNIQUE,
	kind       TEXT    NOT NULL,
	user_id    TEXT    REFERENCES users (id) ON DELETE CASCADE,
	data       BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	failures   INTEGER NOT NULL DEFAULT 0,
	spent_at   INTEGER
) STRICT;

CREATE INDEX challenges_user_id ON challenges (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX challenges_spent_at ON challenges (spent_at) WHERE spent_at IS NOT NULL;
CREATE INDEX challenges_expires_at ON challenges (expires_at);
