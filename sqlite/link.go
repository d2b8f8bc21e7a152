package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/batonauth/baton"
)

var errInvalidLink = baton.Errorf(baton.EInvalidLink, "the link is unknown, used, expired or no longer applies")

// CreateLink stores l and the outbox messages that go with it in one op of
// the single writer. The INSERT … SELECT checks that the user exists in
// the same statement. ENotFound; EConflict when l.ID or l.Hash exists.
func (db *DB) CreateLink(ctx context.Context, l *baton.Link, ms ...*baton.OutboxMessage) error {
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
		return insertOutboxes(tx, ms)
	})
}

const linkColumns = `id, hash, purpose, user_id, email, canonical_email, created_at, expires_at, spent_at`

// LinkByHash returns the link, spent or not. ENotFound.
func (db *DB) LinkByHash(ctx context.Context, hash []byte) (*baton.Link, error) {
	l := new(baton.Link)
	err := db.queryRow(ctx, `SELECT `+linkColumns+` FROM links WHERE hash = ?`, hash).
		Scan(&l.ID, &l.Hash, &l.Purpose, &l.UserID, &l.Email, &l.CanonicalEmail,
			scanTime{&l.CreatedAt}, scanTime{&l.ExpiresAt}, scanTime{&l.SpentAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, baton.Errorf(baton.ENotFound, "link not found")
	}
	if err != nil {
		return nil, formatError("link", err)
	}
	return l, nil
}

// ResetPassword spends the reset link and applies it in one op of the
// single writer; the UPDATE … WHERE spent_at IS NULL is the
// compare-and-set.
func (db *DB) ResetPassword(ctx context.Context, hash []byte, now time.Time, passwordHash string, notices ...*baton.OutboxMessage) (*baton.User, error) {
	var u *baton.User
	err := db.write(ctx, "reset password", func(tx *tx) error {
		u = nil
		var id, userID, canonical string
		err := tx.queryRow(`UPDATE links SET spent_at = ?1
			WHERE hash = ?2 AND spent_at IS NULL AND expires_at > ?1 AND purpose = ?3
			RETURNING id, user_id, canonical_email`,
			now.UnixMicro(), hash, baton.LinkResetPassword).Scan(&id, &userID, &canonical)
		if errors.Is(err, sql.ErrNoRows) {
			return errInvalidLink
		}
		if err != nil {
			return err
		}
		// The other reset links die with this one: a reset message still
		// in a mailbox must not undo the password just chosen.
		if err := tx.exec(`UPDATE links SET spent_at = ? WHERE user_id = ? AND purpose = ? AND spent_at IS NULL`,
			now.UnixMicro(), userID, baton.LinkResetPassword); err != nil {
			return err
		}
		// The link reached the address: it is verified, if still the user's.
		u, err = scanUser(tx.queryRow(`UPDATE users SET password_hash = ?, credential_gen = credential_gen + 1,
				email_verified = email_verified OR canonical_email IS ?
			WHERE id = ? RETURNING `+userColumns, passwordHash, canonical, userID))
		if errors.Is(err, sql.ErrNoRows) {
			return errInvalidLink
		}
		if err != nil {
			return err
		}
		return insertOutboxes(tx, notices)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
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
