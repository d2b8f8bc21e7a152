package sqlite

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/storetest"
	"github.com/google/go-cmp/cmp"
	"modernc.org/sqlite"
)

var ctx = context.Background()

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)

// mustOpen opens a database file in a fresh temporary directory; never
// :memory:, where each pooled connection would get its own database.
func mustOpen(tb testing.TB) *DB {
	tb.Helper()
	return mustOpenPath(tb, filepath.Join(tb.TempDir(), "baton.db"))
}

func mustOpenPath(tb testing.TB, path string) *DB {
	tb.Helper()
	db, err := Open(path)
	if err != nil {
		tb.Fatalf("Open: got %v, want nil", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: got %v, want nil", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) baton.Store { return mustOpen(t) })
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// fixture creates user u1 with session s1 whose current token is "t0".
func fixture(t testing.TB, db *DB) {
	t.Helper()
	if err := db.CreateUser(ctx, &baton.User{ID: "u1", Username: "U1", CanonicalUsername: "u1", PasswordHash: "h", CreatedAt: t0}); err != nil {
		t.Fatalf("CreateUser: got %v, want nil", err)
	}
	createSession(t, db, "s1", "t0")
}

func createSession(t testing.TB, db *DB, id, token string) {
	t.Helper()
	s := &baton.Session{ID: id, UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(720 * time.Hour), IdleExpiresAt: t0.Add(168 * time.Hour)}
	if err := db.CreateSession(ctx, s, hash(token)); err != nil {
		t.Fatalf("CreateSession(%q): got %v, want nil", id, err)
	}
}

func rotation(session, old, new string) baton.Rotation {
	return baton.Rotation{SessionID: session, OldHash: hash(old), NewHash: hash(new),
		Now: t0.Add(time.Hour), IdleExpiresAt: t0.Add(169 * time.Hour)}
}

// blockWriter occupies the writer with an op that waits, so the test can
// queue writes that must then run as one batch. It returns a function that
// lets the writer go on.
func blockWriter(t *testing.T, db *DB) (release func()) {
	t.Helper()
	running, proceed := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.write(ctx, "block", func(*tx) error {
			close(running)
			<-proceed
			return nil
		})
	}()
	<-running
	return func() {
		close(proceed)
		if err := <-done; err != nil {
			t.Errorf("blocking op: got %v, want nil", err)
		}
	}
}

// waitQueued waits until n writes wait in the writer's queue.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(db.w.queue) < n {
		if time.Now().After(deadline) {
			t.Fatalf("queued writes: got %d, want %d", len(db.w.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *baton.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Errorf("got error %v, want a *baton.Error with code %q", err, code)
	}
}

func TestOpen(t *testing.T) {
	t.Run("FileMode", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "baton.db")
		mustOpenPath(t, path)
		// The -wal file inherits the mode; it holds the same secrets.
		for _, p := range []string{path, path + "-wal"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("Stat(%s): got %v, want nil", p, err)
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("mode of %s: got %v, want %v", filepath.Base(p), got, fs.FileMode(0o600))
			}
		}
	})
	t.Run("NotAFile", func(t *testing.T) {
		for _, path := range []string{"", ":memory:", "file::memory:?cache=shared", filepath.Join(t.TempDir(), "x.db?mode=ro")} {
			if db, err := Open(path); err == nil {
				db.Close()
				t.Errorf("Open(%q): got nil error, want one", path)
			}
		}
	})
	t.Run("MissingDirectory", func(t *testing.T) {
		if db, err := Open(filepath.Join(t.TempDir(), "missing", "baton.db")); err == nil {
			db.Close()
			t.Errorf("Open in a missing directory: got nil error, want one")
		}
	})
}

