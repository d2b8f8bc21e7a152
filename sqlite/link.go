package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/batonauth/baton"
)

var errInvalidLink = baton.Errorf(baton.EInvalidLink, "the link is unknown, used, expired or no longer applies")

// CreateLink stores l and, when m is not nil, the outbox message carrying
// it, in one op of the single writer. The INSERT … SELECT checks that the
// user exists in the same statement. ENotFound; EConflict when l.ID or
// l.Hash exists.
func (db *DB) CreateLink(ctx context.Context, l *baton.Link, m *baton.OutboxMessage) error {
	return db.write(ctx, "create link", func(tx *tx) error {
		n, err := tx.execN(`INSERT INTO links (id, hash, purpose, user_id, email, canonical_email,
				created_at, expires_at, spent_at)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE id = ?)`,
			l.ID, l.Hash, l.Purpose, l.UserID, l.Email, l.CanonicalEmail,
			timeArg(l.CreatedAt), timeArg(l.ExpiresAt), timeArg(l.SpentAt), l.UserID)
		if err != nil {
			return err
		}
		if n == 0 {
			return errUserNotFound
		}
		if m == nil {
			return nil
		}
		return insertOutbox(tx, m)
	})
}

// RedeemEmailLink spends the link and applies it in one op of the single
// writer: the UPDATE … WHERE spent_at IS NULL is the compare-and-set, and a
// failure after it (the address changed, or was taken) returns an error
// from the op, which rolls the spending back with the rest.
func (db *DB) RedeemEmailLink(ctx context.Context, hash []byte, now time.Time) (*baton.User, error) {
	var u *baton.User
	err := db.write(ctx, "redeem email link", func(tx *tx) error {
		u = nil
		var userID, purpose, email, canonical string
		err := tx.queryRow(`UPDATE links SET spent_at = ?1
			WHERE hash = ?2 AND spent_at IS NULL AND expires_at > ?1 AND purpose IN (?3, ?4)
			RETURNING user_id, purpose, email, canonical_email`,
			now.UnixMicro(), hash, baton.LinkVerifyEmail, baton.LinkChangeEmail).
			Scan(&userID, &purpose, &email, &canonical)
		if errors.Is(err, sql.ErrNoRows) {
			return errInvalidLink
		}
		if err != nil {
			return err
		}
		var r row
		if purpose == baton.LinkVerifyEmail {
			// Only the address the link was sent to: a link to an address
			// the user has since replaced verifies nothing.
			r = tx.queryRow(`UPDATE users SET email_verified = 1 WHERE id = ? AND canonical_email = ?
				RETURNING `+userColumns, userID, canonical)
		} else {
			// A unique violation of users.canonical_email: EEmailTaken.
			r = tx.queryRow(`UPDATE users SET email = ?, canonical_email = ?, email_verified = 1 WHERE id = ?
				RETURNING `+userColumns, email, canonical, userID)
		}
		u, err = scanUser(r)
		if errors.Is(err, sql.ErrNoRows) {
			return errInvalidLink
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}
