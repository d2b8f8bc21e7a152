package sqlite

import (
	"context"
)

// SetEmail sets the user's address and its verified flag in one
// statement; an empty canonical removes the address (NULL, which never
// collides in the unique index). A unique violation of
// users.canonical_email is EEmailTaken; ENotFound.
func (db *DB) SetEmail(ctx context.Context, userID, email, canonical string, verified bool) error {
	if canonical == "" {
		email, verified = "", false
	}
	return db.write(ctx, "set email", func(tx *tx) error {
		n, err := tx.execN(`UPDATE users SET email = ?, canonical_email = ?, email_verified = ? WHERE id = ?`,
			textArg(email), textArg(canonical), verified, userID)
		if err == nil && n == 0 {
			return errUserNotFound
		}
		return err
	})
}
