package server_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"github.com/batonauth/baton/batontest"
	"log/slog"
	"net/url"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/config"
	"github.com/batonauth/baton/postgres"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/batonauth/baton/server"
	"github.com/batonauth/baton/session"
	"github.com/batonauth/baton/sqlite"
	"github.com/jackc/pgx/v5"
)

// pruneRecorder is a store whose Prune and PruneAudit calls are recorded.
type pruneRecorder struct {
	baton.Store
	mu    sync.Mutex
	calls []pruneCall // Prune
	audit []pruneCall // PruneAudit
}

type pruneCall struct{ n, limit int }

func (r *pruneRecorder) Prune(ctx context.Context, now, olderThan time.Time, limit int) (int, error) {
	n, err := r.Store.Prune(ctx, now, olderThan, limit)
	r.record(&r.calls, n, limit)
	return n, err
}

func (r *pruneRecorder) PruneAudit(ctx context.Context, before time.Time, limit int) (int, error) {
	n, err := r.Store.PruneAudit(ctx, before, limit)
	r.record(&r.audit, n, limit)
	return n, err
}

func (r *pruneRecorder) record(calls *[]pruneCall, n, limit int) {
	r.mu.Lock()
	*calls = append(*calls, pruneCall{n, limit})
	r.mu.Unlock()
}

// checkBatches checks the recorded calls of method (a copy taken under
// the lock): each deleted 0 to pruneBatch rows with limit pruneBatch, and
// the last one found nothing more to do. It returns the rows deleted.
func checkBatches(t *testing.T, method string, calls []pruneCall) (sum int) {
	t.Helper()
	for i, c := range calls {
		if c.n < 0 || c.n > c.limit || c.limit != pruneBatch {
			t.Errorf("%s call %d: deleted %d rows with limit %d, want 0..%d", method, i, c.n, c.limit, pruneBatch)
		}
		sum += c.n
	}
	if len(calls) == 0 || calls[len(calls)-1].n >= pruneBatch {
		t.Errorf("Server.Prune stopped before a %s call found nothing left (%d calls)", method, len(calls))
	}
	return sum
}

// dialect is what differs between the two backends' SQL for the bulk load
// and the checks.
type dialect struct {
	exec  func(ctx context.Context, sql string, args ...any) error
	count func(ctx context.Context, sql string, args ...any) (int, error)
	// ts converts a time to the backend's column type.
	ts func(time.Time) any
	// blob turns a text SQL expression into a byte-string one.
	blob func(expr string) string
	// tsType is the SQL type of time columns, for casting parameters.
	tsType string
}

// The bulk load, in rows. Prunable: sessions revoked long ago with their
// token, sessions expired long ago with a spent and an unspent token, old
// spent tokens of live sessions, and revocation entries whose access
// tokens have all expired. Kept: live sessions with their current token
// and recently spent ones, sessions revoked or idle-expired recently (within
// the idle lifetime), and revocation entries still needed.
const (
	nRevokedOld   = 5_000 // session + 1 token each
	nExpiredOld   = 5_000 // session + 2 tokens each
	nLive         = 1_000 // session + 1 unspent + 2 recently spent + 40 old spent tokens each
	oldSpentEach  = 40
	nStaleFeed    = 40_000
	nRevokedNew   = 500 // session + 1 token + a live feed entry each
	nIdleNew      = 500 // session + 1 token each
	wantPruned    = 2*nRevokedOld + 3*nExpiredOld + nLive*oldSpentEach + nStaleFeed
	wantSessions  = nLive + nRevokedNew + nIdleNew
	wantTokens    = 3*nLive + nRevokedNew + nIdleNew
	wantFeed      = nRevokedNew
	pruneBatch    = 1000
	concurrentOps = 4 // sessions rotated by the API while pruning runs
)

