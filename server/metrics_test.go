package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton/demo"
	"github.com/batonauth/baton/internal/testcert"
	"github.com/batonauth/baton/server"
)

func metricValue(t *testing.T, text, series string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return ""
	}
	return m[1]
}

// wantSeries checks the value of each series in a /metrics text and,
// when one differs, logs the whole text.
func wantSeries(t *testing.T, text string, want map[string]string) {
	t.Helper()
	failed := false
	for series, w := range want {
		if got := metricValue(t, text, series); got != w {
			t.Errorf("%s = %q, want %s", series, got, w)
			failed = true
		}
	}
	if failed {
		t.Log(text)
	}
}

func TestMetrics(t *testing.T) {
	ts := newTestServer(t, nil, nil, server.Options{Version: "v9.9.9"})
	u := ts.URL
	l := loginAs(t, u, "metric")
	call(t, "POST", u+"/v1/login", "", map[string]string{"username": "metric", "password": "wrong wrong wrong"})
	r1 := call(t, "POST", u+"/v1/refresh", "", map[string]string{"refresh_token": l.str("refresh_token")})
	call(t, "POST", u+"/v1/refresh", "", map[string]string{"refresh_token": l.str("refresh_token")}) // grace replay
	call(t, "POST", u+"/v1/refresh", "", map[string]string{"refresh_token": r1.str("refresh_token")})
	call(t, "POST", u+"/v1/refresh", "", map[string]string{"refresh_token": l.str("refresh_token")}) // reuse
	call(t, "POST", u+"/v1/refresh", "", map[string]string{"refresh_token": "brt_unknown"})
	loginAs(t, u, "metric2")
	call(t, "GET", u+"/v1/me", "", nil)
	if err := ts.Service.SyncRevocations(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := call(t, "GET", u+"/metrics", "", nil)
	if r.status != 200 || !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %q", r.status, r.hdr.Get("Content-Type"))
	}
	wantSeries(t, string(r.raw), map[string]string{
		`baton_refresh_total{outcome="rotated"}`:                                    "2",
		`baton_refresh_total{outcome="grace_replay"}`:                               "1",
		`baton_refresh_total{outcome="reuse_revoked"}`:                              "1",
		`baton_refresh_total{outcome="unknown"}`:                                    "1",
		`baton_refresh_total{outcome="expired_idle"}`:                               "0",
		`baton_logins_total{outcome="ok"}`:                                          "2",
		`baton_logins_total{outcome="failed"}`:                                      "1",
		`baton_http_requests_total{route="/v1/refresh",status="200"}`:               "3",
		`baton_http_requests_total{route="/v1/refresh",status="401"}`:               "2",
		`baton_http_requests_total{route="/v1/me",status="401"}`:                    "1",
		`baton_http_request_duration_seconds_count{route="/v1/login",status="200"}`: "2",
		`baton_active_sessions`:                                                     "1",
		`baton_revoked_sessions`:                                                    "1",
		`baton_revocation_feed_lag_seconds`:                                         "0",
		`baton_build_info{goversion="` + runtimeVersion() + `",version="v9.9.9"}`:   "1",
		// Every refresh of a known token is one RotateSession: two
		// rotations, the grace replay and the reuse.
		`baton_store_duration_seconds_count{method="RotateSession"}`:       "4",
		`baton_store_errors_total{method="RotateSession"}`:                 "0",
		`baton_auth_events_total{outcome="revoked",type="reuse_detected"}`: "1",
		`baton_audit_events_dropped_total`:                                 "0",
	})
}

func runtimeVersion() string { return runtime.Version() }

// TestAdminListener: with BATON_ADMIN_ADDR, /metrics is served there and
// not on the public listener.
// (TestMetrics is the other way: without it, the public listener serves
// /metrics.) The demo UI, mounted at the root, does not serve it either.
func TestAdminListener(t *testing.T) {
	ts := newTestServer(t, map[string]string{"BATON_ADMIN_ADDR": "127.0.0.1:0"}, nil, server.Options{Demo: demo.Handler()})
	if r := call(t, "GET", ts.URL+"/metrics", "", nil); r.status != 404 || bytes.Contains(r.raw, []byte("baton_")) {
		t.Fatalf("/metrics on the public listener: %d %.100s", r.status, r.raw)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.ServeAdmin(ctx, ln) }()
	r := call(t, "GET", "http://"+ln.Addr().String()+"/metrics", "", nil)
	if r.status != 200 || !bytes.Contains(r.raw, []byte("baton_build_info")) {
		t.Fatalf("/metrics on the admin listener: %d", r.status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRequestIDInLogs: a request-scoped log line carries the request id
// that the response's X-Request-Id names.
func TestRequestIDInLogs(t *testing.T) {
	ts := newTestServer(t, nil, nil, server.Options{})
	r := call(t, "POST", ts.URL+"/v1/login", "", map[string]string{"username": "ghost", "password": "whatever it is"},
		"X-Request-Id", "req-abc-123")
	if r.hdr.Get("X-Request-Id") != "req-abc-123" {
		t.Fatalf("X-Request-Id %q", r.hdr.Get("X-Request-Id"))
	}
	r2 := call(t, "GET", ts.URL+"/nowhere", "", nil)
	if r2.hdr.Get("X-Request-Id") == "" {
		t.Fatal("a 404 has no X-Request-Id")
	}
	found := false
	for _, line := range strings.Split(ts.Logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m["msg"] == "auth event" && m["event"] == "login" {
			found = true
			if m["request_id"] != "req-abc-123" {
				t.Fatalf("auth event without the request id: %s", line)
			}
		}
		if m["msg"] == "request" && strings.Count(line, `"request_id"`) != 1 {
			t.Fatalf("request line with %d request ids: %s", strings.Count(line, `"request_id"`), line)
		}
	}
	if !found {
		t.Fatalf("no login auth event logged:\n%s", ts.Logs.String())
	}
}

// TestTLS serves HTTPS with a self-signed certificate made here; answers
// carry HSTS.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := writeSelfSigned(t, certFile, keyFile)
	addr := serveReal(t, "https", map[string]string{"BATON_TLS_CERT": certFile, "BATON_TLS_KEY": keyFile})
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := c.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil {
		t.Fatalf("healthz over TLS: %d", res.StatusCode)
	}
	if h := res.Header.Get("Strict-Transport-Security"); !strings.Contains(h, "max-age=") {
		t.Fatalf("Strict-Transport-Security %q", h)
	}
	// Plain HTTP on the TLS port is not served.
	if res, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/healthz"); err == nil {
		if res.StatusCode == 200 {
			t.Fatal("plain HTTP answered 200 on the TLS listener")
		}
		res.Body.Close()
	}
}

func writeSelfSigned(t *testing.T, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	c := testcert.New(t)
	if err := os.WriteFile(certFile, c.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return c.Pool
}
