package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestCounter(t *testing.T) {
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	n := NewCounter(Rule{Count: 3, Window: time.Minute}, c.now)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, over := n.Exceeded("k"); over {
			t.Fatalf("exceeded after %d events", i)
		}
		n.Add(ctx, "k")
	}
	d, over := n.Exceeded("k")
	if !over || d != time.Minute {
		t.Fatalf("got %v %v, want exceeded for 1m", d, over)
	}
	if _, over := n.Exceeded("other"); over {
		t.Fatal("keys are not independent")
	}
	c.t = c.t.Add(59 * time.Second)
	if d, over := n.Exceeded("k"); !over || d != time.Second {
		t.Fatalf("got %v %v, want 1s left", d, over)
	}
	c.t = c.t.Add(time.Second) // the next window
	if _, over := n.Exceeded("k"); over {
		t.Fatal("still exceeded in a new window")
	}
	off := NewCounter(Rule{}, c.now)
	for i := 0; i < 100; i++ {
		off.Add(ctx, "k")
	}
	if _, over := off.Exceeded("k"); over {
		t.Fatal("a disabled limit refused")
	}
}

// fakeShared is a deployment-wide counter shared by several Counters, as
// PostgreSQL is by several instances.
type fakeShared struct {
	mu   sync.Mutex
	m    map[string]int64
	fail bool
}

func (f *fakeShared) AddCount(_ context.Context, key string, window, _ time.Time) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return 0, errors.New("down")
	}
	k := key + window.String()
	f.m[k]++
	return f.m[k], nil
}

func TestSharedAcrossInstances(t *testing.T) {
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC)}
	shared := &fakeShared{m: map[string]int64{}}
	const instances = 3
	var ls []*Limits
	for i := 0; i < instances; i++ {
		l := &Limits{
			Account:       NewCounter(Rule{Count: 5, Window: time.Minute}, c.now),
			IP:            NewCounter(Rule{Count: 100, Window: time.Minute}, c.now),
			Registrations: NewCounter(Rule{Count: 100, Window: time.Minute}, c.now),
		}
		l.Share(shared)
		ls = append(ls, l)
	}
	ctx := context.Background()
	// An attacker rotates over the instances: every attempt that is let
	// through fails and is counted. Without sharing each instance would
	// allow 5; shared, the deployment allows at most 5 + instances-1.
	allowed := 0
	for i := 0; i < 30; i++ {
		l := ls[i%instances]
		if l.AllowAttempt(ctx, "alice", "198.51.100.7") != nil {
			continue
		}
		allowed++
		l.Failed(ctx, "alice", "198.51.100.7")
	}
	if allowed > 5+instances-1 {
		t.Fatalf("allowed %d attempts across %d instances, want at most %d", allowed, instances, 5+instances-1)
	}
	t.Logf("%d attempts allowed across %d instances (budget 5)", allowed, instances)
	err := ls[0].AllowAttempt(ctx, "alice", "198.51.100.7")
	var tm *TooMany
	if !errors.As(err, &tm) || baton.ErrorCode(err) != baton.ETooManyRequests || tm.RetryAfter() != 30 {
		t.Fatalf("got %v, want too_many_requests with Retry-After 30", err)
	}
	// The store being down does not disable the local limit.
	shared.fail = true
	c.t = c.t.Add(time.Minute)
	for i := 0; i < 5; i++ {
		ls[0].Failed(ctx, "bob", "192.0.2.1")
	}
	if ls[0].AllowAttempt(ctx, "bob", "192.0.2.1") == nil {
		t.Fatal("local limit lost while the shared store is down")
	}
}
