-- Second factors. A user's TOTP secret (sealed by the engine when a master
-- key is set) and a pending enrolment; last_step makes every time step's
-- code work once, by compare-and-set.
CREATE TABLE totp (
	user_id        text        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret         bytea,
	pending_secret bytea,
	pending_at     timestamptz,
	enabled_at     timestamptz,
	last_step      bigint      NOT NULL DEFAULT 0
);

-- Recovery codes, only as keyed hashes; used_at is set once, by
-- compare-and-set.
CREATE TABLE recovery_codes (
	user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash       bytea       NOT NULL,
	created_at timestamptz NOT NULL,
	used_at    timestamptz,
	PRIMARY KEY (user_id, hash)
);

-- One-time challenges of multi-step ceremonies (the mfa_token, WebAuthn
-- challenges), only as hashes, with what the ceremony needs to finish on
-- any instance. Spent by compare-and-set; Prune deletes spent and expired
-- ones after the retention.
CREATE TABLE challenges (
	id         text        PRIMARY KEY,
	hash       bytea       NOT NULL,
	kind       text        NOT NULL,
	user_id    text        REFERENCES users (id) ON DELETE CASCADE,
	data       bytea       NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	failures   integer     NOT NULL DEFAULT 0,
	spent_at   timestamptz,
	CONSTRAINT challenges_hash_key UNIQUE (hash)
);

CREATE INDEX challenges_user_id_idx ON challenges (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX challenges_spent_at_idx ON challenges (spent_at) WHERE spent_at IS NOT NULL;
CREATE INDEX challenges_expires_at_idx ON challenges (expires_at);
