package httpapi_test

import (
	"strconv"
	"testing"

	"github.com/batonauth/baton/batontest"
)

func want429(t *testing.T, r *resp) {
	t.Helper()
	r.want(t, 429, "too_many_requests")
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After: got %q", r.Header.Get("Retry-After"))
	}
}

func TestLimits(t *testing.T) {
	t.Run("AccountFailuresPerAccountAndIP", func(t *testing.T) {
		srv := batontest.NewServer(t, batontest.Env{"BATON_LIMIT_ACCOUNT_FAILURES": "3/15m", "BATON_TRUSTED_PROXIES": "127.0.0.1"}, nil)
		c := newClient(t, srv)
		c.register("alice")
		attacker := []string{"X-Forwarded-For", "198.51.100.7"}
		bad := map[string]string{"username": "alice", "password": "guess guess guess"}
		for i := 0; i < 3; i++ {
			c.do("POST", "/v1/login", bad, attacker...).want(t, 401, "invalid_credentials")
		}
		want429(t, c.do("POST", "/v1/login", bad, attacker...))
		// Even the right password is refused from the attacker's address...
		want429(t, c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw}, attacker...))
		// ... but the real user, elsewhere, is not locked out.
		c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw}, "X-Forwarded-For", "203.0.113.9").want(t, 200, "")
		// Another account from the attacker's address is not affected by
		// the per-account limit.
		c.register("bob")
		c.do("POST", "/v1/login", map[string]string{"username": "bob", "password": pw}, attacker...).want(t, 200, "")
	})
	t.Run("ForwardedForIgnoredFromUntrustedPeer", func(t *testing.T) {
		srv := batontest.NewServer(t, batontest.Env{"BATON_LIMIT_ACCOUNT_FAILURES": "2/15m"}, nil)
		c := newClient(t, srv)
		c.register("alice")
		bad := map[string]string{"username": "alice", "password": "guess guess guess"}
		// Rotating a spoofed header does not give fresh budgets.
		c.do("POST", "/v1/login", bad, "X-Forwarded-For", "10.0.0.1").want(t, 401, "invalid_credentials")
		c.do("POST", "/v1/login", bad, "X-Forwarded-For", "10.0.0.2").want(t, 401, "invalid_credentials")
		want429(t, c.do("POST", "/v1/login", bad, "X-Forwarded-For", "10.0.0.3"))
	})
	t.Run("IPFailuresCountOnlyFailures", func(t *testing.T) {
		srv := batontest.NewServer(t, batontest.Env{"BATON_LIMIT_IP_FAILURES": "3/1h"}, nil)
		c := newClient(t, srv)
		c.register("alice")
		rt := c.login("alice").str("refresh_token")
		// Many successful refreshes from one address are never throttled.
		for i := 0; i < 10; i++ {
			rt = c.do("POST", "/v1/refresh", map[string]string{"refresh_token": rt}).want(t, 200, "").str("refresh_token")
		}
		for i := 0; i < 3; i++ {
			c.do("POST", "/v1/refresh", map[string]string{"refresh_token": "brt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}).want(t, 401, "invalid_grant")
		}
		want429(t, c.do("POST", "/v1/refresh", map[string]string{"refresh_token": rt}))
		want429(t, c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw}))
	})
	t.Run("Registrations", func(t *testing.T) {
		srv := batontest.NewServer(t, batontest.Env{"BATON_LIMIT_IP_REGISTRATIONS": "2/1h"}, nil)
		c := newClient(t, srv)
		c.register("a1")
		c.register("a2")
		want429(t, c.do("POST", "/v1/register", map[string]string{"username": "a3", "password": pw}))
	})
	t.Run("Off", func(t *testing.T) {
		srv := batontest.NewServer(t, batontest.Env{"BATON_LIMIT_ACCOUNT_FAILURES": "off", "BATON_LIMIT_IP_FAILURES": "off"}, nil)
		c := newClient(t, srv)
		c.register("alice")
		for i := 0; i < 20; i++ {
			c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": "guess guess guess"}).want(t, 401, "invalid_credentials")
		}
	})
}
