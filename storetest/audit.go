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
