package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
)

func TestFreshness(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	srv := batontest.NewServer(t, batontest.Env{"BATON_ACCESS_TTL": "1h", "BATON_REFRESH_IDLE_TTL": "24h"}, clock)
	c := newClient(t, srv)
	c.register("alice")
	l := c.login("alice")
	at := l.str("access_token")
	wantChallenge := func(r *resp) {
		t.Helper()
		r.want(t, 401, "insufficient_user_authentication")
		h := r.Header.Get("WWW-Authenticate")
		if !strings.HasPrefix(h, "Bearer ") || !strings.Contains(h, `error="insufficient_user_authentication"`) || !strings.Contains(h, "max_age=900") {
			t.Fatalf("WWW-Authenticate: got %q", h)
		}
	}
	body := map[string]string{"current_password": pw, "new_password": "a brand new passphrase"}

	// Fresh for 15 minutes after login...
	clock.Advance(15*time.Minute + time.Second)
	wantChallenge(c.do("POST", "/v1/password", body, bearer(at)...))
	wantChallenge(c.do("DELETE", "/v1/me", nil, bearer(at)...))
	// ... refreshed tokens are never fresh ...
	r := c.do("POST", "/v1/refresh", map[string]string{"refresh_token": l.str("refresh_token")}).want(t, 200, "")
	wantChallenge(c.do("POST", "/v1/password", body, bearer(r.str("access_token"))...))
	// ... reauth cures it, and a wrong password there changes nothing.
	c.do("POST", "/v1/reauth", map[string]string{"password": "not my password"}, bearer(at)...).want(t, 401, "invalid_credentials")
	c.do("POST", "/v1/reauth", map[string]string{}, bearer(at)...).want(t, 400, "invalid_request")
	c.do("POST", "/v1/reauth", map[string]string{"password": pw}).want(t, 401, "unauthorized")
	ra := c.do("POST", "/v1/reauth", map[string]string{"password": pw}, bearer(r.str("access_token"))...).want(t, 200, "")
	if ra.str("refresh_token") != "" || ra.str("session_id") != l.str("session_id") || ra.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("reauth response: %s", ra.raw)
	}
	if cl := decodeClaims(t, ra.str("access_token")); cl["fresh"] != true {
		t.Fatalf("reauth token not fresh: %v", cl)
	}
	// A wrong current password is invalid_credentials even with a fresh
	// token, and changes nothing.
	c.do("POST", "/v1/password", map[string]string{"current_password": "wrong wrong", "new_password": "another passphrase"}, bearer(ra.str("access_token"))...).want(t, 401, "invalid_credentials")
	c.do("POST", "/v1/password", map[string]string{"current_password": pw, "new_password": "alice"}, bearer(ra.str("access_token"))...).want(t, 400, "weak_password")
	c.do("POST", "/v1/password", map[string]string{"current_password": pw}, bearer(ra.str("access_token"))...).want(t, 400, "invalid_request")
	c.do("GET", "/v1/me", nil, bearer(ra.str("access_token"))...).want(t, 200, "")

	t.Run("FreshTTLZeroMeansWholeLife", func(t *testing.T) {
		clock := batontest.NewClock(time.Now())
		srv := batontest.NewServer(t, batontest.Env{"BATON_FRESH_TTL": "0", "BATON_ACCESS_TTL": "1h"}, clock)
		c := newClient(t, srv)
		c.register("bob")
		at := c.login("bob").str("access_token")
		clock.Advance(59 * time.Minute)
		c.do("DELETE", "/v1/me", nil, bearer(at)...).want(t, 204, "")
	})
}

func TestPasswordChange(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	c.register("alice")
	a, other := c.login("alice"), c.login("alice")
	next := "a brand new passphrase"
	r := c.do("POST", "/v1/password", map[string]string{"current_password": pw, "new_password": next}, bearer(a.str("access_token"))...).want(t, 200, "")
	if r.str("session_id") == a.str("session_id") || r.str("refresh_token") == "" || r.str("access_token") == "" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("password change must return a new session: %s", r.raw)
	}
	// Every earlier session is dead: access and refresh tokens.
	for _, old := range []*resp{a, other} {
		c.do("GET", "/v1/me", nil, bearer(old.str("access_token"))...).want(t, 401, "invalid_token")
		c.do("POST", "/v1/refresh", map[string]string{"refresh_token": old.str("refresh_token")}).want(t, 401, "invalid_grant")
	}
	c.do("GET", "/v1/me", nil, bearer(r.str("access_token"))...).want(t, 200, "")
	c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw}).want(t, 401, "invalid_credentials")
	c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": next}).want(t, 200, "")
}