// bulkLoad inserts the rows with a few INSERT … SELECT statements over a
// generated series: $1 is the series length.
func bulkLoad(t *testing.T, d dialect, now time.Time) {
	t.Helper()
	ctx := context.Background()
	day := 24 * time.Hour
	at := func(days float64) any { return d.ts(now.Add(time.Duration(days * float64(day)))) }
	tsp := func(p string) string { return "CAST(" + p + " AS " + d.tsType + ")" }
	series := `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < $1) `
	sessions := func(prefix string, n int, created, expires, idle, revoked any, reason string) {
		t.Helper()
		err := d.exec(ctx, series+`INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, idle_expires_at,
			auth_time, transport, client_id, user_agent, ip, binding, revoked_at, revoke_reason)
			SELECT CAST($2 AS TEXT) || i, 'u', `+tsp("$3")+`, `+tsp("$3")+`, `+tsp("$4")+`, `+tsp("$5")+`, `+tsp("$3")+`,
			'body', 'c', 'ua', '192.0.2.1', '', `+tsp("$6")+`, CAST($7 AS TEXT) FROM g`,
			n, prefix, created, expires, idle, revoked, reason)
		if err != nil {
			t.Fatalf("insert %s sessions: %v", prefix, err)
		}
	}
	// tokens inserts, for each session prefix+i, per tokens named
	// tag-i-j (j = 1..per), created at created, spent at spent (nil:
	// unspent).
	tokens := func(prefix, tag string, n, per int, created, spent any) {
		t.Helper()
		err := d.exec(ctx, series+`, k(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM k WHERE j < $2)
			INSERT INTO refresh_tokens (hash, session_id, created_at, spent_at)
			SELECT `+d.blob(`CAST($3 AS TEXT) || i || '-' || j`)+`, CAST($4 AS TEXT) || i, `+tsp("$5")+`, `+tsp("$6")+` FROM g, k`,
			n, per, tag, prefix, created, spent)
		if err != nil {
			t.Fatalf("insert %s tokens: %v", tag, err)
		}
	}
	var none any = d.ts(time.Time{})

	sessions("dead-revoked-", nRevokedOld, at(-40), at(-10), at(30), at(-30), baton.ReasonLogout)
	tokens("dead-revoked-", "tdr-", nRevokedOld, 1, at(-40), none)
	sessions("dead-expired-", nExpiredOld, at(-60), at(-20), at(-25), none, "")
	tokens("dead-expired-", "tde-spent-", nExpiredOld, 1, at(-60), at(-26))
	tokens("dead-expired-", "tde-", nExpiredOld, 1, at(-26), none)

	sessions("live-", nLive, at(-3), at(27), at(4), none, "")
	tokens("live-", "tl-old-", nLive, oldSpentEach, at(-3), at(-10)) // spent before the idle lifetime: pruned
	tokens("live-", "tl-recent-", nLive, 2, at(-3), at(-1))
	tokens("live-", "tl-", nLive, 1, at(-1), none)
	sessions("live-revoked-", nRevokedNew, at(-3), at(27), at(4), at(-1), baton.ReasonLogout)
	tokens("live-revoked-", "tlr-", nRevokedNew, 1, at(-3), none)
	sessions("live-idle-", nIdleNew, at(-10), at(20), at(-2), none, "")
	tokens("live-idle-", "tli-", nIdleNew, 1, at(-10), none)

	feed := func(prefix string, n int, revoked, until any) {
		t.Helper()
		err := d.exec(ctx, series+`INSERT INTO revocations (session_id, revoked_at, until)
			SELECT CAST($2 AS TEXT) || i, `+tsp("$3")+`, `+tsp("$4")+` FROM g`,
			n, prefix, revoked, until)
		if err != nil {
			t.Fatalf("insert %s feed entries: %v", prefix, err)
		}
	}
	feed("stale-", nStaleFeed, at(-2), at(-1))
	feed("live-revoked-", nRevokedNew, d.ts(now.Add(-time.Minute)), d.ts(now.Add(time.Hour)))
}

