package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// batchCounter counts what a pool sends: statements on their own and
// pipelined batches.
type batchCounter struct{ single, batches, batched atomic.Int64 }

func (c *batchCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.single.Add(1)
	return ctx
}
func (c *batchCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *batchCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	c.batches.Add(1)
	c.batched.Add(int64(d.Batch.Len()))
	return ctx
}
func (c *batchCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *batchCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// tokenSessions creates n sessions holding their token state, session-i
// with token "t-i" at generation 1.
func tokenSessions(t *testing.T, db *DB, n int) {
	t.Helper()
	mustUser(t, db, "u")
	for i := range n {
		s := newSession("u", fmt.Sprintf("session-%02d", i))
		s.TokenGen = 1
		if err := db.CreateSession(context.Background(), s, hashOf(fmt.Sprintf("t-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

func groupRotation(i int, sessionID string, gen int64) *pendingRotation {
	r := rotation(sessionID, hashOf(fmt.Sprintf("t-%d", i)), hashOf(fmt.Sprintf("next-%d", i)), t0.Add(time.Minute))
	r.Gen = gen
	return &pendingRotation{r: r}
}

// TestRotationGroup runs groups of rotations as RotateSession's groupers
// do: one statement for the sessions of a group, one more for each repeat
// of a session, pipelined in one batch, one transaction, each rotation its
// own answer.
func TestRotationGroup(t *testing.T) {
	ctx := context.Background()
	t.Run("OneStatement", func(t *testing.T) {
		counter := &batchCounter{}
		db := mustOpen(t, pgtest.NewDatabase(t), WithQueryTracer(counter))
		tokenSessions(t, db, 8)
		group := []*pendingRotation{}
		for i := 7; i >= 0; i-- {
			group = append(group, groupRotation(i, fmt.Sprintf("session-%02d", i), 1))
		}
		counter.single.Store(0)
		db.rotateGroup(group)
		if counter.batches.Load() != 0 || counter.single.Load() != 1 {
			t.Errorf("sent %d batches and %d statements alone, want one statement", counter.batches.Load(), counter.single.Load())
		}
		for _, q := range group {
			if q.err != nil || !q.rotated || q.sess.ID != q.r.SessionID {
				t.Errorf("rotation of %s: rotated %v, session %+v, %v", q.r.SessionID, q.rotated, q.sess, q.err)
			}
		}
	})
	t.Run("OneBatch", func(t *testing.T) {
		counter := &batchCounter{}
		db := mustOpen(t, pgtest.NewDatabase(t), WithQueryTracer(counter))
		tokenSessions(t, db, 8)
		group := []*pendingRotation{}
		for i := 7; i >= 0; i-- { // out of order: the group sorts
			group = append(group, groupRotation(i, fmt.Sprintf("session-%02d", i), 1))
		}
		group = append(group, groupRotation(3, "session-03", 7)) // a generation it is not at
		group = append(group, groupRotation(9, "no-such-session", 1))
		counter.single.Store(0)
		db.rotateGroup(group)
		// session-03 twice: a statement for the first rotation of each
		// session, one for the second.
		if counter.batches.Load() != 1 || counter.batched.Load() != 2 || counter.single.Load() != 0 {
			t.Errorf("sent %d batches of %d statements and %d statements alone, want 1 of 2 and none",
				counter.batches.Load(), counter.batched.Load(), counter.single.Load())
		}
		for _, q := range group {
			switch {
			case q.r.SessionID == "no-such-session":
				if !isNoRows(q.err) {
					t.Errorf("rotation of a missing session: %v, want no rows", q.err)
				}
			case q.r.Gen == 7:
				if q.err != nil || q.rotated || q.sess == nil {
					t.Errorf("rotation at another generation: rotated %v, %v", q.rotated, q.err)
				}
			case q.err != nil || !q.rotated || q.sess.ID != q.r.SessionID || q.sess.TokenGen != 1:
				t.Errorf("rotation of %s: rotated %v, session %+v, %v", q.r.SessionID, q.rotated, q.sess, q.err)
			}
		}
		// One transaction: every row version the group wrote has its id.
		var xids int
		if err := db.pool.QueryRow(ctx, `SELECT count(DISTINCT xmin::text) FROM sessions WHERE token_gen = 2`).Scan(&xids); err != nil || xids != 1 {
			t.Errorf("the group's rows were written by %d transactions (%v), want 1", xids, err)
		}
		for i := range 8 {
			s, err := db.Session(ctx, fmt.Sprintf("session-%02d", i))
			if err != nil || s.TokenGen != 2 || string(s.TokenHash) != string(hashOf(fmt.Sprintf("next-%d", i))) {
				t.Errorf("session-%02d after the group: %+v, %v", i, s, err)
			}
		}
	})

	// Racing tabs in one group: the statements run one after the other
	// in the transaction, so the second sees the first's rotation.
	t.Run("SameSessionTwice", func(t *testing.T) {
		db := mustOpen(t, pgtest.NewDatabase(t))
		tokenSessions(t, db, 1)
		a, b := groupRotation(0, "session-00", 1), groupRotation(0, "session-00", 1)
		b.r.NewHash = hashOf("other")
		db.rotateGroup([]*pendingRotation{a, b})
		if a.err != nil || b.err != nil || a.rotated == b.rotated {
			t.Fatalf("rotated %v and %v (%v, %v): want exactly one", a.rotated, b.rotated, a.err, b.err)
		}
		winner, loser := a, b
		if b.rotated {
			winner, loser = b, a
		}
		if loser.sess.TokenGen != 2 || string(loser.sess.TokenHash) != string(winner.r.NewHash) {
			t.Errorf("the second saw generation %d, hash %x; want the first's rotation", loser.sess.TokenGen, loser.sess.TokenHash)
		}
	})

	// A statement PostgreSQL refuses rolls the batch back; each rotation
	// then runs on its own and gets its own answer.
	t.Run("OneRefused", func(t *testing.T) {
		db := mustOpen(t, pgtest.NewDatabase(t))
		tokenSessions(t, db, 3)
		group := []*pendingRotation{groupRotation(0, "session-00", 1), groupRotation(1, "session-01\x00", 1), groupRotation(2, "session-02", 1)}
		db.rotateGroup(group)
		if group[1].err == nil || isNoRows(group[1].err) {
			t.Errorf("a session id with a NUL byte: %v, want PostgreSQL's refusal", group[1].err)
		}
		for _, q := range []*pendingRotation{group[0], group[2]} {
			if q.err != nil || !q.rotated {
				t.Errorf("%s beside a refused statement: rotated %v, %v", q.r.SessionID, q.rotated, q.err)
			}
		}
	})
}

// TestRotationsGroupWhileBusy: rotations that arrive while every grouper
// is busy are committed together, not one transaction each. The groupers
// are kept busy by rotations of a session whose row another transaction
// holds locked.
func TestRotationsGroupWhileBusy(t *testing.T) {
	ctx := context.Background()
	counter := &batchCounter{}
	url := pgtest.NewDatabase(t)
	db := mustOpen(t, url, WithQueryTracer(counter))
	const waiting = 24
	tokenSessions(t, db, waiting+1)
	groupers := rotationGroupers(db.pool.Config().MaxConns)

	lock := lockSession(t, url, fmt.Sprintf("session-%02d", waiting))
	var wg sync.WaitGroup
	// One grouper after the other blocks on the locked row.
	for g := range groupers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db.RotateSession(ctx, groupRotation(waiting, fmt.Sprintf("session-%02d", waiting), 1).r, baton.RotationGate{})
		}()
		waitBlocked(t, url, g+1)
	}
	counter.single.Store(0)
	counter.batches.Store(0)
	rotated := make([]bool, waiting)
	errs := make([]error, waiting)
	for i := range waiting {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, rotated[i], errs[i] = db.RotateSession(ctx, groupRotation(i, fmt.Sprintf("session-%02d", i), 1).r, baton.RotationGate{})
		}()
	}
	time.Sleep(200 * time.Millisecond) // every one waiting for a grouper
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := range waiting {
		if errs[i] != nil || !rotated[i] {
			t.Errorf("rotation %d: rotated %v, %v", i, rotated[i], errs[i])
		}
	}
	if sent := counter.single.Load() + counter.batches.Load(); sent > int64(groupers) {
		t.Errorf("%d rotations waiting for %d groupers went out in %d transactions, want at most %d",
			waiting, groupers, sent, groupers)
	}
}

// lockSession locks the session's row in a transaction of its own, which
// the test ends (or its cleanup rolls back).
func lockSession(t *testing.T, url, id string) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	lock, err := adminConn(t, url).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Rollback(context.Background()) })
	if _, err := lock.Exec(ctx, `SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatal(err)
	}
	return lock
}

// waitBlocked waits until n statements of the database wait for a lock.
func waitBlocked(t *testing.T, url string, n int) {
	t.Helper()
	conn := adminConn(t, url)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var blocked int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&blocked); err != nil {
			t.Fatal(err)
		}
		if blocked >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statements wait for a lock, want %d", blocked, n)
		}
	}
}

// TestRotationsPastALockedGroup: while the group in flight waits for a
// row lock, the rotations behind it still go out — after groupSpill, or
// at once when a full group waits.
func TestRotationsPastALockedGroup(t *testing.T) {
	for _, tt := range []struct {
		name  string
		spill time.Duration
		n     int // rotations behind the locked one
	}{
		{"Spill", groupSpill, 3},
		{"FullGroup", time.Hour, maxRotationGroup},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := pgtest.NewDatabase(t)
			db := mustOpen(t, url)
			db.rq.spill = tt.spill
			tokenSessions(t, db, tt.n+1)
			locked := fmt.Sprintf("session-%02d", tt.n)
			lock := lockSession(t, url, locked)
			stuck := make(chan error, 1)
			go func() {
				_, _, err := db.RotateSession(context.Background(), groupRotation(tt.n, locked, 1).r, baton.RotationGate{})
				stuck <- err
			}()
			waitBlocked(t, url, 1)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			errs := make([]error, tt.n)
			for i := range tt.n {
				wg.Go(func() {
					var rotated bool
					_, rotated, errs[i] = db.RotateSession(ctx, groupRotation(i, fmt.Sprintf("session-%02d", i), 1).r, baton.RotationGate{})
					if errs[i] == nil && !rotated {
						errs[i] = fmt.Errorf("not rotated")
					}
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("rotation %d behind a locked group: %v", i, err)
				}
			}
			if err := lock.Rollback(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := <-stuck; err != nil {
				t.Errorf("the locked rotation: %v", err)
			}
		})
	}
}

// TestRotationGivenUpIsNotSent: a rotation whose caller stopped waiting
// before its group went out is not sent, as the caller was told.
func TestRotationGivenUpIsNotSent(t *testing.T) {
	url := pgtest.NewDatabase(t)
	db := mustOpen(t, url)
	db.rq.spill = time.Hour
	tokenSessions(t, db, 2)
	lock := lockSession(t, url, "session-01")
	stuck := make(chan error, 1)
	go func() {
		_, _, err := db.RotateSession(context.Background(), groupRotation(1, "session-01", 1).r, baton.RotationGate{})
		stuck <- err
	}()
	waitBlocked(t, url, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := db.RotateSession(ctx, groupRotation(0, "session-00", 1).r, baton.RotationGate{}); err == nil {
		t.Fatal("a rotation waiting behind a locked group answered before its caller gave up")
	}
	if err := lock.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-stuck; err != nil {
		t.Fatalf("the locked rotation: %v", err)
	}
	s, err := db.Session(context.Background(), "session-00")
	if err != nil {
		t.Fatal(err)
	}
	if s.TokenGen != 1 {
		t.Fatalf("the given-up rotation was sent: generation %d, want 1", s.TokenGen)
	}
}

// TestRotationPlanKept: PostgreSQL keeps one generic plan of the group
// statement on a connection, whatever the groups' sizes, instead of
// planning each group anew (planning it took twice as long as running it).
func TestRotationPlanKept(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, withParam(pgtest.NewDatabase(t), "pool_max_conns", "1"))
	tokenSessions(t, db, 4)
	const groups = 12
	for i := range groups {
		group := []*pendingRotation{}
		for j := range 1 + i%4 { // generation 9: nothing rotates, each plan is made all the same
			group = append(group, groupRotation(j, fmt.Sprintf("session-%02d", j), 9))
		}
		db.rotateGroup(group)
		for _, q := range group {
			if q.err != nil || q.rotated {
				t.Fatalf("group %d: rotated %v, %v", i, q.rotated, q.err)
			}
		}
	}
	var generic, custom int64
	if err := db.pool.QueryRow(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements
		WHERE statement = $1`, rotateSessionsSQL).Scan(&generic, &custom); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL makes five custom plans before it weighs the generic one.
	if custom > 5 || generic < groups-5 {
		t.Errorf("%d executions: %d custom plans and %d generic, want at most 5 custom", groups, custom, generic)
	}
}

