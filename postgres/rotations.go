package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Rotations are committed in groups. A rotation is cheap (one HOT update
// of one row); what a refresh cost PostgreSQL beyond it was per statement
// and per transaction — setting the statement up, the round trip, the
// snapshot, the commit record and the WAL flush — and on a busy server
// that dominated (BENCHMARKS.md). So the rotations that wait while a group
// is in flight go together in the next one, as one statement over arrays
// (rotateSessionsSQL) that PostgreSQL runs as one implicit transaction and
// commits once. Each caller is answered only after that commit, so an
// acknowledged rotation is as durable as before. Alone, a rotation is sent
// at once as its own group: a quiet server adds no wait.
//
// One group is in flight at a time, as a rule: the rotations that arrive
// meanwhile make the next group larger, where a second group in flight
// would split them into two smaller ones and two commits. Measured on 2
// cores, one group at a time did 4-5 % more refreshes than two at 16
// clients and as many at 64 with a statement per rotation, and a third
// more at 16 clients with a statement per group (BENCHMARKS.md). Another
// group goes out beside it only when a full group is waiting (a machine
// with many cores) or when the group in flight has been out for
// groupSpill: one that waits for a row lock (a revocation committing) does
// not hold up every other refresh.
//
// A group is sorted by session id, and the statement updates the rows in
// the order of its arrays (the primary key looked up for each in turn;
// TestRotationGroupLocksInOrder), so two groups that touch the same
// sessions lock them in the same order and do not deadlock each other. A
// table of a few pages is read in its physical order instead, the same for
// both groups; should a plan ever interleave them otherwise, PostgreSQL
// breaks the deadlock and the group is run again. Two rotations of one
// session in one group (racing tabs) go in two statements of the
// transaction: the second sees the first's update, as it would in a
// transaction of its own after the first committed.

// rotationGroupers is the most groups in flight at once: one per 16
// connections of the pool (one per 4 cores with the default pool), at
// least 2, so that one group stuck on a lock leaves room for the next.
func rotationGroupers(maxConns int32) int {
	return max(2, int(maxConns)/16)
}

// maxRotationGroup bounds a group, and a full group waiting is what sends
// a second group beside the first. Past a few dozen statements the commit
// is amortised, and a larger group only holds its row locks longer (64
// statements: ~2 ms). At 32, 64 clients on 2 cores often had a full group
// waiting, and the second group in flight split them: alternated against
// 64 (3 pairs), p99 31-44 vs 24-27 ms, PostgreSQL's CPU per refresh
// 100-146 vs 65-113 µs.
const maxRotationGroup = 64

// groupSpill is how long a group may be out before the rotations waiting
// behind it go out in a group of their own. A group's round trip takes
// well under a millisecond on an idle server and a few on a saturated one,
// where scheduling delays still take some past 10ms (at 64 clients on 2
// cores, 8 a second went past 10ms, none past 50ms, and every spill
// splits groups); a group out for 50ms is waiting for something, a lock.
const groupSpill = 50 * time.Millisecond

// pendingRotation is one RotateSession call waiting for its group.
type pendingRotation struct {
	ctx context.Context
	r   baton.Rotation
	g   baton.RotationGate

	sess    *baton.Session
	rotated bool
	err     error
	done    chan struct{}
}

// rotationQueue holds the RotateSession calls no grouper has taken yet,
// and counts the groupers. A grouper is a goroutine that sends groups
// while rotations wait and ends when none does; the first rotation to
// find none running starts one. A caller appends itself and then waits
// for its answer, parked once per refresh.
type rotationQueue struct {
	mu      sync.Mutex
	waiting []*pendingRotation
	closed  bool
	active  int           // groupers running
	max     int           // rotationGroupers
	spill   time.Duration // groupSpill
}

// startRotations lets up to n groups be in flight at once.
func (db *DB) startRotations(n int) { db.rq.max, db.rq.spill = n, groupSpill }

// stopRotations refuses new rotations, waits for the groups in flight and
// fails the rotations still waiting (the pool is about to close).
func (db *DB) stopRotations() {
	db.rq.mu.Lock()
	db.rq.closed = true
	db.rq.mu.Unlock()
	db.rotators.Wait()
	db.rq.mu.Lock()
	left := db.rq.waiting
	db.rq.waiting = nil
	db.rq.mu.Unlock()
	for _, q := range left {
		q.err = pgconn.ErrConnClosed
		close(q.done)
	}
}

// enqueueRotation queues q, starting a grouper when none runs; false when
// the store is closing.
func (db *DB) enqueueRotation(q *pendingRotation) bool {
	db.rq.mu.Lock()
	defer db.rq.mu.Unlock()
	if db.rq.closed {
		return false
	}
	db.rq.waiting = append(db.rq.waiting, q)
	if db.rq.active == 0 || len(db.rq.waiting) >= maxRotationGroup && db.rq.active < db.rq.max {
		db.startGrouperLocked() // none runs, or a full group waits
	}
	return true
}

// startGrouperLocked starts a grouper; rq.mu is held, and rq.closed was
// false under it, so the WaitGroup is not being waited on.
func (db *DB) startGrouperLocked() {
	db.rq.active++
	db.rotators.Add(1)
	go db.rotateGroups()
}

// spill starts another grouper for the rotations waiting behind a group
// that has been out for rq.spill.
func (db *DB) spill() {
	db.rq.mu.Lock()
	defer db.rq.mu.Unlock()
	if len(db.rq.waiting) > 0 && db.rq.active < db.rq.max && !db.rq.closed {
		db.startGrouperLocked()
	}
}

// takeGroup moves up to maxRotationGroup waiting rotations into group, in
// the order they came, or, when none waits or another grouper can take
// what waits, ends this grouper (it returns nothing). A rotation whose
// caller stopped waiting is answered with its context's error instead:
// nobody would learn its outcome.
func (db *DB) takeGroup(group []*pendingRotation, first bool) []*pendingRotation {
	group = group[:0]
	db.rq.mu.Lock()
	defer db.rq.mu.Unlock()
	for len(group) == 0 {
		// A grouper that has sent a group ends when another runs, unless
		// a full group waits: one group at a time, as a rule.
		if len(db.rq.waiting) == 0 || db.rq.closed ||
			(!first && db.rq.active > 1 && len(db.rq.waiting) < maxRotationGroup) {
			db.rq.active--
			return group
		}
		n := 0
		for n < len(db.rq.waiting) && len(group) < maxRotationGroup {
			q := db.rq.waiting[n]
			n++
			if err := q.ctx.Err(); err != nil {
				q.err = err
				close(q.done)
				continue
			}
			group = append(group, q)
		}
		rest := copy(db.rq.waiting, db.rq.waiting[n:])
		clear(db.rq.waiting[rest:])
		db.rq.waiting = db.rq.waiting[:rest]
	}
	if len(db.rq.waiting) >= maxRotationGroup && db.rq.active < db.rq.max {
		db.startGrouperLocked() // a full group waits: send it beside this one
	}
	return group
}

// groupTimeout bounds a group's round trip, as a caller's request context
// would bound its own statement: a server that does not answer fails the
// group, and its callers get the error (they stopped waiting anyway).
const groupTimeout = 30 * time.Second

// rotateGroups is a grouper: it sends groups while rotations wait, whoever
// waits when a group goes out joining it, nobody waited for.
func (db *DB) rotateGroups() {
	defer db.rotators.Done()
	group := make([]*pendingRotation, 0, maxRotationGroup)
	for first := true; ; first = false {
		if group = db.takeGroup(group, first); len(group) == 0 {
			return
		}
		db.sendGroup(group)
		clear(group)
	}
}

// sendGroup runs the group and answers its rotations.
func (db *DB) sendGroup(group []*pendingRotation) {
	w := db.watchGroup()
	db.rotateGroup(group)
	w.stop()
	for _, q := range group {
		close(q.done)
	}
}

// groupWatch calls db.spill every rq.spill while its group is out.
type groupWatch struct {
	mu  sync.Mutex
	t   *time.Timer
	out bool
}

func (db *DB) watchGroup() *groupWatch {
	w := &groupWatch{out: true}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = time.AfterFunc(db.rq.spill, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.out {
			db.spill()
			w.t.Reset(db.rq.spill)
		}
	})
	return w
}

