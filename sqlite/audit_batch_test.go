package sqlite

import (
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/google/go-cmp/cmp"
)

func TestAppendAudits(t *testing.T) {
	db := mustOpen(t)
	es := []*baton.AuditEvent{
		{Time: t0, Type: "refresh", UserID: "u1", SessionID: "s1", IP: "192.0.2.1", UserAgent: "ua", Outcome: "ok"},
		{Time: t0.Add(time.Second), Type: "logout", UserID: "u1", SessionID: "s1", Outcome: "ok", Detail: "local"},
		{Time: t0.Add(2 * time.Second), Type: "login", UserID: "u2", Outcome: "failed", Detail: "invalid_credentials"},
	}
	if err := db.AppendAudits(ctx, es); err != nil {
		t.Fatalf("AppendAudits: got %v, want nil", err)
	}
	for i, e := range es {
		if e.Seq == 0 || (i > 0 && e.Seq <= es[i-1].Seq) {
			t.Fatalf("Seq of event %d: got %d, want increasing and > 0", i, e.Seq)
		}
	}
	got, err := db.AuditEvents(ctx, 0, 10)
	if err != nil {
		t.Fatalf("AuditEvents: got %v, want nil", err)
	}
	if diff := cmp.Diff(es, got); diff != "" {
		t.Errorf("AuditEvents (-want +got):\n%s", diff)
	}
	if err := db.AppendAudits(ctx, nil); err != nil {
		t.Errorf("AppendAudits(nil): got %v, want nil", err)
	}
}
