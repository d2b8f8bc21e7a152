package session_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
	"github.com/batonauth/baton/token"
)

// rotationKey is the store's HMAC key for refresh tokens (the fixture has
// no master key, so it is stored as it is).
func rotationKey(t *testing.T, f *fixture) []byte {
	t.Helper()
	keys, err := f.store.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Use == baton.KeyUseRotation {
			return k.Secret
		}
	}
	t.Fatal("no rotation key")
	return nil
}

// editPayload decodes a refresh token of the second form, lets edit change
// its payload and encodes it again.
func editPayload(t *testing.T, tok string, edit func(p []byte)) string {
	t.Helper()
	p, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, token.RefreshPrefix))
	if err != nil {
		t.Fatal(err)
	}
	edit(p)
	return token.RefreshPrefix + base64.RawURLEncoding.EncodeToString(p)
}

// TestRefreshTokenNamesSession: a login's refresh token names its session,
// the session row holds the token state, and nothing is stored per token.
func TestRefreshTokenNamesSession(t *testing.T) {
	f := newFixture(t, nil)
	f.user(t, "alice")
	g := f.login(t, "alice")
	key := rotationKey(t, f)
	tok := g.RefreshToken
	for gen := int64(1); gen <= 3; gen++ {
		if sr, ok := token.ParseSessionRefresh(key, tok); !ok || sr != (token.SessionRefresh{SessionID: g.Session.ID, Gen: gen}) {
			t.Fatalf("generation %d: the token parses as %+v, %v", gen, sr, ok)
		}
		sess, err := f.store.Session(ctx, g.Session.ID)
		if err != nil {
			t.Fatal(err)
		}
		if sess.TokenGen != gen || string(sess.TokenHash) != string(token.HashRefreshToken(tok)) {
			t.Fatalf("generation %d: the session holds generation %d, hash %x", gen, sess.TokenGen, sess.TokenHash)
		}
		if _, _, err := f.store.RefreshToken(ctx, token.HashRefreshToken(tok)); baton.ErrorCode(err) != baton.ENotFound {
			t.Fatalf("generation %d: a token row exists (%v)", gen, err)
		}
		next, err := f.refresh(tok)
		if err != nil {
			t.Fatalf("refresh of generation %d: %v", gen, err)
		}
		tok = next.RefreshToken
		f.clock.Advance(time.Minute)
	}
}

// TestRefreshForgedTokens presents tokens that name a live session but
// were not issued by baton, or not as presented: none is accepted, and
// only a genuine older generation — which only a holder of one of the
// session's tokens can present — ends the session.
func TestRefreshForgedTokens(t *testing.T) {
	tests := []struct {
		name    string
		forge   func(t *testing.T, key []byte, sid string, toks []string) string
		revokes bool
	}{
		{"TagOfFirstGeneration", func(t *testing.T, _ []byte, _ string, toks []string) string {
			return editPayload(t, toks[0], func(p []byte) { p[45] ^= 0x80 })
		}, false},
		{"TagOfCurrentGeneration", func(t *testing.T, _ []byte, _ string, toks []string) string {
			return editPayload(t, toks[3], func(p []byte) { p[45] ^= 0x80 })
		}, false},
		{"OtherKey", func(t *testing.T, _ []byte, sid string, _ []string) string {
			tok, err := token.NewSessionRefreshToken([]byte(strings.Repeat("k", 32)), sid)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, false},
		{"GenerationChanged", func(t *testing.T, _ []byte, _ string, toks []string) string {
			return editPayload(t, toks[3], func(p []byte) { p[8] = 1 })
		}, false},
		{"NextGeneration", func(t *testing.T, key []byte, _ string, toks []string) string {
			// The very token the next rotation will issue: unknown until then.
			return token.Successor(key, toks[3])
		}, false},
		{"CurrentGenerationOtherSecret", func(t *testing.T, _ []byte, _ string, toks []string) string {
			return editPayload(t, toks[3], func(p []byte) { p[20] ^= 1 })
		}, false},
		{"FirstFormUnknown", func(t *testing.T, _ []byte, _ string, _ []string) string {
			tok, _ := token.NewRefreshToken()
			return tok
		}, false},
		// The tag is genuine: baton issued generation 1 (or 3) of this
		// session, so this is a copy of a spent token. Its secret is not
		// kept, and need not be: reuse.
		{"FirstGenerationOtherSecret", func(t *testing.T, _ []byte, _ string, toks []string) string {
			return editPayload(t, toks[0], func(p []byte) { p[20] ^= 1 })
		}, true},
		{"PreviousGenerationOtherSecret", func(t *testing.T, _ []byte, _ string, toks []string) string {
			return editPayload(t, toks[2], func(p []byte) { p[20] ^= 1 })
		}, true},
		{"FirstGeneration", func(t *testing.T, _ []byte, _ string, toks []string) string { return toks[0] }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.user(t, "alice")
			g := f.login(t, "alice")
			toks := []string{g.RefreshToken}
			for range 3 {
				next, err := f.refresh(toks[len(toks)-1])
				if err != nil {
					t.Fatal(err)
				}
				toks = append(toks, next.RefreshToken)
				g = next
			}
			f.clock.Advance(time.Minute) // past the grace window
			forged := tt.forge(t, rotationKey(t, f), g.Session.ID, toks)
			if !token.IsRefreshToken(forged) {
				t.Fatalf("forged token %q is not well formed", forged)
			}
			_, err := f.refresh(forged)
			wantCode(t, err, baton.EInvalidGrant)
			sess, err := f.store.Session(ctx, g.Session.ID)
			if err != nil {
				t.Fatal(err)
			}
			if revoked := !sess.RevokedAt.IsZero(); revoked != tt.revokes {
				t.Fatalf("session revoked: %v, want %v", revoked, tt.revokes)
			}
			if sess.TokenGen != 4 {
				t.Fatalf("session at generation %d after the forged token, want 4", sess.TokenGen)
			}
			if tt.revokes {
				_, err = f.refresh(toks[3])
				wantCode(t, err, baton.EInvalidGrant)
				_, err = f.svc.Authenticate(g.AccessToken)
				wantCode(t, err, baton.EInvalidToken)
				return
			}
			// Nor does any other path take the forged token for one of the
			// session's.
			if info, err := f.svc.Introspect(ctx, forged); err != nil || info != nil {
				t.Errorf("Introspect(forged) = %+v, %v; want nil, nil", info, err)
			}
			if err := f.svc.RevokeToken(ctx, forged, nil, cl); err != nil {
				t.Errorf("RevokeToken(forged): %v", err)
			}
			err = f.svc.Logout(ctx, session.LogoutRequest{RefreshToken: forged}, cl)
			wantCode(t, err, baton.EInvalidToken)
			if sess, _ := f.store.Session(ctx, g.Session.ID); !sess.RevokedAt.IsZero() {
				t.Fatalf("session revoked through a forged token: %s", sess.RevokeReason)
			}
			if _, err = f.refresh(toks[3]); err != nil {
				t.Fatalf("the current token after a forged one: %v", err)
			}
		})
	}
}

