package demo_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/batonauth/baton/demo"
)

func get(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestHandler(t *testing.T) {
	h := demo.Handler()
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantType           string
	}{
		{"Page", "GET", "/", 200, "text/html; charset=utf-8"},
		{"PageUnderPrefix", "GET", "/auth/", 200, "text/html; charset=utf-8"},
		{"Script", "GET", "/demo.js", 200, "text/javascript; charset=utf-8"},
		{"Client", "GET", "/baton-client.js", 200, "text/javascript; charset=utf-8"},
		{"Style", "GET", "/demo.css", 200, "text/css; charset=utf-8"},
		{"SharedStyle", "GET", "/baton.css", 200, "text/css; charset=utf-8"},
		{"Icon", "GET", "/favicon.svg", 200, "image/svg+xml"},
		{"NotShared", "GET", "/reset-password.js", 404, "application/json"},
		{"Head", "HEAD", "/", 200, "text/html; charset=utf-8"},
		{"Unknown", "GET", "/nope.js", 404, "application/json"},
		{"NoExtension", "GET", "/v1/nothing", 404, "application/json"},
		{"Post", "POST", "/", 405, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, h, tt.method, tt.path)
			if rec.Code != tt.wantStatus || rec.Header().Get("Content-Type") != tt.wantType {
				t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Header().Get("Content-Type"), tt.wantStatus, tt.wantType)
			}
			if rec.Code == 200 {
				csp := rec.Header().Get("Content-Security-Policy")
				if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
					t.Fatalf("CSP %q is not strict", csp)
				}
			}
		})
	}
}

// TestNoInlineCode: the CSP forbids inline scripts, styles and handlers, so
// the page must not have any.
func TestNoInlineCode(t *testing.T) {
	page := get(t, demo.Handler(), "GET", "/").Body.String()
	for _, re := range []string{`<script(?:(?:\s+\w+(?:="[^"]*")?)*)?>\s*[^<\s]`, `\son\w+=`, `\sstyle=`, `<style`, `javascript:`, `https?://`} {
		if m := regexp.MustCompile(re).FindString(page); m != "" {
			t.Errorf("the page has %q (matching %s)", m, re)
		}
	}
	for _, s := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(s, `src="`) {
			t.Errorf("inline script %q", s)
		}
	}
}

// TestImageSources: images come from the page's origin, data: URLs and
// blob: URLs (the TOTP QR code, fetched with the token) — no other origin.
func TestImageSources(t *testing.T) {
	csp := get(t, demo.Handler(), "GET", "/").Header().Get("Content-Security-Policy")
	var got string
	for _, d := range strings.Split(csp, ";") {
		if f := strings.Fields(d); len(f) > 0 && f[0] == "img-src" {
			got = strings.Join(f[1:], " ")
		}
	}
	if want := "'self' data: blob:"; got != want {
		t.Fatalf("img-src %q, want %q", got, want)
	}
}
