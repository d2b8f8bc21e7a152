package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// capabilityTests are the conformance tests of the optional capabilities
// declared beside baton.Store. Run runs each on every backend that has the
// capability and notes in the test log the ones the backend lacks (SQLite,
// one process, needs no watcher, shared rate budgets or shared DPoP
// proofs).
var capabilityTests = []struct {
	name string
	has  func(baton.Store) bool
	fn   func(t *testing.T, s baton.Store)
}{
	{"AuditBatchAppender/Batch", hasCap[baton.AuditBatchAppender], testAppendAudits},
	{"RefreshRotator/Rotate", hasCap[baton.RefreshRotator], testRotateRefresh},
	{"RefreshRotator/Spent", hasCap[baton.RefreshRotator], testRotateRefreshSpent},
	{"RefreshRotator/Gate", hasCap[baton.RefreshRotator], testRotateRefreshGate},
	{"RefreshRotator/Concurrent", hasCap[baton.RefreshRotator], testRotateRefreshConcurrent},
	{"SessionCounter/Live", hasCap[baton.SessionCounter], testCountLiveSessions},
	{"RateStore/Budget", hasCap[baton.RateStore], testRateStoreBudget},
	{"RateStore/Concurrent", hasCap[baton.RateStore], testRateStoreConcurrent},
	{"RevocationWatcher/Notifies", hasCap[baton.RevocationWatcher], testWatchRevocations},
	{"DPoPReplayStore/Replay", hasCap[baton.DPoPReplayStore], withDPoP(testSpendDPoPProofReplay)},
	{"DPoPReplayStore/Expired", hasCap[baton.DPoPReplayStore], withDPoP(testSpendDPoPProofExpired)},
	{"DPoPReplayStore/Concurrent", hasCap[baton.DPoPReplayStore], withDPoP(testSpendDPoPProofConcurrent)},
	{"DPoPReplayStore/Prune", hasCap[baton.DPoPReplayStore], withDPoP(testSpendDPoPProofPrune)},
}

func hasCap[C any](s baton.Store) bool { _, ok := s.(C); return ok }

func withDPoP(fn func(t *testing.T, s baton.Store, d baton.DPoPReplayStore)) func(*testing.T, baton.Store) {
	return func(t *testing.T, s baton.Store) { fn(t, s, s.(baton.DPoPReplayStore)) }
}

func testAppendAudits(t *testing.T, s baton.Store) {
	b := s.(baton.AuditBatchAppender)
	mustOK(t, b.AppendAudits(ctx, nil))
	// Every field differs between events, so a column or row mixed up in
	// the batch shows.
	const n = 40
	var es []*baton.AuditEvent
	for i := 0; i < n; i++ {
		es = append(es, &baton.AuditEvent{Time: t0.Add(time.Duration(i) * time.Second), Type: fmt.Sprintf("type%d", i),
			UserID: fmt.Sprintf("u%d", i), SessionID: fmt.Sprintf("s%d", i), IP: fmt.Sprintf("192.0.2.%d", i),
			UserAgent: fmt.Sprintf("agent %d ünïcode 'quoted'", i), Outcome: fmt.Sprintf("outcome%d", i), Detail: fmt.Sprintf("detail {%d}", i)})
	}
	mustOK(t, b.AppendAudits(ctx, es))
	got, err := s.AuditEvents(ctx, 0, 2*n)
	mustOK(t, err)
	if len(got) != n {
		t.Fatalf("AuditEvents after a batch of %d: got %d", n, len(got))
	}
	for i, e := range got {
		if e.Seq <= 0 || (i > 0 && e.Seq <= got[i-1].Seq) {
			t.Errorf("event %d: seq %d, want increasing positive seqs in the batch's order", i, e.Seq)
		}
		if es[i].Seq != e.Seq {
			t.Errorf("event %d: AppendAudits set Seq %d, stored as %d", i, es[i].Seq, e.Seq)
		}
		w := *es[i]
		w.Seq = e.Seq
		if !w.Time.Equal(e.Time) {
			t.Errorf("event %d: time %v, want %v", i, e.Time, w.Time)
		}
		w.Time = e.Time
		if w != *e {
			t.Errorf("event %d: got %+v, want %+v", i, *e, w)
		}
	}
}

