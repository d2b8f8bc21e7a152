package server_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/server"
	"github.com/batonauth/baton/token"
)

// allAuditEvents reads the whole audit log (up to 100,000 rows) of the
// closed test server.
func allAuditEvents(t *testing.T, ts *testServer) []*baton.AuditEvent {
	t.Helper()
	db, err := server.OpenStore(context.Background(), ts.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	es, err := db.AuditEvents(context.Background(), 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

var repeated = regexp.MustCompile(`repeated (\d+) more times`)

// represented is how many events a row stands for: 1, or 1 + N for a
// summary row of N repetitions.
func represented(e *baton.AuditEvent) int {
	if m := repeated.FindStringSubmatch(e.Detail); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 1
}

// TestAuditFloodAggregated floods a real server with junk refresh tokens
// and failed logins for names nobody holds, from one client address: the
// audit log gets the first event of each kind and one summary row, not a
// row per request, while failed logins against an existing account stay
// one row each (they name the targeted account) and the metrics still
// count every event.
func TestAuditFloodAggregated(t *testing.T) {
	const (
		junk        = 5000 // refreshes with unknown or malformed tokens
		unknownUser = 40   // failed logins for usernames nobody holds
		knownUser   = 25   // failed logins for an existing account
		workers     = 8
	)
	clock := batontest.NewClock(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC))
	ts := newTestServer(t, map[string]string{
		// Limits off: the flood must reach the engine, as one from many
		// addresses would.
		"BATON_LIMIT_IP_FAILURES": "off", "BATON_LIMIT_ACCOUNT_FAILURES": "off",
	}, clock, server.Options{})
	if r := call(t, "POST", ts.URL+"/v1/register", "", map[string]string{"username": "dora", "password": pw}); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	type req struct{ path, body string }
	reqs := make(chan req)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	client := &http.Client{Timeout: 10 * time.Second}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range reqs {
				res, err := client.Post(ts.URL+r.path, "application/json", strings.NewReader(r.body))
				if err != nil {
					t.Error(err)
					continue
				}
				res.Body.Close()
				mu.Lock()
				statuses[res.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	for i := range junk {
		tok := "junk-" + strconv.Itoa(i)
		if i%2 == 0 {
			// Well-formed, so it reaches the store, but unknown.
			var err error
			if tok, err = token.NewRefreshToken(); err != nil {
				t.Fatal(err)
			}
		}
		reqs <- req{"/v1/refresh", `{"refresh_token":"` + tok + `"}`}
	}
	for i := range unknownUser {
		reqs <- req{"/v1/login", `{"username":"nobody-` + strconv.Itoa(i) + `","password":"guess guess guess"}`}
	}
	for range knownUser {
		reqs <- req{"/v1/login", `{"username":"dora","password":"guess guess guess"}`}
	}
	close(reqs)
	wg.Wait()
	if statuses[401] != junk+unknownUser+knownUser {
		t.Fatalf("statuses %v, want %d × 401", statuses, junk+unknownUser+knownUser)
	}
	// Metrics count events, not rows.
	text := string(call(t, "GET", ts.URL+"/metrics", "", nil).raw)
	for series, want := range map[string]string{
		`baton_refresh_total{outcome="unknown"}`: strconv.Itoa(junk),
		`baton_logins_total{outcome="failed"}`:   strconv.Itoa(unknownUser + knownUser),
	} {
		if got := metricValue(t, text, series); got != want {
			t.Errorf("%s: got %q, want %q", series, got, want)
		}
	}
	ts.Close() // flushes the audit log

	es := allAuditEvents(t, ts)
	rows := map[string]int{}   // kind → rows
	events := map[string]int{} // kind → events the rows stand for
	for _, e := range es {
		kind := e.Type + "/" + e.Outcome
		switch {
		case e.Type == "login" && e.UserID != "":
			kind += "/known"
		case e.Type == "login":
			kind += "/anonymous"
		}
		rows[kind]++
		events[kind] += represented(e)
	}
	t.Logf("%d junk refreshes → %d audit rows; %d failed logins for unknown names → %d rows; %d for an existing account → %d rows; %d rows in all",
		junk, rows["refresh/unknown"], unknownUser, rows["login/failed/anonymous"], knownUser, rows["login/failed/known"], len(es))
	for _, c := range []struct {
		kind         string
		rows, events int
	}{
		// The first event as it was, then one summary row.
		{"refresh/unknown", 2, junk},
		{"login/failed/anonymous", 2, unknownUser},
		// Every attempt on an existing account is its own row.
		{"login/failed/known", knownUser, knownUser},
	} {
		if rows[c.kind] != c.rows || events[c.kind] != c.events {
			t.Errorf("%s: got %d rows standing for %d events, want %d rows for %d", c.kind, rows[c.kind], events[c.kind], c.rows, c.events)
		}
	}
	for _, e := range es {
		if e.Type == "login" && e.UserID != "" && represented(e) != 1 {
			t.Errorf("a failed login of an existing account was aggregated: %+v", e)
		}
	}
}
