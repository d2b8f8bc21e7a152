package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/session"
)

// The provider's fuzz targets. Both set up a server with registered
// clients and a signed-in user before fuzzing, and put live secrets in
// place of placeholders in the fuzzed input: CID, PID and JID (the
// confidential, public and client-credentials clients' ids), SECRET (the
// confidential client's secret), REQ (a pending request), CSRF and LCSRF
// (the form tokens of REQ and of the logout page for the browser FLOW),
// CODE and VERIFIER (an authorization code and its PKCE verifier), RT (a
// refresh token of the confidential client). Secrets are made before
// fuzzing, not per input: each would write to the store, and coverage
// that changes with every input makes the fuzzer minimise forever. The
// first inputs get live ones, later ones spent ones.

const (
	fuzzCallback = "https://rp.example/callback"
	fuzzLoopback = "http://127.0.0.1/cb"
	fuzzAfter    = "https://rp.example/signed-out"
	fuzzFlow     = "ZmxvdwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // 43 characters, like baton's
	fuzzVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 Appendix B
)

// providerFuzz is the fuzzed server and its live secrets.
type providerFuzz struct {
	srv               *batontest.Server
	conf, pub, job    *baton.OAuthClient
	secret, jobSecret string
	user              string
	sso               *session.Grant // the fuzz browser's single-sign-on session
	// witness is a session no input names: bad input must leave it be.
	witness string
	reqs    []string
	codes   []string
	rts     []string
}

