package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Rotations are committed in groups. A rotation's statement is cheap (one
// HOT update of one row); what a refresh costs PostgreSQL beyond it is per
// transaction — the round trip, the snapshot, the commit record and the WAL
// flush — and on a busy server that dominated (BENCHMARKS.md). So the
// rotations that wait while a group is in flight go together in the next
// one: their statements are sent as one pipelined batch, which PostgreSQL
// runs as one implicit transaction and commits once. Each caller is
// answered only after that commit, so an acknowledged rotation is as
// durable as before. Alone, a rotation is sent at once as its own group: a
// quiet server adds no wait.
//
// A group's statements are ordered by session id, so two groups that touch
// the same sessions lock them in the same order and never deadlock each
// other. Two rotations of one session in one group (racing tabs) run one
// after the other in the transaction: the second sees the first's update,
// as it would in a transaction of its own after the first committed.

// rotationGroupers is how many groups may be in flight at once: one per 16
// connections of the pool (one per 4 cores with the default pool), at
// least 2. Fewer groupers make larger groups, and the transaction is what
// costs: measured on 2 cores (BENCHMARKS.md), 1, 2, 4 and 16 groupers gave
// 5,168–5,328, 4,686–5,347, 4,526–4,823 and 3,472 refreshes/s at 64
// clients, and 1 was best at 16 clients too. Two, not one, so that a group
// waiting for a row lock (a revocation committing) does not hold up every
// refresh of the instance; more with more cores, since each group's
// statements run one after another on one PostgreSQL backend.
func rotationGroupers(maxConns int32) int {
	return max(2, int(maxConns)/16)
}

// maxRotationGroup bounds a group: past a few dozen statements the commit
// is amortised, and a larger group only holds its row locks longer.
const maxRotationGroup = 32

// pendingRotation is one RotateSession call waiting for its group.
type pendingRotation struct {
	r baton.Rotation
	g baton.RotationGate

	sess    *baton.Session
	rotated bool
	err     error
	done    chan struct{}
}

// startRotations starts the groupers: each sends one group at a time, so
// at most n groups are in flight and the pool keeps its other connections
// for everything else.
func (db *DB) startRotations(n int) {
	db.rotations = make(chan *pendingRotation)
	for range n {
		db.rotators.Add(1)
		go db.rotateGroups()
	}
}

// groupTimeout bounds a group's round trip, as a caller's request context
// would bound its own statement: a server that does not answer fails the
// group, and its callers get the error (they stopped waiting anyway).
const groupTimeout = 30 * time.Second

func (db *DB) rotateGroups() {
	defer db.rotators.Done()
	group := make([]*pendingRotation, 0, maxRotationGroup)
	for {
		select {
		case <-db.done:
			return
		case q := <-db.rotations:
			group = append(group[:0], q)
		}
		// Whoever is waiting right now joins; nobody is waited for.
	fill:
		for len(group) < maxRotationGroup {
			select {
			case q := <-db.rotations:
				group = append(group, q)
			default:
				break fill
			}
		}
		db.rotateGroup(group)
		for _, q := range group {
			close(q.done)
		}
	}
}

// RotateSession is baton.SessionStore's: a rotation of a token that names
// its session, one statement (rotateSessionSQL) committed in a group with
// the rotations waiting beside it.
func (db *DB) RotateSession(ctx context.Context, r baton.Rotation, g baton.RotationGate) (*baton.Session, bool, error) {
	q := &pendingRotation{r: r, g: g, done: make(chan struct{})}
	select {
	case db.rotations <- q:
	case <-ctx.Done():
		return nil, false, formatError("rotate session", ctx.Err())
	case <-db.done:
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
// outcome. When PostgreSQL refuses one statement the transaction is rolled
// back whole, so each then runs on its own and gets its own answer; when
// the connection fails, whether the commit happened is unknown, and every
// rotation of the group gets the error (a client's retry is a grace
// replay).
func (db *DB) rotateGroup(group []*pendingRotation) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	if len(group) == 1 {
		q := group[0]
		q.err = db.write(ctx, func() error { return db.rotateOne(ctx, q) })
		return
	}
	slices.SortFunc(group, func(a, b *pendingRotation) int { return strings.Compare(a.r.SessionID, b.r.SessionID) })
	err := db.write(ctx, func() error {
		b := &pgx.Batch{}
		for _, q := range group {
			b.Queue(rotateSessionSQL, rotateArgs(q)...)
		}
		br := db.pool.SendBatch(ctx, b)
		for _, q := range group {
			q.sess, q.rotated, q.err = nil, false, nil
			if err := scanRotation(br.QueryRow(), q); err != nil && !isNoRows(err) {
				br.Close()
				return err
			} else if err != nil {
				q.err = err
			}
		}
		// Close reads up to the batch's end: the commit.
		return br.Close()
	})
	if err == nil {
		return
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !connBroken(err) {
		for _, q := range group {
			q.err = db.write(ctx, func() error { return db.rotateOne(ctx, q) })
		}
		return
	}
	for _, q := range group {
		q.sess, q.rotated, q.err = nil, false, err
	}
}

// rotateOne runs q as a statement of its own.
func (db *DB) rotateOne(ctx context.Context, q *pendingRotation) error {
	q.sess, q.rotated = nil, false
	return scanRotation(db.pool.QueryRow(ctx, rotateSessionSQL, rotateArgs(q)...), q)
}

// scanRotation reads rotateSessionSQL's row into q.
func scanRotation(row pgx.Row, q *pendingRotation) error {
	var (
		x  sessionScan
		ok bool
		n  int64
	)
	if err := row.Scan(append(x.dest(), &ok, &n)...); err != nil {
		return err
	}
	sess, err := x.session()
	if err != nil {
		return err
	}
	q.sess, q.rotated = sess, n == 1
	return nil
}

func rotateArgs(q *pendingRotation) []any {
	r, g := q.r, q.g
	return []any{r.SessionID, r.OldHash, r.NewHash, ts(r.Now), ts(r.IdleExpiresAt),
		clean(r.UserAgent), r.Gen, g.SessionID, g.Binding, g.ClientID, clean(r.IP)}
}