// checkPruned asserts that exactly the prunable rows are gone.
func checkPruned(t *testing.T, d dialect, now, olderThan time.Time) {
	t.Helper()
	ctx := context.Background()
	for _, c := range []struct {
		what, sql string
		args      []any
		want      int
	}{
		{"dead sessions", `SELECT count(*) FROM sessions WHERE id LIKE 'dead-%'`, nil, 0},
		{"tokens of dead sessions", `SELECT count(*) FROM refresh_tokens WHERE session_id LIKE 'dead-%'`, nil, 0},
		{"tokens spent before the idle lifetime", `SELECT count(*) FROM refresh_tokens WHERE spent_at < $1`, []any{d.ts(olderThan)}, 0},
		{"stale feed entries", `SELECT count(*) FROM revocations WHERE until < $1`, []any{d.ts(now)}, 0},
		{"live sessions", `SELECT count(*) FROM sessions WHERE id LIKE 'live-%'`, nil, wantSessions},
		{"tokens of live sessions", `SELECT count(*) FROM refresh_tokens WHERE session_id LIKE 'live-%'`, nil, wantTokens},
		{"live feed entries", `SELECT count(*) FROM revocations WHERE session_id LIKE 'live-%'`, nil, wantFeed},
		{"sessions rotated during the prune", `SELECT count(*) FROM sessions WHERE id LIKE 'api-%'`, nil, concurrentOps},
	} {
		got, err := d.count(ctx, c.sql, c.args...)
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if got != c.want {
			t.Errorf("%s after pruning: got %d rows, want %d", c.what, got, c.want)
		}
	}
}

