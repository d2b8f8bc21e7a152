package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/metrics"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/postgres"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/batonauth/baton/session"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
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
// PostgreSQL, through the session engine. Without a precondition one
// statement reads the session the token names, checks it and rotates by
// compare-and-set on its generation (rotateSessionsSQL; alone, so not
// grouped); the grace replay is that statement finding the session one
// generation on. A cookie's CSRF token names its session, so the
// statement's gate checks it. With a precondition (a DPoP proof, spent
// only once the session is known to be bound to its key) the engine must
// see the session before anything changes: a read, then Rotate. Audit
// events and rate limits stay off this path. The test fails if a change
// adds a round trip; lower the numbers when one is cut.
func TestRefreshRoundTrips(t *testing.T) {
	const (
		wantRotate  = 1
		wantGrace   = 1
		wantChecked = 2 // with a precondition
		wantReuse   = 5 // the statement, then the revoking transaction (begin … commit)
	)
	ctx := context.Background()
	counter := &queryCounter{}
	svc, clock := newEngine(t, counter, 10*time.Second)
	g := login(t, svc)
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
	// A cookie refresh's CSRF token names its session: the statement's
	// gate checks it, so no read comes first.
	counter.n.Store(0)
	csrf, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: rt, CSRFSession: g.Session.ID}, session.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if got := counter.n.Load(); got != wantRotate {
		t.Errorf("refresh with a CSRF session: %d round trips, want %d", got, wantRotate)
	}
	rt = csrf.RefreshToken
	checked := func(*baton.Session) error { return nil }
	counter.n.Store(0)
	next, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: rt, Precondition: checked}, session.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if got := counter.n.Load(); got != wantChecked {
		t.Errorf("refresh with a precondition: %d round trips, want %d", got, wantChecked)
	}
	clock.Advance(time.Minute) // past the grace window: reuse
	counter.n.Store(0)
	if _, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: rt}, session.Client{}); baton.ErrorCode(err) != baton.EInvalidGrant {
		t.Fatalf("reuse: got %v, want invalid_grant", err)
	}
	if got := counter.n.Load(); got != wantReuse {
		t.Errorf("reuse: %d round trips, want %d", got, wantReuse)
	}
	if _, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: next.RefreshToken}, session.Client{}); baton.ErrorCode(err) != baton.EInvalidGrant {
		t.Fatalf("successor after reuse: got %v, want invalid_grant", err)
	}
}

// newEngine returns a session engine on a fresh database, on the store as
// the server wires it (behind the metrics decorator, which must keep the
// one-round-trip capability), with a fake clock and the reuse grace
// window grace; counter, when not nil, sees every statement.
func newEngine(t *testing.T, counter pgx.QueryTracer, grace time.Duration) (*session.Service, *batontest.Clock) {
	t.Helper()
	svc, clock, _ := newEngineAt(t, pgtest.NewDatabase(t), counter, grace)
	return svc, clock
}

