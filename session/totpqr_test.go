package session_test

import (
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
)

// TestPendingTOTP: the pending enrolment reads back as BeginTOTP gave it
// (sealed or not, whatever the username), only while it is pending, and
// only with a fresh token.
func TestPendingTOTP(t *testing.T) {
	masterKey := make([]byte, 32)
	for i := range masterKey {
		masterKey[i] = byte(i + 1)
	}
	tests := []struct {
		name     string
		username string
		key      []byte
	}{
		{"Plain", "alice", nil},
		{"Sealed", "alice", masterKey},
		{"AddressWithPlus", "Bob+totp@Example.com", masterKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *session.Config) { c.MasterKey = tt.key; c.TOTPIssuer = "Acme & Co" })
			f.user(t, tt.username)
			g := f.login(t, tt.username)
			_, err := f.svc.PendingTOTP(ctx, g.Claims)
			wantCode(t, err, baton.ENotFound)

			first, err := f.svc.BeginTOTP(ctx, g.Claims, cl)
			if err != nil {
				t.Fatal(err)
			}
			second, err := f.svc.BeginTOTP(ctx, g.Claims, cl)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.svc.PendingTOTP(ctx, g.Claims)
			if err != nil {
				t.Fatalf("PendingTOTP: %v", err)
			}
			// A restart replaces the pending secret: the newest one shows.
			if *got != *second || got.URI == first.URI {
				t.Fatalf("got %+v, want %+v (not %+v)", got, second, first)
			}

			f.clock.Advance(16 * time.Minute)
			_, err = f.svc.PendingTOTP(ctx, g.Claims)
			wantCode(t, err, baton.EInsufficientUserAuth)
		})
	}
}

// TestPendingTOTPGoneOnConfirm: once confirmed, nothing is pending; a new
// enrolment (a new phone) is pending again while the old secret works, and
// like the enrolment it is for a token that used the factor only.
func TestPendingTOTPGoneOnConfirm(t *testing.T) {
	f := newMFAFixture(t, nil)
	_, err := f.svc.PendingTOTP(ctx, f.pre.Claims)
	wantCode(t, err, baton.EInsufficientUserAuth)
	m := f.mfaLogin(t)
	f.clock.Advance(30 * time.Second)
	g, err := f.complete(m.Token, ptr(f.code(f.clock.Now())), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.PendingTOTP(ctx, g.Claims)
	wantCode(t, err, baton.ENotFound)
	e, err := f.svc.BeginTOTP(ctx, g.Claims, cl)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.PendingTOTP(ctx, g.Claims)
	if err != nil || got.URI != e.URI {
		t.Fatalf("got %+v, %v; want %s", got, err, e.URI)
	}
	_, err = f.svc.PendingTOTP(ctx, f.pre.Claims)
	wantCode(t, err, baton.EInsufficientUserAuth)
}
