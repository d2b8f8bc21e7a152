package httpapi_test

import (
	"net/url"
	"testing"

	"github.com/batonauth/baton/batontest"
)

func TestCORS(t *testing.T) {
	srv := batontest.NewServer(t, batontest.Env{"BATON_CORS_ORIGINS": "https://app.example"}, nil)
	c := newClient(t, srv)
	pre := c.do("OPTIONS", "/v1/refresh", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
	if pre.StatusCode != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		pre.Header.Get("Access-Control-Allow-Credentials") != "true" || pre.Header.Get("Access-Control-Allow-Headers") == "" {
		t.Fatalf("preflight from a listed origin: %d %v", pre.StatusCode, pre.Header)
	}
	other := c.do("OPTIONS", "/v1/refresh", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if other.Header.Get("Access-Control-Allow-Origin") != "" || other.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("an unlisted origin got CORS headers: %v", other.Header)
	}
	// Cookie-authenticated unsafe requests from a listed origin pass the
	// Origin check; from others they are refused even with the CSRF token.
	c.register("alice")
	c.login("alice", "transport", "cookies")
	c.do("POST", "/v1/refresh", nil, append(c.csrf(), "Origin", "https://app.example")...).want(t, 200, "")
	c.do("POST", "/v1/refresh", nil, append(c.csrf(), "Origin", "https://evil.example")...).want(t, 403, "csrf_failed")
	c.do("POST", "/v1/refresh", nil, append(c.csrf(), "Origin", srv.URL)...).want(t, 200, "")
}

// TestOriginLoopbackAlias: with a loopback issuer (as by default) the same
// listener under the name localhost — where pages must be for passkeys,
// whose RP id is then localhost — passes the Origin check of cookie
// requests; another port or scheme does not.
func TestOriginLoopbackAlias(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	u, err := url.Parse(srv.URL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("the test server is not at 127.0.0.1: %q", srv.URL)
	}
	c := newClient(t, srv)
	c.register("alice")
	c.login("alice", "transport", "cookies")
	tests := []struct {
		origin string
		want   int
	}{
		{"http://localhost:" + u.Port(), 200},
		{"http://LOCALHOST:" + u.Port(), 403},
		{"https://localhost:" + u.Port(), 403},
		{"http://localhost:1", 403},
		{"http://localhost", 403},
		{"http://localhost.evil.example:" + u.Port(), 403},
		{"http://[::1]:" + u.Port(), 403},
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			code := map[int]string{200: "", 403: "csrf_failed"}[tt.want]
			c.do("POST", "/v1/refresh", nil, append(c.csrf(), "Origin", tt.origin)...).want(t, tt.want, code)
		})
	}
}

// TestOriginNoAliasForAName: an issuer with a host name has no alias.
func TestOriginNoAliasForAName(t *testing.T) {
	srv := batontest.NewServer(t, batontest.Env{"BATON_ISSUER": "http://auth.example.test"}, nil)
	c := newClient(t, srv)
	c.register("alice")
	c.login("alice", "transport", "cookies")
	c.do("POST", "/v1/refresh", nil, append(c.csrf(), "Origin", "http://localhost")...).want(t, 403, "csrf_failed")
	c.do("POST", "/v1/refresh", nil, append(c.csrf(), "Origin", "http://auth.example.test")...).want(t, 200, "")
}

func TestCORSNoneByDefault(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	r := c.do("GET", "/healthz", nil, "Origin", "https://app.example")
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS allowed by default: %v", r.Header)
	}
}