func (w *groupWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.out = false
	w.t.Stop()
}

// RotateSession is baton.SessionStore's: a rotation of a token that names
// its session, one statement (rotateSessionsSQL) committed in a group with
// the rotations waiting beside it.
func (db *DB) RotateSession(ctx context.Context, r baton.Rotation, g baton.RotationGate) (*baton.Session, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, formatError("rotate session", err)
	}
	q := &pendingRotation{ctx: ctx, r: r, g: g, done: make(chan struct{})}
	if !db.enqueueRotation(q) {
		return nil, false, formatError("rotate session", pgconn.ErrConnClosed)
	}
	select {
	case <-q.done:
	case <-ctx.Done():
		// The group may still commit it; a retry is a grace replay.
		return nil, false, formatError("rotate session", ctx.Err())
	}
	if q.err != nil {
		if isNoRows(q.err) {
			return nil, false, baton.Errorf(baton.ENotFound, "session not found")
		}
		return nil, false, formatError("rotate session", q.err)
	}
	return q.sess, q.rotated, nil
}

// rotateGroup runs the group in one transaction and sets each rotation's
// outcome. When PostgreSQL refuses the group's statement the transaction
// is rolled back whole, so each rotation then runs on its own and gets its
// own answer; when the connection fails, whether the commit happened is
// unknown, and every rotation of the group gets the error (a client's
// retry is a grace replay).
func (db *DB) rotateGroup(group []*pendingRotation) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	slices.SortFunc(group, func(a, b *pendingRotation) int { return strings.Compare(a.r.SessionID, b.r.SessionID) })
	err := db.write(ctx, func() error { return db.rotateSessions(ctx, group) })
	if err == nil {
		return
	}
	var pgErr *pgconn.PgError
	if len(group) > 1 && errors.As(err, &pgErr) && !connBroken(err) {
		for _, q := range group {
			one := []*pendingRotation{q}
			if err := db.write(ctx, func() error { return db.rotateSessions(ctx, one) }); err != nil {
				q.sess, q.rotated, q.err = nil, false, err
			}
		}
		return
	}
	for _, q := range group {
		q.sess, q.rotated, q.err = nil, false, err
	}
}

