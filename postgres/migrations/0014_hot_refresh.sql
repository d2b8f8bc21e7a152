-- A refresh slides its session's idle expiry. While sessions_prune_idx
-- covered idle_expires_at, that update could not be HOT: PostgreSQL wrote a
-- new entry into every index of sessions (four per refresh) and the row
-- version moved, leaving dead entries behind. The index now covers
-- idle_hour instead, the idle expiry rounded down to its hour (UTC): the
-- rotation sets it to the value it already has except once an hour, so the
-- update is HOT (no index touched, the new version on the same page, which
-- fillfactor 90 keeps room for). Prune still deletes exactly what it did:
-- it selects by the index (idle_hour <= idle_expires_at, so nothing is
-- missed) and filters on the exact expiry.
ALTER TABLE sessions ADD COLUMN idle_hour timestamptz;
UPDATE sessions SET idle_hour = date_trunc('hour', idle_expires_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
DROP INDEX sessions_prune_idx;
-- LEAST ignores NULLs: the earliest of the absolute expiry, the hour of
-- the idle expiry and the revocation.
CREATE INDEX sessions_prune_idx ON sessions ((LEAST(expires_at, idle_hour, revoked_at)));
ALTER TABLE sessions SET (fillfactor = 90);
