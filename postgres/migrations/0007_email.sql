-- A user has at most one email address: email as given, canonical_email
-- (NFC, lower-cased) for comparing. Users registered before have none
-- (NULL), and NULLs never collide in a unique constraint, so the columns
-- are added without rewriting the table; building the constraint's index
-- reads it once. The constraint's name is what turns a violation into
-- email_taken.
ALTER TABLE users
	ADD COLUMN email text,
	ADD COLUMN canonical_email text COLLATE "C",
	ADD COLUMN email_verified boolean NOT NULL DEFAULT false,
	ADD CONSTRAINT users_canonical_email_key UNIQUE (canonical_email);
