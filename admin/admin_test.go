package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/admin"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/session"
)

const pw = "correct horse battery staple"

type fixture struct {
	a      *admin.Admin
	svc    *session.Service
	store  baton.Store
	clock  *batontest.Clock
	mu     sync.Mutex
	events []session.Event
}

func (f *fixture) types() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		out = append(out, e.Type)
	}
	return out
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: batontest.OpenSQLite(t), clock: batontest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))}
	observe := func(e session.Event) {
		f.mu.Lock()
		f.events = append(f.events, e)
		f.mu.Unlock()
	}
	f.svc = newService(t, f.store, f.clock, observe)
	f.a = admin.New(f.svc, f.store, admin.Options{Observer: observe, Logger: quiet})
	return f
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newService starts a session engine on store: the admin's, or another
// one standing for a server on the same database.
func newService(t *testing.T, store baton.Store, clock *batontest.Clock, observe func(session.Event)) *session.Service {
	t.Helper()
	svc, err := session.New(context.Background(), store, session.Config{
		Issuer: "https://auth.example.com", Hasher: password.NewHasher(batontest.CheapPasswords, 2),
		Now: clock.Now, Logger: quiet, Observer: observe,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc
}

func TestUsers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u, err := f.a.AddUser(ctx, session.RegisterRequest{Username: "Zoë@example.com", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []admin.UserRef{admin.UserID(u.ID), admin.Username("Zoë@example.com"), admin.Username("ZOË@EXAMPLE.COM"), admin.Username("  zoë@example.com ")} {
		got, err := f.a.FindUser(ctx, ref)
		if err != nil || got.ID != u.ID {
			t.Fatalf("FindUser(%+v): %v %v", ref, got, err)
		}
	}
	for _, ref := range []admin.UserRef{admin.Username("nobody"), admin.Username(u.ID), admin.UserID("Zoë@example.com"), admin.Username("")} {
		if _, err := f.a.FindUser(ctx, ref); baton.ErrorCode(err) != baton.ENotFound {
			t.Fatalf("FindUser(%+v): %v", ref, err)
		}
	}
	g, err := f.svc.Login(ctx, session.LoginRequest{Username: "zoë@example.com", Password: pw}, session.Client{})
	if err != nil {
		t.Fatal(err)
	}
	locked, err := f.a.Lock(ctx, admin.UserID(u.ID))
	if err != nil || locked.LockedAt.IsZero() {
		t.Fatalf("Lock: %v %v", locked, err)
	}
	if _, err := f.svc.Authenticate(g.AccessToken); err == nil {
		t.Fatal("a locked user's access token still works")
	}
	if _, err := f.svc.Refresh(ctx, session.RefreshRequest{RefreshToken: g.RefreshToken}, session.Client{}); err == nil {
		t.Fatal("a locked user refreshed")
	}
	if _, err := f.svc.Login(ctx, session.LoginRequest{Username: "zoë@example.com", Password: pw}, session.Client{}); err == nil {
		t.Fatal("a locked user logged in")
	}
	if _, err := f.a.Unlock(ctx, admin.UserID(u.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.SetPassword(ctx, admin.UserID(u.ID), "short"); baton.ErrorCode(err) != baton.EWeakPassword {
		t.Fatalf("weak password: %v", err)
	}
	if _, err := f.a.SetPassword(ctx, admin.UserID(u.ID), "a brand new passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, session.LoginRequest{Username: "zoë@example.com", Password: "a brand new passphrase"}, session.Client{}); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	_, ids, err := f.a.RevokeAll(ctx, admin.Username("zoë@example.com"))
	if err != nil || len(ids) != 1 {
		t.Fatalf("RevokeAll: %v %v", ids, err)
	}
	if ok, err := f.a.RevokeSession(ctx, ids[0]); ok || err != nil {
		t.Fatalf("revoking a revoked session: %v %v", ok, err)
	}
	if _, err := f.a.RevokeSession(ctx, "no-such-session"); baton.ErrorCode(err) != baton.ENotFound {
		t.Fatalf("RevokeSession(unknown): %v", err)
	}
	if _, err := f.a.Delete(ctx, admin.UserID(u.ID)); err != nil {
		t.Fatal(err)
	}
	got := f.types()
	for _, want := range []string{"register", "lock", "unlock", "password_change", "revoke", "account_deleted"} {
		if !slices.Contains(got, want) {
			t.Errorf("events %v lack %s", got, want)
		}
	}
}

func TestKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	keys, err := f.a.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var first string
	for _, k := range keys {
		if k.Use == baton.KeyUseSigning {
			first = k.ID
			if k.State != admin.KeySigning {
				t.Fatalf("first key state %s", k.State)
			}
		} else if k.State != admin.KeySecret {
			t.Fatalf("HMAC key state %s", k.State)
		}
	}
	if _, err := f.a.RetireKey(ctx, first, false); err == nil {
		t.Fatal("retired the only signing key")
	}
	next, err := f.a.RotateKey(ctx, 10*time.Minute)
	if err != nil || next.State != admin.KeyPending {
		t.Fatalf("RotateKey: %+v %v", next, err)
	}
	if _, err := f.a.RetireKey(ctx, first, false); err == nil {
		t.Fatal("retired the active key while its successor was pending")
	}
	f.clock.Advance(10 * time.Minute)
	keys, _ = f.a.Keys(ctx)
	for _, k := range keys {
		if k.ID == first && k.State != admin.KeyPublished || k.ID == next.ID && k.State != admin.KeySigning {
			t.Fatalf("after activation: %+v", keys)
		}
	}
	r, err := f.a.RetireKey(ctx, first, false)
	if err != nil {
		t.Fatal(err)
	}
	keep := admin.RetiredKeyKeep(f.svc)
	if keep != 5*time.Minute+5*time.Second+30*time.Second || !r.RemoveAfter.Equal(r.RetiredAt.Add(keep)) {
		t.Fatalf("keep %v, retired %+v", keep, r)
	}
	if gone, err := f.a.PurgeRetiredKeys(ctx); err != nil || len(gone) != 0 {
		t.Fatalf("purged %v %v right after retiring", gone, err)
	}
	f.clock.Advance(keep + time.Second)
	if gone, err := f.a.PurgeRetiredKeys(ctx); err != nil || !slices.Equal(gone, []string{first}) {
		t.Fatalf("purged %v %v, want [%s]", gone, err, first)
	}
	if slices.Contains(keysOf(t, f), first) {
		t.Fatal("the purged key is still in the store")
	}
	if _, err := f.a.RetireKey(ctx, "nope", false); baton.ErrorCode(err) != baton.ENotFound {
		t.Fatalf("RetireKey(unknown): %v", err)
	}
	got := f.types()
	for _, want := range []string{admin.EventKeyRotate, admin.EventKeyRetire, admin.EventKeyDelete} {
		if !slices.Contains(got, want) {
			t.Errorf("events %v lack %s", got, want)
		}
	}
}

// TestIDTokenKeys: the RSA and P-256 keys a server makes on first need
// are signing keys to `baton keys`: listed with a signing state, rotated
// with RotateKeyFor, retired and purged like the Ed25519 key.
func TestIDTokenKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.IDSigner(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := f.a.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := map[string]string{} // use → id
	for _, k := range keys {
		switch k.Use {
		case baton.KeyUseSigningRSA, baton.KeyUseSigningEC:
			if k.State != admin.KeySigning {
				t.Fatalf("%s key state %s, want signing", k.Use, k.State)
			}
			first[k.Use] = k.ID
		}
	}
	if len(first) != 2 {
		t.Fatalf("keys %+v lack the ID-token keys", keys)
	}
	for use, alg := range map[string]string{baton.KeyUseSigningRSA: baton.AlgRS256, baton.KeyUseSigningEC: baton.AlgES256} {
		if _, err := f.a.RetireKey(ctx, first[use], false); baton.ErrorCode(err) != baton.EInvalidRequest {
			t.Fatalf("retired the only %s key: %v", use, err)
		}
		next, err := f.a.RotateKeyFor(ctx, alg, 10*time.Minute)
		if err != nil || next.State != admin.KeyPending || next.Use != use || next.Algorithm != alg {
			t.Fatalf("RotateKeyFor(%s): %+v %v", alg, next, err)
		}
	}
	if _, err := f.a.RotateKeyFor(ctx, "HS256", 0); baton.ErrorCode(err) != baton.EInvalidRequest {
		t.Fatalf("RotateKeyFor(HS256): %v", err)
	}
	// The Ed25519 key is another use: rotating it leaves its own alone.
	f.clock.Advance(10 * time.Minute)
	keys, _ = f.a.Keys(ctx)
	states := map[string]string{}
	for _, k := range keys {
		states[k.ID] = k.State
	}
	for use, id := range first {
		if states[id] != admin.KeyPublished {
			t.Fatalf("after its successor activated, the first %s key is %s", use, states[id])
		}
		r, err := f.a.RetireKey(ctx, id, false)
		if err != nil || r.State != admin.KeyRetired || !r.RemoveAfter.Equal(r.RetiredAt.Add(admin.RetiredKeyKeep(f.svc))) {
			t.Fatalf("RetireKey(%s): %+v %v", use, r, err)
		}
	}
	tok, err := f.svc.SignIDToken(ctx, baton.AlgES256, map[string]any{"sub": "u"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.VerifyIDToken(tok); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(admin.RetiredKeyKeep(f.svc) + time.Second)
	gone, err := f.a.PurgeRetiredKeys(ctx)
	slices.Sort(gone)
	want := []string{first[baton.KeyUseSigningRSA], first[baton.KeyUseSigningEC]}
	slices.Sort(want)
	if err != nil || !slices.Equal(gone, want) {
		t.Fatalf("purged %v %v, want %v", gone, err, want)
	}
	var set struct{ Keys []struct{ Kid string } }
	if err := json.Unmarshal(f.svc.Keyring().JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if slices.Contains(want, k.Kid) {
			t.Fatalf("the purged key %s is still published", k.Kid)
		}
	}
}

func keysOf(t *testing.T, f *fixture) []string {
	ks, err := f.store.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range ks {
		ids = append(ids, k.ID)
	}
	return ids
}

// TestUsernameEqualToAnotherID: a username is never taken for an id. Here
// mallory registers alice's id as a username; locking "that username"
// locks mallory, and alice only when her id is asked for explicitly.
func TestUsernameEqualToAnotherID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice, err := f.a.AddUser(ctx, session.RegisterRequest{Username: "alice", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := f.a.AddUser(ctx, session.RegisterRequest{Username: alice.ID, Password: pw})
	if err != nil {
		t.Fatalf("registering a username equal to an id: %v", err)
	}
	locked, err := f.a.Lock(ctx, admin.Username(alice.ID))
	if err != nil || locked.ID != mallory.ID {
		t.Fatalf("Lock(username %s) locked %v (%v), want mallory %s", alice.ID, locked, err, mallory.ID)
	}
	if a, _ := f.store.UserByID(ctx, alice.ID); !a.LockedAt.IsZero() {
		t.Fatal("locking mallory's username locked alice")
	}
	if locked, err := f.a.Lock(ctx, admin.UserID(alice.ID)); err != nil || locked.ID != alice.ID {
		t.Fatalf("Lock(id %s): %v %v", alice.ID, locked, err)
	}
}
