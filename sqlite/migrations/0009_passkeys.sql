-- WebAuthn credentials (passkeys). The public key is stored as it is;
-- sign_count moves only forward, by compare-and-set. flags: 1 user
-- verified at registration, 2 backup eligible, 4 backed up.
CREATE TABLE passkeys (
	id            TEXT    PRIMARY KEY,
	user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	credential_id BLOB    NOT NULL UNIQUE,
	public_key    BLOB    NOT NULL,
	sign_count    INTEGER NOT NULL DEFAULT 0,
	aaguid        BLOB    NOT NULL,
	transports    TEXT    NOT NULL DEFAULT '',
	flags         INTEGER NOT NULL DEFAULT 0,
	name          TEXT    NOT NULL,
	created_at    INTEGER NOT NULL,
	last_used_at  INTEGER
) STRICT;

CREATE INDEX passkeys_user_id ON passkeys (user_id, created_at);
