// Package audit writes baton's audit log: every security event (login,
// refresh, grace replay, reuse detection, logout, revocation, password
// change, account deletion, lock and unlock, key operations) becomes a
// baton.AuditEvent in the store.
//
// Refresh is the server's hot path, so the log is written off it: Record
// puts the event on a bounded queue and returns at once; one goroutine
// drains the queue in batches. When the queue is full the event is dropped,
// counted (Dropped) and logged: a request never waits for the audit log.
// Close flushes what is queued.
//
// Repeated anonymous failures are folded per client address into summary
// rows (aggregate.go), so an unauthenticated flood adds a bounded number of
// rows per window instead of one per request. The caller's Observer (the
// metrics) still sees every event: folding happens here, after the queue.
//
// An event never holds a token, a password or a hash: the types here have
// no field for one.
package audit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
)

// Options configure a Writer; zero values take the defaults.
type Options struct {
	// Buffer is the queue length (default 8192).
	Buffer int
	// Batch is the most events written together (default 256).
	Batch int
	// Linger is how long the writer waits, once an event has come, for
	// more to write with it (default 20ms; negative: no wait). A batch
	// is one transaction, and each costs the store a commit: without the
	// wait, a server at a few thousand refreshes a second wrote a batch
	// of five or six events per commit, as many commits as its rotations
	// made (BENCHMARKS.md). Close does not wait for it.
	Linger time.Duration
	// Now is the clock that stamps events without a time (default
	// time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// AppendTimeout bounds one batch (default 10s).
	AppendTimeout time.Duration
	// Window is how long repeated anonymous failures from one client are
	// folded before their summary row is written (default 1m).
	Window time.Duration
	// Sources is the most folds (a kind of anonymous failure from one
	// client) a window holds (default 1024); failures beyond them go to
	// an overflow row per event type and outcome.
	Sources int
}

// Writer appends audit events asynchronously. It is safe for concurrent use.
type Writer struct {
	store baton.AuditStore
	opt   Options
	log   *slog.Logger

	mu     sync.RWMutex // orders Record against Close
	closed bool
	queue  chan *baton.AuditEvent
	flush  chan chan struct{} // Flush's requests
	done   chan struct{}
	agg    *aggregator // run's only

	written atomic.Uint64
	dropped atomic.Uint64
	failed  atomic.Uint64
	// lastDropLog rate-limits the overflow warning (unix nanoseconds).
	lastDropLog atomic.Int64
}

