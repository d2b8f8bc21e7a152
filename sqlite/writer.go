package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/batonauth/baton"
)

// maxBatch bounds how many writes share one transaction, so one commit (and
// the callers waiting on it) never waits behind an unbounded queue.
const maxBatch = 256

// States of an op. The caller and the writer race for the op with a
// compare-and-set: whoever moves it out of opQueued decides whether it runs.
const (
	opQueued    int32 = iota
	opClaimed         // the writer runs it; the caller waits for the answer
	opAbandoned       // the caller's ctx ended first; the writer skips it
)

// op is one write waiting for the writer.
type op struct {
	ctx   context.Context
	fn    func(*tx) error
	state atomic.Int32
	done  chan error // buffered: the writer never blocks on an answer
}

// writer owns the only write connection and runs group commits.
type writer struct {
	conn *sql.Conn
	wdb  *sql.DB
	// ckpt runs the checkpoints the writer connection does not
	// (checkpoint.go).
	ckpt  *checkpointer
	stmts map[string]*sql.Stmt // only the writer goroutine touches it
	tx    tx

	// mu orders submissions against close: a submission holds it for
	// reading while it sends, so close never closes the queue under a
	// sender.
	mu     sync.RWMutex
	closed bool
	queue  chan *op
	exited chan struct{}

	// commits counts committed transactions and ops the writes they held;
	// tests compare them to see batching.
	commits atomic.Int64
	ops     atomic.Int64
}

func openWriter(dsn, checkpointDSN string) (*writer, error) {
	wdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	conn, err := wdb.Conn(context.Background())
	if err != nil {
		wdb.Close()
		return nil, err
	}
	// The journal_mode pragma in the DSN does not fail when WAL cannot be
	// enabled (some network file systems); it answers the mode it kept.
	var mode string
	if err := conn.QueryRowContext(context.Background(), `PRAGMA journal_mode`).Scan(&mode); err != nil {
		conn.Close()
		wdb.Close()
		return nil, err
	}
	if mode != "wal" {
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	ckpt, err := openCheckpointer(checkpointDSN)
	if err != nil {
		conn.Close()
		wdb.Close()
		return nil, err
	}
	w := &writer{
		conn:   conn,
		wdb:    wdb,
		ckpt:   ckpt,
		stmts:  make(map[string]*sql.Stmt),
		queue:  make(chan *op, 4*maxBatch),
		exited: make(chan struct{}),
	}
	// The writer's statements run under a context that never ends: once a
	// batch started, a caller leaving must not interrupt the writes of the
	// others.
	w.tx = tx{ctx: context.Background(), conn: conn, w: w}
	go w.loop()
	return w, nil
}

// write submits fn to the writer and waits for its answer: nil only after
// the transaction holding fn's writes committed. fn runs in its own
// savepoint; when it returns an error its writes are rolled back and the
// others in the batch are unaffected. When ctx ends before the writer took
// fn, fn never runs; when the writer already took it, the answer stands and
// write waits for it.
//
// fn runs on the writer goroutine while write is blocked, so it may read its
// caller's variables and set results in them; it must not keep them.
func (db *DB) write(ctx context.Context, name string, fn func(*tx) error) error {
	if err := ctx.Err(); err != nil {
		return formatError(name, err)
	}
	w := db.w
	o := &op{ctx: ctx, fn: fn, done: make(chan error, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return errClosed
	}
	select {
	case w.queue <- o:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return formatError(name, ctx.Err())
	}
	select {
	case err := <-o.done:
		return formatError(name, err)
	case <-ctx.Done():
		if o.state.CompareAndSwap(opQueued, opAbandoned) {
			return formatError(name, ctx.Err())
		}
		return formatError(name, <-o.done)
	}
}

// close stops taking writes, lets the writer finish everything queued, and
// closes the connection.
func (w *writer) close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	close(w.queue)
	w.mu.Unlock()
	<-w.exited

	var errs []error
	// The checkpointer closes first, so the writer's connection is the
	// last one and folds the WAL back into the database as it closes.
	errs = append(errs, w.ckpt.close())
	for _, s := range w.stmts {
		errs = append(errs, s.Close())
	}
	errs = append(errs, w.conn.Close(), w.wdb.Close())
	return errors.Join(errs...)
}

func (w *writer) loop() {
	defer close(w.exited)
	batch := make([]*op, 0, maxBatch)
	for o := range w.queue {
		batch = append(batch[:0], o)
	fill:
		for len(batch) < maxBatch {
			select {
			case o, ok := <-w.queue:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		w.run(batch)
		clear(batch) // let answered ops be collected
	}
}

// run executes one batch as one transaction.
func (w *writer) run(batch []*op) {
	claimed := batch[:0]
	for _, o := range batch {
		if !o.state.CompareAndSwap(opQueued, opClaimed) {
			continue // abandoned by its caller
		}
		if err := o.ctx.Err(); err != nil {
			o.done <- err
			continue
		}
		claimed = append(claimed, o)
	}
	if len(claimed) == 0 {
		return
	}
	errs := make([]error, len(claimed))
	if err := w.tx.exec(`BEGIN IMMEDIATE`); err != nil {
		answerAll(claimed, batchError(err))
		return
	}
	// A lone op needs no savepoint: rolling back the transaction undoes it.
	single := len(claimed) == 1
	for i, o := range claimed {
		if !single {
			if err := w.tx.exec(`SAVEPOINT op`); err != nil {
				w.abort(claimed, err)
				return
			}
		}
		err := w.call(o)
		errs[i] = err
		switch {
		case err != nil && single:
			w.rollback()
			o.done <- err
			return
		case err != nil:
			if rerr := w.tx.exec(`ROLLBACK TO op`); rerr != nil {
				// SQLite rolls the whole transaction back by itself on some
				// errors (I/O, disk full); nothing of the batch survived.
				w.abort(claimed, err)
				return
			}
			if rerr := w.tx.exec(`RELEASE op`); rerr != nil {
				w.abort(claimed, rerr)
				return
			}
		case !single:
			if rerr := w.tx.exec(`RELEASE op`); rerr != nil {
				w.abort(claimed, rerr)
				return
			}
		}
	}
	if err := w.tx.exec(`COMMIT`); err != nil {
		w.abort(claimed, err)
		return
	}
	w.commits.Add(1)
	w.ops.Add(int64(len(claimed)))
	w.ckpt.committed()
	for i, o := range claimed {
		o.done <- errs[i]
	}
}

// call runs o.fn, turning a panic into an error: the writer goroutine must
// survive a bug in one op, or every later write would hang.
func (w *writer) call(o *op) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = baton.WrapError(baton.EInternal, "internal error", fmt.Errorf("panic in write: %v", p))
		}
	}()
	return o.fn(&w.tx)
}

