package server_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/batonauth/baton/demo"
	"github.com/batonauth/baton/mail/smtptest"
	"github.com/batonauth/baton/pages"
	"github.com/batonauth/baton/server"
)

// TestPagesUnderIssuerPath: baton's own pages are served under the
// issuer's path even with the demo off, with their strict CSP; anything
// else under /account/ and the pages outside the issuer's path are JSON
// 404s like any unknown endpoint.
func TestPagesUnderIssuerPath(t *testing.T) {
	addr := serveReal(t, "http", map[string]string{"BATON_ISSUER": "https://id.example.com/auth", "BATON_DEMO": "false"})
	tests := []struct {
		path       string
		wantStatus int
		wantType   string
	}{
		{"/auth/account/verify-email", 200, "text/html; charset=utf-8"},
		{"/auth/account/reset-password", 200, "text/html; charset=utf-8"},
		{"/auth/account/assets/verify-email.js", 200, "text/javascript; charset=utf-8"},
		{"/auth/account/assets/baton.css", 200, "text/css; charset=utf-8"},
		{"/auth/account/x", 404, "application/json"},
		{"/auth/account/", 404, "application/json"},
		{"/account/reset-password", 404, "application/json"},
		{"/auth/", 404, "application/json"}, // no demo
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := call(t, "GET", "http://"+addr+tt.path, "", nil)
			if r.status != tt.wantStatus || r.hdr.Get("Content-Type") != tt.wantType {
				t.Fatalf("GET %s: %d %q, want %d %q", tt.path, r.status, r.hdr.Get("Content-Type"), tt.wantStatus, tt.wantType)
			}
			if r.status == 404 && r.str("error") != "not_found" {
				t.Fatalf("GET %s: body %s, want not_found", tt.path, r.raw)
			}
			if r.status == 200 && r.hdr.Get("Content-Security-Policy") != pages.ContentSecurityPolicy {
				t.Fatalf("GET %s: CSP %q", tt.path, r.hdr.Get("Content-Security-Policy"))
			}
		})
	}
	page := string(call(t, "GET", "http://"+addr+"/auth/account/reset-password", "", nil).raw)
	if !strings.Contains(page, `src="/auth/account/assets/reset-password.js"`) || !strings.Contains(page, `data-base="/auth"`) {
		t.Errorf("the page does not use the issuer's path:\n%s", page)
	}
	if strings.Contains(page, "sign-in") {
		t.Errorf("a sign-in link without the demo:\n%s", page)
	}
}

// TestPagesWithDemo: with the demo on, /account/ is still the pages' (not
// the demo page), they link to the demo to sign in, and the demo serves the
// pages' stylesheet under its own name, so both look the same.
func TestPagesWithDemo(t *testing.T) {
	s := newTestServer(t, map[string]string{"BATON_BRAND_NAME": "Acme ID"}, nil, server.Options{Demo: demo.Handler()})
	r := call(t, "GET", s.URL+"/account/verify-email", "", nil)
	if r.status != 200 || !strings.Contains(string(r.raw), `<a href="/">Sign in</a>`) || !strings.Contains(string(r.raw), "<h1>Acme ID</h1>") {
		t.Fatalf("GET /account/verify-email: %d\n%s", r.status, r.raw)
	}
	if r := call(t, "GET", s.URL+"/account/", "", nil); r.status != 404 || r.str("error") != "not_found" {
		t.Fatalf("GET /account/: %d %s, want a JSON 404", r.status, r.raw)
	}
	own := call(t, "GET", s.URL+"/account/assets/baton.css", "", nil)
	demoCopy := call(t, "GET", s.URL+"/baton.css", "", nil)
	if demoCopy.status != 200 || string(demoCopy.raw) != string(own.raw) {
		t.Fatalf("the demo's baton.css (%d) differs from the pages'", demoCopy.status)
	}
}

// TestVerificationLinkOpensThePage: the link in a real verification
// message (over SMTP) opens this server's page, and carries the token in
// the fragment only, which a browser never sends.
func TestVerificationLinkOpensThePage(t *testing.T) {
	relay := smtptest.Start(t, smtptest.Options{})
	s := newTestServer(t, map[string]string{"BATON_SMTP_URL": "smtp+plain://" + relay.Addr(), "BATON_MAIL_FROM": "noreply@example.com"}, nil, server.Options{})
	if r := call(t, "POST", s.URL+"/v1/register", "", map[string]string{"username": "ada", "password": pw, "email": "ada@example.com"}); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	msgs := relay.Await(t, 1, func() { _, _ = s.Mail.Drain(context.Background()) })
	text, _ := smtptest.LinkToken(t, msgs[0].Data)
	link := regexp.MustCompile(`https?://\S+#token=\S+`).FindString(text)
	u, err := url.Parse(link)
	if err != nil || u.Path != "/account/verify-email" || u.RawQuery != "" || !strings.HasPrefix(u.Fragment, "token=") {
		t.Fatalf("link %q (%v), want the verify-email page with the token in the fragment", link, err)
	}
	u.Fragment = ""
	if r := call(t, "GET", u.String(), "", nil); r.status != 200 || !strings.Contains(string(r.raw), "verify-email.js") {
		t.Fatalf("GET %s: %d", u, r.status)
	}
}
