package httpapi_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
)

// TestLimitWindowEdge: a burst just before and just after where a fixed
// window would turn over gets no more than the budget.
func TestLimitWindowEdge(t *testing.T) {
	clock := batontest.NewClock(time.Date(2030, 1, 1, 0, 14, 59, 0, time.UTC))
	srv := batontest.NewServer(t, batontest.Env{"BATON_LIMIT_ACCOUNT_FAILURES": "3/15m"}, clock)
	c := newClient(t, srv)
	c.register("alice")
	bad := map[string]string{"username": "alice", "password": "guess guess guess"}
	allowed := 0
	for i := 0; i < 12; i++ {
		if i == 6 {
			clock.Advance(time.Second) // 00:15:00, a fixed window's edge
		}
		if r := c.do("POST", "/v1/login", bad); r.StatusCode == 401 {
			allowed++
		} else {
			want429(t, r)
		}
	}
	t.Logf("attempts allowed within 2s around the edge: %d (budget 3)", allowed)
	if allowed != 3 {
		t.Fatalf("allowed %d attempts around a window edge, want the budget, 3", allowed)
	}
}

// TestRetryAfter: Retry-After is exactly the wait until the next attempt
// is let through: one second less is still refused.
func TestRetryAfter(t *testing.T) {
	tests := []struct {
		limit string
		fails int
		want  int // Retry-After after fails failures at one instant
	}{
		{"3/15m", 3, 300},   // one attempt back every 15m/3
		{"1/1h", 1, 3600},   // the whole window
		{"10/15m", 10, 90},  // 15m/10
		{"2/15m", 2, 450},   // 15m/2
		{"7/1h", 7, 515},    // 3600/7 = 514.3, rounded up
		{"300/1h", 300, 12}, // 3600/300
	}
	for _, tt := range tests {
		t.Run(tt.limit, func(t *testing.T) {
			clock := batontest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			srv := batontest.NewServer(t, batontest.Env{"BATON_LIMIT_ACCOUNT_FAILURES": tt.limit}, clock)
			c := newClient(t, srv)
			c.register("alice")
			bad := map[string]string{"username": "alice", "password": "guess guess guess"}
			for i := 0; i < tt.fails; i++ {
				c.do("POST", "/v1/login", bad).want(t, 401, "invalid_credentials")
			}
			r := c.do("POST", "/v1/login", bad)
			want429(t, r)
			got, _ := strconv.Atoi(r.Header.Get("Retry-After"))
			if got != tt.want {
				t.Fatalf("Retry-After %d, want %d", got, tt.want)
			}
			clock.Advance(time.Duration(got-1) * time.Second)
			want429(t, c.do("POST", "/v1/login", bad))
			clock.Advance(time.Second)
			c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw}).want(t, 200, "")
		})
	}
}

// TestLimitConcurrentBurst: failed logins sent all at once get no more
// than the budget, though none has failed when the others are checked.
func TestLimitConcurrentBurst(t *testing.T) {
	const attempts = 24
	tests := []struct{ name, env string }{
		{"per account", "BATON_LIMIT_ACCOUNT_FAILURES"},
		{"per IP", "BATON_LIMIT_IP_FAILURES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := batontest.NewServer(t, batontest.Env{tt.env: "3/1h"}, nil)
			c := newClient(t, srv)
			c.register("alice")
			bad := map[string]string{"username": "alice", "password": "guess guess guess"}
			var wg sync.WaitGroup
			codes := make([]int, attempts)
			start := make(chan struct{})
			for i := range codes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					codes[i] = c.do("POST", "/v1/login", bad).StatusCode
				}()
			}
			close(start)
			wg.Wait()
			checked := 0
			for _, code := range codes {
				switch code {
				case 401:
					checked++
				case 429:
				default:
					t.Fatalf("got status %d", code)
				}
			}
			t.Logf("%d concurrent failed logins: %d passwords checked (budget 3)", attempts, checked)
			if checked != 3 {
				t.Fatalf("%d concurrent failed logins: %d passwords checked, want the budget, 3", attempts, checked)
			}
		})
	}
}
