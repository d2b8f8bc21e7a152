package httpapi_test

import (
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
)

// TestSessionCapAndPaging: a user has at most BATON_MAX_SESSIONS_PER_USER
// live sessions (a login beyond it revokes the least recently used, whose
// tokens then fail), and GET /v1/sessions answers pages of at most
// ?limit= entries, most recently used first, with next_cursor while more
// remain.
func TestSessionCapAndPaging(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	srv := batontest.NewServer(t, batontest.Env{"BATON_MAX_SESSIONS_PER_USER": "7",
		"BATON_LIMIT_ACCOUNT_FAILURES": "off"}, clock)
	c := newClient(t, srv)
	c.register("alice")
	var logins []*resp
	for i := 0; i < 10; i++ {
		clock.Advance(time.Second) // distinct last-used times
		logins = append(logins, c.login("alice"))
	}
	// The three least recently used sessions were revoked, at once.
	for i, l := range logins {
		status, code := 200, ""
		if i < 3 {
			status, code = 401, "invalid_token"
		}
		c.do("GET", "/v1/me", nil, bearer(l.str("access_token"))...).want(t, status, code)
		if i < 3 {
			c.do("POST", "/v1/refresh", map[string]string{"refresh_token": l.str("refresh_token")}).want(t, 401, "invalid_grant")
		}
	}
	at := bearer(logins[9].str("access_token"))

	// Paging: 3 + 3 + 1, newest first, each session once.
	var got []string
	cursor := ""
	for pages := 0; pages < 5; pages++ {
		path := "/v1/sessions?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := c.do("GET", path, nil, at...).want(t, 200, "")
		for _, it := range r.body["sessions"].([]any) {
			got = append(got, it.(map[string]any)["id"].(string))
		}
		if cursor = r.str("next_cursor"); cursor == "" {
			break
		}
	}
	var want []string
	for i := 9; i >= 3; i-- {
		want = append(want, logins[i].str("session_id"))
	}
	if len(got) != len(want) {
		t.Fatalf("paged sessions: got %d %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("paged sessions out of order at %d: got %v, want %v", i, got, want)
		}
	}
	// Without limit: all of them (7 ≤ 100), no cursor.
	if r := c.do("GET", "/v1/sessions", nil, at...).want(t, 200, ""); len(r.body["sessions"].([]any)) != 7 || r.str("next_cursor") != "" {
		t.Fatalf("default page: %s", r.raw)
	}
	// Above the maximum: clamped to 100.
	c.do("GET", "/v1/sessions?limit=1000", nil, at...).want(t, 200, "")
	for _, bad := range []string{"limit=0", "limit=-1", "limit=x", "cursor=%21%21", "cursor=bm90LWEtY3Vyc29y"} {
		c.do("GET", "/v1/sessions?"+bad, nil, at...).want(t, 400, "invalid_request")
	}
}
