-- A user has at most one email address: email as given, canonical_email
-- (NFC, lower-cased) for comparing. Users registered before have none
-- (NULL), and NULLs never collide in the unique index, so existing rows
-- need no value. The violation message names the column
-- ("users.canonical_email"), which is what turns it into email_taken.
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN canonical_email TEXT;
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1));
CREATE UNIQUE INDEX users_canonical_email ON users (canonical_email);
