package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/session"
)

// These tests attack the OpenID provider as an outsider would: racing its
// one-time secrets over real HTTP, and trying to bend its redirects,
// client authentication, CSRF protection and single-sign-on session.

// race runs n copies of do at once, as close together as goroutines
// allow, and returns their results in no particular order.
func race[T any](n int, do func() T) []T {
	var wg sync.WaitGroup
	start := make(chan struct{})
	out := make([]T, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = do()
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// tokenReply is an answer of the token endpoint.
type tokenReply struct {
	status int
	body   map[string]any
	err    error
}

func (r tokenReply) str(k string) string { s, _ := r.body[k].(string); return s }

// postForm posts a form with an optional Authorization header; safe to
// call from any goroutine (it reports instead of failing the test).
func postForm(u, form, auth string) tokenReply {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form))
	if err != nil {
		return tokenReply{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return tokenReply{err: err}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := tokenReply{status: res.StatusCode}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// codeFor runs the browser to the callback and returns its code.
func codeFor(t *testing.T, b *rpBrowser, r *rp, f flow, username string) string {
	t.Helper()
	q := signIn(t, b, r.authURL(f), username, pw)
	if q.Get("code") == "" {
		t.Fatalf("no code: %v", q)
	}
	return q.Get("code")
}

func redeemForm(code string, f flow) string {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpCallback},
		"code_verifier": {f.verifier}}.Encode()
}

func TestOIDCRaces(t *testing.T) {
	s := batontest.NewServer(t, batontest.Env{"BATON_REUSE_GRACE": "30s"}, nil)
	registerUser(t, s.URL, "ivan", "ivan@example.com")
	c, secret := addClient(t, s, session.ClientSpec{Name: "Racer", FirstParty: true})
	r := newRP(t, s.URL, c, secret)
	auth := basic(c.ID, secret)

	t.Run("CodeRedeemedInParallel", func(t *testing.T) {
		f := newFlow()
		code := codeFor(t, newBrowser(t), r, f, "ivan")
		got := race(16, func() tokenReply { return postForm(s.URL+"/oauth/token", redeemForm(code, f), auth) })
		var won []tokenReply
		for _, g := range got {
			switch {
			case g.err != nil:
				t.Fatal(g.err)
			case g.status == http.StatusOK:
				won = append(won, g)
			case g.status != http.StatusBadRequest || g.str("error") != "invalid_grant":
				t.Fatalf("a losing redemption: %d %v", g.status, g.body)
			}
		}
		if len(won) > 1 {
			t.Fatalf("%d redemptions of one code succeeded", len(won))
		}
		// The code was redeemed more than once: whatever the winner got is
		// dead (RFC 6749 §4.1.2).
		for _, w := range won {
			if u := call(t, "GET", s.URL+"/oauth/userinfo", w.str("access_token"), nil); u.status != http.StatusUnauthorized {
				t.Fatalf("the winner's access token after the replays: %d %s", u.status, u.raw)
			}
			if g := postForm(s.URL+"/oauth/token", "grant_type=refresh_token&refresh_token="+url.QueryEscape(w.str("refresh_token")), auth); g.str("error") != "invalid_grant" {
				t.Fatalf("the winner's refresh token after the replays: %d %v", g.status, g.body)
			}
		}
	})

	t.Run("RefreshInParallelWithinGrace", func(t *testing.T) {
		f := newFlow()
		tok, _, err := r.exchange(signIn(t, newBrowser(t), r.authURL(f), "ivan", pw), f)
		if err != nil {
			t.Fatal(err)
		}
		form := "grant_type=refresh_token&refresh_token=" + url.QueryEscape(tok.RefreshToken)
		got := race(16, func() tokenReply { return postForm(s.URL+"/oauth/token", form, auth) })
		successor := ""
		for _, g := range got {
			if g.err != nil || g.status != http.StatusOK {
				t.Fatalf("a refresh inside the grace window: %d %v %v", g.status, g.body, g.err)
			}
			if successor == "" {
				successor = g.str("refresh_token")
			}
			if g.str("refresh_token") != successor || successor == tok.RefreshToken {
				t.Fatalf("refresh tokens %q and %q: want one successor", successor, g.str("refresh_token"))
			}
		}
		if g := postForm(s.URL+"/oauth/token", "grant_type=refresh_token&refresh_token="+url.QueryEscape(successor), auth); g.status != http.StatusOK {
			t.Fatalf("the successor: %d %v", g.status, g.body)
		}
	})

	t.Run("ConsentInParallel", func(t *testing.T) {
		tp, tpSecret := addClient(t, s, session.ClientSpec{Name: "Third"})
		tr := newRP(t, s.URL, tp, tpSecret)
		b := newBrowser(t)
		p := b.get(tr.authURL(newFlow()))
		p = b.submit(p, map[string]string{"username": "ivan", "password": pw})
		if !strings.HasSuffix(p.url.Path, "/consent") {
			t.Fatalf("want the consent page, got %d %s", p.status, p.url)
		}
		form := formValues(t, p, "decision")
		form.Set("decision", "allow")
		got := race(16, func() page {
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/consent", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := b.client.Do(req)
			if err != nil {
				return page{}
			}
			res.Body.Close()
			return page{status: res.StatusCode, location: res.Header.Get("Location")}
		})
		codes := 0
		for _, g := range got {
			if u, _ := url.Parse(g.location); u != nil && u.Query().Get("code") != "" {
				codes++
			} else if g.status != http.StatusBadRequest {
				t.Errorf("a losing consent: %d %q", g.status, g.location)
			}
		}
		if codes != 1 {
			t.Fatalf("%d codes for one pending request", codes)
		}
	})
}

// formValues returns the hidden inputs of the page's form that has the
// field name.
func formValues(t *testing.T, p page, name string) url.Values {
	t.Helper()
	for _, f := range formTag.FindAllString(p.body, -1) {
		if !strings.Contains(f, `name="`+name+`"`) {
			continue
		}
		form := url.Values{}
		for _, in := range hiddenInput.FindAllString(f, -1) {
			var k, v string
			for _, m := range attr.FindAllStringSubmatch(in, -1) {
				if m[1] == "name" {
					k = m[2]
				} else {
					v = m[2]
				}
			}
			form.Set(k, html.UnescapeString(v))
		}
		return form
	}
	t.Fatalf("no form with %s on %s", name, p.url)
	return nil
}

// attackLab is a server with a signed-in browser and two clients.
type attackLab struct {
	s          *batontest.Server
	a, b       *baton.OAuthClient
	aSec, bSec string
	ra, rb     *rp
	user       string
	victim     *rpBrowser // signed in as the user
}

const afterLogout = "http://127.0.0.1:9/signed-out"

func newAttackLab(t *testing.T) *attackLab {
	s := batontest.NewServer(t, nil, nil)
	l := &attackLab{s: s, user: registerUser(t, s.URL, "judy", "judy@example.com")}
	l.a, l.aSec = addClient(t, s, session.ClientSpec{Name: "A", FirstParty: true, PostLogoutRedirectURIs: []string{afterLogout}})
	l.b, l.bSec = addClient(t, s, session.ClientSpec{Name: "B", FirstParty: true})
	l.ra, l.rb = newRP(t, s.URL, l.a, l.aSec), newRP(t, s.URL, l.b, l.bSec)
	l.victim = newBrowser(t)
	// It stops at any address outside baton, as the redirects tried here
	// go to other ports and hosts.
	l.victim.client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), s.URL+"/") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	f := newFlow()
	if _, _, err := l.ra.exchange(signIn(t, l.victim, l.ra.authURL(f), "judy", pw), f); err != nil {
		t.Fatal(err)
	}
	return l
}

