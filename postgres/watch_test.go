package postgres

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/google/go-cmp/cmp"
)

// watcher runs WatchRevocations on db in the background and collects the
// ids it hears of.
type watcher struct {
	cancel context.CancelFunc
	ids    chan string
	done   chan struct{} // closed when WatchRevocations returned err
	err    error
}

func startWatcher(t *testing.T, db *DB) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{cancel: cancel, ids: make(chan string, 100), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.err = db.WatchRevocations(ctx, func(id string) { w.ids <- id })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(5 * time.Second):
			t.Errorf("WatchRevocations did not return after its context ended")
		}
	})
	// Wait until it listens: its backend shows up running LISTEN, or the
	// idle ping that only follows LISTEN (pgx pings with "-- ping").
	admin := adminConn(t, poolURL(db))
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		err := admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'baton-watcher'
			AND (query LIKE 'LISTEN%' OR query = '-- ping')`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return w
		}
		if time.Now().After(deadline) {
			t.Fatal("watcher did not start listening within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// poolURL returns a URL for the database db is connected to.
func poolURL(db *DB) string { return db.pool.Config().ConnConfig.ConnString() }

// expect waits up to a second for the ids, in any order.
func (w *watcher) expect(t *testing.T, want ...string) {
	t.Helper()
	var got []string
	timeout := time.After(time.Second)
	for len(got) < len(want) {
		select {
		case id := <-w.ids:
			got = append(got, id)
		case <-w.done:
			t.Fatalf("watcher ended: %v (heard %v, want %v)", w.err, got, want)
		case <-timeout:
			t.Fatalf("heard %v within 1s, want %v", got, want)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("notified ids (-want +got):\n%s", d)
	}
}

// quiet fails if the watcher hears anything within d.
func (w *watcher) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case id := <-w.ids:
		t.Fatalf("heard %q, want nothing", id)
	case <-time.After(d):
	}
}

func TestWatchRevocations(t *testing.T) {
	ctx := context.Background()
	revoker, url := newDB(t)
	listener := mustOpen(t, url) // another instance
	mustUser(t, revoker, "u")
	mustUser(t, revoker, "v")
	for _, id := range []string{"a", "b", "c", "d"} {
		mustSession(t, revoker, "u", id, hashOf(id))
	}
	mustSession(t, revoker, "v", "v1", hashOf("v1"))
	r := baton.Revoke{Now: t0, Until: t0.Add(time.Hour), Reason: baton.ReasonLogout}
	w := startWatcher(t, listener)

	t.Run("RevokeSession", func(t *testing.T) {
		if _, err := revoker.RevokeSession(ctx, "a", r); err != nil {
			t.Fatal(err)
		}
		w.expect(t, "a")
	})
	t.Run("AlreadyRevokedIsSilent", func(t *testing.T) {
		if ok, err := revoker.RevokeSession(ctx, "a", r); err != nil || ok {
			t.Fatalf("RevokeSession again: got %v, %v, want false, nil", ok, err)
		}
		w.quiet(t, 200*time.Millisecond)
	})
	t.Run("RevokeUserSessions", func(t *testing.T) {
		if _, err := revoker.RevokeUserSessions(ctx, "u", "d", r); err != nil {
			t.Fatal(err)
		}
		w.expect(t, "b", "c")
	})
	t.Run("DeleteUser", func(t *testing.T) {
		if _, err := revoker.DeleteUser(ctx, "v", r); err != nil {
			t.Fatal(err)
		}
		w.expect(t, "v1")
	})
	t.Run("RolledBackIsSilent", func(t *testing.T) {
		tx, err := revoker.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := lockRevocationFeed(ctx, tx); err != nil {
			t.Fatal(err)
		}
		if ids, err := revokeSessions(ctx, tx, `id = $4`, r, "d"); err != nil || len(ids) != 1 {
			t.Fatalf("revokeSessions: %v, %v", ids, err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		w.quiet(t, 200*time.Millisecond)
	})
	t.Run("OwnRevocations", func(t *testing.T) {
		if _, err := listener.RevokeSession(ctx, "d", r); err != nil {
			t.Fatal(err)
		}
		w.expect(t, "d")
	})
}

func TestWatchRevocationsEnds(t *testing.T) {
	t.Run("BackendTerminated", func(t *testing.T) {
		db, url := newDB(t)
		w := startWatcher(t, db)
		if n := terminate(t, adminConn(t, url), "baton-watcher"); n != 1 {
			t.Fatalf("terminated %d watcher backends, want 1", n)
		}
		select {
		case <-w.done:
			wantCode(t, w.err, baton.EUnavailable)
		case <-time.After(5 * time.Second):
			t.Fatal("WatchRevocations still running 5s after its backend was terminated")
		}
	})
	t.Run("ContextEnds", func(t *testing.T) {
		db, _ := newDB(t)
		w := startWatcher(t, db)
		w.cancel()
		select {
		case <-w.done:
			if w.err != nil {
				t.Fatalf("WatchRevocations after cancel: got %v, want nil", w.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("WatchRevocations still running 5s after cancel")
		}
	})
	t.Run("Close", func(t *testing.T) {
		db, _ := newDB(t)
		w := startWatcher(t, db)
		db.Close()
		select {
		case <-w.done:
			wantCode(t, w.err, baton.EUnavailable)
		case <-time.After(5 * time.Second):
			t.Fatal("WatchRevocations still running 5s after Close")
		}
	})
	t.Run("IdleCheck", func(t *testing.T) {
		// A quiet watcher pings its connection and keeps going.
		db, _ := newDB(t)
		db.watchPingEvery = 20 * time.Millisecond
		mustUser(t, db, "u")
		mustSession(t, db, "u", "s", hashOf("s"))
		w := startWatcher(t, db)
		time.Sleep(150 * time.Millisecond)
		if _, err := db.RevokeSession(context.Background(), "s", baton.Revoke{Now: t0, Until: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		w.expect(t, "s")
	})
}
