package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/internal/webauthntest"
	"github.com/batonauth/baton/mail"
	"github.com/batonauth/baton/mail/smtptest"
	"github.com/batonauth/baton/server"
	"github.com/batonauth/baton/session"
)

// logoutReceiver is a relying party's back-channel logout endpoint: it
// verifies each logout token against baton's JWKS, as a relying party
// must (Back-Channel Logout 1.0 §2.6), and keeps the verified claims.
type logoutReceiver struct {
	t        *testing.T
	srv      *httptest.Server
	verifier *oidc.IDTokenVerifier
	mu       sync.Mutex
	got      []map[string]any
	bad      []string
}

func newLogoutReceiver(t *testing.T) *logoutReceiver {
	lr := &logoutReceiver{t: t}
	lr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lr.mu.Lock()
		defer lr.mu.Unlock()
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
			lr.bad = append(lr.bad, "not a form POST")
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		tok, err := lr.verifier.Verify(r.Context(), r.PostForm.Get("logout_token"))
		if err != nil {
			lr.bad = append(lr.bad, err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var claims map[string]any
		_ = tok.Claims(&claims)
		lr.got = append(lr.got, claims)
	}))
	t.Cleanup(lr.srv.Close)
	return lr
}

func (lr *logoutReceiver) verifyWith(issuer, clientID string) {
	p, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		lr.t.Fatal(err)
	}
	lr.verifier = p.Verifier(&oidc.Config{ClientID: clientID})
}

// take returns the logout tokens received so far and forgets them.
func (lr *logoutReceiver) take() []map[string]any {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if len(lr.bad) > 0 {
		lr.t.Fatalf("logout tokens that did not verify: %v", lr.bad)
	}
	got := lr.got
	lr.got = nil
	return got
}

// wantLogout checks that exactly one logout token for sid came, with the
// claims Back-Channel Logout 1.0 §2.4 prescribes.
func wantLogout(t *testing.T, got []map[string]any, sid, sub string) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%d logout tokens, want 1: %v", len(got), got)
	}
	c := got[0]
	events, _ := c["events"].(map[string]any)
	if _, ok := events["http://schemas.openid.net/event/backchannel-logout"]; !ok || c["sid"] != sid || c["sub"] != sub ||
		c["jti"] == nil || c["iat"] == nil || c["nonce"] != nil {
		t.Fatalf("logout token claims: %v (want sid %s sub %s)", c, sid, sub)
	}
}

func TestOIDCBackchannelLogout(t *testing.T) {
	relay := smtptest.Start(t, smtptest.Options{})
	s := newTestServer(t, map[string]string{"BATON_REUSE_GRACE": "0s", "BATON_SMTP_URL": "smtp+plain://" + relay.Addr(),
		"BATON_MAIL_FROM": "noreply@auth.example"}, nil, server.Options{})
	uid := registerUser(t, s.URL, "carol", "carol@example.com")
	lr := newLogoutReceiver(t)
	c, secret := addClient(t, s.Server, session.ClientSpec{Name: "BCL RP", FirstParty: true, BackchannelLogoutURI: lr.srv.URL + "/logout"})
	other, otherSecret := addClient(t, s.Server, session.ClientSpec{Name: "Other RP", FirstParty: true})
	lr.verifyWith(s.URL, c.ID)
	r := newRP(t, s.URL, c, secret)
	drain := func() { _, _ = s.Mail.Drain(context.Background()) }
	signInOnce := func(b *rpBrowser) (*oauth2.Token, string) {
		f := newFlow()
		tok, idt, err := r.exchange(signIn(t, b, r.authURL(f), "carol", pw), f)
		if err != nil {
			t.Fatal(err)
		}
		var cl struct {
			SID string `json:"sid"`
		}
		_ = idt.Claims(&cl)
		return tok, cl.SID
	}

	t.Run("LogoutElsewhere", func(t *testing.T) {
		b := newBrowser(t)
		_, sid := signInOnce(b)
		// The user signs out at another relying party in the same browser:
		// RP-initiated logout ends the single-sign-on session's tree.
		o := newRP(t, s.URL, other, otherSecret)
		f := newFlow()
		otok, _, err := o.exchange(signIn(t, b, o.authURL(f), "carol", pw), f)
		if err != nil {
			t.Fatal(err)
		}
		hint, _ := otok.Extra("id_token").(string)
		p := b.get(s.URL + "/oauth/logout?id_token_hint=" + url.QueryEscape(hint))
		if p.status != http.StatusOK {
			t.Fatalf("logout: %d %.300s", p.status, p.body)
		}
		drain()
		wantLogout(t, lr.take(), sid, uid)
	})

	t.Run("ReuseDetected", func(t *testing.T) {
		tok, sid := signInOnce(newBrowser(t))
		ts := r.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Unix(1, 0)})
		if _, err := ts.Token(); err != nil {
			t.Fatal(err)
		}
		// The spent token again, outside the (zero) grace window.
		_, err := r.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
		if err == nil {
			t.Fatal("a spent refresh token worked")
		}
		drain()
		wantLogout(t, lr.take(), sid, uid)
	})

	t.Run("PasswordReset", func(t *testing.T) {
		_, sid := signInOnce(newBrowser(t))
		if r := call(t, "POST", s.URL+"/v1/password/forgot", "", map[string]string{"email": "carol@example.com"}); r.status != http.StatusAccepted {
			t.Fatalf("forgot: %d %s", r.status, r.raw)
		}
		n := len(relay.Messages()) + 1
		msgs := relay.Await(t, n, drain)
		_, link := smtptest.LinkToken(t, msgs[n-1].Data)
		if r := call(t, "POST", s.URL+"/v1/password/reset", "", map[string]string{"token": link, "new_password": "a brand new passphrase"}); r.status != http.StatusNoContent {
			t.Fatalf("reset: %d %s", r.status, r.raw)
		}
		drain()
		wantLogout(t, lr.take(), sid, uid)
	})
}

