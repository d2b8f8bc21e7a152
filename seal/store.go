package seal

import (
	"context"
	"errors"
	"fmt"

	"github.com/batonauth/baton"
)

// attempts bounds the re-reads after another process changed a key
// between our read and our write (instances starting together both seal).
const attempts = 5

// SealStored seals every key that store holds in plaintext under master,
// in one transaction, and returns how many it sealed. With a nil master it
// does nothing: the keys stay in plaintext. Keys already sealed are left
// as they are, but must open with master: a wrong master key fails with
// ErrWrongMasterKey before anything changes, so it never leaves a store
// whose keys are sealed under two different master keys. It runs at every
// start, so turning BATON_MASTER_KEY on for an existing store seals what
// was written before.
func SealStored(ctx context.Context, store baton.KeyStore, master []byte) (int, error) {
	if master == nil {
		return 0, nil
	}
	if _, err := aead(master); err != nil {
		return 0, err
	}
	return replaceStored(ctx, store, func(k *baton.Key) (*baton.Key, error) {
		if IsSealed(k) {
			if _, err := Open(master, k); err != nil {
				return nil, fmt.Errorf("key %s: %w", k.ID, err)
			}
			return nil, nil
		}
		if len(k.Secret) == 0 {
			return nil, nil
		}
		return Seal(master, k)
	})
}

// ResealStored re-seals every key under newMaster, in one transaction, for
// a master-key rotation, and returns how many it changed. Keys sealed
// under oldMaster and keys in plaintext are sealed under newMaster; keys
// already sealed under newMaster are left alone, so running it again
// after a success changes nothing. A key that neither master opens fails
// the whole call with ErrWrongMasterKey and nothing changes.
func ResealStored(ctx context.Context, store baton.KeyStore, oldMaster, newMaster []byte) (int, error) {
	if oldMaster == nil || newMaster == nil {
		return 0, errors.New("seal: re-sealing needs both the old and the new master key")
	}
	for _, m := range [][]byte{oldMaster, newMaster} {
		if _, err := aead(m); err != nil {
			return 0, err
		}
	}
	return replaceStored(ctx, store, func(k *baton.Key) (*baton.Key, error) {
		if len(k.Secret) == 0 {
			return nil, nil
		}
		if IsSealed(k) {
			if _, err := Open(newMaster, k); err == nil {
				return nil, nil
			}
		}
		plain, err := Open(oldMaster, k)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.ID, err)
		}
		return Seal(newMaster, plain)
	})
}

// replaceStored reads the keys, asks change for each one's new form (nil
// for none) and stores every change in one ReplaceKeySecrets; on a
// conflict (another process changed a key meanwhile) it starts over from
// a fresh read.
func replaceStored(ctx context.Context, store baton.KeyStore, change func(*baton.Key) (*baton.Key, error)) (int, error) {
	for range attempts {
		keys, err := store.Keys(ctx)
		if err != nil {
			return 0, err
		}
		var changes []baton.KeySecret
		for _, k := range keys {
			c, err := change(k)
			if err != nil {
				return 0, err
			}
			if c != nil {
				changes = append(changes, baton.KeySecret{ID: k.ID, Old: k.Secret, New: c.Secret})
			}
		}
		err = store.ReplaceKeySecrets(ctx, changes)
		if baton.ErrorCode(err) == baton.EConflict || baton.ErrorCode(err) == baton.ENotFound {
			continue // a key changed or went meanwhile: read again
		}
		if err != nil {
			return 0, err
		}
		return len(changes), nil
	}
	return 0, errors.New("seal: the stored keys kept changing; try again")
}
