package postgres

import (
	"context"
	"time"
)

// AddCount adds one event to a rate-limit counter and returns the window's
// count across every instance (ratelimit.Shared). One statement: the upsert
// takes the row lock, so concurrent instances never lose an increment.
func (db *DB) AddCount(ctx context.Context, key string, window, expires time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func() error {
		return db.pool.QueryRow(ctx, `INSERT INTO rate_counters (key, window_start, count, expires_at)
			VALUES ($1, $2, 1, $3)
			ON CONFLICT (key, window_start) DO UPDATE SET count = rate_counters.count + 1
			RETURNING count`, key, ts(window), ts(expires)).Scan(&n)
	})
	if err != nil {
		return 0, formatError("add rate count", err)
	}
	return n, nil
}
