package session_test

import (
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/session"
)

// TestLoweredAccessTTLKeepsRevocations: tokens minted under a long access
// TTL stay refused after their session is revoked by an instance (or a
// restart) configured with a shorter one, for as long as they could be
// alive. The revocation's until is measured with the longest access TTL
// ever configured on the store.
func TestLoweredAccessTTLKeepsRevocations(t *testing.T) {
	store := batontest.OpenSQLite(t)
	long := newFixtureOn(t, store, func(c *session.Config) { c.AccessTTL = time.Hour })
	long.user(t, "alice")
	g := long.login(t, "alice") // valid until t0+1h
	long.svc.Close()

	// A restart with a 5-minute access TTL revokes the session...
	short := newFixtureOn(t, store, nil)
	if _, err := short.svc.RevokeSession(ctx, g.Session.ID, baton.ReasonAdmin, cl); err != nil {
		t.Fatal(err)
	}
	short.svc.Close()

	// ...and ten minutes later another restart must still refuse the
	// token, which has 50 minutes left.
	later := batontest.NewClock(t0.Add(10 * time.Minute))
	again := newFixtureOn(t, store, func(c *session.Config) { c.Now = later.Now })
	_, err := again.svc.Authenticate(g.AccessToken)
	wantCode(t, err, baton.EInvalidToken)
	// Retired signing keys stay published as long, too (admin.RetiredKeyKeep).
	if got := again.svc.MaxAccessTTL(); got != time.Hour {
		t.Errorf("MaxAccessTTL after lowering the TTL: got %v, want 1h", got)
	}
	revs, err := store.Revocations(ctx, 0, later.Now(), 10)
	if err != nil || len(revs) != 1 || revs[0].Until.Before(g.AccessExpiresAt) {
		t.Errorf("revocation feed: got %+v, %v; want one entry lasting past %v", revs, err, g.AccessExpiresAt)
	}
}