// runPrune runs Server.Prune on 100k+ prunable rows while sessions are
// rotated and read through the store, and checks the result.
func runPrune(t *testing.T, store baton.Store, d dialect, now time.Time) {
	t.Helper()
	ctx := context.Background()
	rec := &pruneRecorder{Store: store}
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"BATON_ISSUER": "http://baton.test", "BATON_DATA_DIR": t.TempDir()}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewWithStore(ctx, cfg, rec, server.Options{
		Logger: slog.New(slog.DiscardHandler),
		Now:    func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	olderThan := now.Add(-cfg.RefreshIdleTTL)

	// Sessions the "API" keeps using while the prune runs.
	hashOf := func(id string, n int) []byte {
		h := sha256.Sum256(fmt.Appendf(nil, "%s-%d", id, n))
		return h[:]
	}
	for i := range concurrentOps {
		id := fmt.Sprintf("api-%d", i)
		s := &baton.Session{ID: id, UserID: "u", CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(720 * time.Hour),
			IdleExpiresAt: now.Add(168 * time.Hour), AuthTime: now, Transport: baton.TransportBody, ClientID: "c", UserAgent: "ua", IP: "192.0.2.9"}
		if err := store.CreateSession(ctx, s, hashOf(id, 0)); err != nil {
			t.Fatal(err)
		}
	}

	var (
		pruned   int
		done     atomic.Bool
		finished = make(chan struct{})
	)
	start := time.Now()
	go func() {
		defer close(finished)
		pruned = srv.Prune(ctx)
		done.Store(true)
	}()
	// Rotate and read while the prune runs; every call must succeed, and
	// some must complete before the prune does (it lets requests through
	// between batches instead of holding the store for the whole job).
	var during int
	gen := make([]int, concurrentOps)
	for i := 0; !done.Load(); i = (i + 1) % concurrentOps {
		id := fmt.Sprintf("api-%d", i)
		at := time.Now().UTC().Truncate(time.Microsecond)
		err := store.Rotate(ctx, baton.Rotation{SessionID: id, OldHash: hashOf(id, gen[i]), NewHash: hashOf(id, gen[i]+1),
			Now: at, IdleExpiresAt: at.Add(168 * time.Hour), UserAgent: "ua", IP: "192.0.2.9"})
		if err != nil {
			t.Errorf("Rotate(%s) while pruning: %v", id, err)
			break
		}
		gen[i]++
		if _, err := store.Session(ctx, id); err != nil {
			t.Errorf("Session(%s) while pruning: %v", id, err)
			break
		}
		if !done.Load() {
			during++
		}
	}
	<-finished
	elapsed := time.Since(start)

	rec.mu.Lock()
	calls := rec.calls
	rec.mu.Unlock()
	sum := checkBatches(t, "Prune", calls)
	// The calls include any the server's own housekeeping made meanwhile.
	if sum != wantPruned || pruned == 0 || pruned > sum {
		t.Errorf("Server.Prune deleted %d rows (all Prune calls: %d), want %d in all", pruned, sum, wantPruned)
	}
	if during == 0 {
		t.Errorf("no Rotate+Session pair completed while the prune ran")
	}
	checkPruned(t, d, now, olderThan)
	for i := range concurrentOps {
		id := fmt.Sprintf("api-%d", i)
		tok, _, err := store.RefreshToken(ctx, hashOf(id, gen[i]))
		if err != nil || !tok.SpentAt.IsZero() {
			t.Errorf("current token of %s after the prune: %v, %v", id, tok, err)
		}
	}
	t.Logf("pruned %d rows in %d Prune calls (≤ %d each) in %v; %d Rotate+Session pairs completed meanwhile; %d sessions, %d tokens, %d feed entries kept",
		pruned, len(calls), pruneBatch, elapsed.Round(time.Millisecond), during, wantSessions, wantTokens, wantFeed)
}

var dollarParam = regexp.MustCompile(`\$(\d+)`)

// TestPruneLarge loads over 100,000 prunable rows (and a few thousand that
// must stay) straight into each backend's tables, then runs the server's
// housekeeping pass: everything prunable goes, in calls of at most 1000
// rows, every live row stays, and the store keeps serving meanwhile.
func TestPruneLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100k rows")
	}
	now := time.Now().UTC().Truncate(time.Microsecond)

	t.Run("SQLite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "baton.db")
		// Create the schema, then load the rows with a plain connection
		// while no store holds the file.
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		conv := func(q string) string { return dollarParam.ReplaceAllString(q, "?$1") }
		d := dialect{
			exec: func(ctx context.Context, q string, args ...any) error {
				_, err := raw.ExecContext(ctx, conv(q), args...)
				return err
			},
			count: func(ctx context.Context, q string, args ...any) (n int, err error) {
				err = raw.QueryRowContext(ctx, conv(q), args...).Scan(&n)
				return n, err
			},
			ts: func(t time.Time) any {
				if t.IsZero() {
					return nil
				}
				return t.UnixMicro()
			},
			blob:   func(expr string) string { return "CAST(" + expr + " AS BLOB)" },
			tsType: "INTEGER",
		}
		if err := d.exec(context.Background(), `INSERT INTO users (id, username, canonical_username, password_hash, created_at)
			VALUES ('u', 'u', 'u', 'h', $1)`, now.UnixMicro()); err != nil {
			t.Fatal(err)
		}
		bulkLoad(t, d, now)
		store, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		runPrune(t, store, d, now)
	})

	t.Run("PostgreSQL", func(t *testing.T) {
		url := pgtest.NewDatabase(t)
		ctx := context.Background()
		store, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		d := dialect{
			exec: func(ctx context.Context, q string, args ...any) error {
				_, err := conn.Exec(ctx, q, args...)
				return err
			},
			count: func(ctx context.Context, q string, args ...any) (n int, err error) {
				err = conn.QueryRow(ctx, q, args...).Scan(&n)
				return n, err
			},
			ts: func(t time.Time) any {
				if t.IsZero() {
					return nil
				}
				return t
			},
			blob:   func(expr string) string { return "convert_to(" + expr + ", 'UTF8')" },
			tsType: "timestamptz",
		}
		if err := d.exec(ctx, `INSERT INTO users (id, username, canonical_username, password_hash, created_at)
			VALUES ('u', 'u', 'u', 'h', $1)`, now); err != nil {
			t.Fatal(err)
		}
		bulkLoad(t, d, now)
		// Fresh statistics, as autovacuum would have them on a real
		// database, so the planner uses the prune indexes.
		if err := d.exec(ctx, `ANALYZE`); err != nil {
			t.Fatal(err)
		}
		runPrune(t, store, d, now)
	})
}