// NewWriter starts a writer appending to store. Call Close to flush and
// stop it.
func NewWriter(store baton.AuditStore, opt Options) *Writer {
	if opt.Buffer <= 0 {
		opt.Buffer = 8192
	}
	if opt.Batch <= 0 {
		opt.Batch = 256
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Linger == 0 {
		opt.Linger = 20 * time.Millisecond
	}
	if opt.AppendTimeout <= 0 {
		opt.AppendTimeout = 10 * time.Second
	}
	if opt.Window <= 0 {
		opt.Window = defaultWindow
	}
	if opt.Sources <= 0 {
		opt.Sources = defaultSources
	}
	w := &Writer{store: store, opt: opt, log: opt.Logger,
		queue: make(chan *baton.AuditEvent, opt.Buffer), flush: make(chan chan struct{}), done: make(chan struct{})}
	w.agg = newAggregator(opt.Window, opt.Sources, w.drop)
	go w.run()
	return w
}

// Record queues e without blocking. A zero Time is set to now. When the
// queue is full, or the writer is closed, the event is dropped and counted.
func (w *Writer) Record(e baton.AuditEvent) {
	if e.Time.IsZero() {
		e.Time = w.opt.Now()
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.drop(&e)
		return
	}
	select {
	case w.queue <- &e:
	default:
		w.drop(&e)
	}
}

func (w *Writer) drop(e *baton.AuditEvent) {
	n := w.dropped.Add(1)
	now := time.Now().UnixNano()
	last := w.lastDropLog.Load()
	if now-last > int64(time.Second) && w.lastDropLog.CompareAndSwap(last, now) {
		w.log.Warn("audit queue full: event dropped", "event", e.Type, "user_id", e.UserID,
			"session_id", e.SessionID, "dropped_total", n)
	}
}

// Observe records a session event; it is what server wires into
// session.Config.Observer.
func (w *Writer) Observe(e session.Event) { w.Record(FromSession(e, time.Time{})) }

// FromSession converts a session event to an audit event at t (zero: the
// writer's clock).
func FromSession(e session.Event, t time.Time) baton.AuditEvent {
	return baton.AuditEvent{
		Time:      t,
		Type:      e.Type,
		UserID:    e.UserID,
		SessionID: e.SessionID,
		IP:        e.Client.IP,
		UserAgent: truncate(e.Client.UserAgent, 512),
		Outcome:   e.Outcome,
		Detail:    e.Detail,
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Written, Dropped and Failed count events appended, dropped on overflow
// and lost to a failed append.
func (w *Writer) Written() uint64 { return w.written.Load() }
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }
func (w *Writer) Failed() uint64  { return w.failed.Load() }

// Queued is the number of events waiting.
func (w *Writer) Queued() int { return len(w.queue) }

// Close stops accepting events and waits until the queued ones are written
// or ctx ends.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush returns once the events recorded before it are written (or have
// failed), without waiting for Options.Linger; anonymous failures being
// folded into a window's summary stay held until their window ends.
func (w *Writer) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case w.flush <- ack:
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run drains the queue in batches until Close, folding anonymous failures
// on the way; a ticker writes the summaries of a window that ended while
// no event came, and Close writes the ones still held.
func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(max(w.opt.Window/4, 100*time.Millisecond))
	defer tick.Stop()
	var rows []*baton.AuditEvent
	for {
		rows = rows[:0]
		var ack chan struct{} // a Flush to answer once rows are written
		select {
		case <-tick.C:
			rows = w.agg.expire(w.opt.Now(), rows)
		case ack = <-w.flush:
			rows = w.drain(rows)
		case e, ok := <-w.queue:
			if !ok {
				w.writeAll(w.agg.flush(rows))
				return
			}
			rows, ack = w.gather(w.agg.add(e, rows), w.opt.Linger)
		}
		w.writeAll(rows)
		clear(rows)
		if ack != nil {
			close(ack)
		}
	}
}

// gather adds to rows the events queued now and those that come within
// linger (none when negative), up to a batch. It returns early when the
// queue is closed, or when a Flush comes, returning its acknowledgement
// with what was queued before it.
func (w *Writer) gather(rows []*baton.AuditEvent, linger time.Duration) ([]*baton.AuditEvent, chan struct{}) {
	var expired <-chan time.Time
	if linger > 0 {
		t := time.NewTimer(linger)
		defer t.Stop()
		expired = t.C
	}
	for len(rows) < w.opt.Batch {
		var (
			e  *baton.AuditEvent
			ok bool
		)
		select {
		case e, ok = <-w.queue:
		default:
			if expired == nil {
				return rows, nil
			}
			select {
			case e, ok = <-w.queue:
			case <-expired:
				return rows, nil
			case ack := <-w.flush:
				return w.drain(rows), ack
			}
		}
		if !ok {
			return rows, nil
		}
		rows = w.agg.add(e, rows)
	}
	return rows, nil
}

// drain adds to rows every event queued now (for Flush: writeAll cuts
// them into batches).
func (w *Writer) drain(rows []*baton.AuditEvent) []*baton.AuditEvent {
	for n := len(w.queue); n > 0; n-- {
		rows = w.agg.add(<-w.queue, rows)
	}
	return rows
}

// writeAll writes rows in batches of at most Options.Batch (a window's
// summaries may come many at once).
func (w *Writer) writeAll(rows []*baton.AuditEvent) {
	for len(rows) > 0 {
		n := min(len(rows), w.opt.Batch)
		w.write(rows[:n])
		rows = rows[n:]
	}
}

// write appends one batch: in one call where the store can, else
// concurrently, so a store with group commit (sqlite) commits them together.
func (w *Writer) write(batch []*baton.AuditEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), w.opt.AppendTimeout)
	defer cancel()
	if ba, ok := w.store.(baton.AuditBatchAppender); ok {
		if err := ba.AppendAudits(ctx, batch); err != nil {
			w.failed.Add(uint64(len(batch)))
			w.log.Error("audit append failed", "events", len(batch), "err", err)
			return
		}
		w.written.Add(uint64(len(batch)))
		return
	}
	if len(batch) == 1 {
		w.append(ctx, batch[0])
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16) // leave the connection pool to requests
	for _, e := range batch {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			w.append(ctx, e)
		}()
	}
	wg.Wait()
}

func (w *Writer) append(ctx context.Context, e *baton.AuditEvent) {
	if err := w.store.AppendAudit(ctx, e); err != nil {
		w.failed.Add(1)
		w.log.Error("audit append failed", "event", e.Type, "err", err)
		return
	}
	w.written.Add(1)
}