// abort rolls the transaction back and answers every op with err: none of
// their writes is in the database.
func (w *writer) abort(ops []*op, err error) {
	w.rollback()
	answerAll(ops, batchError(err))
}

func (w *writer) rollback() {
	// An error here means SQLite already rolled back by itself.
	_ = w.tx.exec(`ROLLBACK`)
}

// batchError is the answer of every op of a batch that failed as a whole.
// The transaction failed, not the op, so the driver's code (a deferred
// constraint at COMMIT, say) must not read as the op's own outcome: it is
// EUnavailable when the database was busy and internal otherwise.
func batchError(err error) error {
	code := baton.EInternal
	if baton.ErrorCode(formatError("", err)) == baton.EUnavailable {
		code = baton.EUnavailable
	}
	return baton.WrapError(code, "write failed", fmt.Errorf("write batch: %w", err))
}

func answerAll(ops []*op, err error) {
	for _, o := range ops {
		o.done <- err
	}
}

// tx is what a write op works with: the writer's connection inside the
// batch's transaction, and statements prepared on it once and reused.
type tx struct {
	ctx  context.Context
	conn *sql.Conn
	w    *writer
}

func (t *tx) stmt(query string) (*sql.Stmt, error) {
	if s, ok := t.w.stmts[query]; ok {
		return s, nil
	}
	s, err := t.conn.PrepareContext(t.ctx, query)
	if err != nil {
		return nil, err
	}
	t.w.stmts[query] = s
	return s, nil
}

// exec runs a statement that returns no rows.
func (t *tx) exec(query string, args ...any) error {
	_, err := t.execResult(query, args...)
	return err
}

// execN runs a statement and returns how many rows it changed.
func (t *tx) execN(query string, args ...any) (int64, error) {
	res, err := t.execResult(query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *tx) execResult(query string, args ...any) (sql.Result, error) {
	s, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(t.ctx, args...)
}

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	s, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(t.ctx, args...)
}

func (t *tx) queryRow(query string, args ...any) row {
	s, err := t.stmt(query)
	if err != nil {
		return errRow{err}
	}
	return s.QueryRowContext(t.ctx, args...)
}
