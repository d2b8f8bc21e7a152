-- Refresh tokens that name their session and generation
-- (token.NewSessionRefreshToken, docs/design.md "One row per session"):
-- the session row holds the token state — the current generation, the
-- hashes of the current and the previous token, when the previous one was
-- spent (microseconds, NULL before the first rotation) — so a rotation is
-- one compare-and-set on token_gen and one row updated, nothing inserted.
-- Sessions from before keep token_gen 0 and their rows in refresh_tokens
-- until they end.
ALTER TABLE sessions ADD COLUMN token_gen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN token_hash BLOB;
ALTER TABLE sessions ADD COLUMN prev_hash BLOB;
ALTER TABLE sessions ADD COLUMN rotated_at INTEGER;