// newEngineAt is newEngine on the database at url; it returns the store
// too.
func newEngineAt(t *testing.T, url string, counter pgx.QueryTracer, grace time.Duration) (*session.Service, *batontest.Clock, *postgres.DB) {
	t.Helper()
	ctx := context.Background()
	var opts []postgres.Option
	if counter != nil {
		opts = append(opts, postgres.WithQueryTracer(counter))
	}
	db, err := postgres.Open(ctx, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := batontest.NewClock(time.Now())
	svc, err := session.New(ctx, metrics.InstrumentStore(db, prometheus.NewRegistry()), session.Config{
		Issuer: "https://auth.example.com", Hasher: password.NewHasher(batontest.CheapPasswords, 2),
		ReuseGrace: grace, IdleTTL: time.Hour, Now: clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	if _, err := svc.Register(ctx, session.RegisterRequest{Username: "alice", Password: "correct horse battery staple"}, session.Client{}); err != nil {
		t.Fatal(err)
	}
	return svc, clock, db
}

// login opens a session of alice.
func login(t *testing.T, svc *session.Service) *session.Grant {
	t.Helper()
	g, err := svc.Login(context.Background(), session.LoginRequest{Username: "alice", Password: "correct horse battery staple"}, session.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestRefreshOneStatementRefusals drives the engine's refusals through the
// one-statement rotation: each is invalid_grant, and none spends the token
// (without a grace window the next plain refresh would be reuse).
func TestRefreshOneStatementRefusals(t *testing.T) {
	ctx := context.Background()
	svc, clock := newEngine(t, nil, 0) // no grace: a spent token is reuse
	other := login(t, svc)
	tests := []struct {
		name string
		req  func(rt string) session.RefreshRequest
		want string
	}{
		{"AccessTokenOfAnotherSession", func(rt string) session.RefreshRequest {
			return session.RefreshRequest{RefreshToken: rt, AccessToken: other.AccessToken}
		}, baton.EInvalidGrant},
		{"AnotherClient", func(rt string) session.RefreshRequest {
			return session.RefreshRequest{RefreshToken: rt, OAuthClient: &baton.OAuthClient{ID: "rp"}}
		}, baton.EInvalidGrant},
		// A cookie refresh whose CSRF token is of another session (an
		// attacker's own, planted in the victim's browser).
		{"CSRFOfAnotherSession", func(rt string) session.RefreshRequest {
			return session.RefreshRequest{RefreshToken: rt, CSRFSession: other.Session.ID}
		}, baton.ECSRFFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := login(t, svc)
			_, err := svc.Refresh(ctx, tt.req(g.RefreshToken), session.Client{})
			if baton.ErrorCode(err) != tt.want {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
			if _, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: g.RefreshToken}, session.Client{}); err != nil {
				t.Fatalf("the refused token no longer rotates: %v", err)
			}
		})
	}
	t.Run("Idle", func(t *testing.T) {
		g := login(t, svc)
		clock.Advance(time.Hour)
		if _, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: g.RefreshToken}, session.Client{}); baton.ErrorCode(err) != baton.EInvalidGrant {
			t.Fatalf("idle session: got %v, want invalid_grant", err)
		}
		if _, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: other.RefreshToken}, session.Client{}); baton.ErrorCode(err) != baton.EInvalidGrant {
			t.Fatalf("another idle session: got %v, want invalid_grant", err)
		}
	})
}

// TestRefreshUpdatesSessionInPlace checks that a refresh's update of its
// session is a HOT update: no index covers a column that a refresh changes
// every time (sessions_prune_idx covers the idle expiry's hour, not the
// idle expiry), so PostgreSQL writes no index entry and keeps the new row
// version on its page. A change that indexes such a column makes every
// one of these updates non-HOT, and this test fail.
func TestRefreshUpdatesSessionInPlace(t *testing.T) {
	const refreshes = 30
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	svc, clock, db := newEngineAt(t, url, nil, 10*time.Second)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// A backend reports its table statistics when idle (within seconds)
	// and when it exits: the store is closed before the count is read,
	// and the reads wait until every update is counted.
	updates := func(wantAtLeast int64) (upd, hot int64) {
		deadline := time.Now().Add(15 * time.Second)
		for {
			if err := conn.QueryRow(ctx, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'sessions'`).Scan(&upd, &hot); err != nil {
				t.Fatal(err)
			}
			if upd >= wantAtLeast || time.Now().After(deadline) {
				return upd, hot
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	g := login(t, svc)
	upd0, hot0 := updates(0)
	rt := g.RefreshToken
	for range refreshes {
		clock.Advance(time.Second)
		next, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: rt}, session.Client{})
		if err != nil {
			t.Fatal(err)
		}
		rt = next.RefreshToken
	}
	db.Close()
	upd, hot := updates(upd0 + refreshes)
	upd, hot = upd-upd0, hot-hot0
	if upd < refreshes {
		t.Fatalf("%d updates of sessions counted, want at least %d", upd, refreshes)
	}
	// The idle expiry's hour changes at most once in 30 seconds.
	if hot < upd-1 {
		t.Errorf("%d of %d updates of sessions were HOT, want all but at most one", hot, upd)
	}
}
