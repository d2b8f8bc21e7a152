package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/metrics"
	"github.com/batonauth/baton/postgres"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/prometheus/client_golang/prometheus"
)

func TestPostgresCapabilities(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	db, err := postgres.Open(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := metrics.InstrumentStore(db, prometheus.NewRegistry())
	if _, ok := s.(baton.RevocationWatcher); !ok {
		t.Fatal("the instrumented PostgreSQL store lost WatchRevocations")
	}
	if _, ok := s.(baton.RefreshRotator); !ok {
		t.Fatal("the instrumented PostgreSQL store lost RotateRefresh: every refresh would cost a round trip more")
	}
	sc, ok := s.(baton.SessionCounter)
	if !ok {
		t.Fatal("the instrumented PostgreSQL store lost CountLiveSessions")
	}
	if n, err := sc.CountLiveSessions(context.Background(), time.Now()); err != nil || n != 0 {
		t.Fatalf("CountLiveSessions: %d %v", n, err)
	}
}
