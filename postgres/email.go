package postgres

import (
	"context"

	"github.com/batonauth/baton"
)

// SetEmail sets the user's address and its verified flag in one
// statement; an empty canonical removes the address (NULL, which never
// collides on users_canonical_email_key). A violation of that constraint
// is EEmailTaken (formatError); ENotFound.
func (db *DB) SetEmail(ctx context.Context, userID, email, canonical string, verified bool) error {
	if canonical == "" {
		email, verified = "", false
	}
	n, err := db.update(ctx, `UPDATE users SET email = $2, canonical_email = $3, email_verified = $4 WHERE id = $1`,
		userID, nullText(email), nullText(canonical), verified)
	if err != nil {
		return formatError("set email", err)
	}
	if n == 0 {
		return baton.Errorf(baton.ENotFound, "user not found")
	}
	return nil
}
