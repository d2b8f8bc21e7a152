-- The durable outbox: what must leave the process after a request (an
-- email, later a back-channel logout token), stored so that a crash between
-- the request and the delivery loses nothing. The senders of every instance
-- claim due rows with FOR UPDATE SKIP LOCKED and a lease (lease_until);
-- sent_at or gave_up_at ends a row's life, and Prune deletes it once that is
-- older than the retention.
CREATE TABLE outbox (
	-- Stable across retries: the Message-ID of an email.
	id              text        PRIMARY KEY,
	kind            text        NOT NULL,
	recipient       text        NOT NULL,
	payload         bytea       NOT NULL,
	created_at      timestamptz NOT NULL,
	next_attempt_at timestamptz NOT NULL,
	attempts        integer     NOT NULL DEFAULT 0,
	last_error      text        NOT NULL DEFAULT '',
	lease_until     timestamptz,
	sent_at         timestamptz,
	gave_up_at      timestamptz
);

-- The claim ("queued messages of a kind, oldest first") and the backlog
-- (count and oldest) read only queued rows, so delivered ones, which wait
-- for Prune, never slow them down: the claim walks this index in order and
-- stops after its limit (postgres/outbox_test.go checks the plan).
CREATE INDEX outbox_queued_idx ON outbox (kind, created_at, id)
	WHERE sent_at IS NULL AND gave_up_at IS NULL;
-- Prune's "sent or given up before": queued rows are NULL here, which a
-- range scan skips. (Not a partial index: the planner would not see that
-- the "<" implies its condition.)
CREATE INDEX outbox_done_idx ON outbox ((coalesce(sent_at, gave_up_at)));