func TestOIDCConsent(t *testing.T) {
	s := batontest.NewServer(t, nil, nil)
	registerUser(t, s.URL, "dave", "dave@example.com")
	c, secret := addClient(t, s, session.ClientSpec{Name: "Third Party"})
	r := newRP(t, s.URL, c, secret)
	b := newBrowser(t)

	// The consent page names the client; deny sends access_denied.
	f := newFlow()
	p := b.get(r.authURL(f))
	p = b.submit(p, map[string]string{"username": "dave", "password": pw})
	if !strings.HasSuffix(p.url.Path, "/consent") || !strings.Contains(p.body, "Third Party") || !strings.Contains(p.body, "dave") {
		t.Fatalf("want the consent page, got %d %s", p.status, p.url)
	}
	denied := b.submit(p, map[string]string{"decision": "deny"})
	u, _ := url.Parse(denied.location)
	if u.Query().Get("error") != "access_denied" || u.Query().Get("state") != f.state {
		t.Fatalf("deny: %s", denied.location)
	}
	// Signed in, not allowed yet: prompt=none answers consent_required.
	f = newFlow()
	p = b.get(r.authURL(f, oauth2.SetAuthURLParam("prompt", "none")))
	if u, _ := url.Parse(p.location); u == nil || u.Query().Get("error") != "consent_required" || u.Query().Get("state") != f.state {
		t.Fatalf("prompt=none without consent: %d %s", p.status, p.location)
	}

	// Allow: a code, and the consent is remembered.
	f = newFlow()
	tok, _, err := r.exchange(signIn(t, b, r.authURL(f), "dave", pw), f)
	if err != nil {
		t.Fatal(err)
	}
	f = newFlow()
	p = b.get(r.authURL(f, oauth2.SetAuthURLParam("prompt", "none")))
	if u, _ := url.Parse(p.location); u == nil || u.Query().Get("code") == "" {
		t.Fatalf("remembered consent with prompt=none: %s", p.location)
	}
	// prompt=consent asks again, although the consent is remembered.
	f = newFlow()
	p = b.get(r.authURL(f, oauth2.SetAuthURLParam("prompt", "consent")))
	if !strings.HasSuffix(p.url.Path, "/consent") {
		t.Fatalf("prompt=consent: want the consent page, got %s", p.url)
	}

	// The user manages consents with a token of baton's own API.
	login := call(t, "POST", s.URL+"/v1/login", "", map[string]string{"username": "dave", "password": pw})
	list := call(t, "GET", s.URL+"/v1/consents", login.str("access_token"), nil)
	var body struct {
		Consents []session.ConsentInfo `json:"consents"`
	}
	_ = json.Unmarshal(list.raw, &body)
	if list.status != http.StatusOK || len(body.Consents) != 1 || body.Consents[0].ClientID != c.ID || body.Consents[0].ClientName != "Third Party" {
		t.Fatalf("GET /v1/consents: %d %s", list.status, list.raw)
	}
	if r := call(t, "DELETE", s.URL+"/v1/consents/"+c.ID, login.str("access_token"), nil); r.status != http.StatusNoContent {
		t.Fatalf("withdraw: %d %s", r.status, r.raw)
	}
	// Withdrawing revoked the client's sessions: its token is dead.
	if r := call(t, "GET", s.URL+"/oauth/userinfo", tok.AccessToken, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("userinfo after withdrawal: %d", r.status)
	}
	if r := call(t, "DELETE", s.URL+"/v1/consents/"+c.ID, login.str("access_token"), nil); r.status != http.StatusNotFound {
		t.Fatalf("withdraw again: %d %s", r.status, r.raw)
	}
}

