package postgres

import (
	"context"
	"time"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

const keyColumns = `id, use, algorithm, secret, public, created_at, activate_at, retired_at`

func scanKey(row pgx.Row) (*baton.Key, error) {
	var k baton.Key
	var created, activate, retired pgtype.Timestamptz
	if err := row.Scan(&k.ID, &k.Use, &k.Algorithm, &k.Secret, &k.Public, &created, &activate, &retired); err != nil {
		return nil, err
	}
	k.CreatedAt, k.ActivateAt, k.RetiredAt = fromTS(created), fromTS(activate), fromTS(retired)
	return &k, nil
}

func keyArgs(k *baton.Key) []any {
	return []any{k.ID, k.Use, k.Algorithm, nonNil(k.Secret), k.Public, ts(k.CreatedAt), ts(k.ActivateAt), ts(k.RetiredAt)}
}

// Keys returns every key, oldest first.
func (db *DB) Keys(ctx context.Context) ([]*baton.Key, error) {
	var ks []*baton.Key
	err := db.read(ctx, func() error {
		rows, err := db.pool.Query(ctx, `SELECT `+keyColumns+` FROM keys ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		ks, err = collect(rows, func(row pgx.CollectableRow) (*baton.Key, error) { return scanKey(row) })
		return err
	})
	return ks, formatError("list keys", err)
}

// InsertKey stores k. EConflict when a key with k.ID exists.
func (db *DB) InsertKey(ctx context.Context, k *baton.Key) error {
	err := db.write(ctx, func() error {
		_, err := db.pool.Exec(ctx, `INSERT INTO keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, keyArgs(k)...)
		return err
	})
	return formatError("insert key", err)
}

// EnsureKey stores k unless an unretired key of k.Use exists, and returns
// the oldest unretired key of that use. Instances starting together take
// turns on a transaction-level advisory lock; under READ COMMITTED each
// statement sees what the previous holder committed, so the second one
// finds the first one's key instead of adding its own. (A unique index
// cannot do this: after a signing-key rotation two unretired keys of one
// use exist legitimately.)
func (db *DB) EnsureKey(ctx context.Context, k *baton.Key) (*baton.Key, error) {
	var got *baton.Key
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKeys); err != nil {
			return err
		}
		var err error
		got, err = scanKey(tx.QueryRow(ctx, `SELECT `+keyColumns+` FROM keys
			WHERE use = $1 AND retired_at IS NULL ORDER BY created_at, id LIMIT 1`, k.Use))
		if !isNoRows(err) {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, keyArgs(k)...); err != nil {
			return err
		}
		c := *k
		got = &c
		return nil
	})
	if err != nil {
		return nil, formatError("ensure key", err)
	}
	return got, nil
}

// RetireKey sets the key's RetiredAt unless it is already retired.
// ENotFound.
func (db *DB) RetireKey(ctx context.Context, id string, at time.Time) error {
	var exists bool
	err := db.write(ctx, func() error {
		return db.pool.QueryRow(ctx, `WITH retired AS (
			UPDATE keys SET retired_at = $2 WHERE id = $1 AND retired_at IS NULL RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM keys WHERE id = $1)`, id, ts(at)).Scan(&exists)
	})
	if err != nil {
		return formatError("retire key", err)
	}
	if !exists {
		return baton.Errorf(baton.ENotFound, "key not found")
	}
	return nil
}

// DeleteKey removes the key. ENotFound.
func (db *DB) DeleteKey(ctx context.Context, id string) error {
	n, err := db.update(ctx, `DELETE FROM keys WHERE id = $1`, id)
	if err != nil {
		return formatError("delete key", err)
	}
	if n == 0 {
		return baton.Errorf(baton.ENotFound, "key not found")
	}
	return nil
}

// ReplaceKeySecrets replaces key secrets, each only if the key still holds
// its Old one, in one transaction that any miss rolls back. It takes the
// keys' advisory lock, so it is ordered with EnsureKey. EConflict,
// ENotFound.
func (db *DB) ReplaceKeySecrets(ctx context.Context, changes []baton.KeySecret) error {
	if len(changes) == 0 {
		return nil
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKeys); err != nil {
			return err
		}
		for _, c := range changes {
			var exists, replaced bool
			err := tx.QueryRow(ctx, `WITH replaced AS (
				UPDATE keys SET secret = $2 WHERE id = $1 AND secret = $3 RETURNING 1
			)
			SELECT EXISTS (SELECT 1 FROM keys WHERE id = $1), EXISTS (SELECT 1 FROM replaced)`,
				c.ID, nonNil(c.New), nonNil(c.Old)).Scan(&exists, &replaced)
			switch {
			case err != nil:
				return err
			case !exists:
				return baton.Errorf(baton.ENotFound, "key not found")
			case !replaced:
				return baton.Errorf(baton.EConflict, "the secret of key %s changed meanwhile", c.ID)
			}
		}
		return nil
	})
	return formatError("replace key secrets", err)
}

// nonNil returns b, or an empty slice for nil: the secret column is NOT
// NULL, and nil would be sent as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
