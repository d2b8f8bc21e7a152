package storetest

import (
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// RefreshRotator: the lookup, the gate and the rotation in one call. What
// it rotates must be exactly what Rotate would have after the engine's
// checks passed; what it refuses must change nothing.

// gateOf is the gate a request passes for sess: its own session id, key
// and client.
func gateOf(sess *baton.Session) baton.RotationGate {
	return baton.RotationGate{SessionID: sess.ID, Binding: sess.Binding, ClientID: sess.ClientID}
}

func testRotateRefresh(t *testing.T, s baton.Store) {
	rr := s.(baton.RefreshRotator)
	u := mustCreateUser(t, s, "u1")
	sess := newSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t1"))
	stored := mustSession(t, s, sess.ID)

	r := rotation("ignored", "t1", "t2", t0.Add(time.Hour))
	got, err := rr.RotateRefresh(ctx, r, gateOf(sess))
	mustOK(t, err)
	if !got.Rotated || got.Successor != nil {
		t.Fatalf("RotateRefresh: got Rotated %v, Successor %v; want true, nil", got.Rotated, got.Successor)
	}
	wantTok := &baton.RefreshToken{Hash: hash("t1"), SessionID: sess.ID, CreatedAt: sess.CreatedAt}
	if d := diff(wantTok, got.Token); d != "" {
		t.Errorf("token as found (-want +got):\n%s", d)
	}
	if d := diff(stored, got.Session); d != "" {
		t.Errorf("session as found (-want +got):\n%s", d)
	}
	// What Rotate leaves behind.
	r.SessionID = sess.ID
	if d := diff(rotated(stored, r), mustSession(t, s, sess.ID)); d != "" {
		t.Errorf("session after RotateRefresh (-want +got):\n%s", d)
	}
	if old, _ := mustToken(t, s, hash("t1")); !old.SpentAt.Equal(r.Now) {
		t.Errorf("old token: SpentAt %v, want %v", old.SpentAt, r.Now)
	}
	if next, _ := mustToken(t, s, hash("t2")); !next.SpentAt.IsZero() || !next.CreatedAt.Equal(r.Now) || next.SessionID != sess.ID {
		t.Errorf("new token: got %+v, want unspent, created %v in %s", next, r.Now, sess.ID)
	}

	// The idle expiry never passes the absolute one.
	r2 := rotation("", "t2", "t3", t0.Add(2*time.Hour))
	r2.IdleExpiresAt = sess.ExpiresAt.Add(day)
	got, err = rr.RotateRefresh(ctx, r2, gateOf(sess))
	mustOK(t, err)
	if !got.Rotated {
		t.Fatal("second RotateRefresh: not rotated")
	}
	if idle := mustSession(t, s, sess.ID).IdleExpiresAt; !idle.Equal(sess.ExpiresAt) {
		t.Errorf("IdleExpiresAt: got %v, want the absolute expiry %v", idle, sess.ExpiresAt)
	}
}

// testRotateRefreshSpent presents spent tokens: nothing rotates, and the
// successor is reported as stored (unspent, then spent).
func testRotateRefreshSpent(t *testing.T, s baton.Store) {
	rr := s.(baton.RefreshRotator)
	u := mustCreateUser(t, s, "u1")
	sess := newSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t1"))
	r := rotation("", "t1", "t2", t0.Add(time.Hour))
	_, err := rr.RotateRefresh(ctx, r, gateOf(sess))
	mustOK(t, err)
	before := mustSession(t, s, sess.ID)

	again := r
	again.Now = r.Now.Add(time.Second)
	got, err := rr.RotateRefresh(ctx, again, gateOf(sess))
	mustOK(t, err)
	if got.Rotated || !got.Token.SpentAt.Equal(r.Now) {
		t.Fatalf("spent token: got Rotated %v, SpentAt %v; want false, %v", got.Rotated, got.Token.SpentAt, r.Now)
	}
	if got.Successor == nil || !got.Successor.SpentAt.IsZero() || !got.Successor.CreatedAt.Equal(r.Now) {
		t.Errorf("successor: got %+v, want unspent, created %v", got.Successor, r.Now)
	}
	if d := diff(before, mustSession(t, s, sess.ID)); d != "" {
		t.Errorf("session changed by a refused rotation (-want +got):\n%s", d)
	}

	_, err = rr.RotateRefresh(ctx, rotation("", "t2", "t3", t0.Add(2*time.Hour)), gateOf(sess))
	mustOK(t, err)
	got, err = rr.RotateRefresh(ctx, again, gateOf(sess))
	mustOK(t, err)
	if got.Rotated || got.Successor == nil || !got.Successor.SpentAt.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("spent token with a spent successor: got Rotated %v, Successor %+v", got.Rotated, got.Successor)
	}

	_, err = rr.RotateRefresh(ctx, rotation("", "nothing", "t9", t0), baton.RotationGate{})
	wantCode(t, err, baton.ENotFound)
}

// gateCase is one case of the rotation gate: the session as stored, the
// gate as presented, what happened between, the rotation's time, and
// whether it may rotate.
type gateCase struct {
	name    string
	session func(*baton.Session)              // before it is stored
	gate    func(*baton.RotationGate)         // from the session's own
	prepare func(*baton.User, *baton.Session) // after it is stored
	now     time.Time
	rotates bool
}

