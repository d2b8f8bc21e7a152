package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/batonauth/baton/storetest"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// t0 is far from the real clock, so code reading time.Now() shows.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 891234000, time.UTC)

// mustOpen opens a store on the database at url, closed at cleanup.
func mustOpen(tb testing.TB, url string, opts ...Option) *DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := Open(ctx, url, opts...)
	if err != nil {
		tb.Fatalf("Open: got %v, want nil", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// newDB opens a store on a fresh database and returns it with the URL, for
// tests that open further stores (other "instances") on the same database.
func newDB(tb testing.TB) (*DB, string) {
	tb.Helper()
	url := pgtest.NewDatabase(tb)
	return mustOpen(tb, url), url
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func hashN(prefix string, n int) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	h := sha256.Sum256(append([]byte(prefix), b[:]...))
	return h[:]
}

func mustUser(tb testing.TB, db *DB, id string) {
	tb.Helper()
	u := &baton.User{ID: id, Username: id, CanonicalUsername: id, PasswordHash: "h", CreatedAt: t0}
	if err := db.CreateUser(context.Background(), u); err != nil {
		tb.Fatalf("CreateUser(%q): %v", id, err)
	}
}

func newSession(userID, id string) *baton.Session {
	return &baton.Session{
		ID: id, UserID: userID,
		CreatedAt: t0, LastUsedAt: t0, ExpiresAt: t0.Add(30 * 24 * time.Hour), IdleExpiresAt: t0.Add(7 * 24 * time.Hour),
		AuthTime: t0, Transport: baton.TransportBody, ClientID: "c", UserAgent: "ua", IP: "192.0.2.1",
	}
}

func mustSession(tb testing.TB, db *DB, userID, id string, token []byte) {
	tb.Helper()
	if err := db.CreateSession(context.Background(), newSession(userID, id), token); err != nil {
		tb.Fatalf("CreateSession(%q): %v", id, err)
	}
}

func rotation(sessionID string, old, new []byte, now time.Time) baton.Rotation {
	return baton.Rotation{SessionID: sessionID, OldHash: old, NewHash: new, Now: now,
		IdleExpiresAt: now.Add(7 * 24 * time.Hour), UserAgent: "ua", IP: "192.0.2.2"}
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	var e *baton.Error
	if err != nil && !errors.As(err, &e) {
		tb.Fatalf("got %T %v, want a *baton.Error with code %q", err, err, code)
	}
	if got := baton.ErrorCode(err); got != code {
		tb.Fatalf("got code %q (%v), want %q", got, err, code)
	}
}

// adminConn connects to the database at url outside any store, for
// inspecting it and for terminating the stores' backends.
func adminConn(tb testing.TB, url string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// terminate ends every backend of the database whose application_name is
// app, and returns how many it ended.
func terminate(tb testing.TB, admin *pgx.Conn, app string) int {
	tb.Helper()
	var n int
	err := admin.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
		FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1
		AND pid <> pg_backend_pid()`, app).Scan(&n)
	if err != nil {
		tb.Fatalf("terminate %s backends: %v", app, err)
	}
	return n
}

func TestOpen(t *testing.T) {
	t.Run("Unreachable", func(t *testing.T) {
		// Port 1 on loopback refuses at once; the deadline bounds it anyway.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := Open(ctx, "postgres://postgres@127.0.0.1:1/test?connect_timeout=2")
		wantCode(t, err, baton.EUnavailable)
	})
	t.Run("ConnectDeadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
		defer cancel()
		<-ctx.Done()
		_, err := Open(ctx, pgtest.AdminURL())
		wantCode(t, err, baton.EUnavailable)
	})
	t.Run("BadURL", func(t *testing.T) {
		_, err := Open(context.Background(), "postgres://%zz")
		wantCode(t, err, baton.EInternal)
	})
	t.Run("PoolMaxConns", func(t *testing.T) {
		url := pgtest.NewDatabase(t)
		db := mustOpen(t, url)
		if got, want := db.pool.Config().MaxConns, defaultMaxConns(); got != want {
			t.Errorf("default MaxConns: got %d, want %d", got, want)
		}
		db3 := mustOpen(t, withParam(url, "pool_max_conns", "3"))
		if got := db3.pool.Config().MaxConns; got != 3 {
			t.Errorf("MaxConns with pool_max_conns=3: got %d, want 3", got)
		}
	})
}

func TestMigrate(t *testing.T) {
	t.Run("ConcurrentInstances", func(t *testing.T) {
		// Instances starting together on a fresh database: every Open (and
		// so Migrate, each on its own pool) succeeds and each migration is
		// applied and recorded once.
		url := pgtest.NewDatabase(t)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		dbs := make([]*DB, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				dbs[i], errs[i] = Open(ctx, withParam(url, "pool_max_conns", "2"))
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Open #%d: got %v, want nil", i, err)
				continue
			}
			dbs[i].Close()
		}
		ms, err := migrations()
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, m := range ms {
			want = append(want, fmt.Sprintf("%d %s ×1", m.version, m.name))
		}
		conn := adminConn(t, url)
		rows, _ := conn.Query(context.Background(),
			`SELECT version, name, count(*) FROM schema_migrations GROUP BY version, name ORDER BY version`)
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			var v, c int64
			var name string
			err := r.Scan(&v, &name, &c)
			return fmt.Sprintf("%d %s ×%d", v, name, c), err
		})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("schema_migrations (-want +got):\n%s", d)
		}
	})
	t.Run("Again", func(t *testing.T) {
		db, _ := newDB(t)
		if err := db.Migrate(context.Background()); err != nil {
			t.Fatalf("second Migrate: got %v, want nil", err)
		}
	})
	t.Run("LockReleased", func(t *testing.T) {
		// Migrate gives its session lock back: another session can take it.
		db, url := newDB(t)
		_ = db
		conn := adminConn(t, url)
		var ok bool
		if err := conn.QueryRow(context.Background(), `SELECT pg_try_advisory_lock($1)`, lockMigrate).Scan(&ok); err != nil || !ok {
			t.Fatalf("pg_try_advisory_lock after Migrate: got %v, %v, want true, nil", ok, err)
		}
	})
}

// TestUpgradeFromV1 opens, with the current code, a database an earlier
// release (schema version 6, before email addresses and amr) created and
// stored a user and a session in: the session reads as a password's, the
// user logs in, and new users register with addresses.
func TestUpgradeFromV1(t *testing.T) {
	const v1 = 6
	url := pgtest.NewDatabase(t)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if ms[v1-1].version != v1 {
		t.Fatalf("migration %d is version %d", v1-1, ms[v1-1].version)
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, conn, ms[:v1]); err != nil {
		t.Fatalf("migrate to version %d: %v", v1, err)
	}
	u := storetest.NewLegacyUser(t)
	if _, err := conn.Exec(ctx, `INSERT INTO users (id, username, canonical_username, password_hash, created_at, locked_at, credential_gen)
		VALUES ($1, $2, $3, $4, $5, NULL, 0)`, u.ID, u.Username, u.CanonicalUsername, u.PasswordHash, u.CreatedAt); err != nil {
		t.Fatalf("insert a user into the version %d schema: %v", v1, err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, idle_expires_at, auth_time,
			transport, client_id, user_agent, ip, binding, revoked_at, revoke_reason, credential_gen)
		VALUES ($1, $2, $3, $3, $4, $4, $3, 'body', '', '', '', '', NULL, '', 0)`,
		u.SessionID, u.ID, u.SessionCreatedAt, u.SessionExpiresAt); err != nil {
		t.Fatalf("insert a session into the version %d schema: %v", v1, err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)`,
		u.RefreshHash, u.SessionID, u.SessionCreatedAt); err != nil {
		t.Fatalf("insert a refresh token into the version %d schema: %v", v1, err)
	}
	conn.Release()
	pool.Close()
	upgraded := mustOpen(t, url)
	// Migration 14 filled the prune index's copy of the idle expiry for
	// the sessions that were there, so housekeeping still finds them
	// (checked before anything rotates, which would set it anew).
	check, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close(ctx)
	var filled bool
	if err := check.QueryRow(ctx, `SELECT coalesce(idle_hour = date_trunc('hour', idle_expires_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', false)
		FROM sessions WHERE id = $1`, u.SessionID).Scan(&filled); err != nil || !filled {
		t.Fatalf("idle_hour of a session from before migration 14: filled %v, %v", filled, err)
	}
	storetest.CheckUpgraded(t, upgraded, u)
}

func TestRotate(t *testing.T) {
	db, url := newDB(t)
	ctx := context.Background()
	mustUser(t, db, "u")

	t.Run("ConcurrentInstances", func(t *testing.T) {
		// Two "processes" (pools) race many rotations of one token: exactly
		// one wins, every loser gets EConflict, and the winner's token is
		// the session's only unspent one.
		other := mustOpen(t, url)
		for round := range 5 {
			sid := fmt.Sprintf("race-%d", round)
			old := hashN(sid, 0)
			mustSession(t, db, "u", sid, old)
			const n = 16
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				store := db
				if i%2 == 1 {
					store = other
				}
				wg.Go(func() {
					<-start
					errs[i] = store.Rotate(ctx, rotation(sid, old, hashN(sid, i+1), t0.Add(time.Second)))
				})
			}
			close(start)
			wg.Wait()
			got := map[string]int{}
			winner := -1
			for i, err := range errs {
				got[baton.ErrorCode(err)]++
				if err == nil {
					winner = i
				}
			}
			if d := cmp.Diff(map[string]int{"": 1, baton.EConflict: n - 1}, got); d != "" {
				t.Fatalf("round %d outcomes by code (-want +got):\n%s", round, d)
			}
			var unspent [][]byte
			rows, _ := db.pool.Query(ctx, `SELECT hash FROM refresh_tokens WHERE session_id = $1 AND spent_at IS NULL`, sid)
			unspent, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff([][]byte{hashN(sid, winner+1)}, unspent); d != "" {
				t.Errorf("round %d unspent tokens (-want +got):\n%s", round, d)
			}
		}
	})

	t.Run("RaceWithRevoke", func(t *testing.T) {
		// A rotation racing a revocation either lands before it (and the
		// new token is then dead with the session) or fails with
		// EConflict; never does a token of a revoked session stay usable.
		for round := range 10 {
			sid := fmt.Sprintf("revrace-%d", round)
			old := hashN(sid, 0)
			mustSession(t, db, "u", sid, old)
			var rotErr, revErr error
			var wg sync.WaitGroup
			wg.Go(func() { rotErr = db.Rotate(ctx, rotation(sid, old, hashN(sid, 1), t0)) })
			wg.Go(func() {
				_, revErr = db.RevokeSession(ctx, sid, baton.Revoke{Now: t0, Until: t0.Add(time.Hour), Reason: baton.ReasonUser})
			})
			wg.Wait()
			if revErr != nil {
				t.Fatalf("RevokeSession: %v", revErr)
			}
			if rotErr != nil {
				wantCode(t, rotErr, baton.EConflict)
			}
			err := db.Rotate(ctx, rotation(sid, hashN(sid, 1), hashN(sid, 2), t0))
			if rotErr == nil {
				wantCode(t, err, baton.EConflict)
			} else {
				wantCode(t, err, baton.ENotFound)
			}
		}
	})

	t.Run("WrongSession", func(t *testing.T) {
		mustSession(t, db, "u", "mine", hashOf("mine-0"))
		mustSession(t, db, "u", "theirs", hashOf("theirs-0"))
		err := db.Rotate(ctx, rotation("theirs", hashOf("mine-0"), hashOf("mine-1"), t0))
		wantCode(t, err, baton.ENotFound)
		tok, _, err := db.RefreshToken(ctx, hashOf("mine-0"))
		if err != nil || !tok.SpentAt.IsZero() {
			t.Fatalf("token after a rotation into another session: got %+v, %v, want unspent", tok, err)
		}
	})

	t.Run("DuplicateNewHash", func(t *testing.T) {
		mustSession(t, db, "u", "dup", hashOf("dup-0"))
		err := db.Rotate(ctx, rotation("dup", hashOf("dup-0"), hashOf("mine-0"), t0))
		wantCode(t, err, baton.EConflict)
		tok, _, err := db.RefreshToken(ctx, hashOf("dup-0"))
		if err != nil || !tok.SpentAt.IsZero() {
			t.Fatalf("token after a failed rotation: got %+v, %v, want unspent (the statement rolled back)", tok, err)
		}
	})
}

func TestRevocationFeedCommitOrder(t *testing.T) {
	// While one revoking transaction is open, another revocation cannot take
	// a sequence number; it gets the next one only after the first commits.
	// So a reader can never see seq N+1 while N is still invisible.
	db, _ := newDB(t)
	ctx := context.Background()
	mustUser(t, db, "u")
	mustSession(t, db, "u", "first", hashOf("first"))
	mustSession(t, db, "u", "second", hashOf("second"))
	r := baton.Revoke{Now: t0, Until: t0.Add(time.Hour), Reason: baton.ReasonAdmin}

	tx, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := lockRevocationFeed(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if _, err := revokeSessions(ctx, tx, `id = $4`, r, "first"); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := db.RevokeSession(ctx, "second", r)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("RevokeSession finished (%v) while an earlier revoking transaction was open", err)
	case <-time.After(300 * time.Millisecond):
	}
	feed, err := db.Revocations(ctx, 0, t0, 10)
	if err != nil || len(feed) != 0 {
		t.Fatalf("feed while both are uncommitted: got %v, %v, want empty", feed, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	feed, err = db.Revocations(ctx, 0, t0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range feed {
		got = append(got, e.SessionID)
	}
	if d := cmp.Diff([]string{"first", "second"}, got); d != "" || feed[0].Seq >= feed[1].Seq {
		t.Errorf("feed in seq order (-want +got):\n%s%v", d, feed)
	}
}

func TestEnsureKeyConcurrentInstances(t *testing.T) {
	// Instances starting together on an empty store, each with its own
	// pool and its own candidate key, end up with the same single key.
	_, url := newDB(t)
	const n = 6
	dbs := make([]*DB, n)
	for i := range n {
		dbs[i] = mustOpen(t, withParam(url, "pool_max_conns", "2"))
	}
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			k := &baton.Key{ID: fmt.Sprintf("k%d", i), Use: baton.KeyUseRotation, Algorithm: "HS256",
				Secret: []byte{byte(i)}, CreatedAt: t0.Add(time.Duration(i) * time.Microsecond)}
			var key *baton.Key
			key, errs[i] = dbs[i].EnsureKey(context.Background(), k)
			if key != nil {
				got[i] = key.ID
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("EnsureKey #%d: %v", i, errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("EnsureKey results: got %v, want one id", got)
		}
	}
	keys, err := dbs[0].Keys(context.Background())
	if err != nil || len(keys) != 1 || keys[0].ID != got[0] {
		t.Fatalf("Keys: got %v, %v, want just %s", keys, err, got[0])
	}
}

func TestTextRepair(t *testing.T) {
	// A hostile User-Agent (NUL, invalid UTF-8) is stored repaired rather
	// than failing the login or the refresh.
	db, _ := newDB(t)
	ctx := context.Background()
	mustUser(t, db, "u")
	s := newSession("u", "s")
	s.UserAgent = "evil\x00agent\xff"
	if err := db.CreateSession(ctx, s, hashOf("t0")); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	r := rotation("s", hashOf("t0"), hashOf("t1"), t0)
	r.UserAgent, r.IP = "\xc3", "1.2.3.4\x00"
	if err := db.Rotate(ctx, r); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	got, err := db.Session(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if got.UserAgent != "\uFFFD" || got.IP != "1.2.3.4\uFFFD" {
		t.Errorf("repaired text: got %q, %q, want %q, %q", got.UserAgent, got.IP, "\uFFFD", "1.2.3.4\uFFFD")
	}
	e := &baton.AuditEvent{Time: t0, Type: "login", Detail: "a\x00b"}
	if err := db.AppendAudit(ctx, e); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	// Other text is not repaired: a username with a NUL is refused as
	// invalid input, not as an internal error.
	u := &baton.User{ID: "n", Username: "a\x00b", CanonicalUsername: "a\x00b", PasswordHash: "h", CreatedAt: t0}
	wantCode(t, db.CreateUser(ctx, u), baton.EInvalidRequest)
}

func TestUsersByteOrder(t *testing.T) {
	// Paging is by byte order whatever the database's collation.
	db, _ := newDB(t)
	for _, name := range []string{"éclair", "zed", "Zed", "apple", "_x"} {
		u := &baton.User{ID: "id-" + name, Username: name, CanonicalUsername: name, PasswordHash: "h", CreatedAt: t0}
		if err := db.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	us, err := db.Users(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range us {
		got = append(got, u.CanonicalUsername)
	}
	if d := cmp.Diff([]string{"Zed", "_x", "apple", "zed", "éclair"}, got); d != "" {
		t.Errorf("Users order (-want +got):\n%s", d)
	}
}

func TestFormatError(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode string
	}{
		{"Nil", nil, ""},
		{"UsernameTaken", &pgconn.PgError{Code: "23505", ConstraintName: constraintUsername}, baton.EUsernameTaken},
		{"EmailTaken", &pgconn.PgError{Code: "23505", ConstraintName: constraintEmail}, baton.EEmailTaken},
		{"UniqueViolation", &pgconn.PgError{Code: "23505", ConstraintName: "keys_pkey"}, baton.EConflict},
		{"SerializationFailure", &pgconn.PgError{Code: "40001"}, baton.EUnavailable},
		{"Deadlock", &pgconn.PgError{Code: "40P01"}, baton.EUnavailable},
		{"AdminShutdown", &pgconn.PgError{Code: "57P01"}, baton.EUnavailable},
		{"CannotConnectNow", &pgconn.PgError{Code: "57P03"}, baton.EUnavailable},
		{"ConnectionFailure", &pgconn.PgError{Code: "08006"}, baton.EUnavailable},
		{"TooManyConnections", &pgconn.PgError{Code: "53300"}, baton.EUnavailable},
		{"StatementTimeout", &pgconn.PgError{Code: "57014"}, baton.EUnavailable},
		{"ReadOnlyStandby", &pgconn.PgError{Code: "25006"}, baton.EUnavailable},
		{"SyntaxError", &pgconn.PgError{Code: "42601"}, baton.EInternal},
		{"InvalidUTF8", &pgconn.PgError{Code: "22021"}, baton.EInvalidRequest},
		{"NoRows", pgx.ErrNoRows, baton.ENotFound},
		{"EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), baton.EUnavailable},
		{"ConnClosed", fmt.Errorf("x: %w", pgconn.ErrConnClosed), baton.EUnavailable},
		{"Deadline", context.DeadlineExceeded, baton.EUnavailable},
		{"Canceled", context.Canceled, baton.EUnavailable},
		{"CommitRollback", pgx.ErrTxCommitRollback, baton.EUnavailable},
		{"ClosedPool", errors.New("closed pool"), baton.EUnavailable},
		{"Other", errors.New("cannot scan"), baton.EInternal},
		{"BatonError", baton.Errorf(baton.ENotFound, "x"), baton.ENotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := formatError("op", tt.err)
			wantCode(t, err, tt.wantCode)
			if err != nil && tt.wantCode != baton.ENotFound && !errors.Is(err, tt.err) {
				t.Errorf("cause lost: %v does not wrap %v", err, tt.err)
			}
			if err != nil && strings.Contains(baton.ErrorMessage(err), "SQLSTATE") {
				t.Errorf("safe message leaks the driver error: %q", baton.ErrorMessage(err))
			}
		})
	}
}

// queryCounter counts the statements a pool sends and the statements it
// prepares (each a round trip of its own).
type queryCounter struct{ queries, prepares atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.queries.Add(1)
	return ctx
}
func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *queryCounter) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	c.prepares.Add(1)
	return ctx
}
func (c *queryCounter) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

func TestRotateOneRoundTrip(t *testing.T) {
	// The hot path is one statement: with pgx's statement cache warm, that
	// is Bind/Execute/Sync in one write and one answer.
	_, url := newDB(t)
	cfg, err := pgxpool.ParseConfig(withParam(url, "pool_max_conns", "1"))
	if err != nil {
		t.Fatal(err)
	}
	var c queryCounter
	cfg.ConnConfig.Tracer = &c
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := &DB{pool: pool, done: make(chan struct{})}
	defer db.Close()
	ctx := context.Background()
	mustUser(t, db, "u")
	mustSession(t, db, "u", "s", hashN("s", 0))
	if err := db.Rotate(ctx, rotation("s", hashN("s", 0), hashN("s", 1), t0)); err != nil {
		t.Fatal(err) // warms the statement cache
	}
	tests := []struct {
		name     string
		old, new int
		wantCode string
		wantN    int64
	}{
		{"OK", 1, 2, "", 1},
		{"Spent", 1, 3, baton.EConflict, 2}, // the failure path reads once more
	}
	for _, tt := range tests {
		c.queries.Store(0)
		c.prepares.Store(0)
		err := db.Rotate(ctx, rotation("s", hashN("s", tt.old), hashN("s", tt.new), t0))
		wantCode(t, err, tt.wantCode)
		if q, p := c.queries.Load(), c.prepares.Load(); q != tt.wantN || (tt.name == "OK" && p != 0) {
			t.Errorf("%s: got %d statements, %d prepares, want %d, 0", tt.name, q, p, tt.wantN)
		}
	}
}

// TestDamagedAMR: a stored amr that baton.FormatAMR would not have written
// makes every read of its session fail as internal, never a token with
// methods nobody checked.
func TestDamagedAMR(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	mustUser(t, db, "u1")
	mustSession(t, db, "u1", "s1", hashOf("t0"))
	for _, stored := range []string{"otp pwd", "pwd pwd", "pwd,otp", "sms", " pwd"} {
		if _, err := db.pool.Exec(ctx, `UPDATE sessions SET amr = $1 WHERE id = 's1'`, stored); err != nil {
			t.Fatal(err)
		}
		_, err := db.Session(ctx, "s1")
		wantCode(t, err, baton.EInternal)
		_, _, err = db.RefreshToken(ctx, hashOf("t0"))
		wantCode(t, err, baton.EInternal)
		_, err = db.Sessions(ctx, "u1", t0, baton.SessionPage{Limit: 10})
		wantCode(t, err, baton.EInternal)
	}
}
