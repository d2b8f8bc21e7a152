package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/session"
)

// These tests drive baton's OpenID provider with relying-party libraries
// nobody here wrote: github.com/coreos/go-oidc/v3 for discovery and ID
// tokens, golang.org/x/oauth2 for the code flow with PKCE, through the
// real /login form with a browser-like client (cookie jar).

const rpCallback = "http://127.0.0.1:9/callback" // never dialled: the browser stops at it

// rpBrowser is a cookie-keeping HTTP client that follows redirects until
// the relying party's callback, where it stops and hands back the URL.
type rpBrowser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T) *rpBrowser {
	jar, _ := cookiejar.New(nil)
	b := &rpBrowser{t: t}
	b.client = &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), "http://127.0.0.1:9/") {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

// page is an HTML answer and the URL it came from.
type page struct {
	status int
	url    *url.URL
	body   string
	// location is the callback URL when the browser stopped at it.
	location string
}

func (b *rpBrowser) do(req *http.Request) page {
	b.t.Helper()
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	p := page{status: res.StatusCode, url: res.Request.URL, body: string(raw)}
	if res.StatusCode/100 == 3 {
		p.location = res.Header.Get("Location")
	}
	return p
}

func (b *rpBrowser) get(u string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

var (
	formTag     = regexp.MustCompile(`(?s)<form[^>]*>.*?</form>`)
	hiddenInput = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*>`)
	attr        = regexp.MustCompile(`(name|value)="([^"]*)"`)
)

// submit posts the page's first form that has a field named by one of
// values' keys, with its hidden inputs and the values given, as a browser
// would.
func (b *rpBrowser) submit(p page, values map[string]string) page {
	b.t.Helper()
	chosen := ""
	for _, f := range formTag.FindAllString(p.body, -1) {
		for k := range values {
			if strings.Contains(f, `name="`+k+`"`) && chosen == "" {
				chosen = f
			}
		}
	}
	if chosen == "" {
		b.t.Fatalf("no form with the fields %v on %s: %.400s", values, p.url, p.body)
	}
	form := url.Values{}
	for _, in := range hiddenInput.FindAllString(chosen, -1) {
		var name, value string
		for _, m := range attr.FindAllStringSubmatch(in, -1) {
			if m[1] == "name" {
				name = html.UnescapeString(m[2])
			} else {
				value = html.UnescapeString(m[2])
			}
		}
		if name != "" && form.Get(name) == "" {
			form.Set(name, value)
		}
	}
	for k, v := range values {
		form.Set(k, v)
	}
	action := p.url.Path
	req, _ := http.NewRequest(http.MethodPost, p.url.Scheme+"://"+p.url.Host+action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// rp is a relying party configured from discovery.
type rp struct {
	t        *testing.T
	issuer   string
	provider *oidc.Provider
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newRP(t *testing.T, issuer string, c *baton.OAuthClient, secret string, algs ...string) *rp {
	t.Helper()
	p, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	cfg := &oidc.Config{ClientID: c.ID}
	if len(algs) > 0 {
		cfg.SupportedSigningAlgs = algs
	}
	return &rp{t: t, issuer: issuer, provider: p, verifier: p.Verifier(cfg), conf: oauth2.Config{
		ClientID: c.ID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: rpCallback,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", "offline_access"},
	}}
}

// flow is one authorization request's secrets.
type flow struct {
	state, nonce, verifier string
}

func newFlow() flow {
	return flow{state: randomString(), nonce: randomString(), verifier: oauth2.GenerateVerifier()}
}

func randomString() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (r *rp) authURL(f flow, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce)}, extra...)
	return r.conf.AuthCodeURL(f.state, opts...)
}

