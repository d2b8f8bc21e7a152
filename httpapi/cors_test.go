package httpapi_test

import (
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

func TestCORSNoneByDefault(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	r := c.do("GET", "/healthz", nil, "Origin", "https://app.example")
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS allowed by default: %v", r.Header)
	}
}
