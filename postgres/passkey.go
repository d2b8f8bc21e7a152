package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

const passkeyColumns = `id, user_id, credential_id, public_key, sign_count, aaguid, transports, flags, name, created_at, last_used_at`

var errNoPasskey = baton.Errorf(baton.ENotFound, "no such passkey")

func scanPasskey(r pgx.Row) (*baton.Passkey, error) {
	p := new(baton.Passkey)
	var count int64
	var flags int32
	var transports string
	var created, used pgtype.Timestamptz
	err := r.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.PublicKey, &count, &p.AAGUID, &transports, &flags, &p.Name, &created, &used)
	if isNoRows(err) {
		return nil, errNoPasskey
	}
	if err != nil {
		return nil, err
	}
	p.SignCount = uint32(count)
	if transports != "" {
		p.Transports = strings.Split(transports, ",")
	}
	p.Flags = baton.PasskeyFlagsFromBits(flags)
	p.CreatedAt, p.LastUsedAt = fromTS(created), fromTS(used)
	return p, nil
}

// CreatePasskey stores p. The user's row is locked while its passkeys are
// counted, so concurrent creations cannot pass the limit together (FOR NO
// KEY UPDATE: logins creating sessions, whose foreign key takes a key
// share lock on the row, do not wait for it). ENotFound; EConflict.
func (db *DB) CreatePasskey(ctx context.Context, p *baton.Passkey) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, p.UserID).Scan(&one); isNoRows(err) {
			return baton.Errorf(baton.ENotFound, "user not found")
		} else if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM passkeys WHERE user_id = $1`, p.UserID).Scan(&n); err != nil {
			return err
		}
		if n >= baton.MaxPasskeysPerUser {
			return baton.Errorf(baton.EConflict, "the user has as many passkeys as allowed")
		}
		_, err := tx.Exec(ctx, `INSERT INTO passkeys (`+passkeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			p.ID, p.UserID, p.CredentialID, nonNil(p.PublicKey), int64(p.SignCount), nonNil(p.AAGUID),
			strings.Join(p.Transports, ","), p.Flags.Bits(), clean(p.Name), ts(p.CreatedAt), ts(p.LastUsedAt))
		return err
	})
	return formatError("create passkey", err)
}

// Passkeys lists the user's passkeys, oldest first.
func (db *DB) Passkeys(ctx context.Context, userID string) ([]*baton.Passkey, error) {
	var out []*baton.Passkey
	err := db.read(ctx, func() error {
		rows, err := db.pool.Query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = $1 ORDER BY created_at, id`, userID)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(r pgx.CollectableRow) (*baton.Passkey, error) { return scanPasskey(r) })
		return err
	})
	return out, formatError("list passkeys", err)
}

// PasskeyByCredentialID returns the passkey. ENotFound.
func (db *DB) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*baton.Passkey, error) {
	var p *baton.Passkey
	err := db.read(ctx, func() (err error) {
		p, err = scanPasskey(db.pool.QueryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = $1`, credentialID))
		return err
	})
	return p, formatError("passkey", err)
}

// DeletePasskey deletes the user's passkey. With keepOne the user's row
// is locked while the others are counted, so concurrent deletions cannot
// take the last one together. ENotFound; EConflict.
func (db *DB) DeletePasskey(ctx context.Context, userID, id string, keepOne bool) error {
	if !keepOne {
		n, err := db.update(ctx, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`, id, userID)
		if err != nil {
			return formatError("delete passkey", err)
		}
		if n == 0 {
			return errNoPasskey
		}
		return nil
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var others int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID).Scan(&others); isNoRows(err) {
			return errNoPasskey
		} else if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM passkeys WHERE user_id = $1 AND id <> $2`, userID, id).Scan(&others); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`, id, userID)
		if err != nil {
			return err
		}
		switch {
		case tag.RowsAffected() == 0:
			return errNoPasskey
		case others == 0:
			return baton.Errorf(baton.EConflict, "the user's last passkey") // rolls the delete back
		}
		return nil
	})
	return formatError("delete passkey", err)
}

// UsePasskey moves the counter forward by compare-and-set (the UPDATE's
// recheck under READ COMMITTED lets one of concurrent uses of one count
// through). EConflict; ENotFound.
func (db *DB) UsePasskey(ctx context.Context, id string, count uint32, now time.Time) error {
	n, err := db.update(ctx, `UPDATE passkeys SET sign_count = $1, last_used_at = $2
		WHERE id = $3 AND (sign_count < $1 OR (sign_count = 0 AND $1 = 0))`, int64(count), ts(now), id)
	if err != nil {
		return formatError("use passkey", err)
	}
	if n > 0 {
		return nil
	}
	var one int
	err = db.read(ctx, func() error { return db.pool.QueryRow(ctx, `SELECT 1 FROM passkeys WHERE id = $1`, id).Scan(&one) })
	if isNoRows(err) {
		return errNoPasskey
	} else if err != nil {
		return formatError("use passkey", err)
	}
	return baton.Errorf(baton.EConflict, "the signature counter did not move forward")
}
