package storetest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/session"
)

// LegacyUser is an account as a backend's test writes it, with SQL of its
// own, into a database created by an older release, before the columns
// that release did not have (such as the email) existed.
type LegacyUser struct {
	ID, Username, CanonicalUsername, PasswordHash string
	CreatedAt                                     time.Time
}

// legacyPassword is the password of NewLegacyUser.
const legacyPassword = "correct horse battery staple"

// cheapPasswords keep the suite fast; never use them in production.
var cheapPasswords = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// NewLegacyUser returns the user "Alice" with a real password hash, for
// CheckUpgraded to log in.
func NewLegacyUser(t *testing.T) LegacyUser {
	t.Helper()
	hash, err := password.NewHasher(cheapPasswords, 1).Hash(context.Background(), legacyPassword)
	if err != nil {
		t.Fatalf("hash: %v", err)
	}
	return LegacyUser{ID: "legacy-alice", Username: "Alice", CanonicalUsername: "alice", PasswordHash: hash, CreatedAt: t0}
}

// CheckUpgraded checks a store opened (and so migrated) by the current code
// on a database where an older release had stored u: u logs in through the
// session engine and has no email; new users register with and without
// addresses beside it.
func CheckUpgraded(t *testing.T, s baton.Store, u LegacyUser) {
	t.Helper()
	svc, err := session.New(ctx, s, session.Config{
		Issuer: "https://auth.example.com",
		Hasher: password.NewHasher(cheapPasswords, 1),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("session.New on the upgraded store: %v", err)
	}
	t.Cleanup(svc.Close)
	cl := session.Client{IP: "192.0.2.1", UserAgent: "upgrade-test"}

	g, err := svc.Login(ctx, session.LoginRequest{Username: "ALICE", Password: legacyPassword, Transport: baton.TransportBody}, cl)
	if err != nil {
		t.Fatalf("Login as the user stored before the upgrade: %v", err)
	}
	c, err := svc.Authenticate(g.AccessToken)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	p, err := svc.Profile(ctx, c)
	if err != nil {
		t.Fatalf("Profile: %v", err)
	}
	want := &baton.User{ID: u.ID, Username: u.Username, CanonicalUsername: u.CanonicalUsername, CreatedAt: u.CreatedAt}
	if d := diff(want, &p.User); d != "" {
		t.Errorf("profile of the user stored before the upgrade (-want +got):\n%s", d)
	}
	if _, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: g.RefreshToken}, cl); err != nil {
		t.Errorf("Refresh: %v", err)
	}

	addr := "Bob@Example.com"
	bob, err := svc.Register(ctx, session.RegisterRequest{Username: "bob", Password: legacyPassword + "!", Email: &addr}, cl)
	if err != nil {
		t.Fatalf("Register with an email: %v", err)
	}
	if got, err := s.UserByEmail(ctx, "bob@example.com"); err != nil || got.ID != bob.ID || got.Email != addr {
		t.Errorf("UserByEmail: got %+v, %v, want user %q with %q", got, err, bob.ID, addr)
	}
	if _, err := svc.Register(ctx, session.RegisterRequest{Username: "carol", Password: legacyPassword + "!"}, cl); err != nil {
		t.Errorf("Register without an email beside the user without one: %v", err)
	}
	other := "BOB@example.com"
	_, err = svc.Register(ctx, session.RegisterRequest{Username: "dave", Password: legacyPassword + "!", Email: &other}, cl)
	wantCode(t, err, baton.EEmailTaken)
}