// TestPragmas checks the durability settings are in force on the
// connections that use them, not only written in the DSN.
func TestPragmas(t *testing.T) {
	db := mustOpen(t)
	want := map[string]int64{"synchronous": 2, "foreign_keys": 1, "busy_timeout": busyTimeout.Milliseconds()}
	err := db.write(ctx, "pragmas", func(tx *tx) error {
		var mode string
		if err := tx.conn.QueryRowContext(tx.ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			return err
		}
		if mode != "wal" {
			t.Errorf("writer journal_mode: got %q, want wal", mode)
		}
		for name, want := range want {
			var got int64
			if err := tx.conn.QueryRowContext(tx.ctx, `PRAGMA `+name).Scan(&got); err != nil {
				return err
			}
			if got != want {
				t.Errorf("writer %s: got %d, want %d", name, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("write: got %v, want nil", err)
	}

	var queryOnly int
	if err := db.read.QueryRowContext(ctx, `PRAGMA query_only`).Scan(&queryOnly); err != nil || queryOnly != 1 {
		t.Errorf("reader query_only: got %d, %v, want 1, nil", queryOnly, err)
	}
	if _, err := db.read.ExecContext(ctx, `INSERT INTO keys (id, use, algorithm, secret, created_at) VALUES ('k', 'sig', 'EdDSA', x'00', 1)`); err == nil {
		t.Errorf("write through the read pool: got nil error, want one")
	}
}

// TestGroupCommit checks that writes queued while the writer is busy are
// committed together: one fsync for the lot.
func TestGroupCommit(t *testing.T) {
	const n = 64
	db := mustOpen(t)
	fixture(t, db)
	for i := range n {
		createSession(t, db, fmt.Sprint("g", i), fmt.Sprint("g", i, "-0"))
	}

	release := blockWriter(t, db)
	commits := db.w.commits.Load()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = db.Rotate(ctx, rotation(fmt.Sprint("g", i), fmt.Sprint("g", i, "-0"), fmt.Sprint("g", i, "-1")))
		})
	}
	waitQueued(t, db, n)
	release()
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Errorf("Rotate %d: got %v, want nil", i, err)
		}
	}
	// The blocking op's batch, then all n rotations in one.
	if got := db.w.commits.Load() - commits; got != 2 {
		t.Errorf("commits for %d rotations queued together: got %d, want 2 (the blocker's and one batch)", n, got)
	}

	// Without the blocker, concurrent callers still share commits.
	commits, ops := db.w.commits.Load(), db.w.ops.Load()
	for i := range n {
		wg.Go(func() {
			errs[i] = db.Rotate(ctx, rotation(fmt.Sprint("g", i), fmt.Sprint("g", i, "-1"), fmt.Sprint("g", i, "-2")))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Rotate %d: got %v, want nil", i, err)
		}
	}
	gotCommits, gotOps := db.w.commits.Load()-commits, db.w.ops.Load()-ops
	t.Logf("%d concurrent rotations: %d commits", gotOps, gotCommits)
	if gotOps != n || gotCommits >= gotOps {
		t.Errorf("concurrent rotations: got %d ops in %d commits, want %d ops in fewer commits", gotOps, gotCommits, n)
	}
}