func TestAccountDeletion(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	u := c.register("alice")
	a, other := c.login("alice"), c.login("alice")
	c.do("DELETE", "/v1/me", nil, bearer(a.str("access_token"))...).want(t, 204, "")
	for _, old := range []*resp{a, other} {
		c.do("GET", "/v1/me", nil, bearer(old.str("access_token"))...).want(t, 401, "invalid_token")
		c.do("POST", "/v1/refresh", map[string]string{"refresh_token": old.str("refresh_token")}).want(t, 401, "invalid_grant")
	}
	c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw}).want(t, 401, "invalid_credentials")
	// The username is free again, for a new account.
	u2 := c.register("ALICE")
	if u2.str("id") == u.str("id") {
		t.Fatalf("re-registration reused the old id")
	}
}

func TestSessions(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	c.register("alice")
	c.register("bob")
	a := c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw}, "User-Agent", "browser-a").want(t, 200, "")
	b := c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw}, "User-Agent", "phone-b").want(t, 200, "")
	bob := c.login("bob")

	list := c.do("GET", "/v1/sessions", nil, bearer(a.str("access_token"))...).want(t, 200, "")
	items, _ := list.body["sessions"].([]any)
	if len(items) != 2 {
		t.Fatalf("sessions: got %d, want 2: %s", len(items), list.raw)
	}
	seen := map[string]map[string]any{}
	for _, it := range items {
		m := it.(map[string]any)
		seen[m["id"].(string)] = m
		for _, k := range []string{"id", "created_at", "last_used_at", "expires_at", "idle_expires_at", "user_agent", "ip", "current"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("session field %s missing: %v", k, m)
			}
		}
	}
	if s := seen[a.str("session_id")]; s == nil || s["current"] != true || s["user_agent"] != "browser-a" || s["ip"] != "127.0.0.1" {
		t.Fatalf("current session: %v", s)
	}
	if s := seen[b.str("session_id")]; s == nil || s["current"] != false || s["user_agent"] != "phone-b" {
		t.Fatalf("other session: %v", s)
	}
	// Only one's own live sessions can be revoked; anything else is 404.
	for _, id := range []string{bob.str("session_id"), "no-such-id", strings.Repeat("x", 100)} {
		c.do("DELETE", "/v1/sessions/"+id, nil, bearer(a.str("access_token"))...).want(t, 404, "not_found")
	}
	c.do("GET", "/v1/me", nil, bearer(bob.str("access_token"))...).want(t, 200, "")
	c.do("DELETE", "/v1/sessions/"+b.str("session_id"), nil, bearer(a.str("access_token"))...).want(t, 204, "")
	c.do("GET", "/v1/me", nil, bearer(b.str("access_token"))...).want(t, 401, "invalid_token")
	c.do("DELETE", "/v1/sessions/"+b.str("session_id"), nil, bearer(a.str("access_token"))...).want(t, 404, "not_found")
	list = c.do("GET", "/v1/sessions", nil, bearer(a.str("access_token"))...).want(t, 200, "")
	if n := len(list.body["sessions"].([]any)); n != 1 {
		t.Fatalf("sessions after revoking one: got %d, want 1", n)
	}
	c.do("GET", "/v1/sessions", nil).want(t, 401, "unauthorized")
}

// TestMiddleware: an application embedding baton protects its own routes
// with the same rules as baton's: valid token, CSRF for cookies, freshness.
func TestMiddleware(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	srv := batontest.NewServer(t, batontest.Env{"BATON_ACCESS_TTL": "1h"}, clock)
	app := http.NewServeMux()
	app.Handle("/app/profile", srv.API.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := httpapiClaims(r)
		fmt.Fprintf(w, "user=%s session=%s", c.Subject, c.SessionID)
	})))
	app.Handle("/app/transfer", srv.API.RequireFresh(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "transferred")
	})))
	app.Handle("/", srv.Handler())
	srv.HTTP.Config.Handler = app

	c := newClient(t, srv)
	u := c.register("alice")
	l := c.login("alice")
	r := c.do("GET", "/app/profile", nil, bearer(l.str("access_token"))...)
	if r.StatusCode != 200 || string(r.raw) != fmt.Sprintf("user=%s session=%s", u.str("id"), l.str("session_id")) {
		t.Fatalf("profile: %d %s", r.StatusCode, r.raw)
	}
	c.do("GET", "/app/profile", nil).want(t, 401, "unauthorized")
	c.do("POST", "/app/transfer", nil, bearer(l.str("access_token"))...).want(t, 200, "")
	clock.Advance(16 * time.Minute)
	c.do("POST", "/app/transfer", nil, bearer(l.str("access_token"))...).want(t, 401, "insufficient_user_authentication")

	// With cookies: GET works, unsafe methods need the CSRF header.
	c.login("alice", "transport", "cookies")
	c.do("GET", "/app/profile", nil).want(t, 200, "")
	c.do("POST", "/app/transfer", nil).want(t, 403, "csrf_failed")
	c.do("POST", "/app/transfer", nil, c.csrf()...).want(t, 200, "")
}
