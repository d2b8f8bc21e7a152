package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"

	"github.com/batonauth/baton/token"
)

// The OpenID provider's scenarios, each measured beside a v1 refresh run
// on the same server right after (the ratio's denominator) and a hello
// run:
//
//	code-exchange   GET /oauth/authorize with the browser's baton_sso cookie
//	                (303 to the redirect URI with a code) → POST /oauth/token
//	                authorization_code with PKCE and client_secret_basic
//	                (access, refresh and ID token)
//	client-refresh  POST /oauth/token refresh_token with client_secret_basic,
//	                each virtual user keeping its own rotation chain
//
// The client is registered with `baton clients add --first-party` (no
// consent page) on the started server's store. Every virtual user signs in
// once through /login (GET /oauth/authorize → /login → POST /login), a
// browser's whole sign-in, which leaves its baton_sso cookie; client-refresh
// redeems that sign-in's code for the first refresh token of its chain.
//
// Every code exchange opens a session for its user, and baton keeps at
// most BATON_MAX_SESSIONS_PER_USER (100) live sessions per user: past it,
// each exchange pays one more write, revoking the least recently used
// session (a client's old one: each exchange counts as a use of the
// browser's single-sign-on session). So that code-exchange measures the
// usual case, a user under the cap, each
// virtual user also holds the single-sign-on sessions of a share of a
// larger population (2,000 users unless -users), seeded by SQL like the
// refresh scenario's sessions, and takes them in turn.

const (
	providerRedirect = "https://app.bench.example/callback"
	providerScope    = "openid profile email"
	// providerUsers is code-exchange's default population: at 1,000
	// exchanges a second, 3 runs of 6 s open 9 sessions per user.
	providerUsers = 2000
)

// isProviderScenario reports whether the scenario is the OpenID
// provider's; those also measure a v1 refresh on the same server.
func isProviderScenario(s string) bool { return s == "code-exchange" || s == "client-refresh" }

// providerRig is the relying party's side: the registered client, the
// PKCE pair (the engine does the same work whatever the verifier) and the
// browsers' single-sign-on cookies, by user.
type providerRig struct {
	clientID, secret    string
	verifier, challenge string
	authorize           string // the authorization request's path and query
	sso                 []string
}

func newProviderRig(users int) (*providerRig, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	p := &providerRig{verifier: base64.RawURLEncoding.EncodeToString(raw[:]), sso: make([]string, users)}
	sum := sha256.Sum256([]byte(p.verifier))
	p.challenge = base64.RawURLEncoding.EncodeToString(sum[:])
	return p, nil
}

// register adds the first-party confidential client with the baton CLI on
// the started server's store (clients are not cached: it works at once).
func (p *providerRig) register(ctx context.Context, r *rig, alg string) error {
	bin := r.o.bin
	if bin == "" || r.o.profile != "" { // batonprof only serves
		var err error
		if bin, err = buildBinary(ctx, "./cmd/baton"); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, bin, "clients", "add", "bench app", "--first-party",
		"--redirect-uri", providerRedirect, "--id-token-alg", alg, "--json")
	cmd.Env = r.b.env()
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return fmt.Errorf("baton clients add: %w", err)
	}
	var c struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out, &c); err != nil || c.ClientID == "" || c.ClientSecret == "" {
		return fmt.Errorf("baton clients add: no client_id and client_secret in %q", out)
	}
	p.clientID, p.secret = c.ClientID, c.ClientSecret
	p.authorize = "/oauth/authorize?" + url.Values{"client_id": {p.clientID}, "response_type": {"code"},
		"scope": {providerScope}, "redirect_uri": {providerRedirect}, "state": {"bench-state"}, "nonce": {"bench-nonce"},
		"code_challenge": {p.challenge}, "code_challenge_method": {"S256"}}.Encode()
	return nil
}

// browserRequest is a request of v's browser: its baton_flow cookie and
// the baton_sso cookie sso, when given.
func browserRequest(ctx context.Context, v *vu, method, u, sso string, form url.Values) (*http.Request, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if v.flow != "" {
		req.AddCookie(&http.Cookie{Name: "baton_flow", Value: v.flow})
	}
	if sso != "" {
		req.AddCookie(&http.Cookie{Name: "baton_sso", Value: sso})
	}
	return req, nil
}

// location returns a 303's Location, resolved against the server.
func location(t *target, resp *http.Response) (*url.URL, error) {
	if resp.StatusCode != http.StatusSeeOther {
		return nil, nil
	}
	base, err := url.Parse(t.url + "/")
	if err != nil {
		return nil, err
	}
	return base.Parse(resp.Header.Get("Location"))
}