// TestBatchIsolation checks that ops failing inside a batch neither fail nor
// undo their neighbours, and that their own writes are undone.
func TestBatchIsolation(t *testing.T) {
	db := mustOpen(t)
	fixture(t, db)
	createSession(t, db, "s2", "u0")
	if err := db.Rotate(ctx, rotation("s1", "t0", "t1")); err != nil {
		t.Fatalf("Rotate: got %v, want nil", err)
	}

	release := blockWriter(t, db)
	commits := db.w.commits.Load()
	errFailing := errors.New("failing op")
	ops := []struct {
		name string
		fn   func() error
		want string // error code, "" for success
	}{
		{"RotateOK", func() error { return db.Rotate(ctx, rotation("s1", "t1", "t2")) }, ""},
		{"RotateSpent", func() error { return db.Rotate(ctx, rotation("s1", "t0", "x")) }, baton.EConflict},
		{"UsernameTaken", func() error {
			return db.CreateUser(ctx, &baton.User{ID: "u2", CanonicalUsername: "u1", CreatedAt: t0})
		}, baton.EUsernameTaken},
		{"WritesThenFails", func() error {
			return db.write(ctx, "failing", func(tx *tx) error {
				if err := tx.exec(`INSERT INTO audit_events (time, type, user_id, session_id, ip, user_agent, outcome, detail)
					VALUES (1, 'x', '', '', '', '', '', '')`); err != nil {
					return err
				}
				return errFailing
			})
		}, baton.EInternal},
		{"Panics", func() error {
			return db.write(ctx, "panicking", func(tx *tx) error {
				if err := tx.exec(`INSERT INTO audit_events (time, type, user_id, session_id, ip, user_agent, outcome, detail)
					VALUES (2, 'y', '', '', '', '', '', '')`); err != nil {
					return err
				}
				panic("bug")
			})
		}, baton.EInternal},
		{"RotateOtherOK", func() error { return db.Rotate(ctx, rotation("s2", "u0", "u1")) }, ""},
	}
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() { errs[i] = op.fn() })
		waitQueued(t, db, i+1) // queue them in this order
	}
	release()
	wg.Wait()

	for i, op := range ops {
		if got := baton.ErrorCode(errs[i]); got != op.want {
			t.Errorf("%s: got %v, want code %q", op.name, errs[i], op.want)
		}
	}
	if !errors.Is(errs[3], errFailing) {
		t.Errorf("failing op: got %v, want its own error as the cause", errs[3])
	}
	if got := db.w.commits.Load() - commits; got != 2 {
		t.Errorf("commits: got %d, want 2 (the blocker's and one batch)", got)
	}
	for _, h := range []string{"t2", "u1"} {
		if tok, _, err := db.RefreshToken(ctx, hash(h)); err != nil || !tok.SpentAt.IsZero() {
			t.Errorf("RefreshToken(%s): got %v, %v, want an unspent token", h, tok, err)
		}
	}
	events, err := db.AuditEvents(ctx, 0, 10)
	if err != nil || len(events) != 0 {
		t.Errorf("audit events written by failed ops: got %v, %v, want none", events, err)
	}
}

// TestCommitFailure checks that when the commit fails every op of the batch
// gets the error and none of their writes stays, and that the writer goes on.
func TestCommitFailure(t *testing.T) {
	db := mustOpen(t)
	release := blockWriter(t, db)
	ops := []func() error{
		func() error { return db.AppendAudit(ctx, &baton.AuditEvent{Time: t0, Type: "innocent"}) },
		func() error {
			// A deferred foreign key violation passes the statement and fails
			// the COMMIT.
			return db.write(ctx, "poison", func(tx *tx) error {
				if _, err := tx.conn.ExecContext(tx.ctx, `PRAGMA defer_foreign_keys = ON`); err != nil {
					return err
				}
				return tx.exec(`INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES (x'01', 'no such session', 1)`)
			})
		},
		func() error { return db.AppendAudit(ctx, &baton.AuditEvent{Time: t0, Type: "innocent too"}) },
	}
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() { errs[i] = op() })
		waitQueued(t, db, i+1)
	}
	commits := db.w.commits.Load()
	release()
	wg.Wait()
	for i, err := range errs {
		// Internal, not the constraint's not_found: the batch failed.
		wantCode(t, err, baton.EInternal)
		var se *sqlite.Error
		if !errors.As(err, &se) {
			t.Errorf("op %d: got %v, want the commit's driver error as the cause", i, err)
		}
	}
	if got := db.w.commits.Load() - commits; got != 1 {
		t.Errorf("commits: got %d, want 1 (the blocker's)", got)
	}
	if err := db.AppendAudit(ctx, &baton.AuditEvent{Time: t0, Type: "after"}); err != nil {
		t.Fatalf("AppendAudit after a failed commit: got %v, want nil", err)
	}
	events, err := db.AuditEvents(ctx, 0, 10)
	if err != nil || len(events) != 1 || events[0].Type != "after" {
		t.Errorf("audit events: got %v, %v, want only the one written after", events, err)
	}
}

