package audit_test

import (
	"context"
	"testing"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/audit"
	"github.com/batonauth/baton/postgres"
	"github.com/batonauth/baton/postgres/pgtest"
)

var _ baton.AuditBatchAppender = (*postgres.DB)(nil)

func TestWriterPostgresBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	url := pgtest.NewDatabase(t)
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := audit.NewWriter(db, audit.Options{Logger: quiet})
	for range 600 {
		w.Record(baton.AuditEvent{Type: "refresh", Outcome: "ok", UserAgent: "bad\x00utf8"})
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	es, err := db.AuditEvents(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 600 || w.Written() != 600 || w.Failed() != 0 {
		t.Fatalf("stored %d, written %d, failed %d", len(es), w.Written(), w.Failed())
	}
}
