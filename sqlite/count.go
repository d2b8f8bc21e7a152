package sqlite

import (
	"context"
	"time"
)

// CountLiveSessions counts sessions neither revoked nor expired at now (the
// active-sessions gauge). It reads only.
func (db *DB) CountLiveSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.queryRow(ctx, `SELECT count(*) FROM sessions
		WHERE revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?`, timeArg(now), timeArg(now)).Scan(&n)
	return n, formatError("count live sessions", err)
}
