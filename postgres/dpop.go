package postgres

import (
	"context"
	"time"

	"github.com/batonauth/baton"
)

var _ baton.DPoPReplayStore = (*DB)(nil)

// SpendDPoPProof records a DPoP proof as used until expires, for every
// instance (baton.DPoPReplayStore). One statement: the insert takes the row
// lock, so of concurrent calls with one id a single one gets a row back;
// a row that expired is taken over in place, as if Prune had run.
func (db *DB) SpendDPoPProof(ctx context.Context, id []byte, now, expires time.Time) error {
	var recorded bool
	err := db.write(ctx, func() error {
		err := db.pool.QueryRow(ctx, `INSERT INTO dpop_jtis (id, expires_at) VALUES ($1, $3)
			ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at
			WHERE dpop_jtis.expires_at <= $2
			RETURNING true`, id, ts(now), ts(expires)).Scan(&recorded)
		if isNoRows(err) {
			recorded, err = false, nil
		}
		return err
	})
	switch {
	case err != nil:
		return formatError("spend dpop proof", err)
	case !recorded:
		return baton.Errorf(baton.EConflict, "dpop proof already used")
	}
	return nil
}
