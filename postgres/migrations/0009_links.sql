-- One-time links (email verification, password reset, email change). The
-- token is never stored: only its SHA-256, by which a returning link is
-- found. A link is spent by setting spent_at with a compare-and-set (the
-- UPDATE's recheck under READ COMMITTED lets one redemption of concurrent
-- ones through); Prune deletes it once it has been spent or has expired for
-- the retention.
CREATE TABLE links (
	id              text        PRIMARY KEY,
	hash            bytea       NOT NULL,
	purpose         text        NOT NULL,
	-- Deleting a user deletes its links: nothing is left to redeem.
	user_id         text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	-- The address the link was sent to (the new one for an email change).
	email           text        NOT NULL,
	canonical_email text        COLLATE "C" NOT NULL,
	created_at      timestamptz NOT NULL,
	expires_at      timestamptz NOT NULL,
	spent_at        timestamptz,
	CONSTRAINT links_hash_key UNIQUE (hash)
);

-- The cascade from users (and, later, "the user's other reset links").
CREATE INDEX links_user_id_idx ON links (user_id);
-- Prune: one index per arm of "spent before or expired before".
CREATE INDEX links_spent_at_idx ON links (spent_at) WHERE spent_at IS NOT NULL;
CREATE INDEX links_expires_at_idx ON links (expires_at);
