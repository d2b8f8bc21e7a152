package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton/postgres"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/batonauth/baton/ratelimit"
)

// TestAddCount: concurrent increments from two pools (two instances) are
// all counted, windows are separate, and Prune removes expired windows.
func TestAddCount(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	var dbs []*postgres.DB
	for i := 0; i < 2; i++ {
		db, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	w := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := dbs[i%2].AddCount(ctx, "ip:x", w, w.Add(time.Minute)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n, err := dbs[0].AddCount(ctx, "ip:x", w, w.Add(time.Minute))
	if err != nil || n != 41 {
		t.Fatalf("got %d %v, want 41", n, err)
	}
	if n, _ := dbs[1].AddCount(ctx, "ip:x", w.Add(time.Minute), w.Add(2*time.Minute)); n != 1 {
		t.Fatalf("next window: got %d, want 1", n)
	}
	pruned, err := dbs[0].Prune(ctx, w.Add(90*time.Second), w, 100)
	if err != nil || pruned != 1 {
		t.Fatalf("Prune: got %d %v, want the one expired window", pruned, err)
	}
	if n, _ := dbs[0].AddCount(ctx, "ip:x", w.Add(time.Minute), w.Add(2*time.Minute)); n != 2 {
		t.Fatalf("live window after prune: got %d, want 2", n)
	}
}

// The PostgreSQL store shares rate limits across instances.
var _ ratelimit.Shared = (*postgres.DB)(nil)
