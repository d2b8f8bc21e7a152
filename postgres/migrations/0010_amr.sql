-- The authentication methods (RFC 8176) a session was created with, which
-- its access tokens carry as amr: space-separated, in baton.AMR's order
-- (pwd otp hwk mfa). Every session before this came from a password, so
-- the default reads them as "pwd"; a constant default is stored in the
-- catalogue, so adding the column rewrites no row.
ALTER TABLE sessions ADD COLUMN amr text NOT NULL DEFAULT 'pwd';
