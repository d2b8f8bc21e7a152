package storetest

import (
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// Sessions that hold their token state (TokenGen > 0): CreateSession keeps
// the first token's hash in the session row, RotateSession is the
// compare-and-set on the generation. What it refuses must change nothing.

// newTokenSession is newSession holding its token state.
func newTokenSession(userID, id string, created time.Time) *baton.Session {
	sess := newSession(userID, id, created)
	sess.TokenGen = 1
	return sess
}

// sessionRotation is rotation for a token of generation gen of sessionID.
func sessionRotation(sessionID string, gen int64, old, new string, now time.Time) baton.Rotation {
	r := rotation(sessionID, old, new, now)
	r.Gen = gen
	return r
}

// rotatedSession returns sess as RotateSession leaves it after r.
func rotatedSession(sess *baton.Session, r baton.Rotation) *baton.Session {
	s := rotated(sess, r)
	if s.IdleExpiresAt.After(s.ExpiresAt) {
		s.IdleExpiresAt = s.ExpiresAt
	}
	s.TokenGen, s.PrevHash, s.TokenHash, s.RotatedAt = r.Gen+1, r.OldHash, r.NewHash, r.Now
	return s
}

func testCreateTokenSession(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	sess := newTokenSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t1"))
	want := *sess
	want.TokenHash = hash("t1")
	if d := diff(&want, mustSession(t, s, sess.ID)); d != "" {
		t.Errorf("session (-want +got):\n%s", d)
	}
	// The token is in the session row, not a row of its own.
	_, _, err := s.RefreshToken(ctx, hash("t1"))
	wantCode(t, err, baton.ENotFound)
	// A session of the older form holds no token state.
	old := newSession(u.ID, "s2", t0)
	mustCreateSession(t, s, old, hash("o1"))
	if got := mustSession(t, s, old.ID); got.TokenGen != 0 || got.TokenHash != nil {
		t.Errorf("session with its tokens in rows: TokenGen %d, TokenHash %x; want 0, nil", got.TokenGen, got.TokenHash)
	}
}

func testRotateSession(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	sess := newTokenSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t1"))
	other := newTokenSession(u.ID, "s2", t0)
	mustCreateSession(t, s, other, hash("o1"))
	stored := mustSession(t, s, sess.ID)

	r := sessionRotation(sess.ID, 1, "t1", "t2", t0.Add(time.Hour))
	got, ok, err := s.RotateSession(ctx, r, gateOf(sess))
	mustOK(t, err)
	if !ok {
		t.Fatal("RotateSession: not rotated")
	}
	if d := diff(stored, got); d != "" {
		t.Errorf("session as found (-want +got):\n%s", d)
	}
	after := rotatedSession(stored, r)
	if d := diff(after, mustSession(t, s, sess.ID)); d != "" {
		t.Errorf("session after RotateSession (-want +got):\n%s", d)
	}
	if d := diff(mustSession(t, s, other.ID), func() *baton.Session { o := *other; o.TokenHash = hash("o1"); return &o }()); d != "" {
		t.Errorf("another session changed (-want +got):\n%s", d)
	}

	// The chain goes on, and the idle expiry never passes the absolute one.
	r2 := sessionRotation(sess.ID, 2, "t2", "t3", t0.Add(2*time.Hour))
	r2.IdleExpiresAt = sess.ExpiresAt.Add(day)
	got, ok, err = s.RotateSession(ctx, r2, baton.RotationGate{Binding: sess.Binding, ClientID: sess.ClientID})
	mustOK(t, err)
	if !ok {
		t.Fatal("second RotateSession: not rotated")
	}
	if d := diff(after, got); d != "" {
		t.Errorf("session as found by the second rotation (-want +got):\n%s", d)
	}
	final := mustSession(t, s, sess.ID)
	if d := diff(rotatedSession(after, r2), final); d != "" {
		t.Errorf("session after the second rotation (-want +got):\n%s", d)
	}
	if !final.IdleExpiresAt.Equal(sess.ExpiresAt) {
		t.Errorf("IdleExpiresAt: got %v, want the absolute expiry %v", final.IdleExpiresAt, sess.ExpiresAt)
	}

	// Spent generations, the current one with another hash, a future one:
	// nothing rotates, and each call reports the session as it is.
	for _, bad := range []baton.Rotation{
		sessionRotation(sess.ID, 1, "t1", "x", t0.Add(3*time.Hour)),
		sessionRotation(sess.ID, 2, "t2", "x", t0.Add(3*time.Hour)),
		sessionRotation(sess.ID, 3, "t2", "x", t0.Add(3*time.Hour)),
		sessionRotation(sess.ID, 4, "t3", "x", t0.Add(3*time.Hour)),
	} {
		got, ok, err := s.RotateSession(ctx, bad, gateOf(sess))
		mustOK(t, err)
		if ok {
			t.Errorf("generation %d with hash %x rotated", bad.Gen, bad.OldHash)
		}
		if d := diff(final, got); d != "" {
			t.Errorf("session as found (-want +got):\n%s", d)
		}
	}
	if d := diff(final, mustSession(t, s, sess.ID)); d != "" {
		t.Errorf("session changed by refused rotations (-want +got):\n%s", d)
	}

	_, _, err = s.RotateSession(ctx, sessionRotation("nothing", 1, "t1", "t2", t0), baton.RotationGate{})
	wantCode(t, err, baton.ENotFound)
	// A session of the older form has no generation to rotate.
	old := newSession(u.ID, "s3", t0)
	mustCreateSession(t, s, old, hash("o3"))
	if _, ok, err := s.RotateSession(ctx, sessionRotation(old.ID, 0, "o3", "o4", t0.Add(time.Hour)), gateOf(old)); err != nil || ok {
		t.Errorf("RotateSession of a session with its tokens in rows: got %v, %v; want false, nil", ok, err)
	}
}

// testRotateSessionGate: each condition of the gate refuses on its own and
// changes nothing then (the cases of testRotateRefreshGate).
func testRotateSessionGate(t *testing.T, s baton.Store) {
	now := t0.Add(time.Hour)
	tests := gateCases(t, s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sess, g, at := tt.arrange(t, s, newTokenSession, now)
			before := mustSession(t, s, sess.ID)
			got, ok, err := s.RotateSession(ctx, sessionRotation(sess.ID, 1, "old"+tt.name, "new"+tt.name, at), g)
			mustOK(t, err)
			if ok != tt.rotates {
				t.Fatalf("rotated: got %v, want %v", ok, tt.rotates)
			}
			if d := diff(before, got); d != "" {
				t.Errorf("session as found (-want +got):\n%s", d)
			}
			if !tt.rotates {
				if d := diff(before, mustSession(t, s, sess.ID)); d != "" {
					t.Errorf("session changed by a refused rotation (-want +got):\n%s", d)
				}
			}
		})
	}
}

