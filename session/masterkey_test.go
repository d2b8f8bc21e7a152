package session_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/seal"
	"github.com/batonauth/baton/session"
)

func TestMasterKey(t *testing.T) {
	store := batontest.OpenSQLite(t)
	master := bytes.Repeat([]byte{42}, 32)
	f := newFixtureOn(t, store, func(c *session.Config) { c.MasterKey = master })
	keys, err := store.Keys(ctx)
	if err != nil || len(keys) != 3 {
		t.Fatalf("keys: %d %v", len(keys), err)
	}
	for _, k := range keys {
		if !seal.IsSealed(k) {
			t.Fatalf("key %s (%s) stored in plaintext", k.ID, k.Use)
		}
	}
	f.user(t, "alice")
	g := f.login(t, "alice")
	if _, err := f.refresh(g.RefreshToken); err != nil {
		t.Fatal(err)
	}
	k2, err := f.svc.AddSigningKey(ctx, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if stored, _ := store.Keys(ctx); !seal.IsSealed(stored[len(stored)-1]) || stored[len(stored)-1].ID != k2.ID {
		t.Fatalf("added key not sealed")
	}

	open := func(key []byte) error {
		_, err := session.New(ctx, store, session.Config{
			Issuer: "https://auth.example.com", Hasher: password.NewHasher(batontest.CheapPasswords, 1),
			Now: func() time.Time { return t0 }, MasterKey: key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		return err
	}
	if err := open(nil); !errors.Is(err, seal.ErrNoMasterKey) {
		t.Fatalf("without the master key: got %v, want %v", err, seal.ErrNoMasterKey)
	}
	if err := open(bytes.Repeat([]byte{1}, 32)); !errors.Is(err, seal.ErrWrongMasterKey) {
		t.Fatalf("with a wrong master key: got %v, want %v", err, seal.ErrWrongMasterKey)
	}
	// The same master key on another instance verifies and derives alike.
	other := newFixtureOn(t, store, func(c *session.Config) { c.MasterKey = master })
	if _, err := other.svc.Authenticate(g.AccessToken); err != nil {
		t.Fatalf("another instance with the master key: %v", err)
	}
}
