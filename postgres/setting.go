package postgres

import "context"

// RaiseSetting stores value under name unless a larger one is stored, and
// returns the stored value, in one statement.
func (db *DB) RaiseSetting(ctx context.Context, name string, value int64) (int64, error) {
	var stored int64
	err := db.write(ctx, func() error {
		return db.pool.QueryRow(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = greatest(settings.value, excluded.value)
			RETURNING value`, name, value).Scan(&stored)
	})
	return stored, formatError("raise setting", err)
}
