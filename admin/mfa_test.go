package admin_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/pquerna/otp/totp"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/admin"
	"github.com/batonauth/baton/session"
)

// enrolTOTP turns TOTP on for name with a fresh login and returns the
// recovery codes; with pendingOnly it starts an enrolment and stops there.
func enrolTOTP(t *testing.T, f *fixture, name string, pendingOnly bool) []string {
	t.Helper()
	ctx := context.Background()
	g, err := f.svc.Login(ctx, session.LoginRequest{Username: name, Password: pw}, session.Client{})
	if err != nil {
		t.Fatalf("Login(%s): %v", name, err)
	}
	e, err := f.svc.BeginTOTP(ctx, g.Claims, session.Client{})
	if err != nil || pendingOnly {
		if err != nil {
			t.Fatalf("BeginTOTP: %v", err)
		}
		return nil
	}
	code, err := totp.GenerateCode(e.Secret, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	codes, err := f.svc.ConfirmTOTP(ctx, g.Claims, code, session.Client{})
	if err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	return codes
}

// TestResetMFA: ResetMFA removes TOTP, a pending enrolment and the
// recovery codes, revokes every session with the reason mfa_reset and
// reports mfa_reset; afterwards the password alone logs in, an mfa_token
// from before is worthless, and a second reset changes nothing but says so.
func TestResetMFA(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	users := map[string]*baton.User{}
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		u, err := f.a.AddUser(ctx, session.RegisterRequest{Username: name, Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		users[name] = u
	}
	codes := enrolTOTP(t, f, "alice", false)
	enrolTOTP(t, f, "bob", true)
	// One recovery code spent: nine left. The mfa_token of this first
	// step stays unused, to try after the reset.
	login := func(name string) (*session.Grant, *session.MFARequired) {
		t.Helper()
		g, err := f.svc.Login(ctx, session.LoginRequest{Username: name, Password: pw}, session.Client{})
		var m *session.MFARequired
		if errors.As(err, &m) {
			return nil, m
		} else if err != nil {
			t.Fatalf("Login(%s): %v", name, err)
		}
		return g, nil
	}
	_, m := login("alice")
	if _, err := f.svc.CompleteLogin(ctx, session.MFARequest{Token: m.Token, RecoveryCode: &codes[0]}, session.Client{}); err != nil {
		t.Fatalf("CompleteLogin with a recovery code: %v", err)
	}
	_, stale := login("alice")
	if _, m := login("bob"); m != nil {
		t.Fatal("a pending enrolment asked for a second factor")
	}
	// dave: recovery codes without TOTP (a regeneration that raced a
	// disable), which the reset removes too.
	if err := f.store.ReplaceRecoveryCodes(ctx, users["dave"].ID, [][]byte{{1}, {2}}, f.clock.Now()); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		ref         admin.UserRef
		wantCode    string
		wantBefore  session.MFAStatus
		wantDetail  string
		wantRevoked int // sessions revoked
	}{
		{name: "TOTPAndCodes", ref: admin.Username("Alice"), wantBefore: session.MFAStatus{TOTP: true, RecoveryCodesLeft: 9},
			wantDetail: "admin", wantRevoked: 2}, // the enrolment's and the recovery code's
		{name: "Again", ref: admin.Username("alice"), wantDetail: "admin, nothing to remove", wantRevoked: 1}, // the login after the first
		{name: "PendingEnrolmentOnly", ref: admin.Username("bob"), wantBefore: session.MFAStatus{TOTPPending: true},
			wantDetail: "admin", wantRevoked: 2},
		{name: "CodesWithoutTOTP", ref: admin.UserID(users["dave"].ID), wantBefore: session.MFAStatus{RecoveryCodesLeft: 2},
			wantDetail: "admin"},
		{name: "NoFactorStillRevokes", ref: admin.Username("carol"), wantDetail: "admin, nothing to remove", wantRevoked: 1},
		{name: "UnknownUser", ref: admin.Username("nobody"), wantCode: baton.ENotFound},
		{name: "UnknownID", ref: admin.UserID("nobody"), wantCode: baton.ENotFound},
	}
	carol, _ := login("carol")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var live []*baton.Session
			if tt.wantCode == "" {
				u, ss, err := f.a.Sessions(ctx, tt.ref)
				if err != nil {
					t.Fatal(err)
				}
				live = ss
				if _, got, err := f.a.MFA(ctx, admin.UserID(u.ID)); err != nil || got != tt.wantBefore {
					t.Fatalf("MFA before: got %+v, %v; want %+v", got, err, tt.wantBefore)
				}
			}
			nEvents := len(f.types())
			u, r, err := f.a.ResetMFA(ctx, tt.ref)
			if tt.wantCode != "" {
				if baton.ErrorCode(err) != tt.wantCode || len(f.types()) != nEvents {
					t.Fatalf("got %v and events %v, want %s and no event", err, f.types()[nEvents:], tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Removed != tt.wantBefore || len(r.Revoked) != tt.wantRevoked || len(live) != tt.wantRevoked {
				t.Fatalf("reset: removed %+v, revoked %d (live before %d); want %+v, %d", r.Removed, len(r.Revoked), len(live), tt.wantBefore, tt.wantRevoked)
			}
			f.mu.Lock()
			events := slices.Clone(f.events[nEvents:])
			f.mu.Unlock()
			if len(events) != 1 || events[0].Type != session.EventMFAReset || events[0].Detail != tt.wantDetail || events[0].UserID != u.ID {
				t.Fatalf("events %+v, want one mfa_reset of %s with detail %q", events, u.ID, tt.wantDetail)
			}
			for _, s := range live {
				got, err := f.store.Session(ctx, s.ID)
				if err != nil || got.RevokedAt.IsZero() || got.RevokeReason != baton.ReasonMFAReset {
					t.Fatalf("session %s after the reset: %+v, %v; want revoked for mfa_reset", s.ID, got, err)
				}
			}
			if _, got, err := f.a.MFA(ctx, admin.UserID(u.ID)); err != nil || got != (session.MFAStatus{}) {
				t.Fatalf("MFA after: got %+v, %v; want none", got, err)
			}
			// The password alone logs in now, with tokens straight away.
			g, m := login(u.Username)
			if m != nil || !slices.Equal(g.Claims.AMR, []string{"pwd"}) {
				t.Fatalf("login after the reset: mfa_required %v", m != nil)
			}
		})
	}
	// carol's session from before the reset: its tokens fail at once.
	if _, err := f.svc.Authenticate(carol.AccessToken); err == nil {
		t.Fatal("an access token of a session the reset revoked still authenticates")
	}
	if _, err := f.svc.Refresh(ctx, session.RefreshRequest{RefreshToken: carol.RefreshToken}, session.Client{}); err == nil {
		t.Fatal("a refresh token of a session the reset revoked still works")
	}
	// alice's mfa_token from before the reset finishes nothing: her factors
	// are gone, so neither a recovery code nor a code of her old secret works.
	if _, err := f.svc.CompleteLogin(ctx, session.MFARequest{Token: stale.Token, RecoveryCode: &codes[1]}, session.Client{}); baton.ErrorCode(err) != baton.EInvalidCredentials {
		t.Fatalf("a recovery code after the reset: got %v, want invalid_credentials", err)
	}
}