// testRotateSessionConcurrent: of concurrent rotations of one generation
// exactly one wins, and the session holds the winner's token.
func testRotateSessionConcurrent(t *testing.T, s baton.Store) {
	const n = 32
	u := mustCreateUser(t, s, "u1")
	sess := newTokenSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t0"))
	rotatedBy := make([]bool, n)
	errs := concurrently(n, func(i int) (err error) {
		_, rotatedBy[i], err = s.RotateSession(ctx, sessionRotation(sess.ID, 1, "t0", name("new", i), t0.Add(time.Hour)), gateOf(sess))
		return err
	})
	winner := -1
	for i, err := range errs {
		mustOK(t, err)
		if rotatedBy[i] {
			if winner >= 0 {
				t.Errorf("rotations %d and %d of one generation both rotated", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("none of the concurrent rotations rotated")
	}
	got := mustSession(t, s, sess.ID)
	if got.TokenGen != 2 || string(got.TokenHash) != string(hash(name("new", winner))) || string(got.PrevHash) != string(hash("t0")) {
		t.Errorf("after the race: TokenGen %d, TokenHash %x, PrevHash %x; want 2, the winner's, the first", got.TokenGen, got.TokenHash, got.PrevHash)
	}
}

// testRotateSessionRacesRevoke: rotations and a revocation of one session
// at once. Whatever the order, once RevokeSession has returned the session
// never rotates again, and a rotation that won before it is the only one.
func testRotateSessionRacesRevoke(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	for round := range 8 {
		sess := newTokenSession(u.ID, name("s", round), t0)
		mustCreateSession(t, s, sess, hash(name("t", round)))
		const n = 8
		rotatedBy := make([]bool, n)
		errs := concurrently(n+1, func(i int) (err error) {
			if i == n {
				_, err = s.RevokeSession(ctx, sess.ID, revoke(t0.Add(time.Hour), baton.ReasonLogout))
				return err
			}
			_, rotatedBy[i], err = s.RotateSession(ctx, sessionRotation(sess.ID, 1, name("t", round), name("n", i), t0.Add(time.Hour)), gateOf(sess))
			return err
		})
		wins := 0
		for i, err := range errs {
			mustOK(t, err)
			if i < n && rotatedBy[i] {
				wins++
			}
		}
		got := mustSession(t, s, sess.ID)
		if wins > 1 || got.RevokedAt.IsZero() || got.TokenGen != int64(1+wins) {
			t.Errorf("round %d: %d rotations won, session revoked at %v with TokenGen %d", round, wins, got.RevokedAt, got.TokenGen)
		}
		if _, ok, _ := s.RotateSession(ctx, sessionRotation(sess.ID, got.TokenGen, "", "x", t0.Add(2*time.Hour)), gateOf(sess)); ok {
			t.Errorf("round %d: a revoked session rotated", round)
		}
	}
}
