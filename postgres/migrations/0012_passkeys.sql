-- WebAuthn credentials (passkeys). The public key is stored as it is;
-- sign_count moves only forward, by compare-and-set. flags: 1 user
-- verified at registration, 2 backup eligible, 4 backed up.
CREATE TABLE passkeys (
	id            text        PRIMARY KEY,
	user_id       text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	credential_id bytea       NOT NULL,
	public_key    bytea       NOT NULL,
	sign_count    bigint      NOT NULL DEFAULT 0,
	aaguid        bytea       NOT NULL,
	transports    text        NOT NULL DEFAULT '',
	flags         integer     NOT NULL DEFAULT 0,
	name          text        NOT NULL,
	created_at    timestamptz NOT NULL,
	last_used_at  timestamptz,
	CONSTRAINT passkeys_credential_id_key UNIQUE (credential_id)
);

CREATE INDEX passkeys_user_id_idx ON passkeys (user_id, created_at);
