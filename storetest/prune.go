package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

func testPruneEmpty(t *testing.T, s baton.Store) {
	n, err := s.Prune(ctx, t0, t0, 10)
	if err != nil || n != 0 {
		t.Errorf("Prune: got %d, %v, want 0, nil", n, err)
	}
}

// testPruneDrain builds one session or token of every kind Prune must and
// must not delete, then prunes in batches smaller than the work.
//
// The result counts every row deleted (sessions, tokens, feed entries), each
// call deletes at most limit rows in all, and calls repeated until one
// returns less than limit leave nothing to prune.
func testPruneDrain(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	at := func(d int) time.Time { return t0.Add(time.Duration(d) * day) }
	now, olderThan := at(100), at(50)
	session := func(id string, created, expires, idle int) {
		t.Helper()
		sess := newSession(u.ID, id, at(created))
		sess.ExpiresAt = at(expires)
		sess.IdleExpiresAt = at(idle)
		mustCreateSession(t, s, sess, hash(id+"-1"))
	}
	rotate := func(id string, from, to, when, idle int) {
		t.Helper()
		r := rotation(id, id+"-"+strconv.Itoa(from), id+"-"+strconv.Itoa(to), at(when))
		r.IdleExpiresAt = at(idle)
		if err := s.Rotate(ctx, r); err != nil {
			t.Fatalf("Rotate(%s): got %v, want nil", id, err)
		}
	}

	// Live: its token spent before olderThan goes, the rest stays.
	session("live", 30, 130, 60)
	rotate("live", 1, 2, 40, 110) // live-1 spent at 40: pruned
	rotate("live", 2, 3, 55, 115) // live-2 spent at 55: kept
	// Revoked before olderThan: session and token go, and its feed entry,
	// whose Until has passed.
	session("revokedOld", 10, 130, 90)
	mustRevoke(t, s, "revokedOld", revoke(at(20), baton.ReasonLogout))
	// Revoked after olderThan: kept; its feed entry (Until passed) goes.
	session("revokedNew", 10, 130, 90)
	mustRevoke(t, s, "revokedNew", revoke(at(60), baton.ReasonLogout))
	// Past its absolute expiry before olderThan: session and both tokens go.
	session("expiredOld", 0, 20, 15)
	rotate("expiredOld", 1, 2, 5, 15)
	// Idle-expired before olderThan: session and token go.
	session("idleOld", 10, 200, 30)
	// Expired (idle) at now but after olderThan: kept.
	session("expiredNew", 40, 200, 60)
	// Idle-expired a second after olderThan: kept. (A store that finds
	// candidates by a coarser copy of the idle expiry, as PostgreSQL's
	// hour, must still compare the exact one.)
	justAfter := newSession(u.ID, "idleJustAfter", at(40))
	justAfter.ExpiresAt, justAfter.IdleExpiresAt = at(200), olderThan.Add(time.Second)
	mustCreateSession(t, s, justAfter, hash("idleJustAfter-1"))
	// Revoked after olderThan with a feed entry still needed: all kept.
	session("revokedNow", 40, 200, 120)
	keep := baton.Revoke{Now: at(99), Until: at(101), Reason: baton.ReasonAdmin}
	mustRevoke(t, s, "revokedNow", keep)

	const wantTotal = 1 + // live-1
		2 + 1 + // revokedOld: session, token, entry
		1 + // revokedNew's entry
		3 + // expiredOld: session, 2 tokens
		2 // idleOld: session, token
	const limit = 3
	total := 0
	for calls := 1; ; calls++ {
		n, err := s.Prune(ctx, now, olderThan, limit)
		if err != nil {
			t.Fatalf("Prune call %d: got %v, want nil", calls, err)
		}
		if n < 0 || n > limit {
			t.Fatalf("Prune call %d: got %d rows, want 0..%d", calls, n, limit)
		}
		total += n
		if n < limit {
			break
		}
		if calls > wantTotal {
			t.Fatalf("Prune: still deleting after %d calls", calls)
		}
	}
	if total != wantTotal {
		t.Errorf("Prune deleted %d rows in all, want %d", total, wantTotal)
	}
	if n, err := s.Prune(ctx, now, olderThan, limit); err != nil || n != 0 {
		t.Errorf("Prune after draining: got %d, %v, want 0, nil", n, err)
	}

	for _, id := range []string{"revokedOld", "expiredOld", "idleOld"} {
		_, err := s.Session(ctx, id)
		wantCode(t, err, baton.ENotFound)
	}
	for _, h := range []string{"live-1", "revokedOld-1", "expiredOld-1", "expiredOld-2", "idleOld-1"} {
		_, _, err := s.RefreshToken(ctx, hash(h))
		wantCode(t, err, baton.ENotFound)
	}
	for _, id := range []string{"live", "revokedNew", "expiredNew", "idleJustAfter", "revokedNow"} {
		mustSession(t, s, id)
	}
	for _, h := range []string{"live-2", "live-3", "revokedNew-1", "expiredNew-1", "idleJustAfter-1", "revokedNow-1"} {
		mustToken(t, s, hash(h))
	}
	if tok, _ := mustToken(t, s, hash("live-3")); !tok.SpentAt.IsZero() {
		t.Errorf("live session's current token: got SpentAt %v, want zero", tok.SpentAt)
	}
	revs, err := s.Revocations(ctx, 0, t0, 100)
	if err != nil {
		t.Fatalf("Revocations: got %v, want nil", err)
	}
	want := []baton.Revocation{{SessionID: "revokedNow", RevokedAt: keep.Now, Until: keep.Until}}
	if d := diffRevocations(want, revs); d != "" {
		t.Errorf("feed after Prune mismatch (-want +got):\n%s", d)
	}
}
