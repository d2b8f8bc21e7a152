-- Housekeeping deletes audit events older than BATON_AUDIT_RETENTION,
-- oldest first, a bounded batch at a time. Without an index on time each
-- batch would scan the whole table, even when nothing is old enough.
CREATE INDEX audit_events_time ON audit_events (time);