// TestCanceledBeforeRun checks that a write whose caller gave up before its
// batch started never runs.
func TestCanceledBeforeRun(t *testing.T) {
	db := mustOpen(t)
	release := blockWriter(t, db)
	cctx, cancel := context.WithCancel(ctx)
	var ran atomic.Bool
	done := make(chan error, 1)
	go func() {
		done <- db.write(cctx, "canceled", func(*tx) error {
			ran.Store(true)
			return nil
		})
	}()
	waitQueued(t, db, 1)
	cancel()
	err := <-done
	release()
	// A later write runs after the abandoned one was skipped.
	if err := db.AppendAudit(ctx, &baton.AuditEvent{Time: t0, Type: "x"}); err != nil {
		t.Fatalf("AppendAudit: got %v, want nil", err)
	}
	wantCode(t, err, baton.EUnavailable)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled as the cause", err)
	}
	if ran.Load() {
		t.Errorf("canceled op ran, want it skipped")
	}
}

// TestCanceledAfterRun checks that a caller whose ctx ends while its write
// runs gets the write's real outcome.
func TestCanceledAfterRun(t *testing.T) {
	db := mustOpen(t)
	cctx, cancel := context.WithCancel(ctx)
	var seq int64
	err := db.write(cctx, "cancel inside", func(tx *tx) error {
		res, err := tx.execResult(`INSERT INTO audit_events (time, type, user_id, session_id, ip, user_agent, outcome, detail)
			VALUES (1, 'x', '', '', '', '', '', '')`)
		if err != nil {
			return err
		}
		cancel()
		seq, err = res.LastInsertId()
		return err
	})
	if err != nil {
		t.Fatalf("write: got %v, want nil (it committed)", err)
	}
	events, err := db.AuditEvents(ctx, 0, 10)
	if err != nil || len(events) != 1 || events[0].Seq != seq {
		t.Errorf("AuditEvents: got %v, %v, want the one committed event", events, err)
	}
}

// TestClose checks that Close lets queued writes finish and that later calls
// fail with EUnavailable.
func TestClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "baton.db")
	db, err := Open(path)
	if err != nil {
		t.Fatalf("Open: got %v, want nil", err)
	}
	const n = 8
	release := blockWriter(t, db)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = db.AppendAudit(ctx, &baton.AuditEvent{Time: t0, Type: fmt.Sprint("e", i)})
		})
	}
	waitQueued(t, db, n)
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d queued before Close: got %v, want nil", i, err)
		}
	}
	wantCode(t, db.AppendAudit(ctx, &baton.AuditEvent{Time: t0, Type: "late"}), baton.EUnavailable)
	wantCode(t, db.Ping(ctx), baton.EUnavailable)
	_, err = db.UserByID(ctx, "u1")
	wantCode(t, err, baton.EUnavailable)
	if err := db.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}

	db = mustOpenPath(t, path)
	if events, err := db.AuditEvents(ctx, 0, 100); err != nil || len(events) != n {
		t.Errorf("events after reopening: got %d, %v, want %d", len(events), err, n)
	}
}

