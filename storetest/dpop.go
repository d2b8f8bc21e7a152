package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// proofID returns the id of a proof named name, as long as the verifier's.
func proofID(name string) []byte { return hash(name)[:16] }

func wantSpend(t *testing.T, d baton.DPoPReplayStore, name string, now, expires time.Time, want string) {
	t.Helper()
	err := d.SpendDPoPProof(ctx, proofID(name), now, expires)
	if got := baton.ErrorCode(err); got != want {
		t.Fatalf("SpendDPoPProof(%s, now %s, expires %s): got %v, want code %q", name, now.Format(time.TimeOnly), expires.Format(time.TimeOnly), err, want)
	}
}

// A proof spends once within its window; another proof is not affected.
func testSpendDPoPProofReplay(t *testing.T, _ baton.Store, d baton.DPoPReplayStore) {
	exp := t0.Add(time.Minute)
	wantSpend(t, d, "a", t0, exp, "")
	wantSpend(t, d, "a", t0.Add(time.Second), exp, baton.EConflict)
	wantSpend(t, d, "a", exp.Add(-time.Microsecond), exp, baton.EConflict)
	wantSpend(t, d, "b", t0, exp, "")
}

// A record that expired no longer refuses its proof, and the new record
// has the new expiry.
func testSpendDPoPProofExpired(t *testing.T, _ baton.Store, d baton.DPoPReplayStore) {
	wantSpend(t, d, "a", t0, t0.Add(time.Minute), "")
	later := t0.Add(2 * time.Minute)
	wantSpend(t, d, "a", later, later.Add(time.Minute), "")
	wantSpend(t, d, "a", later.Add(30*time.Second), later.Add(time.Minute), baton.EConflict)
}

// Of concurrent spends of one proof exactly one succeeds.
func testSpendDPoPProofConcurrent(t *testing.T, _ baton.Store, d baton.DPoPReplayStore) {
	const n = 16
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := d.SpendDPoPProof(ctx, proofID("a"), t0, t0.Add(time.Minute))
			switch baton.ErrorCode(err) {
			case "":
				wins.Add(1)
			case baton.EConflict:
				conflicts.Add(1)
			default:
				t.Errorf("SpendDPoPProof: got %v, want nil or %s", err, baton.EConflict)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != n-1 {
		t.Fatalf("%d succeeded and %d conflicted, want 1 and %d", wins.Load(), conflicts.Load(), n-1)
	}
}

// Prune deletes the records that expired before its now, and only those.
func testSpendDPoPProofPrune(t *testing.T, s baton.Store, d baton.DPoPReplayStore) {
	wantSpend(t, d, "old", t0, t0.Add(time.Minute), "")
	wantSpend(t, d, "live", t0, t0.Add(time.Hour), "")
	now := t0.Add(2 * time.Minute)
	n, err := s.Prune(ctx, now, t0, 10)
	if err != nil || n != 1 {
		t.Fatalf("Prune: got %d, %v, want 1 (the expired record), nil", n, err)
	}
	if n, err := s.Prune(ctx, now, t0, 10); err != nil || n != 0 {
		t.Fatalf("Prune again: got %d, %v, want 0, nil", n, err)
	}
	wantSpend(t, d, "live", now, now.Add(time.Minute), baton.EConflict)
}
