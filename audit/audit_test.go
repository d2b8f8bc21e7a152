package audit_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/audit"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/session"
	"github.com/batonauth/baton/sqlite"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// slowStore appends after a delay, or blocks until released.
type slowStore struct {
	baton.AuditStore
	mu      sync.Mutex
	events  []*baton.AuditEvent
	block   chan struct{}
	calls   atomic.Int64
	fail    bool
	batches [][]*baton.AuditEvent
}

func (s *slowStore) AppendAudit(ctx context.Context, e *baton.AuditEvent) error {
	s.calls.Add(1)
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.fail {
		return errors.New("disk on fire")
	}
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
	return nil
}

func (s *slowStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// batchStore has the BatchAppender capability.
type batchStore struct{ slowStore }

func (s *batchStore) AppendAudits(ctx context.Context, es []*baton.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, append([]*baton.AuditEvent(nil), es...))
	s.events = append(s.events, es...)
	return nil
}

func TestWriterFlushesOnClose(t *testing.T) {
	db := batontest.OpenSQLite(t)
	clock := batontest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	w := audit.NewWriter(db, audit.Options{Now: clock.Now, Logger: quiet})
	for i := range 500 {
		w.Observe(session.Event{Type: session.EventRefresh, Outcome: session.OutcomeOK, UserID: "u", SessionID: "s",
			Client: session.Client{IP: "192.0.2.1", UserAgent: "ua"}, Detail: string(rune('a' + i%26))})
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	es, err := db.AuditEvents(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 500 || w.Written() != 500 || w.Dropped() != 0 {
		t.Fatalf("stored %d, written %d, dropped %d; want 500, 500, 0", len(es), w.Written(), w.Dropped())
	}
	e := es[0]
	if e.Type != "refresh" || e.Outcome != "ok" || e.IP != "192.0.2.1" || e.UserAgent != "ua" || !e.Time.Equal(clock.Now()) {
		t.Fatalf("event %+v", e)
	}
	// After Close, events are dropped and counted, never block.
	w.Record(baton.AuditEvent{Type: "late"})
	if w.Dropped() != 1 {
		t.Fatalf("dropped %d after close, want 1", w.Dropped())
	}
}

// TestWriterNeverBlocks: with the store stuck, Record returns at once and
// the overflow is counted.
func TestWriterNeverBlocks(t *testing.T) {
	st := &slowStore{block: make(chan struct{})}
	w := audit.NewWriter(st, audit.Options{Buffer: 10, Batch: 5, Logger: quiet})
	start := time.Now()
	for range 1000 {
		w.Record(baton.AuditEvent{Type: "refresh"})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("1000 Records took %v with a stuck store", d)
	}
	if w.Dropped() < 900 {
		t.Fatalf("dropped %d, want the overflow counted", w.Dropped())
	}
	close(st.block)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := uint64(st.count()); got+w.Dropped() != 1000 || got != w.Written() {
		t.Fatalf("stored %d + dropped %d != 1000 (written %d)", got, w.Dropped(), w.Written())
	}
}

func TestWriterCloseHonoursContext(t *testing.T) {
	st := &slowStore{block: make(chan struct{})}
	defer close(st.block)
	w := audit.NewWriter(st, audit.Options{Logger: quiet, AppendTimeout: time.Minute})
	w.Record(baton.AuditEvent{Type: "x"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a stuck store: %v", err)
	}
}

func TestWriterCountsFailures(t *testing.T) {
	st := &slowStore{fail: true}
	w := audit.NewWriter(st, audit.Options{Logger: quiet})
	for range 3 {
		w.Record(baton.AuditEvent{Type: "x"})
	}
	_ = w.Close(context.Background())
	if w.Failed() != 3 || w.Written() != 0 {
		t.Fatalf("failed %d written %d", w.Failed(), w.Written())
	}
}

func TestWriterUsesBatchAppender(t *testing.T) {
	st := &batchStore{}
	st.block = make(chan struct{})
	w := audit.NewWriter(st, audit.Options{Logger: quiet, Batch: 64})
	for range 200 {
		w.Record(baton.AuditEvent{Type: "x"})
	}
	_ = w.Close(context.Background())
	close(st.block)
	if st.count() != 200 || st.calls.Load() != 0 {
		t.Fatalf("stored %d with %d single appends", st.count(), st.calls.Load())
	}
	for _, b := range st.batches {
		if len(b) > 64 {
			t.Fatalf("a batch of %d, want at most 64", len(b))
		}
	}
}

// TestWriterLingers: events that come within the linger are written as
// one batch, a lone event is written once the linger is over, and neither
// Close nor Flush waits for it.
func TestWriterLingers(t *testing.T) {
	t.Run("OneBatch", func(t *testing.T) {
		st := &batchStore{}
		w := audit.NewWriter(st, audit.Options{Logger: quiet, Linger: time.Minute})
		w.Record(baton.AuditEvent{Type: "first"})
		time.Sleep(50 * time.Millisecond) // without the linger, "first" is written alone by now
		for range 9 {
			w.Record(baton.AuditEvent{Type: "x"})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.Close(ctx); err != nil {
			t.Fatalf("Close waited for the linger: %v", err)
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.events) != 10 || len(st.batches) != 1 {
			t.Fatalf("%d events in %d batches, want 10 in 1", len(st.events), len(st.batches))
		}
	})
	t.Run("Flush", func(t *testing.T) {
		st := &batchStore{}
		w := audit.NewWriter(st, audit.Options{Logger: quiet, Linger: time.Minute})
		defer w.Close(context.Background())
		for i := range 300 { // more than a batch
			w.Record(baton.AuditEvent{Type: "x"})
			if i == 0 {
				time.Sleep(20 * time.Millisecond) // the writer is lingering
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.Flush(ctx); err != nil {
			t.Fatalf("Flush waited for the linger: %v", err)
		}
		if n := st.count(); n != 300 {
			t.Fatalf("%d events written when Flush returned, want 300", n)
		}
	})
	t.Run("LoneEvent", func(t *testing.T) {
		st := &batchStore{}
		w := audit.NewWriter(st, audit.Options{Logger: quiet, Linger: 10 * time.Millisecond})
		defer w.Close(context.Background())
		w.Record(baton.AuditEvent{Type: "x"})
		for deadline := time.Now().Add(5 * time.Second); st.count() == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("a lone event was not written after the linger")
			}
		}
	})
}

func TestFromSessionTruncatesUserAgent(t *testing.T) {
	long := make([]byte, 2000)
	for i := range long {
		long[i] = 'a'
	}
	e := audit.FromSession(session.Event{Type: "login", Client: session.Client{UserAgent: string(long)}}, time.Time{})
	if len(e.UserAgent) != 512 {
		t.Fatalf("user agent of %d bytes", len(e.UserAgent))
	}
}

func BenchmarkRecord(b *testing.B) {
	st := &slowStore{}
	w := audit.NewWriter(st, audit.Options{Logger: quiet, Buffer: 1 << 16})
	defer w.Close(context.Background())
	e := baton.AuditEvent{Type: "refresh", Outcome: "ok", UserID: "u", SessionID: "s"}
	b.ReportAllocs()
	for b.Loop() {
		w.Record(e)
	}
}

// The sqlite store appends a batch in one transaction.
var _ baton.AuditBatchAppender = (*sqlite.DB)(nil)

func TestWriterSQLiteBatches(t *testing.T) {
	db := batontest.OpenSQLite(t)
	w := audit.NewWriter(db, audit.Options{Logger: quiet})
	for range 1000 {
		w.Record(baton.AuditEvent{Type: "refresh", Outcome: "ok"})
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	es, err := db.AuditEvents(context.Background(), 0, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1000 || es[999].Seq != es[0].Seq+999 {
		t.Fatalf("%d events stored", len(es))
	}
}
