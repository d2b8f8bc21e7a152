package postgres

import (
	"context"
	"time"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var errNoTOTP = baton.Errorf(baton.ENotFound, "no TOTP state")

// TOTP returns the user's TOTP state. ENotFound.
func (db *DB) TOTP(ctx context.Context, userID string) (*baton.TOTP, error) {
	t := &baton.TOTP{UserID: userID}
	var pendingAt, enabledAt pgtype.Timestamptz
	err := db.pool.QueryRow(ctx, `SELECT secret, pending_secret, pending_at, enabled_at, last_step FROM totp WHERE user_id = $1`, userID).
		Scan(&t.Secret, &t.Pending, &pendingAt, &enabledAt, &t.LastStep)
	if isNoRows(err) {
		return nil, errNoTOTP
	}
	if err != nil {
		return nil, formatError("totp", err)
	}
	t.PendingAt, t.EnabledAt = fromTS(pendingAt), fromTS(enabledAt)
	return t, nil
}

// SetPendingTOTP upserts the pending enrolment; the foreign key refuses an
// unknown user (ENotFound).
func (db *DB) SetPendingTOTP(ctx context.Context, userID string, secret []byte, now time.Time) error {
	err := db.write(ctx, func() error {
		_, err := db.pool.Exec(ctx, `INSERT INTO totp (user_id, pending_secret, pending_at) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET pending_secret = excluded.pending_secret, pending_at = excluded.pending_at`,
			userID, secret, ts(now))
		return err
	})
	return formatError("set pending totp", err)
}

// ConfirmTOTP promotes the pending secret by compare-and-set on its bytes
// and replaces the recovery codes, in one transaction.
func (db *DB) ConfirmTOTP(ctx context.Context, userID string, pending []byte, step int64, codes [][]byte, now time.Time) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE totp SET secret = pending_secret, pending_secret = NULL, pending_at = NULL,
				enabled_at = $3, last_step = $4 WHERE user_id = $1 AND pending_secret = $2`,
			userID, pending, ts(now), step)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return baton.Errorf(baton.EConflict, "the pending TOTP enrolment changed or is gone")
		}
		return replaceRecoveryCodes(ctx, tx, userID, codes, now)
	})
	return formatError("confirm totp", err)
}

func replaceRecoveryCodes(ctx context.Context, tx pgx.Tx, userID string, codes [][]byte, now time.Time) error {
	if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO recovery_codes (user_id, hash, created_at)
		SELECT $1, h, $3 FROM unnest($2::bytea[]) AS h`, userID, codes, ts(now))
	return err
}

// UseTOTPStep moves last_step forward by compare-and-set: concurrent calls
// with one step serialise on the row, and the recheck after the first
// commits finds the step used. EConflict.
func (db *DB) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	n, err := db.update(ctx, `UPDATE totp SET last_step = $2 WHERE user_id = $1 AND secret IS NOT NULL AND last_step < $2`,
		userID, step)
	if err != nil {
		return formatError("use totp step", err)
	}
	if n == 0 {
		return baton.Errorf(baton.EConflict, "the code's time step was used already, or TOTP is off")
	}
	return nil
}

// DisableTOTP deletes the TOTP state and the recovery codes. ENotFound.
func (db *DB) DisableTOTP(ctx context.Context, userID string) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM totp WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNoTOTP
		}
		_, err = tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID)
		return err
	})
	return formatError("disable totp", err)
}

// ReplaceRecoveryCodes replaces the user's codes; the user's row is read
// FOR SHARE, so a concurrent deletion comes before (ENotFound) or after.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, codes [][]byte, now time.Time) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR SHARE`, userID).Scan(&one); isNoRows(err) {
			return baton.Errorf(baton.ENotFound, "user not found")
		} else if err != nil {
			return err
		}
		return replaceRecoveryCodes(ctx, tx, userID, codes, now)
	})
	return formatError("replace recovery codes", err)
}

