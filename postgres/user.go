package postgres

import (
	"context"
	"time"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

const userColumns = `id, username, canonical_username, password_hash, created_at, locked_at, credential_gen,
	email, canonical_email, email_verified`

func scanUser(row pgx.Row) (*baton.User, error) {
	var u baton.User
	var created, locked pgtype.Timestamptz
	var email, canonicalEmail pgtype.Text
	if err := row.Scan(&u.ID, &u.Username, &u.CanonicalUsername, &u.PasswordHash, &created, &locked, &u.CredentialGen,
		&email, &canonicalEmail, &u.EmailVerified); err != nil {
		return nil, err
	}
	u.CreatedAt, u.LockedAt = fromTS(created), fromTS(locked)
	u.Email, u.CanonicalEmail = email.String, canonicalEmail.String
	return &u, nil
}

// CreateUser inserts u. EUsernameTaken when the canonical name is taken,
// EEmailTaken when the canonical email is, EConflict when the id is.
func (db *DB) CreateUser(ctx context.Context, u *baton.User) error {
	err := db.write(ctx, func() error {
		_, err := db.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			u.ID, u.Username, u.CanonicalUsername, u.PasswordHash, ts(u.CreatedAt), ts(u.LockedAt), u.CredentialGen,
			nullText(u.Email), nullText(u.CanonicalEmail), u.EmailVerified)
		return err
	})
	err = formatError("create user", err)
	if baton.ErrorCode(err) == baton.EEmailTaken {
		// Both taken: the answer is the username, whichever index the
		// server happened to check first.
		if _, uerr := db.UserByName(ctx, u.CanonicalUsername); uerr == nil {
			return baton.WrapError(baton.EUsernameTaken, "username is taken", err)
		}
	}
	return err
}

// UserByID returns the user, or ENotFound.
func (db *DB) UserByID(ctx context.Context, id string) (*baton.User, error) {
	return db.user(ctx, "user by id", `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
}

// UserByName returns the user with the canonical name, or ENotFound.
func (db *DB) UserByName(ctx context.Context, canonical string) (*baton.User, error) {
	return db.user(ctx, "user by name", `SELECT `+userColumns+` FROM users WHERE canonical_username = $1`, canonical)
}

// UserByEmail returns the user with the canonical email, or ENotFound.
func (db *DB) UserByEmail(ctx context.Context, canonical string) (*baton.User, error) {
	return db.user(ctx, "user by email", `SELECT `+userColumns+` FROM users WHERE canonical_email = $1`, canonical)
}

func (db *DB) user(ctx context.Context, op, query string, arg string) (*baton.User, error) {
	var u *baton.User
	err := db.read(ctx, func() (err error) {
		u, err = scanUser(db.pool.QueryRow(ctx, query, arg))
		return err
	})
	if isNoRows(err) {
		return nil, baton.Errorf(baton.ENotFound, "user not found")
	}
	return u, formatError(op, err)
}

// Users lists users by canonical name (byte order) after after.
func (db *DB) Users(ctx context.Context, after string, limit int) ([]*baton.User, error) {
	if limit <= 0 {
		return nil, nil
	}
	var us []*baton.User
	err := db.read(ctx, func() error {
		rows, err := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users
			WHERE canonical_username > $1 ORDER BY canonical_username LIMIT $2`, after, limit)
		if err != nil {
			return err
		}
		us, err = collect(rows, func(row pgx.CollectableRow) (*baton.User, error) { return scanUser(row) })
		return err
	})
	return us, formatError("list users", err)
}

// SetPasswordHash replaces the user's password hash and advances its
// credential generation, which it returns. ENotFound.
func (db *DB) SetPasswordHash(ctx context.Context, userID, hash string, notices ...*baton.OutboxMessage) (int64, error) {
	var gen int64
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `UPDATE users SET password_hash = $2, credential_gen = credential_gen + 1
			WHERE id = $1 RETURNING credential_gen`, userID, hash).Scan(&gen); err != nil {
			return err
		}
		return insertOutboxes(ctx, tx, notices)
	})
	if isNoRows(err) {
		return 0, baton.Errorf(baton.ENotFound, "user not found")
	}
	return gen, formatError("set password hash", err)
}

// RehashPassword swaps oldHash for newHash only if oldHash is still the
// user's. EConflict; ENotFound.
func (db *DB) RehashPassword(ctx context.Context, userID, oldHash, newHash string) error {
	n, err := db.update(ctx, `UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2`, userID, oldHash, newHash)
	if err != nil || n == 1 {
		return formatError("rehash password", err)
	}
	if _, err := db.UserByID(ctx, userID); err != nil {
		return err
	}
	return baton.Errorf(baton.EConflict, "the password changed meanwhile")
}

// SetLocked locks the user at lockedAt (advancing its credential
// generation), or unlocks it with a zero time. ENotFound.
func (db *DB) SetLocked(ctx context.Context, userID string, lockedAt time.Time) error {
	n, err := db.update(ctx, `UPDATE users SET locked_at = $2,
		credential_gen = credential_gen + CASE WHEN $2::timestamptz IS NULL THEN 0 ELSE 1 END
		WHERE id = $1`, userID, ts(lockedAt))
	if err != nil {
		return formatError("set locked", err)
	}
	if n == 0 {
		return baton.Errorf(baton.ENotFound, "user not found")
	}
	return nil
}

// DeleteUser revokes the user's unrevoked sessions (with revocation entries
// and notifications) and deletes the user, with its sessions and tokens, in
// one transaction. ENotFound. Expired sessions are revoked too: an access
// token minted just before the expiry may still be alive. A token of the
// deleted account is afterwards unknown (ENotFound); the feed outlives it.
func (db *DB) DeleteUser(ctx context.Context, userID string, r baton.Revoke) ([]string, error) {
	var ids []string
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockRevocationFeed(ctx, tx); err != nil {
			return err
		}
		// The cascade below deletes the user's refresh tokens. Rotate locks
		// a token, then its session; locking the tokens before the
		// sessions here takes the locks in the same order, so a rotation
		// racing the deletion waits instead of deadlocking.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM refresh_tokens
			WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1)
			FOR UPDATE`, userID); err != nil {
			return err
		}
		var err error
		ids, err = revokeSessions(ctx, tx, `user_id = $4`, r, userID)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return baton.Errorf(baton.ENotFound, "user not found")
		}
		return nil
	})
	if err != nil {
		return nil, formatError("delete user", err)
	}
	return ids, nil
}