func TestOIDCTokenBinding(t *testing.T) {
	s := batontest.NewServer(t, nil, nil)
	registerUser(t, s.URL, "erin", "erin@example.com")
	c, secret := addClient(t, s, session.ClientSpec{Name: "A", FirstParty: true})
	other, otherSecret := addClient(t, s, session.ClientSpec{Name: "B", FirstParty: true})
	r := newRP(t, s.URL, c, secret)
	f := newFlow()
	tok, _, err := r.exchange(signIn(t, newBrowser(t), r.authURL(f), "erin", pw), f)
	if err != nil {
		t.Fatal(err)
	}
	// Another client, and the first-party API, get invalid_grant — not
	// reuse: the token still works for its own client afterwards.
	if r := clientCall(t, s.URL+"/oauth/token", other.ID, otherSecret, "grant_type=refresh_token&refresh_token="+url.QueryEscape(tok.RefreshToken)); r.status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
		t.Fatalf("another client's refresh: %d %s", r.status, r.raw)
	}
	if r := call(t, "POST", s.URL+"/v1/refresh", "", map[string]string{"refresh_token": tok.RefreshToken}); r.status != http.StatusUnauthorized {
		t.Fatalf("first-party refresh of a client's token: %d %s", r.status, r.raw)
	}
	narrowed := clientCall(t, s.URL+"/oauth/token", c.ID, secret, "grant_type=refresh_token&scope=openid&refresh_token="+url.QueryEscape(tok.RefreshToken))
	if narrowed.status != http.StatusOK || narrowed.str("scope") != "openid" || narrowed.str("id_token") != "" {
		t.Fatalf("narrowed refresh: %d %s", narrowed.status, narrowed.raw)
	}
	// Narrowing is per access token: the next refresh may ask for all.
	wide := clientCall(t, s.URL+"/oauth/token", c.ID, secret, "grant_type=refresh_token&refresh_token="+url.QueryEscape(narrowed.str("refresh_token")))
	if wide.status != http.StatusOK || !strings.Contains(wide.str("scope"), "email") {
		t.Fatalf("refresh after narrowing: %d %s", wide.status, wide.raw)
	}
	if r := clientCall(t, s.URL+"/oauth/token", c.ID, secret, "grant_type=refresh_token&scope=openid+admin&refresh_token="+url.QueryEscape(wide.str("refresh_token"))); r.str("error") != "invalid_scope" {
		t.Fatalf("widened refresh: %d %s", r.status, r.raw)
	}
	if r := clientCall(t, s.URL+"/oauth/token", c.ID, secret, "grant_type=password&username=erin&password="+url.QueryEscape(pw)); r.str("error") != "unauthorized_client" {
		t.Fatalf("password grant for a registered client: %d %s", r.status, r.raw)
	}
}

