-- Shared rate limits by GCRA (generic cell rate algorithm) instead of fixed
-- windows: one row per key holding its theoretical arrival time (TAT), the
-- time by which the key's events so far would have been spent at the
-- limit's steady rate. An event fits while it leaves the TAT at most one
-- window ahead of now, so a burst at a fixed window's edge can no longer
-- reach twice the budget. Keys are hashes; a row whose TAT has passed is
-- the same as no row (a whole budget), so those are the rows pruned.
--
-- UNLOGGED: every login and refresh takes from a budget here (and a
-- success gives it back), so these writes must not wait for a WAL flush.
-- The price is that a database crash or a failover to a standby empties
-- the table: every key starts again with a whole budget, once.
--
-- The fixed-window counters go: they only ever held a window's worth of
-- throttling state. During a rolling upgrade an instance still on the old
-- release finds its table gone; it keeps limiting with its local counters
-- (it ignores a failed shared count) and its prune reports an error until
-- it is replaced, while upgraded instances prune everything.
DROP TABLE rate_counters;

CREATE UNLOGGED TABLE rate_limits (
	key text        PRIMARY KEY,
	tat timestamptz NOT NULL
);
CREATE INDEX rate_limits_tat_idx ON rate_limits (tat);
