-- A user's credential generation moves on every password change, reset and
-- lock. A session records the generation its login verified: creating it
-- is a compare-and-set on the user's (a login whose password check raced a
-- lock or a password change creates nothing), and rotation refuses a
-- session whose user moved on or is locked.
ALTER TABLE users ADD COLUMN credential_gen bigint NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN credential_gen bigint NOT NULL DEFAULT 0;

-- Server-wide values that must outlive a configuration change, e.g. the
-- longest access-token lifetime ever configured (revocations must outlive
-- every token that could still be alive).
CREATE TABLE settings (
	name  text   PRIMARY KEY,
	value bigint NOT NULL
);
