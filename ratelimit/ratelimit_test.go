package ratelimit_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/ratelimit"
)

func TestClientKey(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"198.51.100.7", "198.51.100.7"},
		{"::ffff:198.51.100.7", "198.51.100.7"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"fe80::2%eth1", "fe80::/64"},
		{"::1", "::/64"},
		{"@", "@"}, // a Unix socket peer
		{"", ""},
	}
	for _, tt := range tests {
		if got := ratelimit.ClientKey(tt.ip); got != tt.want {
			t.Errorf("ratelimit.ClientKey(%q) = %q, want %q", tt.ip, got, tt.want)
		}
	}
}

// TestCounter: a burst of COUNT, then one event every WINDOW/COUNT, the
// whole budget back after a quiet WINDOW, and the wait of a refusal is the
// time until the next event fits.
func TestCounter(t *testing.T) {
	tests := []struct {
		rule ratelimit.Rule
		wait time.Duration // after a burst of Count
	}{
		{ratelimit.Rule{Count: 3, Window: time.Minute}, 20 * time.Second},
		{ratelimit.Rule{Count: 1, Window: time.Hour}, time.Hour},
		{ratelimit.Rule{Count: 10, Window: 15 * time.Minute}, 90 * time.Second},
		{ratelimit.Rule{Count: 300, Window: time.Hour}, 12 * time.Second},
	}
	ctx := context.Background()
	for _, tt := range tests {
		c := batontest.NewClock(time.Date(2030, 1, 1, 0, 0, 7, 0, time.UTC))
		n := ratelimit.NewCounter(tt.rule, c.Now)
		for i := 0; i < tt.rule.Count; i++ {
			if _, err := n.Take(ctx, "k"); err != nil {
				t.Fatalf("%v: refused after %d events: %v", tt.rule, i, err)
			}
		}
		_, err := n.Take(ctx, "k")
		var tm *ratelimit.TooMany
		if !errors.As(err, &tm) || baton.ErrorCode(err) != baton.ETooManyRequests || tm.After != tt.wait {
			t.Fatalf("%v: got %v, want too_many_requests for %v", tt.rule, err, tt.wait)
		}
		if _, err := n.Take(ctx, "other"); err != nil {
			t.Fatalf("%v: keys are not independent", tt.rule)
		}
		c.Advance(tt.wait - time.Nanosecond)
		if _, err := n.Take(ctx, "k"); err == nil {
			t.Fatalf("%v: an event fit before the wait was over", tt.rule)
		}
		c.Advance(time.Nanosecond)
		if _, err := n.Take(ctx, "k"); err != nil {
			t.Fatalf("%v: refused after the wait: %v", tt.rule, err)
		}
		if _, err := n.Take(ctx, "k"); err == nil {
			t.Fatalf("%v: two events fit after one interval", tt.rule)
		}
		c.Advance(tt.rule.Window)
		for i := 0; i < tt.rule.Count; i++ {
			if _, err := n.Take(ctx, "k"); err != nil {
				t.Fatalf("%v: budget not whole after a quiet window (%d): %v", tt.rule, i, err)
			}
		}
	}
	off := ratelimit.NewCounter(ratelimit.Rule{}, nil)
	for i := 0; i < 100; i++ {
		if _, err := off.Take(ctx, "k"); err != nil {
			t.Fatal("a disabled limit refused")
		}
	}
}

// TestSweep: keys whose budget is whole again are forgotten within an
// interval or two, not a window.
func TestSweep(t *testing.T) {
	c := batontest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	n := ratelimit.NewCounter(ratelimit.Rule{Count: 300, Window: time.Hour}, c.Now) // one every 12s
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		n.Take(ctx, strconv.Itoa(i))
	}
	n.Take(ctx, "busy")
	n.Take(ctx, "busy")
	c.Advance(13 * time.Second)
	n.Take(ctx, "new")
	if n.Keys() != 2 {
		t.Fatalf("%d keys kept, want 2 (busy and new)", n.Keys())
	}
}

// TestWindowEdge: bursts on both sides of where a clock-aligned fixed
// window turns over. Fixed windows let 2×COUNT through; GCRA lets COUNT
// through, plus only what the steady rate earns in the time between.
func TestWindowEdge(t *testing.T) {
	tests := []struct {
		rule ratelimit.Rule
		gap  time.Duration // between the two bursts, across the edge
		want int
	}{
		{ratelimit.Rule{Count: 3, Window: 15 * time.Minute}, time.Millisecond, 3},
		{ratelimit.Rule{Count: 3, Window: 15 * time.Minute}, 2 * time.Second, 3},
		{ratelimit.Rule{Count: 10, Window: time.Minute}, time.Second, 10},
		{ratelimit.Rule{Count: 10, Window: time.Minute}, 6 * time.Second, 11}, // one interval earned
		{ratelimit.Rule{Count: 300, Window: time.Hour}, time.Second, 300},
	}
	ctx := context.Background()
	for _, tt := range tests {
		edge := time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC) // aligned to every window above
		c := batontest.NewClock(edge.Add(-tt.gap / 2))
		n := ratelimit.NewCounter(tt.rule, c.Now)
		allowed := 0
		for i := 0; i < 2*tt.rule.Count; i++ {
			if _, err := n.Take(ctx, "k"); err == nil {
				allowed++
			}
		}
		c.Advance(tt.gap)
		for i := 0; i < 2*tt.rule.Count; i++ {
			if _, err := n.Take(ctx, "k"); err == nil {
				allowed++
			}
		}
		if allowed != tt.want {
			t.Errorf("%v, bursts %v apart across an edge: %d allowed, want %d", tt.rule, tt.gap, allowed, tt.want)
		}
	}
}

