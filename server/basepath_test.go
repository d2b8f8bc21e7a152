package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonauth/baton/config"
	"github.com/batonauth/baton/server"

	"context"
	"log/slog"
)

// TestIssuerWithPath: with an issuer such as https://host/auth, every
// route, cookie path and metadata URL lives under /auth, and the RFC 8414
// metadata is also at the path-inserted location
// /.well-known/oauth-authorization-server/auth.
func TestIssuerWithPath(t *testing.T) {
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	defer ts.Close()
	env := map[string]string{"BATON_ISSUER": ts.URL + "/auth", "BATON_DATA_DIR": filepath.Join(t.TempDir(), "data"), "BATON_COOKIE_SECURE": "false"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	mux.Handle("/auth/", srv.Handler())
	mux.Handle("/.well-known/", srv.Handler())

	for _, path := range []string{"/.well-known/oauth-authorization-server/auth", "/auth/.well-known/oauth-authorization-server"} {
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		res.Body.Close()
		if res.StatusCode != 200 || m["issuer"] != ts.URL+"/auth" || m["token_endpoint"] != ts.URL+"/auth/oauth/token" || m["jwks_uri"] != ts.URL+"/auth/.well-known/jwks.json" {
			t.Fatalf("GET %s: %d %v", path, res.StatusCode, m)
		}
	}
	res, err := http.Get(ts.URL + "/auth/.well-known/jwks.json")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("jwks under the issuer path: %v %v", res, err)
	}
	res.Body.Close()
	reg, _ := http.Post(ts.URL+"/auth/v1/register", "application/json", strings.NewReader(`{"username":"ada","password":"analytical engine 1843"}`))
	reg.Body.Close()
	login, err := http.Post(ts.URL+"/auth/v1/login", "application/json", strings.NewReader(`{"username":"ada","password":"analytical engine 1843","transport":"refresh_cookie"}`))
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	var paths []string
	for _, c := range login.Cookies() {
		paths = append(paths, c.Name+"@"+c.Path)
	}
	if strings.Join(paths, " ") != "baton_refresh@/auth/v1/refresh baton_refresh@/auth/v1/logout baton_csrf@/auth/" {
		t.Fatalf("cookie paths under the issuer path: %v", paths)
	}
}

// TestIssuerWithPathServedAtRoot: `baton serve` mounts the handler at the
// server's root. With an issuer such as https://id.example.com/auth the
// probes still answer at /healthz and /readyz (load balancers probe the
// root), and under the issuer's path; the RFC 8414 metadata is at the
// path-inserted location and under the issuer; anything else at the root
// is a JSON 404, never a route of the API.
func TestIssuerWithPathServedAtRoot(t *testing.T) {
	const issuer = "https://id.example.com/auth"
	addr := serveReal(t, "http", map[string]string{"BATON_ISSUER": issuer, "BATON_DEMO": "false"})
	tests := []struct {
		path       string
		wantStatus int
		wantField  string // a member of the JSON answer ...
		wantValue  string // ... and its value
	}{
		{"/healthz", 200, "status", "ok"},
		{"/readyz", 200, "status", "ready"},
		{"/auth/healthz", 200, "status", "ok"},
		{"/auth/readyz", 200, "status", "ready"},
		{"/.well-known/oauth-authorization-server/auth", 200, "issuer", issuer},
		{"/auth/.well-known/oauth-authorization-server", 200, "issuer", issuer},
		{"/auth/.well-known/jwks.json", 200, "", ""},
		// The API lives under the issuer's path only.
		{"/.well-known/oauth-authorization-server", 404, "error", "not_found"},
		{"/.well-known/jwks.json", 404, "error", "not_found"},
		{"/v1/me", 404, "error", "not_found"},
		{"/", 404, "error", "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := call(t, "GET", "http://"+addr+tt.path, "", nil)
			if r.status != tt.wantStatus || (tt.wantField != "" && r.str(tt.wantField) != tt.wantValue) {
				t.Fatalf("GET %s: %d %s, want %d with %s %q", tt.path, r.status, r.raw, tt.wantStatus, tt.wantField, tt.wantValue)
			}
		})
	}
}