// signIn runs the browser from the authorization URL through /login to
// the callback and returns the callback's query.
func signIn(t *testing.T, b *rpBrowser, authURL, username, password string) url.Values {
	t.Helper()
	p := b.get(authURL)
	if p.location == "" && !strings.HasSuffix(p.url.Path, "/consent") {
		if !strings.HasSuffix(p.url.Path, "/login") || p.status != http.StatusOK {
			t.Fatalf("expected the sign-in page, got %d %s: %.300s", p.status, p.url, p.body)
		}
		p = b.submit(p, map[string]string{"username": username, "password": password})
	}
	if p.location == "" && strings.HasSuffix(p.url.Path, "/consent") {
		p = b.submit(p, map[string]string{"decision": "allow"})
	}
	if p.location == "" {
		t.Fatalf("the browser did not reach the callback: %d %s: %.500s", p.status, p.url, p.body)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// exchange checks the callback and redeems its code.
func (r *rp) exchange(q url.Values, f flow) (*oauth2.Token, *oidc.IDToken, error) {
	r.t.Helper()
	if q.Get("state") != f.state {
		r.t.Fatalf("state %q, want %q", q.Get("state"), f.state)
	}
	if q.Get("iss") != r.issuer {
		r.t.Fatalf("iss %q does not name the issuer", q.Get("iss"))
	}
	if q.Get("code") == "" {
		r.t.Fatalf("no code: %v", q)
	}
	tok, err := r.conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(f.verifier))
	if err != nil {
		return nil, nil, err
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(context.Background(), raw)
	if err != nil {
		return nil, nil, fmt.Errorf("verify ID token: %w", err)
	}
	if idt.Nonce != f.nonce {
		r.t.Fatalf("nonce %q, want %q", idt.Nonce, f.nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		r.t.Fatalf("at_hash: %v", err)
	}
	return tok, idt, nil
}

func registerUser(t *testing.T, base, username, email string) string {
	t.Helper()
	r := call(t, "POST", base+"/v1/register", "", map[string]any{"username": username, "password": pw, "email": email})
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	return r.str("id")
}

func addClient(t *testing.T, s *batontest.Server, spec session.ClientSpec) (*baton.OAuthClient, string) {
	t.Helper()
	if spec.RedirectURIs == nil {
		spec.RedirectURIs = []string{rpCallback}
	}
	c, secret, err := s.Service.AddClient(context.Background(), spec)
	if err != nil {
		t.Fatalf("add client: %v", err)
	}
	return c, secret
}

func TestOIDCGoRelyingParty(t *testing.T) {
	s := batontest.NewServer(t, nil, nil)
	uid := registerUser(t, s.URL, "alice", "alice@example.com")
	c, secret := addClient(t, s, session.ClientSpec{Name: "Go RP", FirstParty: true})
	r := newRP(t, s.URL, c, secret)
	b := newBrowser(t)

	f := newFlow()
	tok, idt, err := r.exchange(signIn(t, b, r.authURL(f), "alice", pw), f)
	if err != nil {
		t.Fatalf("code flow: %v", err)
	}
	var claims struct {
		Email             string   `json:"email"`
		EmailVerified     *bool    `json:"email_verified"`
		PreferredUsername string   `json:"preferred_username"`
		AMR               []string `json:"amr"`
		SID               string   `json:"sid"`
		AuthTime          int64    `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != uid || claims.Email != "alice@example.com" || claims.EmailVerified == nil || claims.PreferredUsername != "alice" ||
		len(claims.AMR) != 1 || claims.AMR[0] != "pwd" || claims.SID == "" || claims.AuthTime == 0 {
		t.Fatalf("ID token claims: sub %s %+v", idt.Subject, claims)
	}
	if tok.RefreshToken == "" || tok.Extra("scope") == nil {
		t.Fatalf("token response lacks refresh_token or scope: %+v", tok)
	}

	t.Run("UserInfo", func(t *testing.T) {
		ui, err := r.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatal(err)
		}
		if ui.Subject != uid || ui.Email != "alice@example.com" {
			t.Fatalf("userinfo: %+v", ui)
		}
	})

	t.Run("RefreshRotates", func(t *testing.T) {
		old := tok.RefreshToken
		next, err := r.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: old, Expiry: time.Unix(1, 0)}).Token()
		if err != nil {
			t.Fatal(err)
		}
		if next.RefreshToken == "" || next.RefreshToken == old || next.AccessToken == tok.AccessToken {
			t.Fatalf("refresh did not rotate: %+v", next)
		}
		tok = next
	})

	t.Run("PromptNoneWithSSO", func(t *testing.T) {
		f := newFlow()
		p := b.get(r.authURL(f, oauth2.SetAuthURLParam("prompt", "none")))
		u, _ := url.Parse(p.location)
		if _, _, err := r.exchange(u.Query(), f); err != nil {
			t.Fatalf("prompt=none with a single-sign-on session: %v", err)
		}
	})

	t.Run("PromptNoneWithoutSSO", func(t *testing.T) {
		f := newFlow()
		p := newBrowser(t).get(r.authURL(f, oauth2.SetAuthURLParam("prompt", "none")))
		u, _ := url.Parse(p.location)
		if got := u.Query().Get("error"); got != "login_required" || u.Query().Get("state") != f.state {
			t.Fatalf("prompt=none without a session: %s", p.location)
		}
	})

	t.Run("MaxAge", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond)
		f := newFlow()
		p := b.get(r.authURL(f, oauth2.SetAuthURLParam("max_age", "1")))
		if !strings.HasSuffix(p.url.Path, "/login") {
			t.Fatalf("max_age=1 after a sign-in over a second ago: want the sign-in page, got %d %s %s", p.status, p.url, p.location)
		}
		q := signIn(t, b, r.authURL(f, oauth2.SetAuthURLParam("max_age", "1")), "alice", pw)
		_, idt, err := r.exchange(q, f)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			AuthTime int64 `json:"auth_time"`
		}
		if err := idt.Claims(&c); err != nil || time.Since(time.Unix(c.AuthTime, 0)) > 2*time.Second {
			t.Fatalf("auth_time %d not renewed by the new sign-in (%v)", c.AuthTime, err)
		}
	})

	t.Run("CodeReplayRevokes", func(t *testing.T) {
		f := newFlow()
		q := signIn(t, b, r.authURL(f), "alice", pw)
		first, _, err := r.exchange(q, f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(f.verifier))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("second redemption: %v", err)
		}
		if _, err := r.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(first)); err == nil {
			t.Fatal("the first redemption's access token still works")
		}
		_, err = r.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: first.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
		if err == nil {
			t.Fatal("the first redemption's refresh token still works")
		}
	})

	t.Run("WrongVerifier", func(t *testing.T) {
		f := newFlow()
		q := signIn(t, b, r.authURL(f), "alice", pw)
		_, err := r.conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("wrong verifier: %v", err)
		}
	})

	t.Run("WrongRedirectURI", func(t *testing.T) {
		f := newFlow()
		bad := r.conf
		bad.RedirectURL = "http://127.0.0.1:9/elsewhere"
		p := b.get(bad.AuthCodeURL(f.state, oauth2.S256ChallengeOption(f.verifier)))
		if p.location != "" || p.status != http.StatusBadRequest || !strings.Contains(p.body, "redirect_uri") {
			t.Fatalf("unregistered redirect_uri: want an error page, got %d location %q", p.status, p.location)
		}
	})

	t.Run("TokenRequestWithoutRedirectURI", func(t *testing.T) {
		// The authorization request named it, so the token request must
		// too (RFC 6749 §4.1.3).
		f := newFlow()
		q := signIn(t, b, r.authURL(f), "alice", pw)
		got := clientCall(t, s.URL+"/oauth/token", c.ID, secret, url.Values{"grant_type": {"authorization_code"},
			"code": {q.Get("code")}, "code_verifier": {f.verifier}}.Encode())
		if got.status != http.StatusBadRequest || got.str("error") != "invalid_grant" {
			t.Fatalf("token request without redirect_uri: %d %s", got.status, got.raw)
		}
	})

	t.Run("NoRedirectURI", func(t *testing.T) {
		// OpenID Connect Core §3.1.2.1 requires redirect_uri, even for a
		// client with one registered URI: an error page, no redirect.
		f := newFlow()
		bare := r.conf
		bare.RedirectURL = ""
		p := b.get(bare.AuthCodeURL(f.state, oauth2.S256ChallengeOption(f.verifier)))
		if p.location != "" || p.status != http.StatusBadRequest || !strings.Contains(p.body, "redirect_uri") {
			t.Fatalf("no redirect_uri: want an error page, got %d location %q", p.status, p.location)
		}
	})

	t.Run("WrongSecret", func(t *testing.T) {
		f := newFlow()
		q := signIn(t, b, r.authURL(f), "alice", pw)
		bad := r.conf
		bad.ClientSecret = "wrong"
		_, err := bad.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(f.verifier))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.Response.StatusCode != http.StatusUnauthorized || re.ErrorCode != "invalid_client" {
			t.Fatalf("wrong secret: %v", err)
		}
		// The code was not spent by the failed attempt.
		if _, _, err := r.exchange(q, f); err != nil {
			t.Fatalf("the right secret after a wrong one: %v", err)
		}
	})
}

func TestOIDCEdDSAClient(t *testing.T) {
	s := batontest.NewServer(t, nil, nil)
	registerUser(t, s.URL, "bob", "bob@example.com")
	c, secret := addClient(t, s, session.ClientSpec{Name: "EdDSA RP", FirstParty: true, IDTokenAlg: baton.AlgEdDSA})
	r := newRP(t, s.URL, c, secret, oidc.EdDSA)
	f := newFlow()
	_, idt, err := r.exchange(signIn(t, newBrowser(t), r.authURL(f), "bob", pw), f)
	if err != nil {
		t.Fatalf("code flow with EdDSA ID tokens: %v", err)
	}
	if idt.Subject == "" {
		t.Fatal("no subject")
	}
	// An RS256-only relying party refuses the EdDSA token: the algorithm
	// is really the client's.
	rs := newRP(t, s.URL, c, secret, oidc.RS256)
	f = newFlow()
	if _, _, err := rs.exchange(signIn(t, newBrowser(t), rs.authURL(f), "bob", pw), f); err == nil {
		t.Fatal("an RS256-only verifier accepted the EdDSA client's ID token")
	}
}