func newLimits(now func() time.Time, account, ip ratelimit.Rule) *ratelimit.Limits {
	return &ratelimit.Limits{
		Account:       ratelimit.NewCounter(account, now),
		IP:            ratelimit.NewCounter(ip, now),
		Registrations: ratelimit.NewCounter(ratelimit.Rule{Count: 2, Window: time.Hour}, now),
	}
}

// TestAttempt: only failures count, and concurrent attempts cannot all
// pass before any of them has failed.
func TestAttempt(t *testing.T) {
	c := batontest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx := context.Background()
	tests := []struct {
		name        string
		account, ip ratelimit.Rule
		concurrent  int
	}{
		{"account", ratelimit.Rule{Count: 3, Window: time.Minute}, ratelimit.Rule{Count: 100, Window: time.Minute}, 40},
		{"ip", ratelimit.Rule{Count: 100, Window: time.Minute}, ratelimit.Rule{Count: 3, Window: time.Minute}, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimits(c.Now, tt.account, tt.ip)
			// Successes never use the budget up.
			for i := 0; i < 50; i++ {
				done, err := l.Attempt(ctx, "alice", "198.51.100.7")
				if err != nil {
					t.Fatalf("success %d refused: %v", i, err)
				}
				done(false)
			}
			// Attempts in flight at once: each holds a failure until it
			// is known, so only the budget's worth get through.
			var wg sync.WaitGroup
			var mu sync.Mutex
			var through []func(bool)
			for i := 0; i < tt.concurrent; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if done, err := l.Attempt(ctx, "alice", "198.51.100.7"); err == nil {
						mu.Lock()
						through = append(through, done)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(through) != 3 {
				t.Fatalf("%d concurrent attempts: %d got through, want 3", tt.concurrent, len(through))
			}
			for _, done := range through {
				done(true)
			}
			if _, err := l.Attempt(ctx, "alice", "198.51.100.7"); baton.ErrorCode(err) != baton.ETooManyRequests {
				t.Fatalf("after 3 failures: got %v", err)
			}
		})
	}
	t.Run("RefusedByAccountGivesBackIP", func(t *testing.T) {
		l := newLimits(c.Now, ratelimit.Rule{Count: 1, Window: time.Minute}, ratelimit.Rule{Count: 2, Window: time.Minute})
		done, _ := l.Attempt(ctx, "alice", "192.0.2.1")
		done(true)
		for i := 0; i < 5; i++ {
			if _, err := l.Attempt(ctx, "alice", "192.0.2.1"); err == nil {
				t.Fatal("account limit did not refuse")
			}
		}
		// The refusals spent nothing of the per-IP budget.
		if _, err := l.Attempt(ctx, "bob", "192.0.2.1"); err != nil {
			t.Fatalf("IP budget spent by refused attempts: %v", err)
		}
	})
	t.Run("IPv6ByPrefix", func(t *testing.T) {
		l := newLimits(c.Now, ratelimit.Rule{Count: 100, Window: time.Minute}, ratelimit.Rule{Count: 3, Window: time.Minute})
		for i, ip := range []string{"2001:db8::1", "2001:db8::2%eth0", "2001:db8::ffff:1"} {
			done, err := l.Attempt(ctx, "", ip)
			if err != nil {
				t.Fatalf("attempt %d refused: %v", i, err)
			}
			done(true)
		}
		if _, err := l.Attempt(ctx, "", "2001:db8::9"); err == nil {
			t.Fatal("a fourth address of the /64 got a fresh budget")
		}
		if _, err := l.Attempt(ctx, "", "2001:db8:0:1::1"); err != nil {
			t.Fatalf("the next /64 is refused: %v", err)
		}
		if err := l.AllowRegistration(ctx, "2001:db8::1"); err != nil {
			t.Fatal(err)
		}
		if err := l.AllowRegistration(ctx, "2001:db8::2"); err != nil {
			t.Fatal(err)
		}
		if err := l.AllowRegistration(ctx, "2001:db8::3"); err == nil {
			t.Fatal("registrations from one /64 not limited")
		}
	})
}

