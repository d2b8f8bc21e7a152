package storetest

import (
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// appendEvents appends n events with every field set and returns them with
// the Seq the store assigned.
func appendEvents(t *testing.T, s baton.Store, n int) []*baton.AuditEvent {
	t.Helper()
	var events []*baton.AuditEvent
	for i := range n {
		e := &baton.AuditEvent{
			Time:      t0.Add(time.Duration(i) * time.Second),
			Type:      name("type", i),
			UserID:    name("user", i),
			SessionID: name("session", i),
			IP:        "198.51.100.7",
			UserAgent: name("agent", i),
			Outcome:   "success",
			Detail:    name("detail", i),
		}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatalf("AppendAudit %d: got %v, want nil", i, err)
		}
		if i > 0 && e.Seq <= events[i-1].Seq {
			t.Fatalf("AppendAudit %d: got Seq %d, want more than the previous %d", i, e.Seq, events[i-1].Seq)
		}
		events = append(events, e)
	}
	return events
}

func mustAuditEvents(t *testing.T, s baton.Store, after int64, limit int) []*baton.AuditEvent {
	t.Helper()
	got, err := s.AuditEvents(ctx, after, limit)
	if err != nil {
		t.Fatalf("AuditEvents(%d, %d): got %v, want nil", after, limit, err)
	}
	for _, e := range got {
		wantUTC(t, e)
	}
	return got
}

func testAppendAudit(t *testing.T, s baton.Store) {
	events := appendEvents(t, s, 3)
	if events[0].Seq <= 0 {
		t.Errorf("first Seq: got %d, want > 0 (0 means \"newest\" to AuditEvents)", events[0].Seq)
	}
	// An event with only the required fields keeps its empty ones empty.
	sparse := &baton.AuditEvent{Time: t0.Add(time.Hour), Type: "login", Outcome: "failure"}
	if err := s.AppendAudit(ctx, sparse); err != nil {
		t.Fatalf("AppendAudit: got %v, want nil", err)
	}
	want := append(events, sparse)
	if d := diff(want, mustAuditEvents(t, s, 0, 100)); d != "" {
		t.Errorf("AuditEvents mismatch (-want +got):\n%s", d)
	}
}

func testAuditEventsNewest(t *testing.T, s baton.Store) {
	events := appendEvents(t, s, 5)
	// The newest two, still oldest first.
	if d := diff(events[3:], mustAuditEvents(t, s, 0, 2)); d != "" {
		t.Errorf("AuditEvents(0, 2) mismatch (-want +got):\n%s", d)
	}
}

func testAuditEventsAfter(t *testing.T, s baton.Store) {
	events := appendEvents(t, s, 5)
	tests := []struct {
		name  string
		after int64
		limit int
		want  []*baton.AuditEvent
	}{
		{"FirstAfter", events[1].Seq, 2, events[2:4]},
		{"Rest", events[1].Seq, 100, events[2:]},
		{"AfterLast", events[4].Seq, 100, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := diff(tt.want, mustAuditEvents(t, s, tt.after, tt.limit)); d != "" {
				t.Errorf("AuditEvents(%d, %d) mismatch (-want +got):\n%s", tt.after, tt.limit, d)
			}
		})
	}
}

func testAuditEventsEmpty(t *testing.T, s baton.Store) {
	if got := mustAuditEvents(t, s, 0, 10); len(got) != 0 {
		t.Errorf("AuditEvents on an empty store: got %d events, want none", len(got))
	}
}

// testPruneAudit appends events whose times are not in Seq order (several
// instances, or a queue, may append them so) and prunes them in batches
// smaller than the work: the oldest go first, an event exactly at before
// stays, and calls end with one below limit.
func testPruneAudit(t *testing.T, s baton.Store) {
	if n, err := s.PruneAudit(ctx, t0.Add(day), 10); err != nil || n != 0 {
		t.Fatalf("PruneAudit on an empty store: got %d, %v, want 0, nil", n, err)
	}
	var events []*baton.AuditEvent
	for i, sec := range []int{5, 1, 3, 10, 2, 20} {
		e := &baton.AuditEvent{Time: t0.Add(time.Duration(sec) * time.Second), Type: name("type", i), IP: "192.0.2.1", Outcome: "ok"}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatalf("AppendAudit %d: got %v, want nil", i, err)
		}
		events = append(events, e)
	}
	before := t0.Add(10 * time.Second)
	if n, err := s.PruneAudit(ctx, before, 0); err != nil || n != 0 {
		t.Fatalf("PruneAudit with limit 0: got %d, %v, want 0, nil", n, err)
	}
	tests := []struct {
		name string
		want int
		left []*baton.AuditEvent
	}{
		{"OldestThree", 3, []*baton.AuditEvent{events[0], events[3], events[5]}},
		{"LastOld", 1, []*baton.AuditEvent{events[3], events[5]}},
		{"NothingLeft", 0, []*baton.AuditEvent{events[3], events[5]}},
	}
	for _, tt := range tests {
		n, err := s.PruneAudit(ctx, before, 3)
		if err != nil || n != tt.want {
			t.Fatalf("%s: PruneAudit got %d, %v, want %d, nil", tt.name, n, err, tt.want)
		}
		if d := diff(tt.left, mustAuditEvents(t, s, 0, 100)); d != "" {
			t.Fatalf("%s: events left (-want +got):\n%s", tt.name, d)
		}
	}
}
