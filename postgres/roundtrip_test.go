package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/postgres"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/batonauth/baton/session"
	"github.com/jackc/pgx/v5"
)

// queryCounter counts the statements a pool sends: each is one round trip
// to the server (the extended protocol pipelines parse, bind and execute).
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}

func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestRefreshRoundTrips pins how many round trips a refresh costs on
// PostgreSQL, through the session engine: reading the presented token with
// its session, then one statement that spends it, slides the session and
// inserts the successor (see rotateSQL). The grace replay reads the token
// and its successor. Audit events and rate limits stay off this path. The
// test fails if a change adds a round trip; lower the numbers when one is
// cut.
func TestRefreshRoundTrips(t *testing.T) {
	const (
		wantRotate = 2
		wantGrace  = 2
	)
	ctx := context.Background()
	counter := &queryCounter{}
	db, err := postgres.Open(ctx, pgtest.NewDatabase(t), postgres.WithQueryTracer(counter))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := batontest.NewClock(time.Now())
	svc, err := session.New(ctx, db, session.Config{
		Issuer: "https://auth.example.com", Hasher: password.NewHasher(batontest.CheapPasswords, 2),
		ReuseGrace: 10 * time.Second, Now: clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	if _, err := svc.Register(ctx, session.RegisterRequest{Username: "alice", Password: "correct horse battery staple"}, session.Client{}); err != nil {
		t.Fatal(err)
	}
	g, err := svc.Login(ctx, session.LoginRequest{Username: "alice", Password: "correct horse battery staple"}, session.Client{})
	if err != nil {
		t.Fatal(err)
	}
	rt := g.RefreshToken
	for i := 0; i < 3; i++ {
		counter.n.Store(0)
		next, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: rt}, session.Client{})
		if err != nil {
			t.Fatal(err)
		}
		if got := counter.n.Load(); got != wantRotate {
			t.Errorf("refresh %d: %d round trips, want %d", i, got, wantRotate)
		}
		counter.n.Store(0)
		if _, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: rt}, session.Client{}); err != nil {
			t.Fatalf("grace replay: %v", err)
		}
		if got := counter.n.Load(); got != wantGrace {
			t.Errorf("grace replay %d: %d round trips, want %d", i, got, wantGrace)
		}
		rt = next.RefreshToken
	}
}