// memShared is an in-memory baton.RateStore, as PostgreSQL is to several instances.
type memShared struct {
	mu    sync.Mutex
	tat   map[string]time.Time
	fail  bool
	calls int // TakeRate and ReturnRate calls: store round trips
}

func (m *memShared) TakeRate(_ context.Context, key string, now time.Time, interval, window time.Duration) (bool, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.fail {
		return false, time.Time{}, errors.New("down")
	}
	tat := m.tat[key]
	if tat.Before(now) {
		tat = now
	}
	if tat.Add(interval).After(now.Add(window)) {
		return false, m.tat[key], nil
	}
	m.tat[key] = tat.Add(interval)
	return true, m.tat[key], nil
}

func (m *memShared) ReturnRate(_ context.Context, key string, interval time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.fail {
		return errors.New("down")
	}
	if t, ok := m.tat[key]; ok {
		m.tat[key] = t.Add(-interval)
	}
	return nil
}

func TestSharedAcrossInstances(t *testing.T) {
	c := batontest.NewClock(time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC))
	shared := &memShared{tat: map[string]time.Time{}}
	const instances = 3
	var ls []*ratelimit.Limits
	for i := 0; i < instances; i++ {
		l := newLimits(c.Now, ratelimit.Rule{Count: 5, Window: time.Minute}, ratelimit.Rule{Count: 100, Window: time.Minute})
		l.Share(shared)
		ls = append(ls, l)
	}
	ctx := context.Background()
	// An attacker rotates over the instances: every attempt that is let
	// through fails. Without sharing each instance would allow 5; shared,
	// the deployment allows 5.
	allowed := 0
	for i := 0; i < 30; i++ {
		done, err := ls[i%instances].Attempt(ctx, "alice", "198.51.100.7")
		if err != nil {
			continue
		}
		allowed++
		done(true)
	}
	if allowed != 5 {
		t.Fatalf("allowed %d attempts across %d instances, want the budget, 5", allowed, instances)
	}
	// Refused by the store, an instance says how long until there is room
	// (one interval, 12s), and refuses locally from then on.
	for _, l := range ls {
		_, err := l.Attempt(ctx, "alice", "198.51.100.7")
		var tm *ratelimit.TooMany
		if !errors.As(err, &tm) || baton.ErrorCode(err) != baton.ETooManyRequests || tm.RetryAfter() != 12 {
			t.Fatalf("got %v, want too_many_requests with Retry-After 12", err)
		}
	}
	// Successes on one instance give back what they held in the store.
	for i := 0; i < 20; i++ {
		done, err := ls[i%instances].Attempt(ctx, "bob", "198.51.100.7")
		if err != nil {
			t.Fatalf("success %d refused: %v", i, err)
		}
		done(false)
	}
	// The store being down does not disable the local limit.
	shared.mu.Lock()
	shared.fail = true
	shared.mu.Unlock()
	c.Advance(time.Minute)
	for i := 0; i < 5; i++ {
		done, err := ls[0].Attempt(ctx, "carol", "192.0.2.1")
		if err != nil {
			t.Fatalf("attempt %d refused with the store down: %v", i, err)
		}
		done(true)
	}
	if _, err := ls[0].Attempt(ctx, "carol", "192.0.2.1"); err == nil {
		t.Fatal("local limit lost while the shared store is down")
	}
}

// TestRefreshCostsNoStoreRoundTrip: a refresh (no account) that succeeds
// never reaches the shared store; one that fails is recorded there, and the
// deployment's budget is enforced across instances from the failures.
func TestRefreshCostsNoStoreRoundTrip(t *testing.T) {
	c := batontest.NewClock(time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC))
	shared := &memShared{tat: map[string]time.Time{}}
	a := newLimits(c.Now, ratelimit.Rule{Count: 5, Window: time.Minute}, ratelimit.Rule{Count: 4, Window: time.Minute})
	b := newLimits(c.Now, ratelimit.Rule{Count: 5, Window: time.Minute}, ratelimit.Rule{Count: 4, Window: time.Minute})
	a.Share(shared)
	b.Share(shared)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		done, err := a.Attempt(ctx, "", "198.51.100.7")
		if err != nil {
			t.Fatalf("successful refresh %d refused: %v", i, err)
		}
		done(false)
	}
	if shared.calls != 0 {
		t.Fatalf("100 successful refreshes made %d store calls, want 0", shared.calls)
	}
	// Failures alternate over the instances: each is recorded, and each
	// instance refuses once the store told it the budget is spent.
	allowed := 0
	for i := 0; i < 20; i++ {
		l := []*ratelimit.Limits{a, b}[i%2]
		done, err := l.Attempt(ctx, "", "198.51.100.9")
		if err != nil {
			continue
		}
		allowed++
		done(true)
	}
	// The budget, plus at most one per instance learning the state late.
	if allowed < 4 || allowed > 4+2 {
		t.Fatalf("failed refreshes allowed across 2 instances: got %d, want 4 to 6", allowed)
	}
}
