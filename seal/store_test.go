package seal_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/postgres"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/batonauth/baton/seal"
	"github.com/batonauth/baton/token"
)

func stores(t *testing.T) map[string]baton.Store {
	pg, err := postgres.Open(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	return map[string]baton.Store{"SQLite": batontest.OpenSQLite(t), "PostgreSQL": pg}
}

// plaintextKeys stores the three keys of a server started without a
// master key and returns them.
func plaintextKeys(t *testing.T, s baton.Store) []*baton.Key {
	t.Helper()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	sig, err := token.NewSigningKey(now, now)
	if err != nil {
		t.Fatal(err)
	}
	keys := []*baton.Key{sig}
	for _, use := range []string{baton.KeyUseRotation, baton.KeyUseCSRF} {
		k, err := token.NewSecretKey(use, now)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	for _, k := range keys {
		if err := s.InsertKey(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestSealStoredConcurrent is instances starting together with a new
// master key on a store written without one: every one starts, the keys
// are sealed once, and each opens to its old secret.
func TestSealStoredConcurrent(t *testing.T) {
	master := bytes.Repeat([]byte{9}, 32)
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			plain := plaintextKeys(t, s)
			const n = 8
			sealed := make([]int, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					sealed[i], errs[i] = seal.SealStored(ctx, s, master)
				})
			}
			close(start)
			wg.Wait()
			total := 0
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("instance %d: %v", i, errs[i])
				}
				total += sealed[i]
			}
			if total != len(plain) {
				t.Fatalf("%d keys sealed in all, want %d (each once)", total, len(plain))
			}
			keys, err := s.Keys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string][]byte{}
			for _, k := range plain {
				want[k.ID] = k.Secret
			}
			for _, k := range keys {
				o, err := seal.Open(master, k)
				if !seal.IsSealed(k) || err != nil || !bytes.Equal(o.Secret, want[k.ID]) {
					t.Fatalf("key %s: sealed %v, opens %v", k.ID, seal.IsSealed(k), err)
				}
			}
		})
	}
}

func TestSealStoredArguments(t *testing.T) {
	ctx := context.Background()
	s := batontest.OpenSQLite(t)
	plain := plaintextKeys(t, s)
	if n, err := seal.SealStored(ctx, s, nil); n != 0 || err != nil {
		t.Fatalf("without a master key: %d, %v; want 0, nil", n, err)
	}
	if _, err := seal.SealStored(ctx, s, []byte("short")); err == nil {
		t.Fatal("a 5-byte master key was accepted")
	}
	for _, keys := range [][2][]byte{{nil, bytes.Repeat([]byte{1}, 32)}, {bytes.Repeat([]byte{1}, 32), nil}, {bytes.Repeat([]byte{1}, 32), []byte("short")}} {
		if _, err := seal.ResealStored(ctx, s, keys[0], keys[1]); err == nil {
			t.Fatalf("ResealStored(%x, %x) was accepted", keys[0], keys[1])
		}
	}
	if keys, _ := s.Keys(ctx); len(keys) != len(plain) || seal.IsSealed(keys[0]) {
		t.Fatal("refused calls changed the keys")
	}
	// Plaintext keys are sealed by a reseal too (the old key opens them as
	// they are).
	if n, err := seal.ResealStored(ctx, s, bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)); n != 3 || err != nil {
		t.Fatalf("reseal of plaintext keys: %d, %v", n, err)
	}
	if _, err := seal.ResealStored(ctx, s, bytes.Repeat([]byte{3}, 32), bytes.Repeat([]byte{4}, 32)); !errors.Is(err, seal.ErrWrongMasterKey) {
		t.Fatalf("reseal with unrelated keys: %v", err)
	}
}

// TestSealStoredWrongMasterKey: a start with a wrong master key on a store
// holding sealed and plaintext keys (one added by a server that had no
// master key) changes nothing, so the store never holds keys sealed under
// two master keys.
func TestSealStoredWrongMasterKey(t *testing.T) {
	ctx := context.Background()
	s := batontest.OpenSQLite(t)
	plaintextKeys(t, s)
	a := bytes.Repeat([]byte{0xa}, 32)
	if n, err := seal.SealStored(ctx, s, a); n != 3 || err != nil {
		t.Fatalf("seal under A: %d, %v", n, err)
	}
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	k, err := token.NewSigningKey(now, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Keys(ctx)
	if n, err := seal.SealStored(ctx, s, bytes.Repeat([]byte{0xb}, 32)); n != 0 || !errors.Is(err, seal.ErrWrongMasterKey) {
		t.Fatalf("seal under B: %d, %v; want 0, %v", n, err, seal.ErrWrongMasterKey)
	}
	after, _ := s.Keys(ctx)
	for i := range before {
		if !bytes.Equal(before[i].Secret, after[i].Secret) {
			t.Fatalf("key %s changed under a wrong master key", before[i].ID)
		}
	}
	if n, err := seal.SealStored(ctx, s, a); n != 1 || err != nil {
		t.Fatalf("seal under A again: %d, %v; want the one plaintext key", n, err)
	}
}