// TestRotationGroupLocksInOrder: the group statement locks its sessions in
// the order of its arrays (sorted by session id), which is what keeps two
// groups from deadlocking each other. With the middle session's row held
// elsewhere, the group has locked the first and not yet the last. The
// pool's connections do without sequential scans: a table of three rows
// would be read in its physical order, a production one by its primary
// key in the arrays' order, and that is the plan under test.
func TestRotationGroupLocksInOrder(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	db := mustOpen(t, withParam(url, "enable_seqscan", "off"))
	tokenSessions(t, db, 3)
	lock := lockSession(t, url, "session-01")
	group := []*pendingRotation{ // out of order: the group sorts
		groupRotation(2, "session-02", 1), groupRotation(0, "session-00", 1), groupRotation(1, "session-01", 1),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.rotateGroup(group)
	}()
	waitBlocked(t, url, 1)
	probe := adminConn(t, url)
	locked := func(id string) bool {
		tx, err := probe.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		_, err = tx.Exec(ctx, `SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE NOWAIT`, id)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
			return true
		}
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	if !locked("session-00") || locked("session-02") {
		t.Errorf("while blocked on session-01: session-00 locked %v (want true), session-02 locked %v (want false)",
			locked("session-00"), locked("session-02"))
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	for _, q := range group {
		if q.err != nil || !q.rotated {
			t.Errorf("%s: rotated %v, %v", q.r.SessionID, q.rotated, q.err)
		}
	}
}
