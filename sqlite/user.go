package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/batonauth/baton"
)

const userColumns = `id, username, canonical_username, password_hash, created_at, locked_at, credential_gen,
	email, canonical_email, email_verified`

func scanUser(r row) (*baton.User, error) {
	u := new(baton.User)
	err := r.Scan(&u.ID, &u.Username, &u.CanonicalUsername, &u.PasswordHash,
		scanTime{&u.CreatedAt}, scanTime{&u.LockedAt}, &u.CredentialGen,
		scanText{&u.Email}, scanText{&u.CanonicalEmail}, &u.EmailVerified)
	if err != nil {
		return nil, err
	}
	return u, nil
}

var (
	errUserNotFound  = baton.Errorf(baton.ENotFound, "user not found")
	errUsernameTaken = baton.Errorf(baton.EUsernameTaken, "username taken")
)

// CreateUser inserts u; EUsernameTaken when its canonical name is taken,
// EEmailTaken when its canonical email is.
func (db *DB) CreateUser(ctx context.Context, u *baton.User) error {
	return db.write(ctx, "create user", func(tx *tx) error {
		// When both are taken the answer is the username, whichever index
		// SQLite happens to check first.
		var one int
		switch err := tx.queryRow(`SELECT 1 FROM users WHERE canonical_username = ?`, u.CanonicalUsername).Scan(&one); {
		case err == nil:
			return errUsernameTaken
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		return tx.exec(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Username, u.CanonicalUsername, u.PasswordHash,
			timeArg(u.CreatedAt), timeArg(u.LockedAt), u.CredentialGen,
			textArg(u.Email), textArg(u.CanonicalEmail), u.EmailVerified)
	})
}

// UserByID returns the user, or ENotFound.
func (db *DB) UserByID(ctx context.Context, id string) (*baton.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errUserNotFound
	}
	return u, formatError("user by id", err)
}

// UserByName returns the user with the canonical name, or ENotFound.
func (db *DB) UserByName(ctx context.Context, canonical string) (*baton.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE canonical_username = ?`, canonical))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errUserNotFound
	}
	return u, formatError("user by name", err)
}

// UserByEmail returns the user with the canonical email, or ENotFound.
func (db *DB) UserByEmail(ctx context.Context, canonical string) (*baton.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE canonical_email = ?`, canonical))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errUserNotFound
	}
	return u, formatError("user by email", err)
}

// Users lists users by canonical name, after the name after.
func (db *DB) Users(ctx context.Context, after string, limit int) ([]*baton.User, error) {
	rows, err := db.query(ctx, `SELECT `+userColumns+` FROM users
		WHERE canonical_username > ? ORDER BY canonical_username LIMIT ?`, after, limit)
	if err != nil {
		return nil, formatError("list users", err)
	}
	defer rows.Close()
	var users []*baton.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, formatError("list users", err)
		}
		users = append(users, u)
	}
	return users, formatError("list users", rows.Err())
}

// SetPasswordHash replaces the user's password hash and advances its
// credential generation, which it returns. ENotFound.
func (db *DB) SetPasswordHash(ctx context.Context, userID, hash string, notices ...*baton.OutboxMessage) (int64, error) {
	var gen int64
	err := db.write(ctx, "set password hash", func(tx *tx) error {
		err := tx.queryRow(`UPDATE users SET password_hash = ?, credential_gen = credential_gen + 1
			WHERE id = ? RETURNING credential_gen`, hash, userID).Scan(&gen)
		if errors.Is(err, sql.ErrNoRows) {
			return errUserNotFound
		}
		if err != nil {
			return err
		}
		return insertOutboxes(tx, notices)
	})
	return gen, err
}

// RehashPassword swaps oldHash for newHash only if oldHash is still the
// user's. EConflict; ENotFound.
func (db *DB) RehashPassword(ctx context.Context, userID, oldHash, newHash string) error {
	return db.write(ctx, "rehash password", func(tx *tx) error {
		n, err := tx.execN(`UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?`, newHash, userID, oldHash)
		if err != nil || n == 1 {
			return err
		}
		var one int
		if err := tx.queryRow(`SELECT 1 FROM users WHERE id = ?`, userID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return errUserNotFound
		} else if err != nil {
			return err
		}
		return errPasswordChanged
	})
}

var errPasswordChanged = baton.Errorf(baton.EConflict, "the password changed meanwhile")

// SetLocked locks the user at lockedAt (advancing its credential
// generation), or unlocks it with a zero time. ENotFound.
func (db *DB) SetLocked(ctx context.Context, userID string, lockedAt time.Time) error {
	return db.write(ctx, "set locked", func(tx *tx) error {
		n, err := tx.execN(`UPDATE users SET locked_at = ?,
			credential_gen = credential_gen + CASE WHEN ? IS NULL THEN 0 ELSE 1 END
			WHERE id = ?`, timeArg(lockedAt), timeArg(lockedAt), userID)
		if err == nil && n == 0 {
			return errUserNotFound
		}
		return err
	})
}

// DeleteUser revokes the user's unrevoked sessions, appending revocation
// entries, and deletes the user. The sessions and their tokens go with the
// user (ON DELETE CASCADE), so a token of the deleted account is afterwards
// unknown (ENotFound) rather than a token of a revoked session; resource
// servers still learn of the revocation from the feed, which outlives them.
//
// Every unrevoked session is revoked, also one that has expired: an access
// token minted just before its expiry may still be alive.
func (db *DB) DeleteUser(ctx context.Context, userID string, r baton.Revoke) ([]string, error) {
	var ids []string
	err := db.write(ctx, "delete user", func(tx *tx) error {
		var one int
		if err := tx.queryRow(`SELECT 1 FROM users WHERE id = ?`, userID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return errUserNotFound
			}
			return err
		}
		var err error
		if ids, err = revokeSessions(tx, userID, "", r); err != nil {
			return err
		}
		return tx.exec(`DELETE FROM users WHERE id = ?`, userID)
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}
