package audit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/audit"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/session"
	"github.com/google/go-cmp/cmp"
)

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// at is an event time s seconds after epoch.
func at(s int) time.Time { return epoch.Add(time.Duration(s) * time.Second) }

// junk is an anonymous failed refresh from ip at second s.
func junk(ip string, s int) baton.AuditEvent {
	return baton.AuditEvent{Time: at(s), Type: session.EventRefresh, Outcome: session.OutcomeUnknown, IP: ip, UserAgent: "ua-" + ip}
}

// record writes es through a writer with opt on a fresh SQLite store,
// closes it, and returns the rows stored.
func record(t *testing.T, opt audit.Options, es ...baton.AuditEvent) ([]*baton.AuditEvent, *audit.Writer) {
	t.Helper()
	db := batontest.OpenSQLite(t)
	opt.Logger = quiet
	opt.Buffer = len(es) + 1
	w := audit.NewWriter(db, opt)
	for _, e := range es {
		w.Record(e)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := db.AuditEvents(context.Background(), 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		r.Seq = 0
	}
	return rows, w
}

func TestAggregate(t *testing.T) {
	login := func(uid, ip string, s int) baton.AuditEvent {
		return baton.AuditEvent{Time: at(s), Type: session.EventLogin, Outcome: session.OutcomeFailed, UserID: uid, IP: ip,
			Detail: baton.EInvalidCredentials}
	}
	tests := []struct {
		name string
		in   []baton.AuditEvent
		want []*baton.AuditEvent
	}{{
		name: "RepeatsFoldIntoOneSummary",
		in:   []baton.AuditEvent{junk("192.0.2.1", 0), junk("192.0.2.1", 1), junk("192.0.2.1", 2), junk("192.0.2.1", 3)},
		want: []*baton.AuditEvent{
			{Time: at(0), Type: "refresh", Outcome: "unknown", IP: "192.0.2.1", UserAgent: "ua-192.0.2.1"},
			{Time: at(3), Type: "refresh", Outcome: "unknown", IP: "192.0.2.1", UserAgent: "ua-192.0.2.1", Detail: "repeated 3 more times"},
		},
	}, {
		name: "OneEventNoSummary",
		in:   []baton.AuditEvent{junk("192.0.2.1", 0)},
		want: []*baton.AuditEvent{{Time: at(0), Type: "refresh", Outcome: "unknown", IP: "192.0.2.1", UserAgent: "ua-192.0.2.1"}},
	}, {
		// Failed logins of an existing account name it: one row each.
		name: "KnownUserNeverFolded",
		in:   []baton.AuditEvent{login("u1", "192.0.2.1", 0), login("u1", "192.0.2.1", 1), login("u1", "192.0.2.1", 2)},
		want: []*baton.AuditEvent{
			{Time: at(0), Type: "login", Outcome: "failed", UserID: "u1", IP: "192.0.2.1", Detail: "invalid_credentials"},
			{Time: at(1), Type: "login", Outcome: "failed", UserID: "u1", IP: "192.0.2.1", Detail: "invalid_credentials"},
			{Time: at(2), Type: "login", Outcome: "failed", UserID: "u1", IP: "192.0.2.1", Detail: "invalid_credentials"},
		},
	}, {
		name: "SessionOrSuccessNeverFolded",
		in: []baton.AuditEvent{
			{Time: at(0), Type: "refresh", Outcome: "failed", SessionID: "s1", IP: "192.0.2.1"},
			{Time: at(1), Type: "refresh", Outcome: "failed", SessionID: "s1", IP: "192.0.2.1"},
			{Time: at(2), Type: "account_deleted", Outcome: "ok", IP: "192.0.2.1"},
			{Time: at(3), Type: "account_deleted", Outcome: "ok", IP: "192.0.2.1"},
		},
		want: []*baton.AuditEvent{
			{Time: at(0), Type: "refresh", Outcome: "failed", SessionID: "s1", IP: "192.0.2.1"},
			{Time: at(1), Type: "refresh", Outcome: "failed", SessionID: "s1", IP: "192.0.2.1"},
			{Time: at(2), Type: "account_deleted", Outcome: "ok", IP: "192.0.2.1"},
			{Time: at(3), Type: "account_deleted", Outcome: "ok", IP: "192.0.2.1"},
		},
	}, {
		// Per client, type, outcome and detail; anonymous failed logins
		// keep their detail in the summary.
		name: "KeyedByClientTypeOutcomeDetail",
		in: []baton.AuditEvent{
			login("", "192.0.2.1", 0), junk("192.0.2.1", 1), login("", "192.0.2.2", 2),
			login("", "192.0.2.1", 3), junk("192.0.2.1", 4), login("", "192.0.2.1", 5),
		},
		want: []*baton.AuditEvent{
			{Time: at(0), Type: "login", Outcome: "failed", IP: "192.0.2.1", Detail: "invalid_credentials"},
			{Time: at(1), Type: "refresh", Outcome: "unknown", IP: "192.0.2.1", UserAgent: "ua-192.0.2.1"},
			{Time: at(2), Type: "login", Outcome: "failed", IP: "192.0.2.2", Detail: "invalid_credentials"},
			{Time: at(4), Type: "refresh", Outcome: "unknown", IP: "192.0.2.1", UserAgent: "ua-192.0.2.1", Detail: "repeated 1 more times"},
			{Time: at(5), Type: "login", Outcome: "failed", IP: "192.0.2.1", Detail: "invalid_credentials; repeated 2 more times"},
		},
	}, {
		// An IPv6 client may use any address of its /64: one client, and
		// the summary names the /64.
		name: "IPv6ByPrefix",
		in:   []baton.AuditEvent{junk("2001:db8:1:2::1", 0), junk("2001:db8:1:2::99", 1), junk("2001:db8:1:2:ffff::1%eth0", 2)},
		want: []*baton.AuditEvent{
			{Time: at(0), Type: "refresh", Outcome: "unknown", IP: "2001:db8:1:2::1", UserAgent: "ua-2001:db8:1:2::1"},
			{Time: at(2), Type: "refresh", Outcome: "unknown", IP: "2001:db8:1:2::/64", UserAgent: "ua-2001:db8:1:2:ffff::1%eth0",
				Detail: "repeated 2 more times"},
		},
	}, {
		// An event after the window writes the ended window's summary,
		// then starts the next window with itself.
		name: "WindowEnds",
		in:   []baton.AuditEvent{junk("192.0.2.1", 0), junk("192.0.2.1", 30), junk("192.0.2.1", 59), junk("192.0.2.1", 60), junk("192.0.2.1", 61)},
		want: []*baton.AuditEvent{
			{Time: at(0), Type: "refresh", Outcome: "unknown", IP: "192.0.2.1", UserAgent: "ua-192.0.2.1"},
			{Time: at(59), Type: "refresh", Outcome: "unknown", IP: "192.0.2.1", UserAgent: "ua-192.0.2.1", Detail: "repeated 2 more times"},
			{Time: at(60), Type: "refresh", Outcome: "unknown", IP: "192.0.2.1", UserAgent: "ua-192.0.2.1"},
			{Time: at(61), Type: "refresh", Outcome: "unknown", IP: "192.0.2.1", UserAgent: "ua-192.0.2.1", Detail: "repeated 1 more times"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := record(t, audit.Options{Window: time.Minute}, tt.in...)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("rows (-want +got):\n%s", d)
			}
		})
	}
}

// TestAggregateBounded: a flood from more addresses than the writer folds
// one by one adds one row per new address up to the bound, then a single
// overflow row that counts the rest.
func TestAggregateBounded(t *testing.T) {
	const sources, addrs, each = 8, 5000, 3
	var in []baton.AuditEvent
	for r := range each {
		for i := range addrs {
			in = append(in, junk(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), r))
		}
	}
	got, w := record(t, audit.Options{Sources: sources}, in...)
	// The first event and a summary per folded address, one overflow row.
	if len(got) != 2*sources+1 {
		t.Fatalf("%d events from %d addresses: %d rows, want %d", len(in), addrs, len(got), 2*sources+1)
	}
	var overflow *baton.AuditEvent
	for _, r := range got {
		if r.IP == "" {
			overflow = r
		}
	}
	want := &baton.AuditEvent{Time: at(each - 1), Type: "refresh", Outcome: "unknown",
		Detail: fmt.Sprintf("repeated %d times from clients beyond the first %d of the window", (addrs-sources)*each, sources)}
	if d := cmp.Diff(want, overflow); d != "" {
		t.Errorf("overflow row (-want +got):\n%s", d)
	}
	if w.Dropped() != 0 || w.Written() != uint64(len(got)) {
		t.Errorf("dropped %d, written %d; want 0, %d", w.Dropped(), w.Written(), len(got))
	}
}

// TestAggregateQuietWindow: a window that ends while no event arrives is
// still summed up, without waiting for Close.
func TestAggregateQuietWindow(t *testing.T) {
	db := batontest.OpenSQLite(t)
	clock := batontest.NewClock(epoch)
	w := audit.NewWriter(db, audit.Options{Logger: quiet, Now: clock.Now, Window: time.Second})
	defer w.Close(context.Background())
	for range 10 {
		w.Record(junk("192.0.2.1", 0))
	}
	clock.Advance(2 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := db.AuditEvents(context.Background(), 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 2 {
			if rows[1].Detail != "repeated 9 more times" {
				t.Fatalf("summary %+v", rows[1])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows before Close, want the first event and its summary", len(rows))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
