package server_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/config"
	"github.com/batonauth/baton/postgres"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/batonauth/baton/server"
	"github.com/batonauth/baton/sqlite"
)

// TestPruneAuditRetention: the housekeeping pass deletes the audit events
// older than BATON_AUDIT_RETENTION, in calls of at most 1000 rows, and
// keeps every newer one, on both backends.
func TestPruneAuditRetention(t *testing.T) {
	const old, kept = 2500, 300
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	retention := 720 * time.Hour
	cutoff := now.Add(-retention)
	run := func(t *testing.T, store baton.Store) {
		ctx := context.Background()
		// Events before the cutoff, then one exactly at it and newer
		// ones, which stay.
		var es []*baton.AuditEvent
		for i := range old {
			es = append(es, &baton.AuditEvent{Time: cutoff.Add(-time.Duration(old-i) * time.Minute), Type: "refresh", Outcome: "unknown", IP: "192.0.2.1"})
		}
		for i := range kept {
			es = append(es, &baton.AuditEvent{Time: cutoff.Add(time.Duration(i) * time.Minute), Type: "login", Outcome: "ok", UserID: "u", IP: "192.0.2.1"})
		}
		if err := store.(baton.AuditBatchAppender).AppendAudits(ctx, es); err != nil {
			t.Fatal(err)
		}
		rec := &pruneRecorder{Store: store}
		cfg, err := config.Load(func(k string) string {
			return map[string]string{"BATON_ISSUER": "http://baton.test", "BATON_DATA_DIR": t.TempDir(),
				"BATON_AUDIT_RETENTION": "720h"}[k]
		})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.NewWithStore(ctx, cfg, rec, server.Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		pruned := srv.Prune(ctx)

		rec.mu.Lock()
		calls := rec.audit
		rec.mu.Unlock()
		sum := checkBatches(t, "PruneAudit", calls)
		if sum != old || pruned != old {
			t.Errorf("Server.Prune: %d rows (PruneAudit calls: %d), want %d", pruned, sum, old)
		}
		left, err := store.AuditEvents(ctx, 0, 10*(old+kept))
		if err != nil {
			t.Fatal(err)
		}
		ours := 0
		for _, e := range left {
			if e.Time.Before(cutoff) {
				t.Fatalf("an event of %v outlived the cutoff %v", e.Time, cutoff)
			}
			if e.Type == "login" && e.UserID == "u" {
				ours++
			}
		}
		if ours != kept {
			t.Errorf("%d of the %d events at or after the cutoff left, want all", ours, kept)
		}
		t.Logf("%d events older than the retention: %d pruned in %d calls; %d newer kept", old, pruned, len(calls), ours)
	}

	t.Run("SQLite", func(t *testing.T) {
		db, err := sqlite.Open(filepath.Join(t.TempDir(), "baton.db"))
		if err != nil {
			t.Fatal(err)
		}
		run(t, db)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		db, err := postgres.Open(context.Background(), pgtest.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		run(t, db)
	})
}