func TestOIDCClientCredentials(t *testing.T) {
	s := batontest.NewServer(t, nil, nil)
	c, secret := addClient(t, s, session.ClientSpec{Name: "Job", GrantTypes: []string{baton.GrantClientCredentials},
		Scopes: []string{"reports.read", "reports.write"}, RedirectURIs: []string{}})
	r := clientCall(t, s.URL+"/oauth/token", c.ID, secret, "grant_type=client_credentials&scope=reports.read")
	if r.status != http.StatusOK || r.str("scope") != "reports.read" || r.str("refresh_token") != "" || r.str("id_token") != "" {
		t.Fatalf("client_credentials: %d %s", r.status, r.raw)
	}
	claims := jwtClaims(t, r.str("access_token"))
	if claims["sub"] != c.ID || claims["client_id"] != c.ID || claims["scope"] != "reports.read" {
		t.Fatalf("claims: %v", claims)
	}
	for _, tc := range []struct{ body, secret, code string }{
		{"grant_type=client_credentials&scope=openid", secret, "invalid_scope"},
		{"grant_type=client_credentials&scope=admin", secret, "invalid_scope"},
		{"grant_type=client_credentials", "wrong", "invalid_client"},
		{"grant_type=authorization_code&code=bac_x&code_verifier=" + strings.Repeat("a", 43), secret, "unauthorized_client"},
	} {
		if r := clientCall(t, s.URL+"/oauth/token", c.ID, tc.secret, tc.body); r.str("error") != tc.code {
			t.Errorf("%s: %d %s, want %s", tc.body, r.status, r.raw, tc.code)
		}
	}
}

// jwtClaims decodes a JWT's payload without verifying it.
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

func TestOIDCPushedRequests(t *testing.T) {
	s := batontest.NewServer(t, nil, nil)
	registerUser(t, s.URL, "frank", "frank@example.com")
	c, secret := addClient(t, s, session.ClientSpec{Name: "PAR only", FirstParty: true, RequirePAR: true})
	r := newRP(t, s.URL, c, secret)
	f := newFlow()
	// Not pushed: refused at the redirect URI.
	p := newBrowser(t).get(r.authURL(f))
	if u, _ := url.Parse(p.location); u == nil || u.Query().Get("error") != "invalid_request" {
		t.Fatalf("unpushed request of a PAR-only client: %d %s", p.status, p.location)
	}
	authURL, _ := url.Parse(r.authURL(f))
	form := authURL.Query()
	pushed := clientCall(t, s.URL+"/oauth/par", c.ID, secret, form.Encode())
	if pushed.status != http.StatusCreated || !strings.HasPrefix(pushed.str("request_uri"), "urn:ietf:params:oauth:request_uri:") {
		t.Fatalf("PAR: %d %s", pushed.status, pushed.raw)
	}
	byRef := s.URL + "/oauth/authorize?client_id=" + url.QueryEscape(c.ID) + "&request_uri=" + url.QueryEscape(pushed.str("request_uri"))
	b := newBrowser(t)
	if _, _, err := r.exchange(signIn(t, b, byRef, "frank", pw), f); err != nil {
		t.Fatal(err)
	}
	// One use only, and never with another client_id.
	if p := b.get(byRef); p.location != "" || p.status != http.StatusBadRequest {
		t.Fatalf("request_uri used twice: %d %s", p.status, p.location)
	}
	if r := clientCall(t, s.URL+"/oauth/par", c.ID, "wrong", form.Encode()); r.status != http.StatusUnauthorized {
		t.Fatalf("PAR with a wrong secret: %d", r.status)
	}
	form.Set("code_challenge_method", "plain")
	if r := clientCall(t, s.URL+"/oauth/par", c.ID, secret, form.Encode()); r.str("error") != "invalid_request" {
		t.Fatalf("PAR without S256: %d %s", r.status, r.raw)
	}
}