// gateCases are the gate's cases for RotateRefresh and RotateSession: each
// condition refuses on its own, and what the engine accepts passes.
func gateCases(t *testing.T, s baton.Store) []gateCase {
	return []gateCase{
		{name: "Own", rotates: true},
		{name: "AnySession", gate: func(g *baton.RotationGate) { g.SessionID = "" }, rotates: true},
		{name: "Unbound", session: func(s *baton.Session) { s.Binding = "" }, gate: func(g *baton.RotationGate) { g.Binding = "" }, rotates: true},
		{name: "UnboundAnyKey", session: func(s *baton.Session) { s.Binding = "" }, gate: func(g *baton.RotationGate) { g.Binding = "some-key" }, rotates: true},
		{name: "FirstParty", session: func(s *baton.Session) { s.Scope = "" }, gate: func(g *baton.RotationGate) { g.ClientID = "" }, rotates: true},
		{name: "OtherSession", gate: func(g *baton.RotationGate) { g.SessionID = "other" }},
		{name: "NoKey", gate: func(g *baton.RotationGate) { g.Binding = "" }},
		{name: "OtherKey", gate: func(g *baton.RotationGate) { g.Binding = "other" }},
		{name: "OtherClient", gate: func(g *baton.RotationGate) { g.ClientID = "other" }},
		{name: "FirstPartyForScoped", gate: func(g *baton.RotationGate) { g.ClientID = "" }},
		{name: "ClientForFirstParty", session: func(s *baton.Session) { s.Scope = "" }},
		{name: "SSO", session: func(s *baton.Session) { s.Transport = baton.TransportSSO }},
		{name: "Revoked", prepare: func(_ *baton.User, sess *baton.Session) { mustRevoke(t, s, sess.ID, revoke(t0, baton.ReasonLogout)) }},
		{name: "Expired", now: t0.Add(30 * day)},
		{name: "Idle", now: t0.Add(7 * day)},
		{name: "Locked", prepare: func(u *baton.User, _ *baton.Session) { mustOK(t, s.SetLocked(ctx, u.ID, t0)) }},
		{name: "PasswordChanged", prepare: func(u *baton.User, _ *baton.Session) {
			_, err := s.SetPasswordHash(ctx, u.ID, "$argon2id$new")
			mustOK(t, err)
		}},
	}
}

// arrange stores the case's user and session (made by newSess, with the
// token "old"+name) and returns the session, the gate presented and the
// rotation's time (now unless the case sets one).
func (tt gateCase) arrange(t *testing.T, s baton.Store, newSess func(userID, id string, created time.Time) *baton.Session, now time.Time) (*baton.Session, baton.RotationGate, time.Time) {
	t.Helper()
	u := mustCreateUser(t, s, "u"+tt.name)
	sess := newSess(u.ID, "s"+tt.name, t0)
	if tt.session != nil {
		tt.session(sess)
	}
	mustCreateSession(t, s, sess, hash("old"+tt.name))
	if tt.prepare != nil {
		tt.prepare(u, sess)
	}
	g := gateOf(sess)
	if tt.gate != nil {
		tt.gate(&g)
	}
	if !tt.now.IsZero() {
		now = tt.now
	}
	return sess, g, now
}

// testRotateRefreshGate checks that each condition of the gate refuses on
// its own and changes nothing then, and that the gate lets through what
// the engine accepts.
func testRotateRefreshGate(t *testing.T, s baton.Store) {
	now := t0.Add(time.Hour)
	tests := gateCases(t, s)
	rr := s.(baton.RefreshRotator)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sess, g, at := tt.arrange(t, s, newSession, now)
			before := mustSession(t, s, sess.ID)
			got, err := rr.RotateRefresh(ctx, rotation("", "old"+tt.name, "new"+tt.name, at), g)
			mustOK(t, err)
			if got.Rotated != tt.rotates {
				t.Fatalf("Rotated: got %v, want %v", got.Rotated, tt.rotates)
			}
			if d := diff(before, got.Session); d != "" {
				t.Errorf("session as found (-want +got):\n%s", d)
			}
			if tt.rotates {
				return
			}
			if d := diff(before, mustSession(t, s, sess.ID)); d != "" {
				t.Errorf("session changed by a refused rotation (-want +got):\n%s", d)
			}
			if tok, _ := mustToken(t, s, hash("old"+tt.name)); !tok.SpentAt.IsZero() {
				t.Errorf("token spent by a refused rotation at %v", tok.SpentAt)
			}
			_, _, err = s.RefreshToken(ctx, hash("new"+tt.name))
			wantCode(t, err, baton.ENotFound)
		})
	}
}

func testRotateRefreshConcurrent(t *testing.T, s baton.Store) {
	const n = 32
	rr := s.(baton.RefreshRotator)
	u := mustCreateUser(t, s, "u1")
	sess := newSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t0"))
	results := make([]*baton.RefreshRotated, n)
	errs := concurrently(n, func(i int) (err error) {
		results[i], err = rr.RotateRefresh(ctx, rotation("", "t0", name("new", i), t0.Add(time.Hour)), gateOf(sess))
		return err
	})
	winners := 0
	for i, err := range errs {
		mustOK(t, err)
		if results[i].Rotated {
			winners++
			continue
		}
		if _, _, err := s.RefreshToken(ctx, hash(name("new", i))); baton.ErrorCode(err) != baton.ENotFound {
			t.Errorf("loser %d's token: got %v, want ENotFound", i, err)
		}
	}
	if winners != 1 {
		t.Errorf("%d of %d concurrent rotations of one token rotated, want 1", winners, n)
	}
}