// rotateSessions sends group, sorted by session id, in one transaction:
// one statement (rotateSessionsSQL) for the first rotation of each
// session, a second for the second rotation of each (racing tabs), and so
// on, in one pipelined batch. Each statement sees the ones before it, as
// it would in a transaction of its own after they committed. It sets each
// rotation's outcome (pgx.ErrNoRows for a session not found) and returns
// what failed the transaction.
func (db *DB) rotateSessions(ctx context.Context, group []*pendingRotation) error {
	for _, q := range group {
		q.sess, q.rotated, q.err = nil, false, pgx.ErrNoRows
	}
	sets := rotationSets(group)
	if len(sets) == 1 {
		rows, err := db.pool.Query(ctx, rotateSessionsSQL, rotateArgs(group)...)
		if err != nil {
			return err
		}
		return scanRotations(rows, group)
	}
	b := &pgx.Batch{}
	for _, set := range sets {
		b.Queue(rotateSessionsSQL, rotateArgs(set)...)
	}
	br := db.pool.SendBatch(ctx, b)
	for _, set := range sets {
		rows, err := br.Query()
		if err == nil {
			err = scanRotations(rows, set)
		}
		if err != nil {
			br.Close()
			return err
		}
	}
	// Close reads up to the batch's end: the commit.
	return br.Close()
}

// rotationSets splits a group sorted by session id into sets that hold
// each session at most once: the k-th rotation of a session goes in the
// k-th set. Almost always there is one, the group itself.
func rotationSets(group []*pendingRotation) [][]*pendingRotation {
	if !hasRepeats(group) {
		return [][]*pendingRotation{group}
	}
	var sets [][]*pendingRotation
	k := 0
	for i, q := range group {
		if i > 0 && q.r.SessionID == group[i-1].r.SessionID {
			k++
		} else {
			k = 0
		}
		if k == len(sets) {
			sets = append(sets, nil)
		}
		sets[k] = append(sets[k], q)
	}
	return sets
}

// hasRepeats reports whether a group sorted by session id holds a session
// twice.
func hasRepeats(group []*pendingRotation) bool {
	for i := 1; i < len(group); i++ {
		if group[i].r.SessionID == group[i-1].r.SessionID {
			return true
		}
	}
	return false
}

// scanRotations reads rotateSessionsSQL's rows into set, whose rotations
// its arrays hold in order.
func scanRotations(rows pgx.Rows, set []*pendingRotation) error {
	defer rows.Close()
	var (
		x           sessionScan
		n           int64
		ok, rotated bool
	)
	dest := append([]any{&n}, x.dest()...)
	dest = append(dest, &ok, &rotated)
	for rows.Next() {
		x = sessionScan{}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if n < 1 || n > int64(len(set)) {
			return fmt.Errorf("rotation %d of %d", n, len(set))
		}
		q := set[n-1]
		sess, err := x.session()
		if err != nil {
			return err
		}
		q.sess, q.rotated, q.err = sess, rotated, nil
	}
	return rows.Err()
}

// rotateArgs is rotateSessionsSQL's arrays for set.
func rotateArgs(set []*pendingRotation) []any {
	var (
		ids, agents, gates, bindings, clients, ips = make([]string, len(set)), make([]string, len(set)),
			make([]string, len(set)), make([]string, len(set)), make([]string, len(set)), make([]string, len(set))
		olds, news  = make([][]byte, len(set)), make([][]byte, len(set))
		nows, idles = make([]pgtype.Timestamptz, len(set)), make([]pgtype.Timestamptz, len(set))
		gens        = make([]int64, len(set))
	)
	for i, q := range set {
		r, g := q.r, q.g
		ids[i], olds[i], news[i], nows[i], idles[i] = r.SessionID, r.OldHash, r.NewHash, ts(r.Now), ts(r.IdleExpiresAt)
		agents[i], gens[i], gates[i], bindings[i], clients[i], ips[i] = clean(r.UserAgent), r.Gen, g.SessionID, g.Binding, g.ClientID, clean(r.IP)
	}
	return []any{ids, olds, news, nows, idles, agents, gens, gates, bindings, clients, ips}
}