func TestOIDCRPLogout(t *testing.T) {
	s := batontest.NewServer(t, nil, nil)
	registerUser(t, s.URL, "gina", "gina@example.com")
	const after = "http://127.0.0.1:9/signed-out"
	c, secret := addClient(t, s, session.ClientSpec{Name: "Logout RP", FirstParty: true, PostLogoutRedirectURIs: []string{after}})
	r := newRP(t, s.URL, c, secret)
	b := newBrowser(t)
	f := newFlow()
	tok, _, err := r.exchange(signIn(t, b, r.authURL(f), "gina", pw), f)
	if err != nil {
		t.Fatal(err)
	}
	hint, _ := tok.Extra("id_token").(string)

	// An unregistered post_logout_redirect_uri is an error page, and ends
	// nothing.
	p := b.get(s.URL + "/oauth/logout?id_token_hint=" + url.QueryEscape(hint) + "&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/"))
	if p.location != "" || p.status != http.StatusBadRequest {
		t.Fatalf("unregistered post-logout URI: %d %s", p.status, p.location)
	}
	// Without a hint the user confirms first.
	p = b.get(s.URL + "/oauth/logout")
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="csrf"`) {
		t.Fatalf("logout without a hint: want a confirmation page, got %d", p.status)
	}
	if _, err := r.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err != nil {
		t.Fatalf("the confirmation page alone ended the session: %v", err)
	}
	// With the hint: ended at once, back to the client with state.
	p = b.get(s.URL + "/oauth/logout?id_token_hint=" + url.QueryEscape(hint) + "&post_logout_redirect_uri=" + url.QueryEscape(after) + "&state=xyz")
	if p.location != after+"?iss="+url.QueryEscape(s.URL)+"&state=xyz" && !strings.HasPrefix(p.location, after+"?") {
		t.Fatalf("logout redirect: %d %q", p.status, p.location)
	}
	if u, _ := url.Parse(p.location); u.Query().Get("state") != "xyz" {
		t.Fatalf("logout redirect lost state: %s", p.location)
	}
	if _, err := r.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("the client's session survived the logout")
	}
	// The single-sign-on session is gone: the next request signs in again.
	f = newFlow()
	if p := b.get(r.authURL(f)); !strings.HasSuffix(p.url.Path, "/login") {
		t.Fatalf("after logout: want the sign-in page, got %s %s", p.url, p.location)
	}
}

func TestOIDCPagesCSRF(t *testing.T) {
	s := batontest.NewServer(t, nil, nil)
	registerUser(t, s.URL, "hank", "hank@example.com")
	c, secret := addClient(t, s, session.ClientSpec{Name: "CSRF RP", FirstParty: true})
	r := newRP(t, s.URL, c, secret)
	victim := newBrowser(t)
	p := victim.get(r.authURL(newFlow()))
	// The attacker's browser posts the victim's form (request and csrf
	// known) without the victim's flow cookie: refused, no session.
	attacker := newBrowser(t)
	got := attacker.submit(p, map[string]string{"username": "hank", "password": pw})
	if got.status != http.StatusForbidden || got.location != "" {
		t.Fatalf("login form without its browser's cookie: %d %s", got.status, got.location)
	}
	for _, c := range attacker.client.Jar.Cookies(p.url) {
		if c.Name == "baton_sso" {
			t.Fatal("a single-sign-on cookie was set")
		}
	}
}

// clientCall posts a form to a token-endpoint-like URL with the client's
// HTTP Basic authentication.
func clientCall(t *testing.T, u, id, secret, form string) reply {
	t.Helper()
	return call(t, "POST", u, "", form, "Authorization", basic(id, secret))
}

// TestOIDCAuthorizeFlood: every anonymous authorization request stores a
// pending request for the sign-in page, so they are limited per client IP
// (four times the IP's failure budget, as passkey sign-in options are).
func TestOIDCAuthorizeFlood(t *testing.T) {
	s := batontest.NewServer(t, batontest.Env{"BATON_LIMIT_IP_FAILURES": "2/1h"}, nil)
	c, secret := addClient(t, s, session.ClientSpec{Name: "Flooded", FirstParty: true})
	r := newRP(t, s.URL, c, secret)
	statuses := map[int]int{}
	for i := 0; i < 10; i++ {
		statuses[newBrowser(t).get(r.authURL(newFlow())).status]++
	}
	if statuses[http.StatusOK] != 8 || statuses[http.StatusTooManyRequests] != 2 {
		t.Fatalf("statuses %v: want 8 sign-in pages, then 429", statuses)
	}
}

// TestOIDCSessionCapKeepsSSO: a client's sign-in is a use of the browser's
// single-sign-on session, so the per-user session cap (which ends the
// least recently used) ends old client sessions, not the browser's sign-in.
func TestOIDCSessionCapKeepsSSO(t *testing.T) {
	s := batontest.NewServer(t, batontest.Env{"BATON_MAX_SESSIONS_PER_USER": "3"}, nil)
	registerUser(t, s.URL, "ivy", "ivy@example.com")
	c, secret := addClient(t, s, session.ClientSpec{Name: "Busy RP", FirstParty: true})
	r := newRP(t, s.URL, c, secret)
	b := newBrowser(t)
	f := newFlow()
	if _, _, err := r.exchange(signIn(t, b, r.authURL(f), "ivy", pw), f); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		f := newFlow()
		p := b.get(r.authURL(f, oauth2.SetAuthURLParam("prompt", "none")))
		u, _ := url.Parse(p.location)
		if u == nil || u.Query().Get("code") == "" {
			t.Fatalf("exchange %d: the single-sign-on session was ended: %d %s", i, p.status, p.location)
		}
		if _, _, err := r.exchange(u.Query(), f); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOIDCPasskeyPages: baton's sign-in page takes a usernameless passkey
// sign-in, and a passkey as the second step after a password, through the
// same engine flows as the API (the page's script asks the API for the
// options and posts the assertion in its form; here the test does that),
// and the ID token's amr says which.
func TestOIDCPasskeyPages(t *testing.T) {
	s := batontest.NewServer(t, nil, nil)
	u := s.URL
	registerUser(t, u, "jane", "jane@example.com")
	at := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "jane", "password": pw}).str("access_token")
	key := webauthntest.New(webauthntest.Options{UV: true, Origin: strings.Replace(u, "127.0.0.1", "localhost", 1)})
	opts := call(t, "POST", u+"/v1/passkeys/register/options", at, nil)
	cred, err := key.Register(opts.rawMember("options"))
	if err != nil {
		t.Fatal(err)
	}
	if r := call(t, "POST", u+"/v1/passkeys/register", at, map[string]any{"flow_id": opts.str("flow_id"), "credential": json.RawMessage(cred)}); r.status != http.StatusCreated {
		t.Fatalf("register passkey: %d %s", r.status, r.raw)
	}
	c, secret := addClient(t, s, session.ClientSpec{Name: "Passkey RP", FirstParty: true})
	r := newRP(t, u, c, secret)
	// assert answers the passkey form of page p, as signin.js does.
	assert := func(b *rpBrowser, p page, mfaToken string) page {
		t.Helper()
		body := map[string]any{}
		if mfaToken != "" {
			body["mfa_token"] = mfaToken
		}
		o := call(t, "POST", u+"/v1/passkeys/login/options", "", body)
		a, err := key.Login(o.rawMember("options"))
		if err != nil {
			t.Fatal(err)
		}
		return b.submit(p, map[string]string{"flow_id": o.str("flow_id"), "credential": string(a)})
	}
	amrOf := func(q url.Values, f flow) []string {
		t.Helper()
		_, idt, err := r.exchange(q, f)
		if err != nil {
			t.Fatal(err)
		}
		var cl struct {
			AMR []string `json:"amr"`
		}
		_ = idt.Claims(&cl)
		return cl.AMR
	}

	t.Run("Usernameless", func(t *testing.T) {
		b := newBrowser(t)
		f := newFlow()
		p := b.get(r.authURL(f))
		if !strings.Contains(p.body, `name="credential"`) {
			t.Fatalf("the sign-in page offers no passkey form: %.300s", p.body)
		}
		p = assert(b, p, "")
		loc, _ := url.Parse(p.location)
		if amr := amrOf(loc.Query(), f); !slices.Contains(amr, "hwk") {
			t.Fatalf("amr %v, want hwk", amr)
		}
	})

	t.Run("SecondStep", func(t *testing.T) {
		b := newBrowser(t)
		f := newFlow()
		p := b.submit(b.get(r.authURL(f)), map[string]string{"username": "jane", "password": pw})
		m := regexp.MustCompile(`name="mfa_token" value="([^"]+)"`).FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("no second-factor page after the password: %d %.300s", p.status, p.body)
		}
		p = assert(b, p, m[1])
		loc, _ := url.Parse(p.location)
		if amr := amrOf(loc.Query(), f); !slices.Contains(amr, "pwd") || !slices.Contains(amr, "hwk") || !slices.Contains(amr, "mfa") {
			t.Fatalf("amr %v, want pwd, hwk and mfa", amr)
		}
	})
}

