package postgres

import (
	"context"
	"time"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var errInvalidLink = baton.Errorf(baton.EInvalidLink, "the link is unknown, used, expired or no longer applies")

// CreateLink stores l and the outbox messages that go with it in one
// transaction. The user's row is read FOR SHARE, as
// CreateSession does, so a concurrent DeleteUser either comes after the
// link (and its cascade deletes it) or before (ENotFound), never as a
// foreign-key error. EConflict when l.ID or l.Hash exists.
func (db *DB) CreateLink(ctx context.Context, l *baton.Link, ms ...*baton.OutboxMessage) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `WITH u AS (SELECT id FROM users WHERE id = $4 FOR SHARE)
			INSERT INTO links (id, hash, purpose, user_id, email, canonical_email, created_at, expires_at, spent_at)
			SELECT $1, $2, $3, u.id, $5, $6, $7, $8, $9 FROM u`,
			l.ID, l.Hash, l.Purpose, l.UserID, l.Email, l.CanonicalEmail,
			ts(l.CreatedAt), ts(l.ExpiresAt), ts(l.SpentAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return baton.Errorf(baton.ENotFound, "user not found")
		}
		return insertOutboxes(ctx, tx, ms)
	})
	return formatError("create link", err)
}

const linkColumns = `id, hash, purpose, user_id, email, canonical_email, created_at, expires_at, spent_at`

// LinkByHash returns the link, spent or not. ENotFound.
func (db *DB) LinkByHash(ctx context.Context, hash []byte) (*baton.Link, error) {
	var l baton.Link
	var created, expires, spent pgtype.Timestamptz
	err := db.pool.QueryRow(ctx, `SELECT `+linkColumns+` FROM links WHERE hash = $1`, hash).
		Scan(&l.ID, &l.Hash, &l.Purpose, &l.UserID, &l.Email, &l.CanonicalEmail, &created, &expires, &spent)
	if isNoRows(err) {
		return nil, baton.Errorf(baton.ENotFound, "link not found")
	}
	if err != nil {
		return nil, formatError("link", err)
	}
	l.CreatedAt, l.ExpiresAt, l.SpentAt = fromTS(created), fromTS(expires), fromTS(spent)
	return &l, nil
}

// ResetPassword spends the reset link and applies it in one transaction;
// the UPDATE … WHERE spent_at IS NULL is the compare-and-set, as in
// RedeemEmailLink.
func (db *DB) ResetPassword(ctx context.Context, hash []byte, now time.Time, passwordHash string, notices ...*baton.OutboxMessage) (*baton.User, error) {
	var u *baton.User
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		u = nil
		var userID, canonical string
		err := tx.QueryRow(ctx, `UPDATE links SET spent_at = $2
			WHERE hash = $1 AND spent_at IS NULL AND expires_at > $2 AND purpose = $3
			RETURNING user_id, canonical_email`,
			hash, ts(now), baton.LinkResetPassword).Scan(&userID, &canonical)
		if isNoRows(err) {
			return errInvalidLink
		}
		if err != nil {
			return err
		}
		// The other reset links die with this one: a reset message still
		// in a mailbox must not undo the password just chosen.
		if _, err := tx.Exec(ctx, `UPDATE links SET spent_at = $3 WHERE user_id = $1 AND purpose = $2 AND spent_at IS NULL`,
			userID, baton.LinkResetPassword, ts(now)); err != nil {
			return err
		}
		// The link reached the address: it is verified, if still the user's.
		u, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET password_hash = $2, credential_gen = credential_gen + 1,
				email_verified = email_verified OR canonical_email IS NOT DISTINCT FROM $3
			WHERE id = $1 RETURNING `+userColumns, userID, passwordHash, canonical))
		if isNoRows(err) {
			return errInvalidLink
		}
		if err != nil {
			return err
		}
		return insertOutboxes(ctx, tx, notices)
	})
	if err != nil {
		return nil, formatError("reset password", err)
	}
	return u, nil
}

// RedeemEmailLink spends the link and applies it in one transaction. The
// UPDATE … WHERE spent_at IS NULL is the compare-and-set: a concurrent
// redemption waits for the row lock and, under READ COMMITTED, rechecks
// the condition against the committed row, so it finds the link spent (or,
// if the first one rolled back, unspent). A failure after it (the address
// changed, or was taken) rolls the spending back with the rest.
func (db *DB) RedeemEmailLink(ctx context.Context, hash []byte, now time.Time) (*baton.User, error) {
	var u *baton.User
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		u = nil
		var userID, purpose, email, canonical string
		err := tx.QueryRow(ctx, `UPDATE links SET spent_at = $2
			WHERE hash = $1 AND spent_at IS NULL AND expires_at > $2 AND purpose IN ($3, $4)
			RETURNING user_id, purpose, email, canonical_email`,
			hash, ts(now), baton.LinkVerifyEmail, baton.LinkChangeEmail).
			Scan(&userID, &purpose, &email, &canonical)
		if isNoRows(err) {
			return errInvalidLink
		}
		if err != nil {
			return err
		}
		var r pgx.Row
		if purpose == baton.LinkVerifyEmail {
			// Only the address the link was sent to: a link to an address
			// the user has since replaced verifies nothing.
			r = tx.QueryRow(ctx, `UPDATE users SET email_verified = true WHERE id = $1 AND canonical_email = $2
				RETURNING `+userColumns, userID, canonical)
		} else {
			// A violation of users_canonical_email_key: EEmailTaken.
			r = tx.QueryRow(ctx, `UPDATE users SET email = $2, canonical_email = $3, email_verified = true
				WHERE id = $1 RETURNING `+userColumns, userID, email, canonical)
		}
		u, err = scanUser(r)
		if isNoRows(err) {
			return errInvalidLink
		}
		return err
	})
	if err != nil {
		return nil, formatError("redeem email link", err)
	}
	return u, nil
}