// TestPruneKeepsSpentTokensOfShortIdleSessions: with an idle lifetime of
// seconds, a session kept alive by frequent refreshes still detects the
// replay of a token it spent minutes ago after housekeeping ran: spent
// tokens are kept at least an hour.
func TestPruneKeepsSpentTokensOfShortIdleSessions(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	s := newTestServer(t, map[string]string{"BATON_REFRESH_IDLE_TTL": "2s", "BATON_REFRESH_TTL": "1h"}, clock, server.Options{})
	call(t, "POST", s.URL+"/v1/register", "", map[string]string{"username": "alice", "password": pw})
	first := call(t, "POST", s.URL+"/v1/login", "", map[string]string{"username": "alice", "password": pw}).str("refresh_token")
	rt := first
	for i := 0; i < 120; i++ { // two minutes of refreshing every second
		clock.Advance(time.Second)
		r := call(t, "POST", s.URL+"/v1/refresh", "", map[string]string{"refresh_token": rt})
		if r.status != 200 {
			t.Fatalf("refresh %d: %d %s", i, r.status, r.raw)
		}
		rt = r.str("refresh_token")
	}
	s.Prune(context.Background())
	if r := call(t, "POST", s.URL+"/v1/refresh", "", map[string]string{"refresh_token": first}); r.status != 401 {
		t.Fatalf("replay of the first token: got %d, want 401", r.status)
	}
	if r := call(t, "POST", s.URL+"/v1/refresh", "", map[string]string{"refresh_token": rt}); r.status != 401 {
		t.Fatalf("the current token after reuse was detected: got %d, want 401 (session revoked)", r.status)
	}
}

// TestPruneKeepsSpentTokensOfLongIdleClients: a registered client's
// sessions may idle longer than the server's own (--refresh-idle-ttl).
// Housekeeping keeps spent tokens for the longest idle lifetime, so a
// token spent hours ago in such a session, still alive, is detected as
// reused — and its session revoked — rather than forgotten and answered
// as unknown while whoever rotated it keeps the session.
func TestPruneKeepsSpentTokensOfLongIdleClients(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	s := batontest.NewServer(t, batontest.Env{"BATON_REFRESH_IDLE_TTL": "1h", "BATON_REFRESH_TTL": "720h"}, clock)
	registerUser(t, s.URL, "kim", "kim@example.com")
	c, secret := addClient(t, s, session.ClientSpec{Name: "Long idle", FirstParty: true,
		GrantTypes: []string{baton.GrantAuthorizationCode, baton.GrantRefreshToken}, RefreshIdleTTL: 48 * time.Hour})
	r := newRP(t, s.URL, c, secret)
	f := newFlow()
	q := signIn(t, newBrowser(t), r.authURL(f), "kim", pw)
	got := clientCall(t, s.URL+"/oauth/token", c.ID, secret, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {rpCallback}, "code_verifier": {f.verifier}}.Encode())
	refresh := func(rt string) reply {
		return clientCall(t, s.URL+"/oauth/token", c.ID, secret, "grant_type=refresh_token&refresh_token="+url.QueryEscape(rt))
	}
	stolen := got.str("refresh_token")
	next := refresh(stolen) // whoever holds the copy rotates first
	if next.status != 200 {
		t.Fatalf("refresh: %d %s", next.status, next.raw)
	}
	clock.Advance(3 * time.Hour) // past the server's idle lifetime, not the client's
	s.Prune(context.Background())
	if r := refresh(stolen); r.status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("the spent token: got %d %s, want 400 invalid_grant", r.status, r.raw)
	}
	if r := refresh(next.str("refresh_token")); r.status != 400 {
		t.Fatalf("the current token after reuse of its predecessor: got %d %s, want 400 (session revoked)", r.status, r.raw)
	}
}