// TestReopen checks that everything committed is there after closing and
// opening the file again.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "baton.db")
	db, err := Open(path)
	if err != nil {
		t.Fatalf("Open: got %v, want nil", err)
	}
	fixture(t, db)
	if err := db.Rotate(ctx, rotation("s1", "t0", "t1")); err != nil {
		t.Fatalf("Rotate: got %v, want nil", err)
	}
	if _, err := db.RevokeSession(ctx, "s1", baton.Revoke{Now: t0.Add(2 * time.Hour), Until: t0.Add(3 * time.Hour), Reason: baton.ReasonLogout}); err != nil {
		t.Fatalf("RevokeSession: got %v, want nil", err)
	}
	key := &baton.Key{ID: "k1", Use: baton.KeyUseSigning, Algorithm: "EdDSA", Secret: []byte("s"), Public: []byte("p"), CreatedAt: t0}
	if err := db.InsertKey(ctx, key); err != nil {
		t.Fatalf("InsertKey: got %v, want nil", err)
	}
	if err := db.AppendAudit(ctx, &baton.AuditEvent{Time: t0, Type: "login", UserID: "u1"}); err != nil {
		t.Fatalf("AppendAudit: got %v, want nil", err)
	}

	type snapshot struct {
		User     *baton.User
		Session  *baton.Session
		Token    *baton.RefreshToken
		Revs     []baton.Revocation
		Keys     []*baton.Key
		Audit    []*baton.AuditEvent
		Sessions []*baton.Session
	}
	take := func(db *DB) snapshot {
		t.Helper()
		var s snapshot
		var errs [7]error
		s.User, errs[0] = db.UserByID(ctx, "u1")
		s.Session, errs[1] = db.Session(ctx, "s1")
		s.Token, _, errs[2] = db.RefreshToken(ctx, hash("t0"))
		s.Revs, errs[3] = db.Revocations(ctx, 0, t0, 10)
		s.Keys, errs[4] = db.Keys(ctx)
		s.Audit, errs[5] = db.AuditEvents(ctx, 0, 10)
		s.Sessions, errs[6] = db.Sessions(ctx, "u1", t0, baton.SessionPage{Limit: 100})
		if err := errors.Join(errs[:]...); err != nil {
			t.Fatalf("reading: got %v, want nil", err)
		}
		return s
	}
	before := take(db)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	after := take(mustOpenPath(t, path))
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("after reopening (-before +after):\n%s", d)
	}
	if before.Token.SpentAt.IsZero() || before.Session.RevokedAt.IsZero() || len(before.Revs) != 1 {
		t.Errorf("snapshot is missing the writes it should hold: %+v", before)
	}
}

// TestKill9 kills a process that is writing and checks that every write it
// acknowledged is in the file: the answer comes after the commit, never
// before. (Power loss is what synchronous=FULL adds; a test cannot pull the
// plug.)
func TestKill9(t *testing.T) {
	path := filepath.Join(t.TempDir(), "baton.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), "BATON_SQLITE_CRASH_DB="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	sc := bufio.NewScanner(out)
	for len(acked) < 300 && sc.Scan() {
		if typ, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			acked[typ] = true
		}
	}
	cmd.Process.Kill() // SIGKILL: no deferred Close, no checkpoint
	cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged %d writes before stopping, want 300 (scan error: %v)", len(acked), sc.Err())
	}

	db := mustOpenPath(t, path)
	events, err := db.AuditEvents(ctx, 0, 100000)
	if err != nil {
		t.Fatalf("AuditEvents: got %v, want nil", err)
	}
	stored := map[string]bool{}
	for _, e := range events {
		stored[e.Type] = true
	}
	lost := 0
	for typ := range acked {
		if !stored[typ] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost after kill -9", lost, len(acked))
	}
}