// TestOIDCFlowCookieHostPrefix: with Secure cookies the browser-binding
// cookie of the provider's forms is a __Host- cookie, which a sibling
// subdomain cannot plant.
func TestOIDCFlowCookieHostPrefix(t *testing.T) {
	for _, tc := range []struct {
		secure bool
		want   string
	}{{true, "__Host-baton_flow"}, {false, "baton_flow"}} {
		s := batontest.NewServer(t, batontest.Env{"BATON_COOKIE_SECURE": strconv.FormatBool(tc.secure)}, nil)
		c, secret := addClient(t, s, session.ClientSpec{Name: "Cookie RP", FirstParty: true})
		req, _ := http.NewRequest(http.MethodGet, newRP(t, s.URL, c, secret).authURL(newFlow()), nil)
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		var found *http.Cookie
		for _, ck := range res.Cookies() {
			if ck.Name == tc.want {
				found = ck
			}
		}
		if found == nil || found.Path != "/" || found.Domain != "" || found.Secure != tc.secure || !found.HttpOnly {
			t.Errorf("secure=%v: cookies %v, want %s (Path=/, no Domain, HttpOnly)", tc.secure, res.Cookies(), tc.want)
		}
	}
}

// TestOIDCClientLifetimes: a client's own lifetimes replace the server's
// for its tokens and sessions — through the code exchange, its refreshes
// and client_credentials.
func TestOIDCClientLifetimes(t *testing.T) {
	s := batontest.NewServer(t, nil, nil)
	registerUser(t, s.URL, "kim", "kim@example.com")
	c, secret := addClient(t, s, session.ClientSpec{Name: "Short-lived", FirstParty: true,
		GrantTypes: []string{baton.GrantAuthorizationCode, baton.GrantRefreshToken, baton.GrantClientCredentials},
		AccessTTL:  2 * time.Minute, RefreshTTL: time.Hour, RefreshIdleTTL: 30 * time.Minute})
	r := newRP(t, s.URL, c, secret)
	f := newFlow()
	q := signIn(t, newBrowser(t), r.authURL(f), "kim", pw)
	code := clientCall(t, s.URL+"/oauth/token", c.ID, secret, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {rpCallback}, "code_verifier": {f.verifier}}.Encode())
	wantTTL := func(what string, r reply) {
		t.Helper()
		claims := jwtClaims(t, r.str("access_token"))
		exp, _ := claims["exp"].(float64)
		iat, _ := claims["iat"].(float64)
		if n, _ := r.body["expires_in"].(float64); n != 120 || exp-iat != 120 {
			t.Fatalf("%s: expires_in %v, exp-iat %v, want 120: %s", what, r.body["expires_in"], exp-iat, r.raw)
		}
	}
	wantTTL("code exchange", code)
	refreshed := clientCall(t, s.URL+"/oauth/token", c.ID, secret, "grant_type=refresh_token&refresh_token="+url.QueryEscape(code.str("refresh_token")))
	wantTTL("refresh", refreshed)
	wantTTL("client_credentials", clientCall(t, s.URL+"/oauth/token", c.ID, secret, "grant_type=client_credentials"))

	// The session: absolute expiry an hour after the exchange, idle
	// expiry half an hour after the refresh.
	at := call(t, "POST", s.URL+"/v1/login", "", map[string]string{"username": "kim", "password": pw}).str("access_token")
	list := call(t, "GET", s.URL+"/v1/sessions", at, nil)
	var body struct {
		Sessions []struct {
			ID            string    `json:"id"`
			CreatedAt     time.Time `json:"created_at"`
			ExpiresAt     time.Time `json:"expires_at"`
			IdleExpiresAt time.Time `json:"idle_expires_at"`
			LastUsedAt    time.Time `json:"last_used_at"`
		} `json:"sessions"`
	}
	_ = json.Unmarshal(list.raw, &body)
	sid, _ := jwtClaims(t, refreshed.str("access_token"))["sid"].(string)
	found := false
	for _, ss := range body.Sessions {
		if ss.ID != sid {
			continue
		}
		found = true
		if d := ss.ExpiresAt.Sub(ss.CreatedAt); d != time.Hour {
			t.Errorf("absolute lifetime %v, want 1h", d)
		}
		if d := ss.IdleExpiresAt.Sub(ss.LastUsedAt); d != 30*time.Minute {
			t.Errorf("idle lifetime %v, want 30m", d)
		}
	}
	if !found {
		t.Fatalf("the client's session %s is not among the user's: %s", sid, list.raw)
	}
}