// codeOf returns the code of a redirect to the client, or an error naming
// what came instead: by its path only, since the query holds a one-time
// value and the error table counts errors by their text.
func codeOf(u *url.URL) (string, error) {
	if u == nil {
		return "", errors.New("no redirect")
	}
	if u.Scheme+"://"+u.Host+u.Path != providerRedirect {
		return "", fmt.Errorf("redirected to %s, not to the client", u.Path)
	}
	q := u.Query()
	if q.Get("code") == "" {
		return "", fmt.Errorf("redirected to the client without a code: error=%s", q.Get("error"))
	}
	return q.Get("code"), nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn is a browser's whole sign-in through baton's page as user: the
// authorization request, the sign-in page and its form. It keeps the
// browser's baton_flow cookie in v and returns the baton_sso cookie and
// the code the sign-in ends with. Set-up only: it costs an argon2id hash.
func (p *providerRig) signIn(ctx context.Context, t *target, v *vu, user int) (sso, code string, err error) {
	req, err := browserRequest(ctx, v, http.MethodGet, t.url+p.authorize, "", nil)
	if err != nil {
		return "", "", err
	}
	resp, err := t.send(v, req)
	if err != nil {
		return "", "", err
	}
	for _, c := range resp.Cookies() {
		if c.Name == "baton_flow" {
			v.flow = c.Value
		}
	}
	loginURL, err := location(t, resp)
	if err != nil || loginURL == nil || loginURL.Path != "/login" {
		return "", "", fmt.Errorf("authorization request without a session: status %d, want a 303 to /login: %v", resp.StatusCode, err)
	}
	if req, err = browserRequest(ctx, v, http.MethodGet, loginURL.String(), "", nil); err != nil {
		return "", "", err
	}
	if resp, err = t.send(v, req); err != nil {
		return "", "", err
	}
	m := csrfField.FindSubmatch(v.buf.Bytes())
	if resp.StatusCode != http.StatusOK || m == nil {
		return "", "", fmt.Errorf("sign-in page: status %d, no csrf field", resp.StatusCode)
	}
	form := url.Values{"request": {loginURL.Query().Get("request")}, "csrf": {string(m[1])},
		"username": {userName(user)}, "password": {benchPassword}}
	if req, err = browserRequest(ctx, v, http.MethodPost, t.url+"/login", "", form); err != nil {
		return "", "", err
	}
	if resp, err = t.send(v, req); err != nil {
		return "", "", err
	}
	for _, c := range resp.Cookies() {
		if c.Name == "baton_sso" {
			sso = c.Value
		}
	}
	back, err := location(t, resp)
	if err != nil {
		return "", "", err
	}
	if code, err = codeOf(back); err != nil || sso == "" {
		return "", "", fmt.Errorf("sign-in of %s: status %d, baton_sso set: %v: %v", userName(user), resp.StatusCode, sso != "", err)
	}
	return sso, code, nil
}

// authorizeCode is GET /oauth/authorize from a browser signed in with
// sso: a 303 to the client with a code.
func (p *providerRig) authorizeCode(ctx context.Context, t *target, v *vu, sso string) (string, int, error) {
	v.stage = "authorize"
	req, err := browserRequest(ctx, v, http.MethodGet, t.url+p.authorize, sso, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := t.send(v, req)
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode != http.StatusSeeOther {
		return "", resp.StatusCode, nil
	}
	u, err := location(t, resp)
	if err != nil {
		return "", 0, err
	}
	code, err := codeOf(u)
	return code, resp.StatusCode, err
}

// clientTokenResponse is the token endpoint's answer to a registered
// client.
type clientTokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// token is POST /oauth/token with client_secret_basic (RFC 6749 §2.3.1:
// the id and secret form-encoded, then Basic).
func (p *providerRig) token(ctx context.Context, t *target, v *vu, form url.Values) (*clientTokenResponse, int, error) {
	v.stage = "token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(p.clientID), url.QueryEscape(p.secret))
	resp, err := t.send(v, req)
	if err != nil || resp.StatusCode != http.StatusOK {
		if resp == nil {
			return nil, 0, err
		}
		return nil, resp.StatusCode, err
	}
	var tr clientTokenResponse
	if json.Unmarshal(v.buf.Bytes(), &tr) != nil || tr.AccessToken == "" {
		return nil, 0, errors.New("200 without a token response")
	}
	return &tr, resp.StatusCode, nil
}

// exchange redeems code: the grant must carry an ID token and a refresh
// token, whose chain v continues.
func (p *providerRig) exchange(ctx context.Context, t *target, v *vu, code string) (int, error) {
	tr, status, err := p.token(ctx, t, v, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {providerRedirect}, "code_verifier": {p.verifier}})
	if tr == nil {
		return status, err
	}
	if tr.IDToken == "" || tr.RefreshToken == "" {
		return 0, errors.New("code exchange: no ID token or no refresh token")
	}
	v.at, v.rt = tr.AccessToken, tr.RefreshToken
	v.stage = ""
	return status, nil
}

// codeExchange is one op of code-exchange, for v's next user.
func (p *providerRig) codeExchange(ctx context.Context, t *target, v *vu) (op, int, error) {
	user, _ := v.nextUser(0)
	code, status, err := p.authorizeCode(ctx, t, v, p.sso[user])
	if code == "" {
		return opCodeExchange, status, err
	}
	status, err = p.exchange(ctx, t, v, code)
	return opCodeExchange, status, err
}

// clientRefresh is one op of client-refresh: the next link of v's chain.
// A refresh answers no ID token (session.RefreshClient).
func (p *providerRig) clientRefresh(ctx context.Context, t *target, v *vu) (op, int, error) {
	tr, status, err := p.token(ctx, t, v, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {v.rt}})
	if tr == nil {
		return opClientRefresh, status, err
	}
	if tr.RefreshToken == "" || tr.IDToken != "" {
		return opClientRefresh, 0, errors.New("refresh: no refresh token, or an ID token")
	}
	v.at, v.rt, v.stage = tr.AccessToken, tr.RefreshToken, ""
	return opClientRefresh, status, nil
}