// authorize is client A's authorization URL for flow f with the
// parameters in set replaced (an empty value removes one).
func (l *attackLab) authorize(f flow, set map[string]string) string {
	u, _ := url.Parse(l.ra.authURL(f))
	q := u.Query()
	for k, v := range set {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// wantErrorPage checks that the answer is baton's error page: no redirect
// anywhere.
func wantErrorPage(t *testing.T, p page, what string) {
	t.Helper()
	if p.status != http.StatusBadRequest || p.location != "" || !strings.Contains(p.body, "<html") {
		t.Errorf("%s: want the error page, got %d %q", what, p.status, p.location)
	}
}

func TestOIDCRedirectURIBypasses(t *testing.T) {
	l := newAttackLab(t)
	for _, uri := range []string{
		"HTTP://127.0.0.1:9/callback", "http://127.0.0.1:9/Callback", "http://127.0.0.1:9/callback/",
		"http://127.0.0.1:9/callback%2F..%2Fevil", "http://127.0.0.1:9/%63allback", "http://127.0.0.1:9/callback/../evil",
		"http://127.0.0.1:9/callback?next=https://evil.example", "http://127.0.0.1:9/callback#frag",
		"http://evil@127.0.0.1:9/callback", "http://127.0.0.1:9@evil.example/callback", "http://127.0.0.1:9/other",
		"http://localhost:9/callback", "http://[::1]:9/callback", "https://127.0.0.1:9/callback",
		"http://127.0.0.1.evil.example/callback", "http://127.0.0.1:99999/callback", "http://127.0.0.1:/callback",
		"//evil.example/callback", "http://127.0.0.1:9/callback ", "http://127.0.0.1:9\\@evil.example/callback",
	} {
		wantErrorPage(t, l.victim.get(l.authorize(newFlow(), map[string]string{"redirect_uri": uri})), uri)
	}
	// A loopback redirect URI may differ in port only (RFC 8252 §7.3).
	f := newFlow()
	p := l.victim.get(l.authorize(f, map[string]string{"redirect_uri": "http://127.0.0.1:4321/callback"}))
	if !strings.HasPrefix(p.location, "http://127.0.0.1:4321/callback?code=") {
		t.Errorf("another loopback port: %d %q", p.status, p.location)
	}
}

func TestOIDCPostLogoutRedirectBypasses(t *testing.T) {
	l := newAttackLab(t)
	for _, uri := range []string{
		"http://127.0.0.1:9/signed-out/", "http://127.0.0.1:9/SIGNED-OUT", "http://127.0.0.1:10/signed-out",
		"http://127.0.0.1:9/signed-out?x=1", "http://evil@127.0.0.1:9/signed-out", "https://evil.example/",
		"http://127.0.0.1:9/callback",
	} {
		wantErrorPage(t, l.victim.get(l.s.URL+"/oauth/logout?client_id="+l.a.ID+"&post_logout_redirect_uri="+url.QueryEscape(uri)), uri)
	}
	// Another client's URI, and no client at all.
	wantErrorPage(t, l.victim.get(l.s.URL+"/oauth/logout?client_id="+l.b.ID+"&post_logout_redirect_uri="+url.QueryEscape(afterLogout)), "another client's")
	wantErrorPage(t, l.victim.get(l.s.URL+"/oauth/logout?post_logout_redirect_uri="+url.QueryEscape(afterLogout)), "without client_id")
}

func TestOIDCRequestURIBypasses(t *testing.T) {
	l := newAttackLab(t)
	f := newFlow()
	authURL, _ := url.Parse(l.ra.authURL(f))
	push := func() string {
		r := clientCall(t, l.s.URL+"/oauth/par", l.a.ID, l.aSec, authURL.Query().Encode())
		if r.status != http.StatusCreated {
			t.Fatalf("PAR: %d %s", r.status, r.raw)
		}
		return r.str("request_uri")
	}
	byRef := func(clientID, uri string) string {
		return l.s.URL + "/oauth/authorize?client_id=" + url.QueryEscape(clientID) + "&request_uri=" + url.QueryEscape(uri)
	}
	// Another client's request_uri: the error page, not B's redirect.
	wantErrorPage(t, l.victim.get(byRef(l.b.ID, push())), "another client's request_uri")
	// Replayed: the first use gives a code, the second the error page.
	uri := push()
	if p := l.victim.get(byRef(l.a.ID, uri)); !strings.Contains(p.location, "code=") {
		t.Fatalf("pushed request: %d %q", p.status, p.location)
	}
	wantErrorPage(t, l.victim.get(byRef(l.a.ID, uri)), "request_uri replayed")
	// Parameters beside request_uri do not override the pushed ones.
	p := l.victim.get(byRef(l.a.ID, push()) + "&redirect_uri=" + url.QueryEscape("http://127.0.0.1:9/other"))
	if !strings.HasPrefix(p.location, rpCallback+"?") {
		t.Fatalf("redirect_uri beside request_uri: %d %q", p.status, p.location)
	}
	// B may not push for A.
	if r := clientCall(t, l.s.URL+"/oauth/par", l.b.ID, l.bSec, authURL.Query().Encode()); r.status < 400 || r.str("request_uri") != "" {
		t.Fatalf("B pushing A's request: %d %s", r.status, r.raw)
	}
}

func TestOIDCCodeBypasses(t *testing.T) {
	l := newAttackLab(t)
	token := l.s.URL + "/oauth/token"
	code := func(f flow, set map[string]string) string {
		p := l.victim.get(l.authorize(f, set))
		u, _ := url.Parse(p.location)
		if u == nil || u.Query().Get("code") == "" {
			t.Fatalf("no code: %d %q", p.status, p.location)
		}
		return u.Query().Get("code")
	}

	t.Run("AnotherClient", func(t *testing.T) {
		f := newFlow()
		c := code(f, nil)
		// B redeems A's code: refused, and nothing is spent or revoked.
		if r := clientCall(t, token, l.b.ID, l.bSec, redeemForm(c, f)); r.str("error") != "invalid_grant" {
			t.Fatalf("B redeeming A's code: %d %s", r.status, r.raw)
		}
		won := clientCall(t, token, l.a.ID, l.aSec, redeemForm(c, f))
		if won.status != http.StatusOK {
			t.Fatalf("A after B's attempt: %d %s", won.status, won.raw)
		}
		// B tries again once A has redeemed: still not a replay.
		if r := clientCall(t, token, l.b.ID, l.bSec, redeemForm(c, f)); r.str("error") != "invalid_grant" {
			t.Fatalf("B redeeming A's spent code: %d %s", r.status, r.raw)
		}
		if u := call(t, "GET", l.s.URL+"/oauth/userinfo", won.str("access_token"), nil); u.status != http.StatusOK {
			t.Fatalf("A's session after B's attempts: %d %s", u.status, u.raw)
		}
	})

	t.Run("PKCEDowngrade", func(t *testing.T) {
		for _, set := range []map[string]string{
			{"code_challenge_method": "plain"},
			{"code_challenge_method": ""},
			{"code_challenge": ""},
			{"code_challenge_method": "s256"},
			{"code_challenge_method": "plain", "code_challenge": strings.Repeat("a", 43)},
		} {
			p := l.victim.get(l.authorize(newFlow(), set))
			u, _ := url.Parse(p.location)
			if u == nil || u.Query().Get("error") != "invalid_request" || u.Query().Get("code") != "" {
				t.Errorf("%v: %d %q", set, p.status, p.location)
			}
		}
		f := newFlow()
		c := code(f, nil)
		form, _ := url.ParseQuery(redeemForm(c, f))
		for _, v := range []string{"", f.verifier[:42], f.verifier + "A", newFlow().verifier} {
			form.Set("code_verifier", v)
			if r := clientCall(t, token, l.a.ID, l.aSec, form.Encode()); r.status != http.StatusBadRequest {
				t.Errorf("verifier %q: %d %s", v, r.status, r.raw)
			}
		}
		// The challenge itself, as if the method were plain.
		form.Set("code_verifier", oauth2.S256ChallengeFromVerifier(f.verifier))
		if r := clientCall(t, token, l.a.ID, l.aSec, form.Encode()); r.str("error") != "invalid_grant" {
			t.Errorf("the challenge as verifier: %d %s", r.status, r.raw)
		}
	})

	t.Run("ClientAuthentication", func(t *testing.T) {
		enc := func(s string) string {
			var b strings.Builder
			for i := 0; i < len(s); i++ {
				fmt.Fprintf(&b, "%%%02X", s[i])
			}
			return b.String()
		}
		raw := func(id, secret string) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
		}
		for _, tc := range []struct {
			name, auth, extra string
			status            int
		}{
			{"none for a confidential client", "", "&client_id=" + l.a.ID, 401},
			{"empty secret", raw(l.a.ID, ""), "", 401},
			{"secret of another client", raw(l.a.ID, l.bSec), "", 401},
			{"secret with a plus", raw(l.a.ID, l.aSec+"+"), "", 401},
			{"secret with an encoded space", raw(l.a.ID, l.aSec+"%20"), "", 401},
			{"secret cut", raw(l.a.ID, l.aSec[:len(l.aSec)-1]), "", 401},
			{"bad escape", raw(l.a.ID, l.aSec+"%zz"), "", 401},
			{"basic and post", raw(l.a.ID, l.aSec), "&client_secret=" + l.aSec, 401},
			{"basic and another client_id", raw(l.a.ID, l.aSec), "&client_id=" + l.b.ID, 401},
			{"post with another client's secret", "", "&client_id=" + l.a.ID + "&client_secret=" + l.bSec, 401},
			{"basic as B for A's code", raw(l.b.ID, l.bSec), "", 400},
			{"every character percent-encoded", raw(enc(l.a.ID), enc(l.aSec)), "", 200},
		} {
			f := newFlow()
			c := code(f, nil)
			r := postForm(token, redeemForm(c, f)+tc.extra, tc.auth)
			if r.status != tc.status {
				t.Errorf("%s: %d %v, want %d", tc.name, r.status, r.body, tc.status)
			}
		}
	})

	t.Run("SSOCookieAsRefreshToken", func(t *testing.T) {
		sso := ""
		for _, c := range l.victim.client.Jar.Cookies(mustURL(l.s.URL)) {
			if c.Name == "baton_sso" {
				sso = c.Value
			}
		}
		if sso == "" {
			t.Fatal("no baton_sso cookie")
		}
		for _, r := range []reply{
			call(t, "POST", l.s.URL+"/v1/refresh", "", map[string]string{"refresh_token": sso}),
			call(t, "POST", token, "", "grant_type=refresh_token&refresh_token="+url.QueryEscape(sso)),
			clientCall(t, token, l.a.ID, l.aSec, "grant_type=refresh_token&refresh_token="+url.QueryEscape(sso)),
		} {
			if r.str("error") != "invalid_grant" {
				t.Errorf("the single-sign-on cookie as a refresh token: %d %s", r.status, r.raw)
			}
		}
		// And the session lives on: nothing was taken for reuse.
		if p := l.victim.get(l.authorize(newFlow(), nil)); !strings.Contains(p.location, "code=") {
			t.Fatalf("single sign-on after the attempts: %d %q", p.status, p.location)
		}
	})
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// ssoLives reports whether the browser's single sign-on still answers
// client A without a password.
func (l *attackLab) ssoLives(t *testing.T, b *rpBrowser) bool {
	t.Helper()
	p := b.get(l.authorize(newFlow(), nil))
	return strings.Contains(p.location, "code=")
}

func TestOIDCPagesForgery(t *testing.T) {
	l := newAttackLab(t)
	tp, tpSecret := addClient(t, l.s, session.ClientSpec{Name: "Third"})
	tr := newRP(t, l.s.URL, tp, tpSecret)
	attacker := newBrowser(t)

	t.Run("ConsentFromAnotherBrowser", func(t *testing.T) {
		p := l.victim.get(tr.authURL(newFlow()))
		if !strings.HasSuffix(p.url.Path, "/consent") {
			t.Fatalf("want the consent page, got %d %s", p.status, p.url)
		}
		// The attacker's browser, with a flow cookie of its own, posts
		// the victim's form: refused.
		attacker.get(tr.authURL(newFlow()))
		if got := attacker.submit(p, map[string]string{"decision": "allow"}); got.status != http.StatusForbidden || got.location != "" {
			t.Fatalf("the victim's consent form from another browser: %d %q", got.status, got.location)
		}
		// A cross-site POST carries no cookie at all (SameSite=Lax).
		form := formValues(t, p, "decision")
		form.Set("decision", "allow")
		if r := postForm(l.s.URL+"/consent", form.Encode(), ""); r.status != http.StatusForbidden {
			t.Fatalf("the consent form without cookies: %d", r.status)
		}
	})

	t.Run("LogoutWithoutToken", func(t *testing.T) {
		for _, csrf := range []string{"", "x", l.s.Service.FormToken("logout", "another browser's value 43 characters long")} {
			req, _ := http.NewRequest(http.MethodPost, l.s.URL+"/oauth/logout", strings.NewReader("csrf="+url.QueryEscape(csrf)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if p := l.victim.do(req); p.status != http.StatusOK || !strings.Contains(p.body, `name="csrf"`) {
				t.Fatalf("logout POST with csrf %q: want the confirmation page, got %d", csrf, p.status)
			}
		}
		if !l.ssoLives(t, l.victim) {
			t.Fatal("a forged logout ended the single sign-on")
		}
	})

	t.Run("PendingRequestOfAnotherBrowser", func(t *testing.T) {
		// The attacker starts a request (its PKCE challenge, its state)
		// and sends the victim the sign-in page's address.
		p := attacker.get(l.ra.authURL(newFlow()))
		if !strings.HasSuffix(p.url.Path, "/login") {
			t.Fatalf("want the sign-in page, got %d %s", p.status, p.url)
		}
		victim := newBrowser(t)
		got := victim.get(p.url.String())
		if got.status == http.StatusOK {
			got = victim.submit(got, map[string]string{"username": "judy", "password": pw})
		}
		if got.location != "" || got.status < 400 {
			t.Fatalf("another browser finished the attacker's request: %d %q", got.status, got.location)
		}
		// Nor with the victim already signed in, on the consent page.
		p = attacker.get(tr.authURL(newFlow()))
		consent := strings.Replace(p.url.String(), "/login?", "/consent?", 1)
		if got := l.victim.get(consent); got.status < 400 || strings.Contains(got.body, `value="allow"`) {
			t.Fatalf("the victim shown the attacker's consent request: %d", got.status)
		}
	})
}

func TestOIDCRevokedSignIn(t *testing.T) {
	l := newAttackLab(t)
	ctx := context.Background()
	token := l.s.URL + "/oauth/token"

	t.Run("PasswordChange", func(t *testing.T) {
		b := newBrowser(t)
		f := newFlow()
		q := signIn(t, b, l.ra.authURL(f), "judy", pw)
		login := call(t, "POST", l.s.URL+"/v1/login", "", map[string]string{"username": "judy", "password": pw})
		const pw2 = "another long passphrase"
		if r := call(t, "POST", l.s.URL+"/v1/password", login.str("access_token"), map[string]string{"current_password": pw, "new_password": pw2}); r.status/100 != 2 {
			t.Fatalf("password change: %d %s", r.status, r.raw)
		}
		// The code issued before the change is worthless, and the single
		// sign-on asks for the new password.
		if r := clientCall(t, token, l.a.ID, l.aSec, redeemForm(q.Get("code"), f)); r.str("error") != "invalid_grant" {
			t.Fatalf("a code from before the password change: %d %s", r.status, r.raw)
		}
		if l.ssoLives(t, b) {
			t.Fatal("the single sign-on outlived the password change")
		}
		if err := l.s.Service.SetPassword(ctx, mustUser(t, l.s, "judy"), pw, session.Client{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Lock", func(t *testing.T) {
		b := newBrowser(t)
		f := newFlow()
		q := signIn(t, b, l.ra.authURL(f), "judy", pw)
		if err := l.s.Service.LockUser(ctx, l.user, session.Client{}); err != nil {
			t.Fatal(err)
		}
		if r := clientCall(t, token, l.a.ID, l.aSec, redeemForm(q.Get("code"), f)); r.str("error") != "invalid_grant" {
			t.Fatalf("a code from before the lock: %d %s", r.status, r.raw)
		}
		if l.ssoLives(t, b) || l.ssoLives(t, l.victim) {
			t.Fatal("a single sign-on outlived the lock")
		}
	})
}

func mustUser(t *testing.T, s *batontest.Server, name string) *baton.User {
	t.Helper()
	u, err := s.Store.UserByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestOIDCLogoutHints(t *testing.T) {
	l := newAttackLab(t)
	f := newFlow()
	tok, _, err := l.rb.exchange(signIn(t, l.victim, l.rb.authURL(f), "judy", pw), f)
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := tok.Extra("id_token").(string)
	parts := strings.Split(idt, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	forged := map[string]string{
		"alg none":          b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".",
		"payload swapped":   parts[0] + "." + b64([]byte(`{"iss":"`+l.s.URL+`","aud":"`+l.a.ID+`","sub":"x","sid":"y"}`)) + "." + parts[2],
		"signature cut":     parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4],
		"an access token":   tok.AccessToken,
		"another issuer's":  otherIssuerIDToken(t, l),
		"huge":              strings.Repeat("a", 60000),
		"not a JWT at all":  "<script>",
		"empty segments":    "..",
		"header only":       parts[0],
		"typ logout+jwt":    b64([]byte(`{"alg":"RS256","typ":"logout+jwt"}`)) + "." + parts[1] + "." + parts[2],
		"hmac with the key": b64([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
	}
	for name, hint := range forged {
		p := l.victim.get(l.s.URL + "/oauth/logout?id_token_hint=" + url.QueryEscape(hint))
		if p.location != "" || p.status >= 500 {
			t.Errorf("%s hint: %d %q", name, p.status, p.location)
		}
		if !l.ssoLives(t, l.victim) {
			t.Fatalf("a forged hint (%s) ended the single sign-on", name)
		}
	}
	if _, err := l.rb.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err != nil {
		t.Fatalf("B's session after forged hints: %v", err)
	}
}

// otherIssuerIDToken is a real ID token of another baton server, for a
// client of the same id.
func otherIssuerIDToken(t *testing.T, l *attackLab) string {
	t.Helper()
	other := newAttackLab(t)
	f := newFlow()
	tok, _, err := other.ra.exchange(signIn(t, newBrowser(t), other.ra.authURL(f), "judy", pw), f)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := tok.Extra("id_token").(string)
	return s
}

func TestOIDCOversizedAndRepeated(t *testing.T) {
	l := newAttackLab(t)
	big := strings.Repeat("a", 5000)
	for name, u := range map[string]string{
		"state":           l.authorize(newFlow(), map[string]string{"state": big}),
		"login_hint":      l.authorize(newFlow(), map[string]string{"login_hint": big}),
		"nonce":           l.authorize(newFlow(), map[string]string{"nonce": big}),
		"redirect twice":  l.authorize(newFlow(), nil) + "&redirect_uri=" + url.QueryEscape("http://127.0.0.1:9/other"),
		"scope twice":     l.authorize(newFlow(), nil) + "&scope=openid",
		"logout state":    l.s.URL + "/oauth/logout?client_id=" + l.a.ID + "&post_logout_redirect_uri=" + url.QueryEscape(afterLogout) + "&state=" + big,
		"logout client":   l.s.URL + "/oauth/logout?client_id=" + big,
		"logout redirect": l.s.URL + "/oauth/logout?client_id=" + l.a.ID + "&post_logout_redirect_uri=" + url.QueryEscape(afterLogout) + "&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/"),
		"request twice":   l.s.URL + "/login?request=bar_a&request=bar_b",
	} {
		p := l.victim.get(u)
		if p.status/100 != 4 || p.location != "" {
			t.Errorf("%s: %d %q", name, p.status, p.location)
		}
	}
	if !l.ssoLives(t, l.victim) {
		t.Fatal("refused logout requests ended the single sign-on")
	}
}

func TestOIDCPagesEscape(t *testing.T) {
	s := batontest.NewServer(t, nil, nil)
	registerUser(t, s.URL, "kim", "kim@example.com")
	const name = `<script>alert("name")</script>`
	c, secret := addClient(t, s, session.ClientSpec{Name: name, Scopes: []string{"profile", "email", "offline_access", "<img/src=x/onerror=alert(1)>"},
		PostLogoutRedirectURIs: []string{afterLogout}})
	r := newRP(t, s.URL, c, secret)
	r.conf.Scopes = append(r.conf.Scopes, "<img/src=x/onerror=alert(1)>")
	b := newBrowser(t)
	f := newFlow()
	login := b.get(r.authURL(f, oauth2.SetAuthURLParam("login_hint", `"><script>alert("hint")</script>`)))
	consent := b.submit(login, map[string]string{"username": "kim", "password": pw})
	logout := b.get(s.URL + "/oauth/logout?client_id=" + c.ID + "&state=" + url.QueryEscape(`"><script>alert("state")</script>`) +
		"&post_logout_redirect_uri=" + url.QueryEscape(afterLogout))
	for what, p := range map[string]page{"sign-in": login, "consent": consent, "logout": logout} {
		if p.status != http.StatusOK {
			t.Fatalf("%s page: %d %.300s", what, p.status, p.body)
		}
		for _, bad := range []string{"<script>alert", "<img/src"} {
			if i := strings.Index(p.body, bad); i >= 0 {
				t.Errorf("the %s page holds %q unescaped: %s", what, bad, p.body[max(0, i-200):i+50])
			}
		}
	}
	if !strings.Contains(consent.body, "&lt;script&gt;") {
		t.Errorf("the consent page does not name the client")
	}
}

// TestOIDCPushFlood: a public client authenticates with its client_id
// alone, so anyone may push requests for it; each is stored, so pushes
// for public clients are limited per client IP like anonymous
// authorization requests.
func TestOIDCPushFlood(t *testing.T) {
	s := batontest.NewServer(t, batontest.Env{"BATON_LIMIT_IP_FAILURES": "2/1h"}, nil)
	pub, _ := addClient(t, s, session.ClientSpec{Name: "Public", Public: true, FirstParty: true})
	conf, secret := addClient(t, s, session.ClientSpec{Name: "Confidential", FirstParty: true})
	push := func(c *baton.OAuthClient, auth string) int {
		f := newFlow()
		form := url.Values{"client_id": {c.ID}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {rpCallback},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(f.verifier)}, "code_challenge_method": {"S256"}}
		if auth != "" {
			form.Del("client_id")
		}
		return postForm(s.URL+"/oauth/par", form.Encode(), auth).status
	}
	statuses := map[int]int{}
	for range 10 {
		statuses[push(pub, "")]++
	}
	if statuses[http.StatusCreated] != 8 || statuses[http.StatusTooManyRequests] != 2 {
		t.Fatalf("statuses %v: want 8 pushed requests, then 429", statuses)
	}
	// An authenticated client is not an outsider: its pushes are not
	// counted.
	if st := push(conf, basic(conf.ID, secret)); st != http.StatusCreated {
		t.Fatalf("a confidential client's push: %d", st)
	}
}

// TestOIDCClientTokenNotAccountKey: an access token a user's consent gave
// a third-party client (scope openid only) works at UserInfo, and nowhere
// on baton's account API — it would read the address the client was not
// granted, list the user's sessions with their addresses, end them, or
// withdraw the user's consents.
func TestOIDCClientTokenNotAccountKey(t *testing.T) {
	s, c, r := providerSetup(t, "mo", session.ClientSpec{Name: "Third", Scopes: []string{"openid"}})
	job, jobSecret := addClient(t, s, session.ClientSpec{Name: "Job", GrantTypes: []string{baton.GrantClientCredentials}, RedirectURIs: []string{}})
	r.conf.Scopes = []string{"openid"}
	f := newFlow()
	tok, _, err := r.exchange(signIn(t, newBrowser(t), r.authURL(f), "mo", pw), f)
	if err != nil {
		t.Fatal(err)
	}
	cc := clientCall(t, s.URL+"/oauth/token", job.ID, jobSecret, "grant_type=client_credentials")
	if cc.status != http.StatusOK {
		t.Fatalf("client_credentials: %d %s", cc.status, cc.raw)
	}
	if u := call(t, "GET", s.URL+"/oauth/userinfo", tok.AccessToken, nil); u.status != http.StatusOK || u.str("email") != "" {
		t.Fatalf("userinfo: %d %s", u.status, u.raw)
	}
	login := call(t, "POST", s.URL+"/v1/login", "", map[string]string{"username": "mo", "password": pw})
	for _, at := range []string{tok.AccessToken, cc.str("access_token")} {
		for _, rq := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/v1/me", nil},
			{"GET", "/v1/sessions", nil},
			{"DELETE", "/v1/sessions/" + login.str("session_id"), nil},
			{"GET", "/v1/consents", nil},
			{"DELETE", "/v1/consents/" + c.ID, nil},
			{"POST", "/v1/reauth", map[string]string{"password": pw}},
			{"GET", "/v1/passkeys", nil},
			{"POST", "/v1/email/verification", nil},
		} {
			if res := call(t, rq.method, s.URL+rq.path, at, rq.body); res.status != http.StatusUnauthorized || res.str("error") != "invalid_token" {
				t.Errorf("%s %s with a client's token: %d %.200s", rq.method, rq.path, res.status, res.raw)
			}
		}
	}
	// A first-party client is one of the operator's own applications: its
	// users' tokens work on the account API like baton's own.
	own, ownSecret := addClient(t, s, session.ClientSpec{Name: "Own app", FirstParty: true, Scopes: []string{"openid"}})
	ownRP := newRP(t, s.URL, own, ownSecret)
	ownRP.conf.Scopes = []string{"openid"}
	f = newFlow()
	ownTok, _, err := ownRP.exchange(signIn(t, newBrowser(t), ownRP.authURL(f), "mo", pw), f)
	if err != nil {
		t.Fatal(err)
	}
	if res := call(t, "GET", s.URL+"/v1/me", ownTok.AccessToken, nil); res.status != http.StatusOK {
		t.Fatalf("GET /v1/me with a first-party client's token: %d %s", res.status, res.raw)
	}
	// The user's own token still works, and nothing was ended.
	if res := call(t, "GET", s.URL+"/v1/sessions", login.str("access_token"), nil); res.status != http.StatusOK {
		t.Fatalf("the user's own token: %d %s", res.status, res.raw)
	}
	if u := call(t, "GET", s.URL+"/oauth/userinfo", tok.AccessToken, nil); u.status != http.StatusOK {
		t.Fatalf("userinfo afterwards: %d %s", u.status, u.raw)
	}
}

// TestOIDCLogoutHintOfAnotherUser: a link to /oauth/logout carrying the
// attacker's own (valid) ID token, opened in the victim's browser, does
// not end or orphan the victim's single sign-on without the victim's
// confirmation.
func TestOIDCLogoutHintOfAnotherUser(t *testing.T) {
	l := newAttackLab(t)
	registerUser(t, l.s.URL, "mallory", "mallory@example.com")
	f := newFlow()
	tok, _, err := l.ra.exchange(signIn(t, newBrowser(t), l.ra.authURL(f), "mallory", pw), f)
	if err != nil {
		t.Fatal(err)
	}
	hint, _ := tok.Extra("id_token").(string)
	p := l.victim.get(l.s.URL + "/oauth/logout?id_token_hint=" + url.QueryEscape(hint) + "&post_logout_redirect_uri=" + url.QueryEscape(afterLogout))
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="csrf"`) {
		t.Fatalf("another user's hint: want the confirmation page, got %d %q", p.status, p.location)
	}
	if !l.ssoLives(t, l.victim) {
		t.Fatal("another user's hint ended the victim's single sign-on")
	}
	// Confirmed, the browser's session ends with the cookie.
	req, _ := http.NewRequest(http.MethodPost, l.s.URL+"/oauth/logout", strings.NewReader(formValues(t, p, "csrf").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if got := l.victim.do(req); got.location == "" || l.ssoLives(t, l.victim) {
		t.Fatalf("confirmed logout: %d %q", got.status, got.location)
	}
}

// TestOIDCClientLogoutScope: a registered client's access or refresh
// token at POST /v1/logout ends the client's own session only; scope
// global or others, which would end every session of the user, is
// refused.
func TestOIDCClientLogoutScope(t *testing.T) {
	s, _, r := providerSetup(t, "nia", session.ClientSpec{Name: "Third", FirstParty: true})
	login := call(t, "POST", s.URL+"/v1/login", "", map[string]string{"username": "nia", "password": pw})
	f := newFlow()
	tok, _, err := r.exchange(signIn(t, newBrowser(t), r.authURL(f), "nia", pw), f)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bearer string
		body   map[string]string
	}{
		{tok.AccessToken, map[string]string{"scope": "global"}},
		{tok.AccessToken, map[string]string{"scope": "others"}},
		{"", map[string]string{"scope": "global", "refresh_token": tok.RefreshToken}},
	} {
		if res := call(t, "POST", s.URL+"/v1/logout", tc.bearer, tc.body); res.status != http.StatusBadRequest {
			t.Errorf("client logout %v: %d %s", tc.body, res.status, res.raw)
		}
	}
	if res := call(t, "GET", s.URL+"/v1/me", login.str("access_token"), nil); res.status != http.StatusOK {
		t.Fatalf("the user's own session after the client's logouts: %d %s", res.status, res.raw)
	}
	if res := call(t, "POST", s.URL+"/v1/logout", tok.AccessToken, map[string]string{"scope": "local"}); res.status != http.StatusNoContent {
		t.Fatalf("the client's local logout: %d %s", res.status, res.raw)
	}
	if res := call(t, "GET", s.URL+"/v1/me", login.str("access_token"), nil); res.status != http.StatusOK {
		t.Fatalf("the user's own session after the client's local logout: %d %s", res.status, res.raw)
	}
}

// providerSetup starts a server with the user username (address
// username@example.com) and a client registered with spec, and returns
// them with the client's relying party.
func providerSetup(t *testing.T, username string, spec session.ClientSpec) (*batontest.Server, *baton.OAuthClient, *rp) {
	t.Helper()
	s := batontest.NewServer(t, nil, nil)
	registerUser(t, s.URL, username, username+"@example.com")
	c, secret := addClient(t, s, spec)
	return s, c, newRP(t, s.URL, c, secret)
}

// TestOIDCPromptNoneOracle: prompt=none tells whether the user is signed
// in only to the client's registered redirect URI (by design). With any
// other redirect URI, or an unknown client, a signed-in browser and a
// fresh one see the same error page.
func TestOIDCPromptNoneOracle(t *testing.T) {
	l := newAttackLab(t)
	stranger := newBrowser(t)
	requestID := regexp.MustCompile(`[0-9a-zA-Z_-]{16,}`)
	for _, set := range []map[string]string{
		{"prompt": "none", "redirect_uri": "https://evil.example/cb"},
		{"prompt": "none", "client_id": "no-such-client"},
		{"prompt": "none", "redirect_uri": "http://127.0.0.1:9/callback/"},
	} {
		u := l.authorize(newFlow(), set)
		a, b := l.victim.get(u), stranger.get(u)
		if a.status != b.status || a.location != "" || b.location != "" ||
			requestID.ReplaceAllString(a.body, "") != requestID.ReplaceAllString(b.body, "") {
			t.Errorf("%v: signed in %d %q, stranger %d %q", set, a.status, a.location, b.status, b.location)
		}
	}
	// To the registered URI: login_required for the stranger, a code for
	// the user.
	f := newFlow()
	u := l.authorize(f, map[string]string{"prompt": "none"})
	if p := stranger.get(u); !strings.HasPrefix(p.location, rpCallback+"?error=login_required") {
		t.Errorf("stranger: %d %q", p.status, p.location)
	}
	if p := l.victim.get(u); !strings.HasPrefix(p.location, rpCallback+"?code=") {
		t.Errorf("signed in: %d %q", p.status, p.location)
	}
}

// TestOIDCIntrospectClientTokens: a resource server introspecting a
// registered client's access tokens learns their scope; a
// client_credentials token (which has no session) is active while its
// client is registered, and inactive once the client is deleted.
func TestOIDCIntrospectClientTokens(t *testing.T) {
	s := batontest.NewServer(t, batontest.Env{"BATON_RESOURCE_CLIENT_ID": "rs", "BATON_RESOURCE_CLIENT_SECRET": "0123456789abcdef"}, nil)
	registerUser(t, s.URL, "olga", "olga@example.com")
	c, secret := addClient(t, s, session.ClientSpec{Name: "RP", FirstParty: true})
	job, jobSecret := addClient(t, s, session.ClientSpec{Name: "Job", GrantTypes: []string{baton.GrantClientCredentials},
		Scopes: []string{"reports.read"}, RedirectURIs: []string{}})
	r := newRP(t, s.URL, c, secret)
	f := newFlow()
	tok, _, err := r.exchange(signIn(t, newBrowser(t), r.authURL(f), "olga", pw), f)
	if err != nil {
		t.Fatal(err)
	}
	cc := clientCall(t, s.URL+"/oauth/token", job.ID, jobSecret, "grant_type=client_credentials")
	introspect := func(at string) reply {
		return clientCall(t, s.URL+"/oauth/introspect", "rs", "0123456789abcdef", "token="+url.QueryEscape(at))
	}
	if in := introspect(tok.AccessToken); in.body["active"] != true || !strings.Contains(in.str("scope"), "openid") || in.str("client_id") != c.ID {
		t.Fatalf("a code-flow access token: %s", in.raw)
	}
	if in := introspect(cc.str("access_token")); in.body["active"] != true || in.str("scope") != "reports.read" || in.str("client_id") != job.ID || in.str("sub") != job.ID {
		t.Fatalf("a client_credentials token: %s", in.raw)
	}
	if err := s.Service.DeleteClient(context.Background(), job.ID, session.Client{}); err != nil {
		t.Fatal(err)
	}
	if in := introspect(cc.str("access_token")); in.body["active"] != false {
		t.Fatalf("a deleted client's client_credentials token: %s", in.raw)
	}
	// Nor does it verify locally, here or (through the feed) elsewhere.
	if _, err := s.Service.Authenticate(cc.str("access_token")); err == nil {
		t.Fatal("a deleted client's client_credentials token authenticates")
	}
	feed := call(t, "GET", s.URL+"/v1/revocations?since=0", "", nil, "Authorization", basic("rs", "0123456789abcdef"))
	if !strings.Contains(string(feed.raw), `"sid":"`+job.ID+`"`) {
		t.Fatalf("the revocation feed does not name the deleted client: %d %s", feed.status, feed.raw)
	}
}

// TestOIDCCodeAfterLogout: a code issued just before the user signed out
// (RP-initiated logout ends the single sign-on and every session it
// issued) opens no session afterwards: it would be a child of an ended
// sign-in that the logout never saw.
func TestOIDCCodeAfterLogout(t *testing.T) {
	l := newAttackLab(t)
	f := newFlow()
	p := l.victim.get(l.authorize(f, nil))
	u, _ := url.Parse(p.location)
	if u == nil || u.Query().Get("code") == "" {
		t.Fatalf("no code: %d %q", p.status, p.location)
	}
	req, _ := http.NewRequest(http.MethodGet, l.s.URL+"/oauth/logout", nil)
	lo := l.victim.do(req)
	req, _ = http.NewRequest(http.MethodPost, l.s.URL+"/oauth/logout", strings.NewReader(formValues(t, lo, "csrf").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if got := l.victim.do(req); got.status != http.StatusOK || l.ssoLives(t, l.victim) {
		t.Fatalf("logout: %d", got.status)
	}
	if r := clientCall(t, l.s.URL+"/oauth/token", l.a.ID, l.aSec, redeemForm(u.Query().Get("code"), f)); r.str("error") != "invalid_grant" {
		t.Fatalf("a code from before the logout: %d %.300s", r.status, r.raw)
	}
}
