package storetest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/session"
	"github.com/batonauth/baton/token"
)

// LegacyUser is an account as a backend's test writes it, with SQL of its
// own, into a database created by an older release, before the columns
// that release did not have (such as the email) existed.
type LegacyUser struct {
	ID, Username, CanonicalUsername, PasswordHash string
	CreatedAt                                     time.Time

	// Session is a live body-transport session of the user at
	// credential generation 0, created at SessionCreatedAt and expiring
	// (absolutely and idle) at SessionExpiresAt, whose refresh token
	// (unspent, created with the session) has the hash RefreshHash.
	SessionID                          string
	SessionCreatedAt, SessionExpiresAt time.Time
	RefreshHash                        []byte
	refreshToken                       string
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
	rt, err := token.NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	// The session engine runs on the real clock.
	now := time.Now().UTC().Truncate(time.Second)
	return LegacyUser{ID: "legacy-alice", Username: "Alice", CanonicalUsername: "alice", PasswordHash: hash, CreatedAt: t0,
		SessionID: "legacy-session", SessionCreatedAt: now.Add(-time.Hour), SessionExpiresAt: now.Add(24 * time.Hour),
		RefreshHash: token.HashRefreshToken(rt), refreshToken: rt}
}

// CheckUpgraded checks a store opened (and so migrated) by the current code
// on a database where an older release had stored u and its session: the
// session, which came from a password, reads as amr ["pwd"] and refreshes
// into tokens that say so; u logs in through the session engine and has no
// email; new users register with and without addresses beside it.
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

	pwd := []string{baton.AMRPassword}
	if sess, err := s.Session(ctx, u.SessionID); err != nil {
		t.Errorf("Session stored before the upgrade: %v", err)
	} else if d := diff(pwd, sess.AMR); d != "" {
		t.Errorf("amr of the session stored before the upgrade (-want +got):\n%s", d)
	}
	if old, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: u.refreshToken}, cl); err != nil {
		t.Errorf("Refresh of the session stored before the upgrade: %v", err)
	} else if c, err := svc.Authenticate(old.AccessToken); err != nil {
		t.Errorf("Authenticate the refreshed token: %v", err)
	} else if d := diff(pwd, c.AMR); d != "" {
		t.Errorf("amr of the token refreshed from the session stored before the upgrade (-want +got):\n%s", d)
	}

	g, err := svc.Login(ctx, session.LoginRequest{Username: "ALICE", Password: legacyPassword, Transport: baton.TransportBody}, cl)
	if err != nil {
		t.Fatalf("Login as the user stored before the upgrade: %v", err)
	}
	c, err := svc.Authenticate(g.AccessToken)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if d := diff(pwd, c.AMR); d != "" {
		t.Errorf("amr of a login's token (-want +got):\n%s", d)
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