// TestOIDCBackchannelRetry: a relying party that is down gets the logout
// token again after the outbox's back-off, with the same jti, and once it
// answers, never again.
func TestOIDCBackchannelRetry(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	var mu sync.Mutex
	var jtis []string
	up := false
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_ = r.ParseForm()
		jti, _ := jwtClaims(t, r.PostForm.Get("logout_token"))["jti"].(string)
		jtis = append(jtis, jti)
		if !up {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer rp.Close()
	attempts := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(jtis)
	}
	s := newTestServer(t, nil, clock, server.Options{})
	registerUser(t, s.URL, "lou", "lou@example.com")
	c, secret := addClient(t, s.Server, session.ClientSpec{Name: "Flaky RP", FirstParty: true, BackchannelLogoutURI: rp.URL})
	r := newRP(t, s.URL, c, secret)
	f := newFlow()
	tok, _, err := r.exchange(signIn(t, newBrowser(t), r.authURL(f), "lou", pw), f)
	if err != nil {
		t.Fatal(err)
	}
	if res := call(t, "POST", s.URL+"/oauth/revoke", "", "token="+url.QueryEscape(tok.RefreshToken)); res.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.status, res.raw)
	}
	drain := func() { _, _ = s.Mail.Drain(context.Background()) }
	waitFor := func(n int) []string {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			drain()
			if a := attempts(); len(a) >= n {
				return a
			}
		}
		t.Fatalf("%d delivery attempts, want %d", len(attempts()), n)
		return nil
	}
	waitFor(1)
	// The clock stands still: nothing is due again yet.
	drain()
	if a := attempts(); len(a) != 1 {
		t.Fatalf("%d attempts before the back-off ran out, want 1", len(a))
	}
	mu.Lock()
	up = true
	mu.Unlock()
	clock.Advance(mail.Backoff(1))
	a := waitFor(2)
	if a[0] == "" || a[1] != a[0] {
		t.Fatalf("jtis %v: want the same one on the retry", a)
	}
	clock.Advance(time.Hour)
	drain()
	if a := attempts(); len(a) != 2 {
		t.Fatalf("%d attempts after a delivered token, want 2", len(a))
	}
}

