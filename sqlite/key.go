package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/batonauth/baton"
)

const keyColumns = `id, use, algorithm, secret, public, created_at, activate_at, retired_at`

func scanKey(r row) (*baton.Key, error) {
	k := new(baton.Key)
	err := r.Scan(&k.ID, &k.Use, &k.Algorithm, &k.Secret, &k.Public,
		scanTime{&k.CreatedAt}, scanTime{&k.ActivateAt}, scanTime{&k.RetiredAt})
	if err != nil {
		return nil, err
	}
	return k, nil
}

var errKeyNotFound = baton.Errorf(baton.ENotFound, "key not found")

// Keys returns every key, oldest first.
func (db *DB) Keys(ctx context.Context) ([]*baton.Key, error) {
	rows, err := db.query(ctx, `SELECT `+keyColumns+` FROM keys ORDER BY created_at, rowid`)
	if err != nil {
		return nil, formatError("list keys", err)
	}
	defer rows.Close()
	var keys []*baton.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, formatError("list keys", err)
		}
		keys = append(keys, k)
	}
	return keys, formatError("list keys", rows.Err())
}

func insertKey(tx *tx, k *baton.Key) error {
	return tx.exec(`INSERT INTO keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Use, k.Algorithm, k.Secret, k.Public,
		timeArg(k.CreatedAt), timeArg(k.ActivateAt), timeArg(k.RetiredAt))
}

// InsertKey stores k. EConflict when its id exists.
func (db *DB) InsertKey(ctx context.Context, k *baton.Key) error {
	return db.write(ctx, "insert key", func(tx *tx) error { return insertKey(tx, k) })
}

// EnsureKey stores k unless an unretired key of k.Use exists, and returns
// the one that is then stored; with several, the oldest. The select and the
// insert are one op of the single writer, inside a BEGIN IMMEDIATE
// transaction, so instances racing on an empty store, in this process or
// others, end up with one key.
func (db *DB) EnsureKey(ctx context.Context, k *baton.Key) (*baton.Key, error) {
	var got *baton.Key
	err := db.write(ctx, "ensure key", func(tx *tx) error {
		old, err := scanKey(tx.queryRow(`SELECT `+keyColumns+` FROM keys
			WHERE use = ? AND retired_at IS NULL ORDER BY created_at, rowid LIMIT 1`, k.Use))
		switch {
		case err == nil:
			got = old
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if err := insertKey(tx, k); err != nil {
			return err
		}
		got = k
		return nil
	})
	if err != nil {
		return nil, err
	}
	return got, nil
}

// RetireKey retires the key at at unless it is already retired. ENotFound.
func (db *DB) RetireKey(ctx context.Context, id string, at time.Time) error {
	return db.write(ctx, "retire key", func(tx *tx) error {
		n, err := tx.execN(`UPDATE keys SET retired_at = ? WHERE id = ? AND retired_at IS NULL`, timeArg(at), id)
		if err != nil || n > 0 {
			return err
		}
		var one int
		err = tx.queryRow(`SELECT 1 FROM keys WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return errKeyNotFound
		}
		return err
	})
}

// DeleteKey removes a key. ENotFound.
func (db *DB) DeleteKey(ctx context.Context, id string) error {
	return db.write(ctx, "delete key", func(tx *tx) error {
		n, err := tx.execN(`DELETE FROM keys WHERE id = ?`, id)
		if err == nil && n == 0 {
			return errKeyNotFound
		}
		return err
	})
}

// ReplaceKeySecrets replaces key secrets, each only if the key still holds
// its Old one, all in the writer's one savepoint: any miss rolls back every
// change. EConflict, ENotFound.
func (db *DB) ReplaceKeySecrets(ctx context.Context, changes []baton.KeySecret) error {
	if len(changes) == 0 {
		return nil
	}
	return db.write(ctx, "replace key secrets", func(tx *tx) error {
		for _, c := range changes {
			n, err := tx.execN(`UPDATE keys SET secret = ? WHERE id = ? AND secret = ?`, c.New, c.ID, c.Old)
			if err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			var one int
			err = tx.queryRow(`SELECT 1 FROM keys WHERE id = ?`, c.ID).Scan(&one)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return errKeyNotFound
			case err != nil:
				return err
			}
			return baton.Errorf(baton.EConflict, "the secret of key %s changed meanwhile", c.ID)
		}
		return nil
	})
}
