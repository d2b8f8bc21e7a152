package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/server"
)

// TestSessionsOfSeconds: lifetimes of a second or two work end to end (the
// configuration accepts them, the engine honours them): a session ends at
// its idle expiry, and at its absolute expiry however often it is
// refreshed, and the refresh is then 401 invalid_grant. The clock is fake,
// so nothing sleeps.
func TestSessionsOfSeconds(t *testing.T) {
	env := map[string]string{"BATON_ACCESS_TTL": "1s", "BATON_REFRESH_TTL": "2s", "BATON_REFRESH_IDLE_TTL": "1s"}
	ms := time.Millisecond
	tests := []struct {
		name string
		// waits before each refresh; every refresh but the last succeeds
		waits []time.Duration
		// outcome is what the log says of the last refresh
		outcome string
	}{
		{"Idle", []time.Duration{900 * ms, 1000 * ms}, `"outcome":"expired_idle"`},
		{"Absolute", []time.Duration{600 * ms, 600 * ms, 600 * ms, 200 * ms}, `"outcome":"expired_absolute"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := batontest.NewClock(time.Date(2033, 3, 3, 3, 3, 3, 0, time.UTC))
			ts := newTestServer(t, env, clock, server.Options{})
			if r := call(t, "POST", ts.URL+"/v1/register", "", map[string]string{"username": "brief", "password": pw}); r.status != 201 {
				t.Fatalf("register: %d %s", r.status, r.raw)
			}
			r := call(t, "POST", ts.URL+"/v1/login", "", map[string]string{"username": "brief", "password": pw})
			if r.status != 200 || r.body["expires_in"] != 1.0 || r.body["refresh_token_expires_in"] != 2.0 {
				t.Fatalf("login: %d %s, want expires_in 1 and refresh_token_expires_in 2", r.status, r.raw)
			}
			rt := r.str("refresh_token")
			for i, wait := range tt.waits {
				clock.Advance(wait)
				r = call(t, "POST", ts.URL+"/v1/refresh", "", map[string]string{"refresh_token": rt})
				if i < len(tt.waits)-1 {
					if r.status != 200 {
						t.Fatalf("refresh %d: %d %s, want 200", i+1, r.status, r.raw)
					}
					rt = r.str("refresh_token")
					continue
				}
				if r.status != 401 || r.str("error") != "invalid_grant" {
					t.Fatalf("refresh after expiry: %d %s, want 401 invalid_grant", r.status, r.raw)
				}
				if !strings.Contains(ts.Logs.String(), tt.outcome) {
					t.Fatalf("no %q in the log:\n%s", tt.outcome, ts.Logs)
				}
			}
		})
	}
}
