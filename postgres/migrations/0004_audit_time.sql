-- Housekeeping deletes audit events older than BATON_AUDIT_RETENTION,
-- oldest first, a bounded batch at a time. Without an index on time each
-- batch would scan the whole table, even when nothing is old enough.
-- (Built inside the migration's transaction, so appends to audit_events
-- wait while it builds; on a very large table, create it CONCURRENTLY by
-- hand beforehand under this name and the migration finds it.)
CREATE INDEX IF NOT EXISTS audit_events_time_idx ON audit_events (time);
