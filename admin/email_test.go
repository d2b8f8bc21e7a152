package admin_test

import (
	"context"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/admin"
	"github.com/batonauth/baton/session"
)

// TestSetEmail: SetEmail checks and canonicalises the address as
// registration does, stores it with the verified flag, keeps the user's
// sessions, and reports email_set; refusals change nothing and report
// nothing.
func TestSetEmail(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice, err := f.a.AddUser(ctx, session.RegisterRequest{Username: "alice", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.AddUser(ctx, session.RegisterRequest{Username: "bob", Password: pw, Email: ptr("Bob@Example.org")}); err != nil {
		t.Fatal(err)
	}
	g, err := f.svc.Login(ctx, session.LoginRequest{Username: "alice", Password: pw}, session.Client{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		ref          admin.UserRef
		addr         string
		verified     bool
		wantCode     string
		wantEmail    string
		wantVerified bool
		wantDetail   string
	}{
		{name: "Set", ref: admin.Username("alice"), addr: " Alice@Example.com ", wantEmail: "Alice@Example.com", wantDetail: "admin"},
		{name: "SameAgainVerified", ref: admin.UserID(alice.ID), addr: "ALICE@example.com", verified: true,
			wantEmail: "ALICE@example.com", wantVerified: true, wantDetail: "admin, verified"},
		{name: "Change", ref: admin.Username("ALICE"), addr: "alice@example.net", wantEmail: "alice@example.net", wantDetail: "admin"},
		{name: "TakenInAnotherCase", ref: admin.Username("alice"), addr: "bob@EXAMPLE.org", wantCode: baton.EEmailTaken,
			wantEmail: "alice@example.net"},
		{name: "Invalid", ref: admin.Username("alice"), addr: "Alice <alice@example.com>", wantCode: baton.EInvalidEmail,
			wantEmail: "alice@example.net"},
		{name: "HeaderInjection", ref: admin.Username("alice"), addr: "alice@example.com\r\nBcc: x@example.com", wantCode: baton.EInvalidEmail,
			wantEmail: "alice@example.net"},
		{name: "UnknownUser", ref: admin.Username("nobody"), addr: "nobody@example.com", wantCode: baton.ENotFound,
			wantEmail: "alice@example.net"},
		{name: "UnknownID", ref: admin.UserID("nobody"), addr: "nobody@example.com", wantCode: baton.ENotFound,
			wantEmail: "alice@example.net"},
		{name: "RemoveVerifiedRefused", ref: admin.Username("alice"), verified: true, wantCode: baton.EInvalidRequest,
			wantEmail: "alice@example.net"},
		{name: "Remove", ref: admin.Username("alice"), wantDetail: "admin, removed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			before := len(f.events)
			f.mu.Unlock()
			u, err := f.a.SetEmail(ctx, tt.ref, tt.addr, tt.verified)
			if got := baton.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("SetEmail: got code %q (%v), want %q", got, err, tt.wantCode)
			}
			stored, err := f.store.UserByID(ctx, alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Email != tt.wantEmail || stored.EmailVerified != tt.wantVerified {
				t.Fatalf("stored address: got %q verified %v, want %q verified %v", stored.Email, stored.EmailVerified, tt.wantEmail, tt.wantVerified)
			}
			f.mu.Lock()
			events := f.events[before:]
			f.mu.Unlock()
			if tt.wantCode != "" {
				if u != nil || len(events) != 0 {
					t.Fatalf("a refused SetEmail returned %v and reported %+v", u, events)
				}
				return
			}
			if u.ID != alice.ID || u.Email != tt.wantEmail || u.EmailVerified != tt.wantVerified {
				t.Fatalf("SetEmail returned %+v, want alice with %q verified %v", u, tt.wantEmail, tt.wantVerified)
			}
			if len(events) != 1 || events[0].Type != admin.EventEmailSet || events[0].UserID != alice.ID || events[0].Detail != tt.wantDetail {
				t.Fatalf("events %+v, want one %s of %s with detail %q", events, admin.EventEmailSet, alice.ID, tt.wantDetail)
			}
		})
	}
	// An address is no credential: the session lives on.
	if _, err := f.svc.Authenticate(g.AccessToken); err != nil {
		t.Fatalf("alice's access token after SetEmail: %v", err)
	}
	if _, err := f.svc.Refresh(ctx, session.RefreshRequest{RefreshToken: g.RefreshToken}, session.Client{}); err != nil {
		t.Fatalf("alice's refresh after SetEmail: %v", err)
	}
}

// TestSetEmailProfile: the admin commands run in a process of their own,
// so a server's cached profile (GET /v1/me) cannot be dropped from there;
// it shows the new address once its entry is session.ProfileTTL old. The
// engine the change went through drops its entry at once.
func TestSetEmailProfile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	server := newService(t, f.store, f.clock, nil)
	if _, err := f.a.AddUser(ctx, session.RegisterRequest{Username: "alice", Password: pw, Email: ptr("old@example.com")}); err != nil {
		t.Fatal(err)
	}
	g, err := server.Login(ctx, session.LoginRequest{Username: "alice", Password: pw}, session.Client{})
	if err != nil {
		t.Fatal(err)
	}
	profile := func(svc *session.Service) string {
		t.Helper()
		p, err := svc.Profile(ctx, g.Claims)
		if err != nil {
			t.Fatal(err)
		}
		if p.EmailVerified {
			return p.Email + " (verified)"
		}
		return p.Email
	}
	for _, svc := range []*session.Service{server, f.svc} {
		if got := profile(svc); got != "old@example.com" {
			t.Fatalf("profile before: got %q", got)
		}
	}
	if _, err := f.a.SetEmail(ctx, admin.Username("alice"), "new@example.com", true); err != nil {
		t.Fatal(err)
	}
	if got, want := profile(f.svc), "new@example.com (verified)"; got != want {
		t.Fatalf("the admin's engine: got %q, want %q at once", got, want)
	}
	f.clock.Advance(session.ProfileTTL - time.Millisecond)
	if got := profile(server); got != "old@example.com" {
		t.Fatalf("the server before ProfileTTL: got %q (the cached profile, or the test proves nothing)", got)
	}
	f.clock.Advance(time.Millisecond)
	if got, want := profile(server), "new@example.com (verified)"; got != want {
		t.Fatalf("the server after ProfileTTL: got %q, want %q", got, want)
	}
}

func ptr[T any](v T) *T { return &v }
