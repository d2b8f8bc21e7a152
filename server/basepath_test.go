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
