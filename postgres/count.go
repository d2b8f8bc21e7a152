package postgres

import (
	"context"
	"time"
)

// CountLiveSessions counts sessions neither revoked nor expired at now (the
// active-sessions gauge). It reads only.
func (db *DB) CountLiveSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.read(ctx, func() error {
		return db.pool.QueryRow(ctx, `SELECT count(*) FROM sessions
			WHERE revoked_at IS NULL AND expires_at > $1 AND idle_expires_at > $1`, ts(now)).Scan(&n)
	})
	return n, formatError("count live sessions", err)
}
