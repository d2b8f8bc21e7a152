package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/postgres"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/batonauth/baton/ratelimit"
	"github.com/jackc/pgx/v5"
)

// instances opens n handles on one fresh database, as n instances of a
// deployment have.
func instances(t *testing.T, n int) (string, []*postgres.DB) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	var dbs []*postgres.DB
	for i := 0; i < n; i++ {
		db, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	return url, dbs
}

// TestTakeRate: concurrent takes from two pools spend exactly the budget,
// a refusal reports the TAT, a return gives one event back, and Prune
// removes keys whose TAT has passed.
func TestTakeRate(t *testing.T) {
	_, dbs := instances(t, 2)
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const interval, window = 6 * time.Second, time.Minute // 10/1m
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			took, _, err := dbs[i%2].TakeRate(ctx, "ip:x", now, interval, window)
			if err != nil {
				t.Error(err)
			}
			if took {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 10 {
		t.Fatalf("40 concurrent takes with a budget of 10: %d taken", ok.Load())
	}
	took, tat, err := dbs[0].TakeRate(ctx, "ip:x", now, interval, window)
	if err != nil || took || !tat.Equal(now.Add(window)) {
		t.Fatalf("got %v %v %v, want refused with the TAT a window ahead", took, tat, err)
	}
	if err := dbs[1].ReturnRate(ctx, "ip:x", interval); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at   time.Duration
		want bool
		tat  time.Duration
	}{
		{0, true, window},  // the returned event
		{0, false, window}, // and no more
		{interval - time.Second, false, window},
		{interval, true, window + interval}, // one earned
		{2 * window, true, 2*window + interval},
	}
	for _, tt := range tests {
		took, tat, err := dbs[0].TakeRate(ctx, "ip:x", now.Add(tt.at), interval, window)
		if err != nil || took != tt.want || !tat.Equal(now.Add(tt.tat)) {
			t.Fatalf("at +%v: got %v %v %v, want %v at +%v", tt.at, took, tat, err, tt.want, tt.tat)
		}
	}
	if _, _, err := dbs[1].TakeRate(ctx, "ip:y", now, interval, window); err != nil {
		t.Fatal(err)
	}
	pruned, err := dbs[0].Prune(ctx, now.Add(window+time.Second), now, 100)
	if err != nil || pruned != 1 {
		t.Fatalf("Prune: got %d %v, want the one key whose TAT passed", pruned, err)
	}
	if took, tat, _ := dbs[1].TakeRate(ctx, "ip:x", now.Add(2*window), interval, window); !took || !tat.Equal(now.Add(2*window+2*interval)) {
		t.Fatalf("live key after prune: got %v %v", took, tat)
	}
}

// TestSharedLimits: two instances sharing one database enforce one budget
// between them, window edges included, with Retry-After right, successes
// given back, and only hashes of keys stored.
func TestSharedLimits(t *testing.T) {
	url, dbs := instances(t, 2)
	ctx := context.Background()
	clock := batontest.NewClock(time.Date(2030, 1, 1, 0, 14, 59, 0, time.UTC))
	now, advance := clock.Now, clock.Advance
	var ls []*ratelimit.Limits
	for _, db := range dbs {
		l := &ratelimit.Limits{
			Account:       ratelimit.NewCounter(ratelimit.Rule{Count: 3, Window: 15 * time.Minute}, now),
			IP:            ratelimit.NewCounter(ratelimit.Rule{Count: 300, Window: time.Hour}, now),
			Registrations: ratelimit.NewCounter(ratelimit.Rule{Count: 2, Window: time.Hour}, now),
		}
		l.Share(db)
		ls = append(ls, l)
	}
	attempt := func(i int, account, ip string) (bool, int) {
		done, err := ls[i%len(ls)].Attempt(ctx, account, ip)
		var tm *ratelimit.TooMany
		switch {
		case err == nil:
			done(true)
			return true, 0
		case errors.As(err, &tm) && baton.ErrorCode(err) == baton.ETooManyRequests:
			return false, tm.RetryAfter()
		}
		t.Fatalf("attempt %d: %v", i, err)
		return false, 0
	}
	// Successes never use the budget up, on either instance.
	for i := 0; i < 10; i++ {
		done, err := ls[i%2].Attempt(ctx, "alice", "2001:db8::1")
		if err != nil {
			t.Fatalf("success %d refused: %v", i, err)
		}
		done(false)
	}
	// An attacker alternates instances and addresses of one /64, bursting
	// on both sides of where a 15-minute window would turn over.
	allowed := 0
	for i := 0; i < 12; i++ {
		if i == 6 {
			advance(time.Second)
		}
		if ok, _ := attempt(i, "alice", fmt.Sprintf("2001:db8::%x", i+1)); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("12 failures across 2 instances and an edge: %d allowed, want 3", allowed)
	}
	// Both instances tell the same wait: one interval (5m) from the first
	// failure, a second ago.
	for i := range ls {
		if ok, after := attempt(i, "alice", "2001:db8::ff"); ok || after != 299 {
			t.Fatalf("instance %d: got %v, Retry-After %d, want refused for 299s", i, ok, after)
		}
	}
	advance(298 * time.Second)
	if ok, after := attempt(1, "alice", "2001:db8::1"); ok || after != 1 {
		t.Fatalf("a second early: got %v, Retry-After %d", ok, after)
	}
	advance(time.Second)
	if ok, _ := attempt(1, "alice", "2001:db8::1"); !ok {
		t.Fatal("refused once the wait was over")
	}
	if ok, _ := attempt(0, "alice", "2001:db8::2"); ok {
		t.Fatal("two attempts fit after one interval")
	}
	// Another /64 has its own budget.
	if ok, _ := attempt(0, "alice", "2001:db8:0:1::1"); !ok {
		t.Fatal("the next /64 was refused")
	}
	// Registrations count on both instances together.
	for i, want := range []bool{true, true, false} {
		if err := ls[i%2].AllowRegistration(ctx, "198.51.100.7"); (err == nil) != want {
			t.Fatalf("registration %d: got %v", i, err)
		}
	}
	// The store holds hashes, not usernames or addresses.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT key FROM rate_limits`)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	for _, k := range keys {
		if strings.Contains(k, "alice") || strings.Contains(k, "2001") || strings.Contains(k, "198.51") {
			t.Errorf("stored key %q is not hashed", k)
		}
	}
}

// The PostgreSQL store shares rate limits across instances.
var _ baton.RateStore = (*postgres.DB)(nil)

// BenchmarkTakeReturnRate is what a successful login or refresh costs the
// store for its per-IP limit: a take and a return (two round trips).
func BenchmarkTakeReturnRate(b *testing.B) {
	url := pgtest.NewDatabase(b)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if ok, _, err := db.TakeRate(ctx, "ip:bench", now, 12*time.Second, time.Hour); err != nil || !ok {
			b.Fatalf("TakeRate: %v %v", ok, err)
		}
		if err := db.ReturnRate(ctx, "ip:bench", 12*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
