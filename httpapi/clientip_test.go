package httpapi_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/batonauth/baton/batontest"
)

// TestClientKeyThroughServer: failed logins from a run of client addresses
// behind a trusted proxy, with a limit of 3 failures per client IP. Every
// address of one IPv4 host or one IPv6 /64 is one client, however it is
// written (zone, port, IPv4-mapped); distinct clients have their own
// budgets even when the proxy writes ports.
func TestClientKeyThroughServer(t *testing.T) {
	const attempts, limit = 12, 3
	tests := []struct {
		name string
		hop  func(i int) string // the X-Forwarded-For entry of attempt i
		want int                // how many of the attempts get 429
	}{
		{"IPv6 one /64", func(i int) string { return fmt.Sprintf("2001:db8:1:2::%x", i+1) }, attempts - limit},
		{"IPv6 one /64, random interface ids", func(i int) string {
			return fmt.Sprintf("2001:db8:1:2:%x:%x:%x:%x", i*7919&0xffff, i*104729&0xffff, 0xffff-i, i)
		}, attempts - limit},
		{"IPv6 one /64 with zones", func(i int) string { return fmt.Sprintf("fe80::%x%%eth%d", i+1, i) }, attempts - limit},
		{"IPv6 one /64 with ports", func(i int) string { return fmt.Sprintf("[2001:db8:1:2::%x]:%d", i+1, 1024+i) }, attempts - limit},
		{"IPv4 with ports", func(i int) string { return fmt.Sprintf("198.51.100.7:%d", 1024+i) }, attempts - limit},
		{"IPv4-mapped IPv6 is IPv4", func(i int) string {
			if i%2 == 0 {
				return "::ffff:198.51.100.8"
			}
			return "198.51.100.8"
		}, attempts - limit},
		{"IPv6 distinct /64s", func(i int) string { return fmt.Sprintf("2001:db8:1:%x::1", i+1) }, 0},
		{"IPv4 distinct hosts with ports", func(i int) string { return fmt.Sprintf("198.51.100.%d:443", i+1) }, 0},
		{"IPv6 distinct /64s with ports", func(i int) string { return fmt.Sprintf("[2001:db8:1:%x::1]:443", i+1) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := batontest.NewServer(t, batontest.Env{
				"BATON_LIMIT_IP_FAILURES":      strconv.Itoa(limit) + "/1h",
				"BATON_LIMIT_ACCOUNT_FAILURES": "off",
				"BATON_TRUSTED_PROXIES":        "127.0.0.1/32,::1/128",
			}, nil)
			c := newClient(t, srv)
			c.register("alice")
			bad := map[string]string{"username": "alice", "password": "guess guess guess"}
			got := 0
			for i := 0; i < attempts; i++ {
				r := c.do("POST", "/v1/login", bad, "X-Forwarded-For", tt.hop(i))
				switch r.StatusCode {
				case 429:
					want429(t, r)
					got++
				case 401:
					r.want(t, 401, "invalid_credentials")
				default:
					t.Fatalf("attempt %d: got %d %s", i, r.StatusCode, r.raw)
				}
			}
			t.Logf("%d failed logins: %d × 429", attempts, got)
			if got != tt.want {
				t.Fatalf("%d failed logins with limit %d: got %d × 429, want %d", attempts, limit, got, tt.want)
			}
		})
	}
}

// TestClientAddressRecorded: the session keeps the client's full address
// (not its /64, not the proxy's), without zone or port.
func TestClientAddressRecorded(t *testing.T) {
	tests := []struct{ hop, want string }{
		{"[2001:db8:1:2::abcd]:443", "2001:db8:1:2::abcd"},
		{"2001:db8:1:2::abcd", "2001:db8:1:2::abcd"},
		{"fe80::1%eth0", "fe80::1"},
		{"198.51.100.7:5678", "198.51.100.7"},
		{"::ffff:198.51.100.7", "198.51.100.7"},
		{"203.0.113.9, 198.51.100.7:5678", "198.51.100.7"},
	}
	srv := batontest.NewServer(t, batontest.Env{"BATON_TRUSTED_PROXIES": "127.0.0.1/32,::1/128"}, nil)
	c := newClient(t, srv)
	c.register("alice")
	for _, tt := range tests {
		tok := c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw}, "X-Forwarded-For", tt.hop).
			want(t, 200, "").str("access_token")
		r := c.do("GET", "/v1/sessions", nil, bearer(tok)...).want(t, 200, "")
		var got string
		list, _ := r.body["sessions"].([]any)
		for _, s := range list {
			if m, _ := s.(map[string]any); m["current"] == true {
				got, _ = m["ip"].(string)
			}
		}
		if got != tt.want {
			t.Errorf("X-Forwarded-For %q: session ip %q, want %q", tt.hop, got, tt.want)
		}
	}
}
