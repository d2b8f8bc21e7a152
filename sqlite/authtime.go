package sqlite

import (
	"context"
	"time"
)

// SetAuthTime records a reauthentication of a session that is not revoked.
func (db *DB) SetAuthTime(ctx context.Context, sessionID string, at time.Time) error {
	return db.write(ctx, "set auth time", func(tx *tx) error {
		n, err := tx.execN(`UPDATE sessions SET auth_time = ? WHERE id = ? AND revoked_at IS NULL`, timeArg(at), sessionID)
		if err == nil && n == 0 {
			return errSessionNotFound
		}
		return err
	})
}
