package admin_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/admin"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/postgres"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/batonauth/baton/seal"
	"github.com/batonauth/baton/session"
	"github.com/batonauth/baton/sqlite"
	"github.com/jackc/pgx/v5"
)

// rawKeys reads the keys table's id and secret columns with a connection
// of its own, bypassing the store: what a copy of the database shows.
type rawKeys func(t *testing.T) map[string][]byte

func rawFrom(t *testing.T, rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for rows.Next() {
		var id string
		var secret []byte
		if err := rows.Scan(&id, &secret); err != nil {
			t.Fatal(err)
		}
		out[id] = secret
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func resealStores(t *testing.T) map[string]func(t *testing.T) (baton.Store, rawKeys) {
	return map[string]func(t *testing.T) (baton.Store, rawKeys){
		"SQLite": func(t *testing.T) (baton.Store, rawKeys) {
			path := filepath.Join(t.TempDir(), "baton.db")
			db, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db, func(t *testing.T) map[string][]byte {
				raw, err := sql.Open("sqlite", path)
				if err != nil {
					t.Fatal(err)
				}
				defer raw.Close()
				rows, err := raw.Query(`SELECT id, secret FROM keys`)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				return rawFrom(t, rows)
			}
		},
		"PostgreSQL": func(t *testing.T) (baton.Store, rawKeys) {
			url := pgtest.NewDatabase(t)
			db, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db, func(t *testing.T) map[string][]byte {
				ctx := context.Background()
				conn, err := pgx.Connect(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				rows, err := conn.Query(ctx, `SELECT id, secret FROM keys`)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				return rawFrom(t, rows)
			}
		},
	}
}

// TestMasterKeyLifecycle: a store used without a master key has every key
// sealed by the first start with one, and tokens issued before still
// verify; `keys reseal` moves every key from master key A to B in one go;
// a wrong old key changes nothing.
func TestMasterKeyLifecycle(t *testing.T) {
	for name, open := range resealStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store, raw := open(t)
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			clock := batontest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			start := func(master []byte) (*session.Service, error) {
				svc, err := session.New(ctx, store, session.Config{
					Issuer: "https://auth.example.com", Hasher: password.NewHasher(batontest.CheapPasswords, 2),
					Now: clock.Now, Logger: quiet, MasterKey: master,
				})
				if err == nil {
					t.Cleanup(svc.Close)
				}
				return svc, err
			}
			mustStart := func(master []byte) *session.Service {
				t.Helper()
				svc, err := start(master)
				if err != nil {
					t.Fatalf("start: %v", err)
				}
				return svc
			}
			a, b, c := bytes.Repeat([]byte{0xa}, 32), bytes.Repeat([]byte{0xb}, 32), bytes.Repeat([]byte{0xc}, 32)

			plain := mustStart(nil)
			if _, err := plain.Register(ctx, session.RegisterRequest{Username: "alice", Password: pw}, session.Client{}); err != nil {
				t.Fatal(err)
			}
			g, err := plain.Login(ctx, session.LoginRequest{Username: "alice", Password: pw}, session.Client{})
			if err != nil {
				t.Fatal(err)
			}
			before := raw(t)
			if len(before) != 3 {
				t.Fatalf("keys after the first start: %d, want 3", len(before))
			}
			for id, secret := range before {
				if bytes.HasPrefix(secret, []byte("bsk1")) {
					t.Fatalf("key %s sealed without a master key", id)
				}
			}

			// Restart with master key A: every key is sealed, in place.
			svcA := mustStart(a)
			sealedA := raw(t)
			for id, secret := range sealedA {
				if !bytes.HasPrefix(secret, []byte("bsk1")) || bytes.Contains(secret, before[id]) {
					t.Errorf("key %s is still stored in plaintext after a start with a master key", id)
				}
			}
			if len(sealedA) != len(before) {
				t.Fatalf("keys: %d after sealing, %d before", len(sealedA), len(before))
			}
			if _, err := svcA.Authenticate(g.AccessToken); err != nil {
				t.Fatalf("an access token issued before sealing: %v", err)
			}
			if _, err := svcA.Refresh(ctx, session.RefreshRequest{RefreshToken: g.RefreshToken}, session.Client{}); err != nil {
				t.Fatalf("a refresh token issued before sealing: %v", err)
			}
			if _, err := start(nil); !errors.Is(err, seal.ErrNoMasterKey) {
				t.Fatalf("start without the master key after sealing: got %v, want %v", err, seal.ErrNoMasterKey)
			}

			// A wrong old key changes nothing and is audited as failed.
			var events []session.Event
			opt := admin.Options{Logger: quiet, Observer: func(e session.Event) { events = append(events, e) }}
			if n, err := admin.ResealKeys(ctx, store, c, b, opt); !errors.Is(err, seal.ErrWrongMasterKey) || n != 0 {
				t.Fatalf("reseal with a wrong old key: %d, %v; want 0, %v", n, err, seal.ErrWrongMasterKey)
			}
			if after := raw(t); !sameSecrets(after, sealedA) {
				t.Fatal("a reseal with a wrong old key changed the stored keys")
			}

			// A to B: everything opens with B, nothing with A.
			if n, err := admin.ResealKeys(ctx, store, a, b, opt); err != nil || n != 3 {
				t.Fatalf("reseal A to B: %d, %v; want 3, nil", n, err)
			}
			if _, err := start(a); !errors.Is(err, seal.ErrWrongMasterKey) {
				t.Fatalf("start with the old master key: got %v, want %v", err, seal.ErrWrongMasterKey)
			}
			svcB := mustStart(b)
			if _, err := svcB.Authenticate(g.AccessToken); err != nil {
				t.Fatalf("an access token issued before the reseal: %v", err)
			}
			// Again: nothing left to do.
			if n, err := admin.ResealKeys(ctx, store, a, b, opt); err != nil || n != 0 {
				t.Fatalf("second reseal A to B: %d, %v; want 0, nil", n, err)
			}
			var got []string
			for _, e := range events {
				got = append(got, e.Type+"/"+e.Outcome+"/"+e.Detail)
			}
			want := []string{"key_reseal/failed/nothing changed", "key_reseal/ok/resealed=3", "key_reseal/ok/resealed=0"}
			if !slices.Equal(got, want) {
				t.Fatalf("audit events %q, want %q", got, want)
			}
		})
	}
}

func sameSecrets(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for id, s := range a {
		if !bytes.Equal(s, b[id]) {
			return false
		}
	}
	return true
}
