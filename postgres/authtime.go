package postgres

import (
	"context"
	"time"

	"github.com/batonauth/baton"
)

// SetAuthTime records a reauthentication of a session that is not revoked.
func (db *DB) SetAuthTime(ctx context.Context, sessionID string, at time.Time) error {
	n, err := db.update(ctx, `UPDATE sessions SET auth_time = $2 WHERE id = $1 AND revoked_at IS NULL`, sessionID, ts(at))
	if err != nil {
		return formatError("set auth time", err)
	}
	if n == 0 {
		return baton.Errorf(baton.ENotFound, "session not found")
	}
	return nil
}
