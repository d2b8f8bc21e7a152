package session_test

import (
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
	"github.com/batonauth/baton/token"
	"github.com/google/go-cmp/cmp"
)

// TestAMR follows a session's methods from its creation through every way
// the engine mints a token for it: each token carries the session's amr,
// never one of its own.
func TestAMR(t *testing.T) {
	pwd := []string{baton.AMRPassword}
	mfa := baton.AMR(baton.AMRMFA, baton.AMROTP, baton.AMRPassword)

	// wantAMR checks the grant's claims and what its token says once
	// verified.
	wantAMR := func(t *testing.T, f *fixture, step string, g *session.Grant, want []string) {
		t.Helper()
		if diff := cmp.Diff(want, g.Claims.AMR); diff != "" {
			t.Errorf("%s: grant's amr (-want +got):\n%s", step, diff)
		}
		c, err := f.svc.Authenticate(g.AccessToken)
		if err != nil {
			t.Fatalf("%s: Authenticate: %v", step, err)
		}
		if diff := cmp.Diff(want, c.AMR); diff != "" {
			t.Errorf("%s: token's amr (-want +got):\n%s", step, diff)
		}
	}

	// start begins a session: by password login, or stored with mfa's
	// methods, as the second-factor step will create it.
	for _, tt := range []struct {
		name  string
		start func(t *testing.T, f *fixture, u *baton.User) *session.Grant
		want  []string
	}{
		{"Login", func(t *testing.T, f *fixture, u *baton.User) *session.Grant {
			g, err := f.svc.Login(ctx, session.LoginRequest{Username: u.Username, Password: pw, Transport: baton.TransportCookies}, cl)
			if err != nil {
				t.Fatal(err)
			}
			return g
		}, pwd},
		{"StoredMFA", func(t *testing.T, f *fixture, u *baton.User) *session.Grant {
			rt, err := token.NewRefreshToken()
			if err != nil {
				t.Fatal(err)
			}
			now := f.clock.Now()
			sess := &baton.Session{ID: "mfa-session", UserID: u.ID, CreatedAt: now, LastUsedAt: now,
				ExpiresAt: now.Add(24 * time.Hour), IdleExpiresAt: now.Add(time.Hour), AuthTime: now,
				Transport: baton.TransportCookies, AMR: mfa, CredentialGen: u.CredentialGen}
			if err := f.store.CreateSession(ctx, sess, token.HashRefreshToken(rt)); err != nil {
				t.Fatal(err)
			}
			g, err := f.refresh(rt)
			if err != nil {
				t.Fatal(err)
			}
			return g
		}, mfa},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			u := f.user(t, "alice")
			g := tt.start(t, f, u)
			wantAMR(t, f, "first token", g, tt.want)
			if stored, err := f.store.Session(ctx, g.Session.ID); err != nil {
				t.Fatal(err)
			} else if diff := cmp.Diff(tt.want, stored.AMR); diff != "" {
				t.Errorf("stored session's amr (-want +got):\n%s", diff)
			}

			f.clock.Advance(time.Minute)
			g2, err := f.refresh(g.RefreshToken)
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			wantAMR(t, f, "refresh", g2, tt.want)
			f.clock.Advance(time.Second)
			replay, err := f.refresh(g.RefreshToken)
			if err != nil || replay.RefreshToken != g2.RefreshToken {
				t.Fatalf("grace replay: %v", err)
			}
			wantAMR(t, f, "grace replay", replay, tt.want)

			r, err := f.svc.Reauth(ctx, g2.Claims, pw, cl)
			if err != nil {
				t.Fatalf("reauth: %v", err)
			}
			wantAMR(t, f, "reauth", r, tt.want)

			re, err := f.svc.ReissueAccess(ctx, r.Claims, cl)
			if err != nil || re == nil {
				t.Fatalf("implicit refresh: %v, %v", re, err)
			}
			wantAMR(t, f, "implicit refresh", re, tt.want)

			list, _, err := f.svc.Sessions(ctx, r.Claims, "", 0)
			if err != nil || len(list) != 1 {
				t.Fatalf("Sessions: %d sessions, %v", len(list), err)
			}
			if diff := cmp.Diff(tt.want, list[0].AMR); diff != "" {
				t.Errorf("listed session's amr (-want +got):\n%s", diff)
			}

			for _, raw := range []string{r.AccessToken, g2.RefreshToken} {
				info, err := f.svc.Introspect(ctx, raw)
				if err != nil || info == nil {
					t.Fatalf("Introspect: %+v, %v", info, err)
				}
				if diff := cmp.Diff(tt.want, info.AMR); diff != "" {
					t.Errorf("introspection of the %s (-want +got):\n%s", info.TokenUse, diff)
				}
			}

			// A password change replaces the session; the new one keeps
			// what the old one's fresh token stood for.
			p, err := f.svc.ChangePassword(ctx, r.Claims, pw, pw+" again", cl)
			if err != nil {
				t.Fatalf("ChangePassword: %v", err)
			}
			if p.Session.ID == g.Session.ID {
				t.Fatal("ChangePassword kept the session")
			}
			wantAMR(t, f, "password change", p, tt.want)
			if stored, err := f.store.Session(ctx, p.Session.ID); err != nil {
				t.Fatal(err)
			} else if diff := cmp.Diff(tt.want, stored.AMR); diff != "" {
				t.Errorf("new session's stored amr (-want +got):\n%s", diff)
			}
		})
	}
}