// UseRecoveryCode spends the code by compare-and-set and counts the rest
// in the same statement. ENotFound.
func (db *DB) UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) (int, error) {
	var left int
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND hash = $2 AND used_at IS NULL`,
			userID, hash, ts(now))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return baton.Errorf(baton.ENotFound, "no such unused recovery code")
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&left)
	})
	if err != nil {
		return 0, formatError("use recovery code", err)
	}
	return left, nil
}

// RecoveryCodesLeft counts the unused codes.
func (db *DB) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&n)
	return n, formatError("recovery codes left", err)
}

const challengeColumns = `id, hash, kind, user_id, data, created_at, expires_at, failures, spent_at`

func scanChallenge(r pgx.Row) (*baton.Challenge, error) {
	c := new(baton.Challenge)
	var user pgtype.Text
	var created, expires, spent pgtype.Timestamptz
	err := r.Scan(&c.ID, &c.Hash, &c.Kind, &user, &c.Data, &created, &expires, &c.Failures, &spent)
	if isNoRows(err) {
		return nil, baton.Errorf(baton.ENotFound, "no such challenge")
	}
	if err != nil {
		return nil, err
	}
	c.UserID = user.String
	c.CreatedAt, c.ExpiresAt, c.SpentAt = fromTS(created), fromTS(expires), fromTS(spent)
	return c, nil
}

// CreateChallenge stores c. ENotFound (no such user); EConflict.
func (db *DB) CreateChallenge(ctx context.Context, c *baton.Challenge) error {
	user := pgtype.Text{String: c.UserID, Valid: c.UserID != ""}
	err := db.write(ctx, func() error {
		_, err := db.pool.Exec(ctx, `INSERT INTO challenges (`+challengeColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			c.ID, c.Hash, c.Kind, user, nonNil(c.Data), ts(c.CreatedAt), ts(c.ExpiresAt), c.Failures, ts(c.SpentAt))
		return err
	})
	return formatError("create challenge", err)
}

// Challenge reads the challenge, live or not. ENotFound.
func (db *DB) Challenge(ctx context.Context, hash []byte, kind string) (*baton.Challenge, error) {
	c, err := scanChallenge(db.pool.QueryRow(ctx, `SELECT `+challengeColumns+` FROM challenges WHERE hash = $1 AND kind = $2`, hash, kind))
	return c, formatError("challenge", err)
}

// FailChallenge counts a failure of a live challenge. ENotFound.
func (db *DB) FailChallenge(ctx context.Context, hash []byte, kind string, now time.Time) (int, error) {
	var failures int
	err := db.write(ctx, func() error {
		return db.pool.QueryRow(ctx, `UPDATE challenges SET failures = failures + 1
			WHERE hash = $1 AND kind = $2 AND spent_at IS NULL AND expires_at > $3 RETURNING failures`,
			hash, kind, ts(now)).Scan(&failures)
	})
	if isNoRows(err) {
		return 0, baton.Errorf(baton.ENotFound, "no such live challenge")
	}
	return failures, formatError("fail challenge", err)
}

// SpendChallenge spends a live challenge by compare-and-set (the UPDATE's
// recheck under READ COMMITTED lets one of concurrent spends through).
// ENotFound.
func (db *DB) SpendChallenge(ctx context.Context, hash []byte, kind string, now time.Time, maxFailures int) (*baton.Challenge, error) {
	var c *baton.Challenge
	err := db.write(ctx, func() (err error) {
		c, err = scanChallenge(db.pool.QueryRow(ctx, `UPDATE challenges SET spent_at = $3
			WHERE hash = $1 AND kind = $2 AND spent_at IS NULL AND expires_at > $3 AND failures < $4
			RETURNING `+challengeColumns, hash, kind, ts(now), maxFailures))
		return err
	})
	if err != nil {
		return nil, formatError("spend challenge", err)
	}
	return c, nil
}
