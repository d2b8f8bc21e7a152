package storetest

import (
	"testing"
	"time"

	"github.com/batonauth/baton"
)

func testSetAuthTime(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	sess := newSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t1"))
	at := t0.Add(time.Hour)
	if err := s.SetAuthTime(ctx, sess.ID, at); err != nil {
		t.Fatalf("SetAuthTime: %v", err)
	}
	want := *sess
	want.AuthTime = at
	if d := diff(&want, mustSession(t, s, sess.ID)); d != "" {
		t.Errorf("session after SetAuthTime (-want +got):\n%s", d)
	}
	// A revoked session is never re-authenticated.
	mustRevoke(t, s, sess.ID, revoke(t0.Add(2*time.Hour), baton.ReasonLogout))
	wantCode(t, s.SetAuthTime(ctx, sess.ID, t0.Add(3*time.Hour)), baton.ENotFound)
	if got := mustSession(t, s, sess.ID).AuthTime; !got.Equal(at) {
		t.Errorf("revoked session's AuthTime: got %v, want %v", got, at)
	}
	wantCode(t, s.SetAuthTime(ctx, "no-such-session", at), baton.ENotFound)
}
