package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/batonauth/baton"
)

var errNoTOTP = baton.Errorf(baton.ENotFound, "no TOTP state")

// TOTP returns the user's TOTP state. ENotFound.
func (db *DB) TOTP(ctx context.Context, userID string) (*baton.TOTP, error) {
	t := &baton.TOTP{UserID: userID}
	err := db.queryRow(ctx, `SELECT secret, pending_secret, pending_at, enabled_at, last_step FROM totp WHERE user_id = ?`, userID).
		Scan(&t.Secret, &t.Pending, scanTime{&t.PendingAt}, scanTime{&t.EnabledAt}, &t.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoTOTP
	}
	if err != nil {
		return nil, formatError("totp", err)
	}
	return t, nil
}

// SetPendingTOTP upserts the pending enrolment; the foreign key refuses an
// unknown user (ENotFound).
func (db *DB) SetPendingTOTP(ctx context.Context, userID string, secret []byte, now time.Time) error {
	return db.write(ctx, "set pending totp", func(tx *tx) error {
		return tx.exec(`INSERT INTO totp (user_id, pending_secret, pending_at) VALUES (?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET pending_secret = excluded.pending_secret, pending_at = excluded.pending_at`,
			userID, secret, now.UnixMicro())
	})
}

// ConfirmTOTP promotes the pending secret by compare-and-set on its bytes
// and replaces the recovery codes, in one op of the single writer.
func (db *DB) ConfirmTOTP(ctx context.Context, userID string, pending []byte, step int64, codes [][]byte, now time.Time) error {
	return db.write(ctx, "confirm totp", func(tx *tx) error {
		n, err := tx.execN(`UPDATE totp SET secret = pending_secret, pending_secret = NULL, pending_at = NULL,
				enabled_at = ?, last_step = ? WHERE user_id = ? AND pending_secret = ?`,
			now.UnixMicro(), step, userID, pending)
		if err != nil {
			return err
		}
		if n == 0 {
			return baton.Errorf(baton.EConflict, "the pending TOTP enrolment changed or is gone")
		}
		return replaceRecoveryCodes(tx, userID, codes, now)
	})
}

func replaceRecoveryCodes(tx *tx, userID string, codes [][]byte, now time.Time) error {
	if err := tx.exec(`DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return err
	}
	for _, h := range codes {
		if err := tx.exec(`INSERT INTO recovery_codes (user_id, hash, created_at) VALUES (?, ?, ?)`,
			userID, h, now.UnixMicro()); err != nil {
			return err
		}
	}
	return nil
}

// UseTOTPStep moves last_step forward by compare-and-set. EConflict.
func (db *DB) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	return db.write(ctx, "use totp step", func(tx *tx) error {
		n, err := tx.execN(`UPDATE totp SET last_step = ? WHERE user_id = ? AND secret IS NOT NULL AND last_step < ?`,
			step, userID, step)
		if err != nil {
			return err
		}
		if n == 0 {
			return baton.Errorf(baton.EConflict, "the code's time step was used already, or TOTP is off")
		}
		return nil
	})
}

// DisableTOTP deletes the TOTP state and the recovery codes. ENotFound.
func (db *DB) DisableTOTP(ctx context.Context, userID string) error {
	return db.write(ctx, "disable totp", func(tx *tx) error {
		n, err := tx.execN(`DELETE FROM totp WHERE user_id = ?`, userID)
		if err != nil {
			return err
		}
		if n == 0 {
			return errNoTOTP
		}
		return tx.exec(`DELETE FROM recovery_codes WHERE user_id = ?`, userID)
	})
}

// ReplaceRecoveryCodes replaces the user's codes. ENotFound.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, codes [][]byte, now time.Time) error {
	return db.write(ctx, "replace recovery codes", func(tx *tx) error {
		var one int
		if err := tx.queryRow(`SELECT 1 FROM users WHERE id = ?`, userID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return errUserNotFound
		} else if err != nil {
			return err
		}
		return replaceRecoveryCodes(tx, userID, codes, now)
	})
}

// UseRecoveryCode spends the code by compare-and-set. ENotFound.
func (db *DB) UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) (int, error) {
	var left int
	err := db.write(ctx, "use recovery code", func(tx *tx) error {
		n, err := tx.execN(`UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at IS NULL`,
			now.UnixMicro(), userID, hash)
		if err != nil {
			return err
		}
		if n == 0 {
			return baton.Errorf(baton.ENotFound, "no such unused recovery code")
		}
		return tx.queryRow(`SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID).Scan(&left)
	})
	if err != nil {
		return 0, err
	}
	return left, nil
}

// RecoveryCodesLeft counts the unused codes.
func (db *DB) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := db.queryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID).Scan(&n)
	return n, formatError("recovery codes left", err)
}

const challengeColumns = `id, hash, kind, user_id, data, created_at, expires_at, failures, spent_at`

func scanChallenge(r row) (*baton.Challenge, error) {
	c := new(baton.Challenge)
	err := r.Scan(&c.ID, &c.Hash, &c.Kind, scanText{&c.UserID}, &c.Data,
		scanTime{&c.CreatedAt}, scanTime{&c.ExpiresAt}, &c.Failures, scanTime{&c.SpentAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, baton.Errorf(baton.ENotFound, "no such challenge")
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// CreateChallenge stores c. ENotFound (no such user); EConflict.
func (db *DB) CreateChallenge(ctx context.Context, c *baton.Challenge) error {
	var user any
	if c.UserID != "" {
		user = c.UserID
	}
	return db.write(ctx, "create challenge", func(tx *tx) error {
		return tx.exec(`INSERT INTO challenges (`+challengeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Hash, c.Kind, user, nonNilBytes(c.Data), timeArg(c.CreatedAt), timeArg(c.ExpiresAt), c.Failures, timeArg(c.SpentAt))
	})
}

// Challenge reads the challenge, live or not. ENotFound.
func (db *DB) Challenge(ctx context.Context, hash []byte, kind string) (*baton.Challenge, error) {
	c, err := scanChallenge(db.queryRow(ctx, `SELECT `+challengeColumns+` FROM challenges WHERE hash = ? AND kind = ?`, hash, kind))
	return c, formatError("challenge", err)
}

// FailChallenge counts a failure of a live challenge. ENotFound.
func (db *DB) FailChallenge(ctx context.Context, hash []byte, kind string, now time.Time) (int, error) {
	var failures int
	err := db.write(ctx, "fail challenge", func(tx *tx) error {
		err := tx.queryRow(`UPDATE challenges SET failures = failures + 1
			WHERE hash = ?1 AND kind = ?2 AND spent_at IS NULL AND expires_at > ?3 RETURNING failures`,
			hash, kind, now.UnixMicro()).Scan(&failures)
		if errors.Is(err, sql.ErrNoRows) {
			return baton.Errorf(baton.ENotFound, "no such live challenge")
		}
		return err
	})
	return failures, err
}

// SpendChallenge spends a live challenge by compare-and-set. ENotFound.
func (db *DB) SpendChallenge(ctx context.Context, hash []byte, kind string, now time.Time, maxFailures int) (*baton.Challenge, error) {
	var c *baton.Challenge
	err := db.write(ctx, "spend challenge", func(tx *tx) error {
		var err error
		c, err = scanChallenge(tx.queryRow(`UPDATE challenges SET spent_at = ?3
			WHERE hash = ?1 AND kind = ?2 AND spent_at IS NULL AND expires_at > ?3 AND failures < ?4
			RETURNING `+challengeColumns, hash, kind, now.UnixMicro(), maxFailures))
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