// TestOIDCAuthorizeErrors: once the client and its redirect URI are
// trusted, a bad request goes back to the client (RFC 6749 §4.1.2.1)
// with state and iss (RFC 9207); login_hint fills the sign-in form.
func TestOIDCAuthorizeErrors(t *testing.T) {
	s := batontest.NewServer(t, nil, nil)
	c, secret := addClient(t, s, session.ClientSpec{Name: "Errors RP", FirstParty: true})
	r := newRP(t, s.URL, c, secret)
	for _, tc := range []struct {
		name, param, value, want string
	}{
		{"ResponseTypeToken", "response_type", "token", "unsupported_response_type"},
		{"NoOpenID", "scope", "profile email", "invalid_scope"},
		{"UnknownScope", "scope", "openid admin", "invalid_scope"},
		{"PlainPKCE", "code_challenge_method", "plain", "invalid_request"},
		{"NoChallenge", "code_challenge", "", "invalid_request"},
		{"BadPrompt", "prompt", "sometimes", "invalid_request"},
		{"NoneWithLogin", "prompt", "none login", "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow()
			u, _ := url.Parse(r.authURL(f))
			q := u.Query()
			q.Set(tc.param, tc.value)
			u.RawQuery = q.Encode()
			p := newBrowser(t).get(u.String())
			loc, _ := url.Parse(p.location)
			if loc == nil || !strings.HasPrefix(p.location, rpCallback+"?") || loc.Query().Get("error") != tc.want ||
				loc.Query().Get("state") != f.state || loc.Query().Get("iss") != s.URL {
				t.Fatalf("%s=%q: %d %q, want %s at the redirect URI with state and iss", tc.param, tc.value, p.status, p.location, tc.want)
			}
		})
	}
	t.Run("LoginHint", func(t *testing.T) {
		p := newBrowser(t).get(r.authURL(newFlow(), oauth2.SetAuthURLParam("login_hint", "nina")))
		if !strings.Contains(p.body, `name="username"`) || !strings.Contains(p.body, `value="nina"`) {
			t.Fatalf("login_hint does not fill the sign-in form: %.400s", p.body)
		}
	})
}