// TestRefreshFirstFormSessions: a session whose tokens are stored one row
// each (made before tokens named their session, kept by an upgrade) keeps
// rotating in that form, with grace and reuse detection as before.
func TestRefreshFirstFormSessions(t *testing.T) {
	f := newFixture(t, nil)
	u := f.user(t, "alice")
	now := f.clock.Now()
	sess := &baton.Session{ID: "0b5e7a1c-0000-4000-8000-000000000001", UserID: u.ID, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(30 * 24 * time.Hour), IdleExpiresAt: now.Add(7 * 24 * time.Hour), AuthTime: now,
		Transport: baton.TransportBody, AMR: []string{baton.AMRPassword}, CredentialGen: u.CredentialGen}
	first, err := token.NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateSession(ctx, sess, token.HashRefreshToken(first)); err != nil {
		t.Fatal(err)
	}
	g, err := f.refresh(first)
	if err != nil {
		t.Fatalf("refresh of a first-form token: %v", err)
	}
	if token.NamesSession(g.RefreshToken) || len(g.RefreshToken) != len(first) {
		t.Fatalf("successor %q is not of the first form", g.RefreshToken)
	}
	if row, _, err := f.store.RefreshToken(ctx, token.HashRefreshToken(g.RefreshToken)); err != nil || !row.SpentAt.IsZero() {
		t.Fatalf("the successor's row: %+v, %v", row, err)
	}
	if info, err := f.svc.Introspect(ctx, g.RefreshToken); err != nil || info == nil || info.SessionID != sess.ID {
		t.Fatalf("Introspect(successor) = %+v, %v", info, err)
	}
	again, err := f.refresh(first)
	if err != nil || again.RefreshToken != g.RefreshToken {
		t.Fatalf("grace replay: %v, same successor %v", err, err == nil && again.RefreshToken == g.RefreshToken)
	}
	f.clock.Advance(time.Minute)
	_, err = f.refresh(first)
	wantCode(t, err, baton.EInvalidGrant)
	_, err = f.refresh(g.RefreshToken)
	wantCode(t, err, baton.EInvalidGrant)
	if got, _ := f.store.Session(ctx, sess.ID); got.RevokeReason != baton.ReasonReuse {
		t.Fatalf("session after reuse: revoke reason %q", got.RevokeReason)
	}
}

// TestRowRefreshTokens: with RowRefreshTokens (a rolling upgrade) a login's
// token has the older form and a stored row, as an instance from before
// tokens named their session looks it up, and keeps that form as it
// rotates; a service without the setting refreshes it too.
func TestRowRefreshTokens(t *testing.T) {
	f := newFixture(t, func(c *session.Config) { c.RowRefreshTokens = true })
	f.user(t, "alice")
	g := f.login(t, "alice")
	tok := g.RefreshToken
	for i := range 3 {
		if token.NamesSession(tok) || len(tok) != 47 {
			t.Fatalf("token %d: %q is not of the older form", i, tok)
		}
		if row, sess, err := f.store.RefreshToken(ctx, token.HashRefreshToken(tok)); err != nil || !row.SpentAt.IsZero() || sess.TokenGen != 0 {
			t.Fatalf("token %d: row %+v, session %+v, %v", i, row, sess, err)
		}
		next, err := f.refresh(tok)
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		tok = next.RefreshToken
	}
	// The setting removed (the rollout's second step): the session goes
	// on in its form; new logins get the new one.
	g2 := newFixtureOn(t, f.store, nil)
	next, err := g2.refresh(tok)
	if err != nil || token.NamesSession(next.RefreshToken) {
		t.Fatalf("refresh without the setting: %v, new form %v", err, err == nil && token.NamesSession(next.RefreshToken))
	}
	if l := g2.login(t, "alice"); !token.NamesSession(l.RefreshToken) {
		t.Fatalf("a login without the setting got %q", l.RefreshToken)
	}
}
