package session_test

import (
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// TestVerifiedTokenCache: a token served from the verification cache obeys
// the same rules as a freshly verified one: expiry with leeway, revocation,
// and the removal of its signing key.
func TestVerifiedTokenCache(t *testing.T) {
	f := newFixture(t, nil)
	f.user(t, "alice")
	g := f.login(t, "alice")
	for i := 0; i < 2; i++ { // a miss, then a hit
		if _, err := f.svc.Authenticate(g.AccessToken); err != nil {
			t.Fatalf("Authenticate %d: %v", i, err)
		}
	}
	t.Run("ExpiryStillApplies", func(t *testing.T) {
		f.clock.Advance(5*time.Minute + 4*time.Second)
		if _, err := f.svc.Authenticate(g.AccessToken); err != nil {
			t.Fatalf("within leeway: %v", err)
		}
		f.clock.Advance(2 * time.Second)
		_, err := f.svc.Authenticate(g.AccessToken)
		wantCode(t, err, baton.ETokenExpired)
	})
	t.Run("RemovedKey", func(t *testing.T) {
		g := f.login(t, "alice")
		if _, err := f.svc.Authenticate(g.AccessToken); err != nil {
			t.Fatal(err)
		}
		oldKid := ""
		keys, _ := f.store.Keys(ctx)
		for _, k := range keys {
			if k.Use == baton.KeyUseSigning {
				oldKid = k.ID
			}
		}
		if _, err := f.svc.AddSigningKey(ctx, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Authenticate(g.AccessToken); err != nil {
			t.Fatalf("a key added must not invalidate tokens: %v", err)
		}
		if err := f.store.DeleteKey(ctx, oldKid); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.ReloadKeys(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Authenticate(g.AccessToken)
		wantCode(t, err, baton.EInvalidToken)
	})
	t.Run("Revoked", func(t *testing.T) {
		g := f.login(t, "alice")
		c, err := f.svc.Authenticate(g.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.RevokeSession(ctx, c.SessionID, baton.ReasonAdmin, cl); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.Authenticate(g.AccessToken)
		wantCode(t, err, baton.EInvalidToken)
	})
}