func fuzzChallenge() string {
	sum := sha256.Sum256([]byte(fuzzVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func newProviderFuzz(f *testing.F) *providerFuzz {
	// Fuzzed sign-ins open sessions: the per-user limit would end the
	// witness for them.
	srv := batontest.NewServer(f, batontest.Env{
		"BATON_LIMIT_IP_FAILURES": "off", "BATON_LIMIT_ACCOUNT_FAILURES": "off", "BATON_LIMIT_IP_REGISTRATIONS": "off",
		"BATON_MAX_SESSIONS_PER_USER": "100000",
	}, nil)
	ctx := context.Background()
	pf := &providerFuzz{srv: srv}
	c := newClient(f, srv)
	pf.user = c.register("fuzz").str("id")
	var err error
	pf.conf, pf.secret, err = srv.Service.AddClient(ctx, session.ClientSpec{Name: `<script>alert("x")</script>`,
		RedirectURIs: []string{fuzzCallback, fuzzLoopback}, PostLogoutRedirectURIs: []string{fuzzAfter}})
	if err != nil {
		f.Fatal(err)
	}
	if pf.pub, _, err = srv.Service.AddClient(ctx, session.ClientSpec{Name: "Public", Public: true, FirstParty: true,
		RedirectURIs: []string{fuzzLoopback}}); err != nil {
		f.Fatal(err)
	}
	if pf.job, pf.jobSecret, err = srv.Service.AddClient(ctx, session.ClientSpec{Name: "Job", RedirectURIs: []string{},
		GrantTypes: []string{baton.GrantClientCredentials}, Scopes: []string{"reports.read"}}); err != nil {
		f.Fatal(err)
	}
	cl := session.Client{IP: "192.0.2.9"}
	if pf.sso, err = srv.Service.SignIn(ctx, "fuzz", pw, cl); err != nil {
		f.Fatal(err)
	}
	// The codes, refresh tokens and the witness come from another sign-in
	// than the fuzzed browser's, which a fuzzed logout may end.
	issuer, err := srv.Service.SignIn(ctx, "fuzz", pw, cl)
	if err != nil {
		f.Fatal(err)
	}
	params := func(c *baton.OAuthClient, redirect string) *session.AuthorizeParams {
		return &session.AuthorizeParams{ClientID: c.ID, RedirectURI: redirect, ResponseType: "code", Scope: "openid email",
			CodeChallenge: fuzzChallenge(), CodeChallengeMethod: "S256", MaxAge: -1, State: "s",
			Browser: srv.Service.BrowserBinding(fuzzFlow)}
	}
	if err := srv.Store.GrantConsent(ctx, &baton.Consent{UserID: pf.user, ClientID: pf.conf.ID,
		Scopes: []string{"openid", "email"}, GrantedAt: srv.Service.Now()}); err != nil {
		f.Fatal(err)
	}
	code := func(c *baton.OAuthClient, redirect string) string {
		out, err := srv.Service.Authorize(ctx, params(c, redirect), issuer.Session, cl)
		if err != nil {
			f.Fatal(err)
		}
		u, _ := url.Parse(out.Redirect)
		if u == nil || u.Query().Get("code") == "" {
			f.Fatalf("no code: %+v", out)
		}
		return u.Query().Get("code")
	}
	exchange := func() *session.ClientGrant {
		g, err := srv.Service.ExchangeCode(ctx, pf.conf, code(pf.conf, fuzzCallback), fuzzCallback, fuzzVerifier, cl)
		if err != nil {
			f.Fatal(err)
		}
		return g
	}
	pf.witness = exchange().Session.ID
	const pool = 32
	for range pool {
		out, err := srv.Service.Authorize(ctx, params(pf.conf, fuzzCallback), nil, cl)
		if err != nil || out.Login == "" {
			f.Fatalf("no pending request: %+v %v", out, err)
		}
		pf.reqs = append(pf.reqs, out.Login)
		pf.codes = append(pf.codes, code(pf.conf, fuzzCallback))
		pf.rts = append(pf.rts, exchange().RefreshToken)
	}
	return pf
}

// next takes the next secret of a pool, keeping the last one.
func next(pool *[]string) string {
	v := (*pool)[0]
	if len(*pool) > 1 {
		*pool = (*pool)[1:]
	}
	return v
}

// fill puts live values in place of s's placeholders, in one pass, so
// that a value put in is never taken for a placeholder.
func (pf *providerFuzz) fill(s string) string {
	take := func(pool *[]string, placeholder string) string {
		if strings.Contains(s, placeholder) {
			return next(pool)
		}
		return (*pool)[0]
	}
	req, code, rt := take(&pf.reqs, "REQ"), take(&pf.codes, "CODE"), take(&pf.rts, "RT")
	return strings.NewReplacer(
		"LCSRF", pf.srv.Service.FormToken("logout", fuzzFlow), "CSRF", pf.srv.Service.FormToken(req, fuzzFlow),
		"REQ", req, "CODE", code, "RT", rt, "CID", pf.conf.ID, "PID", pf.pub.ID, "JID", pf.job.ID,
		"JSECRET", pf.jobSecret, "SECRET", pf.secret, "VERIFIER", fuzzVerifier).Replace(s)
}

// checkWitness fails when the session no input names was touched.
func (pf *providerFuzz) checkWitness(t *testing.T, what string) {
	sess, err := pf.srv.Store.Session(context.Background(), pf.witness)
	if err != nil || !sess.RevokedAt.IsZero() {
		t.Fatalf("%s ended a session it does not name: %v", what, err)
	}
}

// allowedLocation reports whether a redirect stays on baton's pages or
// goes to one of the client's registered URIs: never an open redirect.
func (pf *providerFuzz) allowedLocation(loc string) bool {
	if strings.HasPrefix(loc, "/login?request=bar_") || strings.HasPrefix(loc, "/consent?request=bar_") {
		return true
	}
	u, err := url.Parse(loc)
	if err != nil {
		return false
	}
	u.RawQuery = ""
	for _, c := range []*baton.OAuthClient{pf.conf, pf.pub} {
		if session.RedirectURIAllowed(c, u.String()) || session.PostLogoutURIAllowed(c, u.String()) {
			return true
		}
	}
	return false
}

// fuzzServe serves req from a fixed address with auth as its
// Authorization header ("Basic id:secret" sent as HTTP Basic, encoded).
func fuzzServe(h http.Handler, req *http.Request, auth string) *httptest.ResponseRecorder {
	req.RemoteAddr = "192.0.2.1:1234"
	if id, secret, ok := strings.Cut(strings.TrimPrefix(auth, "Basic "), ":"); ok && strings.HasPrefix(auth, "Basic ") {
		req.SetBasicAuth(id, secret)
	} else if auth != "" {
		req.Header["Authorization"] = []string{auth}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// wantContract fails on a 5xx and on an API error without the
// contract's JSON shape.
func wantContract(t *testing.T, rec *httptest.ResponseRecorder, what string) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%s: status %d: %s", what, rec.Code, rec.Body)
	}
	if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"error_description"`) {
		t.Fatalf("%s: error without the contract's shape: %d %s", what, rec.Code, rec.Body)
	}
}

var authorizeRoutes = []struct{ method, path string }{
	{"GET", "/oauth/authorize"}, {"POST", "/oauth/authorize"}, {"POST", "/oauth/par"}, {"GET", "/login"},
	{"POST", "/login"}, {"GET", "/consent"}, {"POST", "/consent"}, {"GET", "/oauth/logout"}, {"POST", "/oauth/logout"},
}

// FuzzAuthorize sends arbitrary queries and forms to the provider's
// browser endpoints and PAR, with and without the browser's cookies:
// never a 5xx, never a panic, a redirect only to baton's pages or a URI
// the client registered, and a refused input ends no session.
func FuzzAuthorize(f *testing.F) {
	pf := newProviderFuzz(f)
	ch := fuzzChallenge()
	base := "client_id=CID&response_type=code&scope=openid+email&code_challenge_method=S256&code_challenge=" + ch
	for _, s := range []struct {
		route   uint8
		query   string
		cookies uint8 // bit 0: baton_flow, bit 1: baton_sso
		auth    string
	}{
		{0, base + "&redirect_uri=" + url.QueryEscape(fuzzCallback) + "&state=s&nonce=n", 3, ""},
		{0, base + "&redirect_uri=" + url.QueryEscape("https://RP.example/callback"), 3, ""},
		{0, base + "&redirect_uri=" + url.QueryEscape("https://rp.example/callback/"), 0, ""},
		{0, base + "&redirect_uri=" + url.QueryEscape("https://rp.example@evil.example/callback"), 0, ""},
		{0, base + "&redirect_uri=" + url.QueryEscape("http://127.0.0.1:8080/cb"), 2, ""},
		{0, base + "&redirect_uri=" + url.QueryEscape("http://127.0.0.1:8080/other"), 2, ""},
		{0, base + "&redirect_uri=" + url.QueryEscape(fuzzCallback+"#x") + "&prompt=none", 2, ""},
		{0, base + "&redirect_uri=" + url.QueryEscape(fuzzCallback) + "&prompt=login&max_age=0", 3, ""},
		{0, base + "&redirect_uri=" + url.QueryEscape(fuzzCallback) + "&code_challenge_method=plain", 3, ""},
		{0, "client_id=CID&request_uri=urn:ietf:params:oauth:request_uri:x", 3, ""},
		{0, "client_id=PID&response_type=code&scope=openid&code_challenge_method=S256&code_challenge=" + ch, 3, ""},
		{0, base + "&scope=openid&scope=email", 3, ""},
		{0, base + "&max_age=-1&prompt=none+login", 3, ""},
		{1, base + "&redirect_uri=" + url.QueryEscape(fuzzCallback) + "&login_hint=" + strings.Repeat("a", 3000), 1, ""},
		{2, base + "&redirect_uri=" + url.QueryEscape(fuzzCallback), 0, "Basic CID:SECRET"},
		{2, base + "&redirect_uri=" + url.QueryEscape(fuzzCallback) + "&client_secret=SECRET", 0, ""},
		{2, "client_id=PID&response_type=code&scope=openid&code_challenge_method=S256&code_challenge=" + ch, 0, ""},
		{2, base + "&request_uri=x", 0, "Basic CID:SECRET"},
		{3, "request=REQ", 1, ""},
		{3, "request=bar_x", 0, ""},
		{4, "request=REQ&csrf=CSRF&username=fuzz&password=" + url.QueryEscape(pw), 1, ""},
		{4, "request=REQ&csrf=CSRF&username=fuzz&password=wrong", 1, ""},
		{4, "request=REQ&csrf=CSRF&mfa_token=bmf_x&code=123456", 1, ""},
		{4, "request=REQ&csrf=CSRF&method=passkey&flow_id=x&credential={}", 1, ""},
		{4, "request=REQ&username=fuzz&password=" + url.QueryEscape(pw), 0, ""},
		{5, "request=REQ", 3, ""},
		{6, "request=REQ&csrf=CSRF&decision=allow", 3, ""},
		{6, "request=REQ&csrf=CSRF&decision=deny", 3, ""},
		{6, "request=REQ&csrf=CSRF&decision=maybe", 3, ""},
		{6, "request=REQ&decision=allow", 2, ""},
		{7, "client_id=CID&post_logout_redirect_uri=" + url.QueryEscape(fuzzAfter) + "&state=s", 3, ""},
		{7, "client_id=CID&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/"), 3, ""},
		{7, "id_token_hint=eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.&post_logout_redirect_uri=" + url.QueryEscape(fuzzAfter), 2, ""},
		{8, "csrf=LCSRF&client_id=CID&post_logout_redirect_uri=" + url.QueryEscape(fuzzAfter), 3, ""},
		{8, "csrf=x", 3, ""},
	} {
		f.Add(s.route, s.query, s.cookies, s.auth)
	}
	h := pf.srv.Handler()
	f.Fuzz(func(t *testing.T, route uint8, query string, cookies uint8, auth string) {
		rt := authorizeRoutes[int(route)%len(authorizeRoutes)]
		query, auth = pf.fill(query), pf.fill(auth)
		var req *http.Request
		if rt.method == "GET" {
			req = httptest.NewRequest("GET", rt.path, nil)
			req.URL.RawQuery = query
		} else {
			req = httptest.NewRequest("POST", rt.path, strings.NewReader(query))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cookies&1 != 0 {
			req.AddCookie(&http.Cookie{Name: "baton_flow", Value: fuzzFlow})
		}
		if cookies&2 != 0 {
			req.AddCookie(&http.Cookie{Name: "baton_sso", Value: pf.sso.RefreshToken})
		}
		rec := fuzzServe(h, req, auth)
		what := rt.method + " " + rt.path + " " + query
		switch {
		case rec.Code >= 500:
			t.Fatalf("%s: status %d: %s", what, rec.Code, rec.Body)
		case rec.Code/100 == 3 && !pf.allowedLocation(rec.Header().Get("Location")):
			t.Fatalf("%s: redirected to %q", what, rec.Header().Get("Location"))
		case rec.Code >= 400:
			pf.checkWitness(t, what)
			if sso, err := pf.srv.Service.SSOSession(context.Background(), pf.sso.RefreshToken); err != nil || sso == nil {
				t.Fatalf("%s: refused (%d), yet the single-sign-on session ended", what, rec.Code)
			}
		}
		// A legitimate logout ends the browser's session: sign in again
		// for the next input.
		if sso, _ := pf.srv.Service.SSOSession(context.Background(), pf.sso.RefreshToken); sso == nil {
			g, err := pf.srv.Service.SignIn(context.Background(), "fuzz", pw, session.Client{IP: "192.0.2.9"})
			if err != nil {
				t.Fatal(err)
			}
			pf.sso = g
		}
	})
}

// FuzzClientToken sends arbitrary forms and Authorization headers for the
// registered clients to /oauth/token — every grant type, codes, verifiers,
// redirect URIs, scopes and refresh tokens live or not: never a 5xx,
// never a panic, every error in the contract's shape, and no input ends a
// session it does not name.
func FuzzClientToken(f *testing.F) {
	pf := newProviderFuzz(f)
	cb := url.QueryEscape(fuzzCallback)
	for _, s := range []struct{ form, auth string }{
		{"grant_type=authorization_code&code=CODE&code_verifier=VERIFIER&redirect_uri=" + cb, "Basic CID:SECRET"},
		{"grant_type=authorization_code&code=CODE&code_verifier=VERIFIER&redirect_uri=" + cb + "&client_id=CID&client_secret=SECRET", ""},
		{"grant_type=authorization_code&code=CODE&code_verifier=VERIFIER&redirect_uri=" + cb + "&client_id=CID", ""},
		{"grant_type=authorization_code&code=CODE&code_verifier=VERIFIER&redirect_uri=" + cb, "Basic PID:"},
		{"grant_type=authorization_code&code=CODE&code_verifier=VERIFIER&redirect_uri=" + cb + "/", "Basic CID:SECRET"},
		{"grant_type=authorization_code&code=CODE&code_verifier=" + strings.Repeat("a", 43), "Basic CID:SECRET"},
		{"grant_type=authorization_code&code=CODE&code_verifier=VERIFIER&code_verifier=VERIFIER", "Basic CID:SECRET"},
		{"grant_type=authorization_code&code=bac_x&code_verifier=VERIFIER", "Basic CID:SECRE%54"},
		{"grant_type=refresh_token&refresh_token=RT", "Basic CID:SECRET"},
		{"grant_type=refresh_token&refresh_token=RT&scope=openid", "Basic CID:SECRET"},
		{"grant_type=refresh_token&refresh_token=RT&scope=openid+admin", "Basic CID:SECRET"},
		{"grant_type=refresh_token&refresh_token=RT", "Basic PID:"},
		{"grant_type=refresh_token&refresh_token=RT&client_id=PID", ""},
		{"grant_type=client_credentials&scope=reports.read", "Basic JID:JSECRET"},
		{"grant_type=client_credentials", "Basic CID:SECRET"},
		{"grant_type=client_credentials&client_id=PID", ""},
		{"grant_type=password&username=fuzz&password=" + url.QueryEscape(pw), "Basic CID:SECRET"},
		{"grant_type=urn:ietf:params:oauth:grant-type:device_code", "Basic CID:SECRET"},
		{"grant_type=authorization_code&code=CODE", "Bearer x"},
		{"grant_type=authorization_code&code=CODE&code_verifier=VERIFIER", "Basic %ZZ:x"},
		{"grant_type=refresh_token&refresh_token=RT", "Basic " + strings.Repeat("C", 500) + ":x"},
	} {
		f.Add(s.form, s.auth)
	}
	h := pf.srv.Handler()
	f.Fuzz(func(t *testing.T, form, auth string) {
		form, auth = pf.fill(form), pf.fill(auth)
		req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := fuzzServe(h, req, auth)
		wantContract(t, rec, form+" "+auth)
		pf.checkWitness(t, form)
	})
}
