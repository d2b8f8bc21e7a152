-- DPoP proofs accepted by any instance (RFC 9449 §11.1), so a proof replayed
-- to another instance within its window is refused there too. id is a hash
-- of the proof key's thumbprint and the proof's jti; a row is needed until
-- expires_at only, and Prune deletes it after.
CREATE TABLE dpop_jtis (
	id         bytea       PRIMARY KEY,
	expires_at timestamptz NOT NULL
);
CREATE INDEX dpop_jtis_expires_idx ON dpop_jtis (expires_at);
