-- The authentication methods (RFC 8176) a session was created with, which
-- its access tokens carry as amr: space-separated, in baton.AMR's order
-- (pwd otp hwk mfa). Every session before this came from a password, so
-- the default reads them as "pwd"; adding a column with a constant default
-- rewrites nothing.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