func testCountLiveSessions(t *testing.T, s baton.Store) {
	c := s.(baton.SessionCounter)
	u := mustCreateUser(t, s, "u1")
	now := t0.Add(time.Hour)
	for i, mod := range []func(*baton.Session){
		func(*baton.Session) {},
		func(*baton.Session) {},
		func(x *baton.Session) { x.IdleExpiresAt = now.Add(-time.Second) },
		func(x *baton.Session) { x.ExpiresAt = now },
	} {
		sess := newSession(u.ID, fmt.Sprintf("s%d", i), t0)
		mod(sess)
		mustCreateSession(t, s, sess, hash(sess.ID))
	}
	mustRevoke(t, s, "s1", revoke(t0, baton.ReasonLogout))
	if n, err := c.CountLiveSessions(ctx, now); err != nil || n != 1 {
		t.Errorf("CountLiveSessions: got %d, %v, want 1 (one live, one revoked, two expired)", n, err)
	}
}

// With a budget of 3 per minute (one every 20s), three events fit at once,
// the fourth does not, and one given back makes room for exactly one.
func testRateStoreBudget(t *testing.T, s baton.Store) {
	r := s.(baton.RateStore)
	const interval, window = 20 * time.Second, time.Minute
	for i := 0; i < 3; i++ {
		if ok, _, err := r.TakeRate(ctx, "k", t0, interval, window); err != nil || !ok {
			t.Fatalf("take %d: got %v, %v, want room", i, ok, err)
		}
	}
	ok, tat, err := r.TakeRate(ctx, "k", t0, interval, window)
	if err != nil || ok || !tat.Equal(t0.Add(3*interval)) {
		t.Fatalf("take 4: got %v, %v, %v, want no room and TAT %v", ok, tat, err, t0.Add(3*interval))
	}
	if ok, _, err := r.TakeRate(ctx, "other", t0, interval, window); err != nil || !ok {
		t.Fatalf("another key: got %v, %v, want room", ok, err)
	}
	mustOK(t, r.ReturnRate(ctx, "k", interval))
	if ok, _, err := r.TakeRate(ctx, "k", t0, interval, window); err != nil || !ok {
		t.Fatalf("take after a return: got %v, %v, want room", ok, err)
	}
	// One interval later one more fits.
	if ok, _, err := r.TakeRate(ctx, "k", t0.Add(interval), interval, window); err != nil || !ok {
		t.Fatalf("take an interval later: got %v, %v, want room", ok, err)
	}
}

// Of many concurrent takes exactly the budget succeed.
func testRateStoreConcurrent(t *testing.T, s baton.Store) {
	r := s.(baton.RateStore)
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fit, _, err := r.TakeRate(ctx, "k", t0, 10*time.Second, time.Minute)
			if err != nil {
				t.Errorf("TakeRate: %v", err)
			}
			if fit {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 6 {
		t.Errorf("concurrent takes that fit: got %d, want the budget, 6", ok.Load())
	}
}

// A revocation is reported to a watcher (on PostgreSQL, every instance's).
func testWatchRevocations(t *testing.T, s baton.Store) {
	w := s.(baton.RevocationWatcher)
	u := mustCreateUser(t, s, "u1")
	mustCreateSession(t, s, newSession(u.ID, "s1", t0), hash("t1"))
	heard := make(chan string, 8)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.WatchRevocations(wctx, func(id string) { heard <- id }) }()
	// The watcher may take a moment to listen: revoke until it hears.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		id := fmt.Sprintf("r%d", i)
		mustCreateSession(t, s, newSession(u.ID, id, t0), hash(id))
		mustRevoke(t, s, id, revoke(t0, baton.ReasonLogout))
		select {
		case got := <-heard:
			if got[0] != 'r' {
				t.Errorf("heard %q, want a revoked session", got)
			}
			cancel()
			<-done
			return
		case <-deadline:
			cancel()
			t.Fatal("no revocation heard within 10s")
		case <-tick.C:
		}
	}
}
