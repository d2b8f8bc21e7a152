package sqlite

import "context"

// RaiseSetting stores value under name unless a larger one is stored, and
// returns the stored value.
func (db *DB) RaiseSetting(ctx context.Context, name string, value int64) (int64, error) {
	var stored int64
	err := db.write(ctx, "raise setting", func(tx *tx) error {
		return tx.queryRow(`INSERT INTO settings (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)
			RETURNING value`, name, value).Scan(&stored)
	})
	return stored, err
}
