package audit

import (
	"fmt"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// TestAggregatorMemoryBounded: however many addresses and event kinds a
// window sees, the aggregator holds at most Sources folds and maxOverflow
// overflow rows; what lies beyond even those is dropped and counted.
func TestAggregatorMemoryBounded(t *testing.T) {
	const sources, addrs, kinds = 16, 100_000, 200
	dropped := 0
	a := newAggregator(time.Minute, sources, func(*baton.AuditEvent) { dropped++ })
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	written := 0
	var out []*baton.AuditEvent
	for i := range addrs {
		e := &baton.AuditEvent{Time: now, Type: fmt.Sprintf("kind-%d", i%kinds), Outcome: "failed",
			IP: fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff)}
		out = a.add(e, out[:0])
		written += len(out)
		if len(a.folds) > sources || len(a.overflow) > maxOverflow {
			t.Fatalf("after %d events: %d folds, %d overflow rows; want at most %d, %d", i+1, len(a.folds), len(a.overflow), sources, maxOverflow)
		}
	}
	if written != sources {
		t.Errorf("%d rows written at once, want %d (the first event of each folded client)", written, sources)
	}
	rows := a.flush(nil)
	if len(rows) != maxOverflow || len(a.folds) != 0 || len(a.overflow) != 0 {
		t.Errorf("flush: %d rows, %d folds and %d overflow rows left; want %d, 0, 0", len(rows), len(a.folds), len(a.overflow), maxOverflow)
	}
	// Every event is in a row or counted as dropped.
	total := written + dropped
	for _, r := range rows {
		var n int
		if _, err := fmt.Sscanf(r.Detail, "repeated %d times", &n); err != nil {
			t.Fatalf("overflow detail %q", r.Detail)
		}
		total += n
	}
	if total != addrs {
		t.Errorf("rows and drops account for %d events, want %d", total, addrs)
	}
}
