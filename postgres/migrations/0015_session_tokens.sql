-- Refresh tokens that name their session and generation
-- (token.NewSessionRefreshToken, docs/design.md "One row per session"):
-- the session row holds the token state — the current generation, the
-- hashes of the current and the previous token, when the previous one was
-- spent — so a rotation is one compare-and-set on token_gen and a HOT
-- update of one row: nothing is inserted, no index entry written (no index
-- covers these columns). Sessions from before keep token_gen 0 and their
-- rows in refresh_tokens until they end. Constant defaults and NULLs
-- rewrite no row.
ALTER TABLE sessions
	ADD COLUMN token_gen  bigint NOT NULL DEFAULT 0,
	ADD COLUMN token_hash bytea,
	ADD COLUMN prev_hash  bytea,
	ADD COLUMN rotated_at timestamptz;