// renewChain starts a new chain for v after a broken one: a code for its
// first user, redeemed.
func (p *providerRig) renewChain(ctx context.Context, t *target, v *vu) error {
	code, status, err := p.authorizeCode(ctx, t, v, p.sso[v.pool[0]])
	if code == "" {
		return fmt.Errorf("authorize: status %d: %v", status, err)
	}
	_, err = p.exchange(ctx, t, v, code)
	return err
}

// runProvider runs a provider scenario o.runs times on one server, each
// run followed by a v1 refresh run (c virtual users with sessions seeded
// by SQL, as the refresh scenario's) and a hello run.
func runProvider(ctx context.Context, o options) (*scenarioResult, error) {
	n := o.users
	if n <= 0 {
		n = o.c
		if o.scenario == "code-exchange" {
			n = max(providerUsers, o.c)
		}
	}
	if n < o.c {
		return nil, fmt.Errorf("-users %d: want at least one per virtual user (-c %d)", n, o.c)
	}
	p, err := newProviderRig(n)
	if err != nil {
		return nil, err
	}
	// Sessions 0..c-1 are the v1 refresh's (users 0..c-1); c..c+n-1
	// the browsers' single-sign-on sessions, one per user.
	tokens := make([]string, o.c+n)
	for i := range tokens {
		if tokens[i], err = token.NewRefreshToken(); err != nil {
			return nil, err
		}
	}
	r, err := newRig(ctx, o, n, tokens, &factorSeed{ssoFrom: o.c})
	if err != nil {
		return nil, err
	}
	defer r.close()
	// After seeding, which may have replaced the tokens by ones that
	// name their sessions.
	for i := o.c; i < len(tokens); i++ {
		p.sso[i%n] = tokens[i]
	}
	if err := p.register(ctx, r, o.idTokenAlg); err != nil {
		return nil, err
	}
	t := r.target()
	vus := make([]*vu, o.c)
	for i := range vus {
		vus[i] = &vu{id: i}
	}
	assignUsers(vus, n)
	o.logf("signing %d browsers in through /login", len(vus))
	err = inParallel(vus, 4, func(v *vu) error {
		user := v.pool[0]
		sso, code, err := p.signIn(ctx, t, v, user)
		if err != nil {
			return err
		}
		p.sso[user] = sso
		if status, err := p.exchange(ctx, t, v, code); err != nil || status != http.StatusOK {
			return fmt.Errorf("set-up code exchange: status %d: %v: %s", status, err, v.buf.Bytes())
		}
		v.renew = func(ctx context.Context, t *target) error { return p.renewChain(ctx, t, v) }
		return nil
	})
	if err != nil {
		return nil, err
	}
	st := p.codeExchange
	if o.scenario == "client-refresh" {
		st = p.clientRefresh
	}
	v1, err := setupVUs(ctx, t, o.c, n, tokens[:o.c], true)
	if err != nil {
		return nil, err
	}
	runs, err := r.runBeside(ctx, vus, st, v1, opRefresh)
	if err != nil {
		return nil, err
	}
	return &scenarioResult{o: o, runs: runs}, nil
}
