-- One-time links (email verification, password reset, email change). The
-- token is never stored: only its SHA-256, by which a returning link is
-- found. A link is spent by setting spent_at with a compare-and-set; Prune
-- deletes it once it has been spent or has expired for the retention.
CREATE TABLE links (
	id              TEXT    PRIMARY KEY,
	hash            BLOB    NOT NULL UNIQUE,
	purpose         TEXT    NOT NULL,
	-- Deleting a user deletes its links: nothing is left to redeem.
	user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	-- The address the link was sent to (the new one for an email change).
	email           TEXT    NOT NULL,
	canonical_email TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	spent_at        INTEGER
) STRICT;

-- The cascade from users (and, later, "the user's other reset links").
CREATE INDEX links_user_id ON links (user_id);
-- Prune: one index per arm of "spent before or expired before".
CREATE INDEX links_spent_at ON links (spent_at) WHERE spent_at IS NOT NULL;
CREATE INDEX links_expires_at ON links (expires_at);
