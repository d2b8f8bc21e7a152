-- The durable outbox: what must leave the process after a request (an
-- email, later a back-channel logout token), stored so that a crash between
-- the request and the delivery loses nothing. A background sender claims due
-- rows by setting lease_until; sent_at or gave_up_at ends a row's life, and
-- Prune deletes it once that is older than the retention.
CREATE TABLE outbox (
	-- Stable across retries: the Message-ID of an email.
	id              TEXT    PRIMARY KEY,
	kind            TEXT    NOT NULL,
	recipient       TEXT    NOT NULL,
	payload         BLOB    NOT NULL,
	created_at      INTEGER NOT NULL,
	next_attempt_at INTEGER NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT    NOT NULL DEFAULT '',
	lease_until     INTEGER,
	sent_at         INTEGER,
	gave_up_at      INTEGER
) STRICT;

-- The claim ("queued messages of a kind, oldest first") and the backlog
-- (count and oldest) read only queued rows, so delivered ones, which wait
-- for Prune, never slow them down.
CREATE INDEX outbox_queued ON outbox (kind, created_at, id)
	WHERE sent_at IS NULL AND gave_up_at IS NULL;
-- Prune's "sent or given up before": queued rows are NULL here, which a
-- range scan skips. (Not a partial index: the planner would not see that
-- the "<" implies its condition.)
CREATE INDEX outbox_done_at ON outbox (coalesce(sent_at, gave_up_at));