// TestCrashChild is the process TestKill9 kills: it writes from several
// goroutines and prints each write it got an answer for.
func TestCrashChild(t *testing.T) {
	path := os.Getenv("BATON_SQLITE_CRASH_DB")
	if path == "" {
		t.Skip("helper process of TestKill9")
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				typ := fmt.Sprintf("g%d-%d", g, i)
				if err := db.AppendAudit(ctx, &baton.AuditEvent{Time: t0, Type: typ}); err != nil {
					fmt.Println("error", err)
					return
				}
				mu.Lock()
				fmt.Println("ack", typ)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "baton.db")
	db := mustOpenPath(t, path)
	fixture(t, db)
	for range 2 {
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate again: got %v, want nil", err)
		}
	}
	again := mustOpenPath(t, path) // a second process opening the same file
	if _, err := again.UserByID(ctx, "u1"); err != nil {
		t.Errorf("UserByID after migrating again: got %v, want nil", err)
	}

	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var versions, newest int
	if err := db.queryRow(ctx, `SELECT count(*), max(version) FROM schema_migrations`).Scan(&versions, &newest); err != nil {
		t.Fatalf("schema_migrations: got %v, want nil", err)
	}
	if versions != len(files) || newest != len(files) {
		t.Errorf("schema_migrations: got %d rows up to version %d, want %d up to %d", versions, newest, len(files), len(files))
	}

	t.Run("NewerSchema", func(t *testing.T) {
		err := db.write(ctx, "fake newer schema", func(tx *tx) error {
			return tx.exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`)
		})
		if err != nil {
			t.Fatalf("write: got %v, want nil", err)
		}
		if err := db.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "newer") {
			t.Errorf("Migrate on a newer schema: got %v, want an error saying it is newer", err)
		}
	})
}

// TestUpgradeFromV1 opens, with the current code, a database an earlier
// release (schema version 3, before email addresses and amr) created and
// stored a user and a session in: the session reads as a password's, the
// user logs in, and new users register with addresses.
func TestUpgradeFromV1(t *testing.T) {
	const v1 = 3
	path := filepath.Join(t.TempDir(), "baton.db")
	old, err := open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := old.migrate(ctx, v1); err != nil {
		t.Fatalf("migrate to version %d: %v", v1, err)
	}
	u := storetest.NewLegacyUser(t)
	err = old.write(ctx, "v1 user", func(tx *tx) error {
		err := tx.exec(`INSERT INTO users (id, username, canonical_username, password_hash, created_at, locked_at, credential_gen)
			VALUES (?, ?, ?, ?, ?, NULL, 0)`, u.ID, u.Username, u.CanonicalUsername, u.PasswordHash, u.CreatedAt.UnixMicro())
		if err != nil {
			return err
		}
		created, expires := u.SessionCreatedAt.UnixMicro(), u.SessionExpiresAt.UnixMicro()
		err = tx.exec(`INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, idle_expires_at, auth_time,
				transport, client_id, user_agent, ip, binding, revoked_at, revoke_reason, credential_gen)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'body', '', '', '', '', NULL, '', 0)`,
			u.SessionID, u.ID, created, created, expires, expires, created)
		if err != nil {
			return err
		}
		return tx.exec(`INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES (?, ?, ?)`, u.RefreshHash, u.SessionID, created)
	})
	if err != nil {
		t.Fatalf("insert a user and a session into the version %d schema: %v", v1, err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	storetest.CheckUpgraded(t, mustOpenPath(t, path), u)
}

// TestBusy checks that a lock held by another process becomes EUnavailable
// after the busy timeout, with the driver's error as the cause.
func TestBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "baton.db")
	db := mustOpenPath(t, path)
	other, err := sql.Open("sqlite", dsn(path, "_pragma=busy_timeout(0)", "_txlock=immediate"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	release := blockWriter(t, db) // holds the write lock inside its transaction
	defer release()
	tx, err := other.BeginTx(ctx, nil)
	if err == nil {
		tx.Rollback()
		t.Fatalf("BEGIN IMMEDIATE while the writer holds the lock: got nil error, want SQLITE_BUSY")
	}
	err = formatError("other process", err)
	wantCode(t, err, baton.EUnavailable)
	if !strings.Contains(err.Error(), "other process") {
		t.Errorf("got %v, want the operation named in the cause", err)
	}
}

func TestFormatError(t *testing.T) {
	own := baton.Errorf(baton.EConflict, "mine")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"Nil", nil, ""},
		{"NoRows", sql.ErrNoRows, baton.ENotFound},
		{"Canceled", context.Canceled, baton.EUnavailable},
		{"Deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), baton.EUnavailable},
		{"Baton", fmt.Errorf("x: %w", own), baton.EConflict},
		{"Other", errors.New("boom"), baton.EInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := baton.ErrorCode(formatError("op", tt.err)); got != tt.want {
				t.Errorf("formatError(%v): got code %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// TestQueryPlans checks that the hot and the batch queries use indexes:
// a full scan works on a test database and stalls a large one.
func TestQueryPlans(t *testing.T) {
	db := mustOpen(t)
	queries := map[string]string{
		"RotateCAS":     `UPDATE refresh_tokens SET spent_at = 1 WHERE hash = x'00' AND session_id = 's' AND spent_at IS NULL`,
		"RotateSession": `UPDATE sessions SET last_used_at = 1 WHERE id = 's' AND revoked_at IS NULL`,
		"RefreshToken":  `SELECT t.hash, s.* FROM refresh_tokens t JOIN (SELECT ` + sessionColumns + ` FROM sessions) s ON s.id = t.session_id WHERE t.hash = x'00'`,
		"Sessions":      `SELECT id FROM sessions WHERE user_id = 'u' AND revoked_at IS NULL AND expires_at > 1 AND idle_expires_at > 1 ORDER BY created_at DESC, rowid DESC`,
		"RevokeUser":    `UPDATE sessions SET revoked_at = 1 WHERE user_id = 'u' AND id <> '' AND revoked_at IS NULL`,
		"Revocations":   `SELECT seq FROM revocations WHERE seq > 1 AND until > 1 ORDER BY seq LIMIT 10`,
		"PruneFeed":     `SELECT seq FROM revocations WHERE until < 1 LIMIT 10`,
		"PruneSpent":    `SELECT hash FROM refresh_tokens WHERE spent_at < 1 LIMIT 10`,
		"PruneTokens":   `SELECT t.hash FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id WHERE s.revoked_at < 1 OR min(s.expires_at, s.idle_expires_at) < 1 LIMIT 10`,
		"PruneSessions": `SELECT s.id FROM sessions s WHERE (s.revoked_at < 1 OR min(s.expires_at, s.idle_expires_at) < 1) AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id) LIMIT 10`,
		"EnsureKey":     `SELECT id FROM keys WHERE use = 'sig' AND retired_at IS NULL ORDER BY created_at, rowid LIMIT 1`,
		"UsersByName":   `SELECT id FROM users WHERE canonical_username > 'a' ORDER BY canonical_username LIMIT 10`,
		"UserByEmail":   `SELECT id FROM users WHERE canonical_email = 'a@example.com'`,
		"DeleteCascade": `SELECT hash FROM refresh_tokens WHERE session_id = 's'`,
		"ClaimOutbox":   `UPDATE outbox SET lease_until = 2 WHERE id IN (SELECT id FROM outbox WHERE kind = 'mail' AND sent_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= 1 AND (lease_until IS NULL OR lease_until <= 1) ORDER BY created_at, id LIMIT 10)`,
		"OutboxBacklog": `SELECT count(*), min(created_at) FROM outbox WHERE kind = 'mail' AND sent_at IS NULL AND gave_up_at IS NULL`,
		"PruneOutbox":   `SELECT id FROM outbox WHERE coalesce(sent_at, gave_up_at) < 1 LIMIT 10`,
		"SessionTree":   `UPDATE sessions SET revoked_at = 1 WHERE revoked_at IS NULL AND (id = 's' OR (parent = 's' AND parent <> ''))`,
		"ClientRevoke":  `UPDATE sessions SET revoked_at = 1 WHERE revoked_at IS NULL AND client_id = 'c'`,
		"ConsentRevoke": `UPDATE sessions SET revoked_at = 1 WHERE revoked_at IS NULL AND client_id = 'c' AND user_id = 'u'`,
		"Consents":      `SELECT client_id FROM consents WHERE user_id = 'u' ORDER BY granted_at DESC, client_id LIMIT 10`,
		"ClientCascade": `SELECT user_id FROM consents WHERE client_id = 'c'`,
		"Clients":       `SELECT id FROM clients WHERE id > 'a' ORDER BY id LIMIT 10`,
	}
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			rows, err := db.read.QueryContext(ctx, `EXPLAIN QUERY PLAN `+q)
			if err != nil {
				t.Fatalf("EXPLAIN: got %v, want nil", err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			t.Logf("plan: %s", strings.Join(plan, "; "))
			for _, step := range plan {
				// "SCAN t USING INDEX" walks an index in order (fine with a
				// LIMIT); a bare "SCAN t" reads the whole table.
				if strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, " USING ") {
					t.Errorf("plan has a full scan %q:\n%s", step, strings.Join(plan, "\n"))
				}
			}
		})
	}
}

// newChain creates a session for a benchmark and returns a function that
// rotates its current token once.
func newChain(b *testing.B, db *DB, id string) func() error {
	createSession(b, db, id, id+"-0")
	n := 0
	return func() error {
		err := db.Rotate(ctx, baton.Rotation{
			SessionID:     id,
			OldHash:       hash(fmt.Sprint(id, "-", n)),
			NewHash:       hash(fmt.Sprint(id, "-", n+1)),
			Now:           t0.Add(time.Duration(n) * time.Second),
			IdleExpiresAt: t0.Add(168 * time.Hour),
			UserAgent:     "bench",
			IP:            "192.0.2.1",
		})
		n++
		return err
	}
}

// BenchmarkRotate is one client refreshing: each rotation waits for its own
// commit, so this is the fsync latency floor.
func BenchmarkRotate(b *testing.B) {
	db := mustOpen(b)
	fixture(b, db)
	rotate := newChain(b, db, "bench")
	b.ReportAllocs()
	for b.Loop() {
		if err := rotate(); err != nil {
			b.Fatalf("Rotate: got %v, want nil", err)
		}
	}
}

// BenchmarkRotateParallel is many clients refreshing their own sessions at
// once: group commit shares each fsync among them.
func BenchmarkRotateParallel(b *testing.B) {
	const parallelism = 16 // goroutines per GOMAXPROCS
	db := mustOpen(b)
	fixture(b, db)
	// Sessions are created up front: RunParallel's goroutines may not stop
	// the benchmark with Fatal.
	chains := make([]func() error, parallelism*runtime.GOMAXPROCS(0))
	for i := range chains {
		chains[i] = newChain(b, db, fmt.Sprint("p", i))
	}
	var next atomic.Int64
	commits, ops := db.w.commits.Load(), db.w.ops.Load()
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rotate := chains[next.Add(1)-1]
		for pb.Next() {
			if err := rotate(); err != nil {
				b.Errorf("Rotate: got %v, want nil", err)
				return
			}
		}
	})
	b.StopTimer()
	if c := db.w.commits.Load() - commits; c > 0 {
		b.ReportMetric(float64(db.w.ops.Load()-ops)/float64(c), "ops/commit")
	}
}

// TestDamagedAMR: a stored amr that baton.FormatAMR would not have written
// makes every read of its session fail as internal, never a token with
// methods nobody checked.
func TestDamagedAMR(t *testing.T) {
	db := mustOpen(t)
	fixture(t, db)
	for _, stored := range []string{"otp pwd", "pwd pwd", "pwd,otp", "sms", " pwd"} {
		if err := db.write(ctx, "damage", func(tx *tx) error {
			return tx.exec(`UPDATE sessions SET amr = ? WHERE id = 's1'`, stored)
		}); err != nil {
			t.Fatal(err)
		}
		_, err := db.Session(ctx, "s1")
		wantCode(t, err, baton.EInternal)
		_, _, err = db.RefreshToken(ctx, hash("t0"))
		wantCode(t, err, baton.EInternal)
		_, err = db.Sessions(ctx, "u1", t0, baton.SessionPage{Limit: 10})
		wantCode(t, err, baton.EInternal)
	}
}
