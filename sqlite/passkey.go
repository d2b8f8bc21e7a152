package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/batonauth/baton"
)

const passkeyColumns = `id, user_id, credential_id, public_key, sign_count, aaguid, transports, flags, name, created_at, last_used_at`

var (
	errNoPasskey   = baton.Errorf(baton.ENotFound, "no such passkey")
	errLastPasskey = baton.Errorf(baton.EConflict, "the user's last passkey")
)

func splitTransports(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func scanPasskey(r row) (*baton.Passkey, error) {
	p := new(baton.Passkey)
	var count int64
	var flags int32
	var transports string
	err := r.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.PublicKey, &count, &p.AAGUID, &transports, &flags, &p.Name,
		scanTime{&p.CreatedAt}, scanTime{&p.LastUsedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoPasskey
	}
	if err != nil {
		return nil, err
	}
	p.SignCount, p.Transports, p.Flags = uint32(count), splitTransports(transports), baton.PasskeyFlagsFromBits(flags)
	return p, nil
}

// CreatePasskey stores p; the count and the insert are one op of the
// single writer, so the limit holds. ENotFound; EConflict.
func (db *DB) CreatePasskey(ctx context.Context, p *baton.Passkey) error {
	return db.write(ctx, "create passkey", func(tx *tx) error {
		var n int
		if err := tx.queryRow(`SELECT count(*) FROM passkeys WHERE user_id = ?`, p.UserID).Scan(&n); err != nil {
			return err
		}
		if n >= baton.MaxPasskeysPerUser {
			return baton.Errorf(baton.EConflict, "the user has as many passkeys as allowed")
		}
		return tx.exec(`INSERT INTO passkeys (`+passkeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.UserID, p.CredentialID, nonNilBytes(p.PublicKey), int64(p.SignCount), nonNilBytes(p.AAGUID),
			strings.Join(p.Transports, ","), p.Flags.Bits(), p.Name, timeArg(p.CreatedAt), timeArg(p.LastUsedAt))
	})
}

// Passkeys lists the user's passkeys, oldest first.
func (db *DB) Passkeys(ctx context.Context, userID string) ([]*baton.Passkey, error) {
	rows, err := db.query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, formatError("list passkeys", err)
	}
	defer rows.Close()
	var out []*baton.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, formatError("list passkeys", err)
		}
		out = append(out, p)
	}
	return out, formatError("list passkeys", rows.Err())
}

// PasskeyByCredentialID returns the passkey. ENotFound.
func (db *DB) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*baton.Passkey, error) {
	p, err := scanPasskey(db.queryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = ?`, credentialID))
	return p, formatError("passkey", err)
}

// DeletePasskey deletes the user's passkey; the check of keepOne and the
// delete are one op of the single writer. ENotFound; EConflict.
func (db *DB) DeletePasskey(ctx context.Context, userID, id string, keepOne bool) error {
	return db.write(ctx, "delete passkey", func(tx *tx) error {
		n, err := tx.execN(`DELETE FROM passkeys WHERE id = ? AND user_id = ?`, id, userID)
		if err != nil {
			return err
		}
		if n == 0 {
			return errNoPasskey
		}
		if keepOne {
			var left int
			if err := tx.queryRow(`SELECT count(*) FROM passkeys WHERE user_id = ?`, userID).Scan(&left); err != nil {
				return err
			}
			if left == 0 {
				return errLastPasskey // the op is rolled back
			}
		}
		return nil
	})
}

// UsePasskey moves the counter forward by compare-and-set. EConflict;
// ENotFound.
func (db *DB) UsePasskey(ctx context.Context, id string, count uint32, now time.Time) error {
	return db.write(ctx, "use passkey", func(tx *tx) error {
		n, err := tx.execN(`UPDATE passkeys SET sign_count = ?1, last_used_at = ?2
			WHERE id = ?3 AND (sign_count < ?1 OR (sign_count = 0 AND ?1 = 0))`, int64(count), now.UnixMicro(), id)
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		var one int
		if err := tx.queryRow(`SELECT 1 FROM passkeys WHERE id = ?`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return errNoPasskey
		} else if err != nil {
			return err
		}
		return baton.Errorf(baton.EConflict, "the signature counter did not move forward")
	})
}
