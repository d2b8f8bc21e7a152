-- Shared rate-limit counters: fixed windows, so limits hold across every
-- instance of a deployment. Keys are hashes; rows expire with their window.
CREATE TABLE rate_counters (
	key          text        NOT NULL,
	window_start timestamptz NOT NULL,
	count        bigint      NOT NULL,
	expires_at   timestamptz NOT NULL,
	PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_counters_expires_idx ON rate_counters (expires_at);
