package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/server"
	"github.com/batonauth/baton/session"
)

// TestOIDCFlowsAudited runs the provider's flows through a real server —
// sign-in, consent refused and given, codes issued and redeemed, a code
// redeemed twice and by another client, PAR, refresh and reuse,
// client_credentials, RP-initiated logout and a withdrawn consent — then
// reads the audit log back from the store: each step has its event under
// the right account, and no event (nor any log line) holds a code, a
// pending request, a request_uri, a client secret, a refresh token, an
// access token or an ID token.
func TestOIDCFlowsAudited(t *testing.T) {
	ts := newTestServer(t, map[string]string{"BATON_REUSE_GRACE": "0s"}, nil, server.Options{})
	uid := registerUser(t, ts.URL, "lena", "lena@example.com")
	c, secret := addClient(t, ts.Server, session.ClientSpec{Name: "Audited"})
	other, otherSecret := addClient(t, ts.Server, session.ClientSpec{Name: "Other", FirstParty: true})
	job, jobSecret := addClient(t, ts.Server, session.ClientSpec{Name: "Job", GrantTypes: []string{baton.GrantClientCredentials},
		Scopes: []string{"reports.read"}, RedirectURIs: []string{}})
	r := newRP(t, ts.URL, c, secret)
	secrets := []string{secret, otherSecret, jobSecret}
	keep := func(vs ...string) { secrets = append(secrets, vs...) }
	token := ts.URL + "/oauth/token"
	b := newBrowser(t)

	// Sign in, refuse the consent.
	p := b.get(r.authURL(newFlow()))
	keep(p.url.Query().Get("request"))
	p = b.submit(p, map[string]string{"username": "lena", "password": pw})
	keep(p.url.Query().Get("request"))
	if denied := b.submit(p, map[string]string{"decision": "deny"}); !strings.Contains(denied.location, "error=access_denied") {
		t.Fatalf("deny: %d %q", denied.status, denied.location)
	}
	// Allow: a code; another client tries it, then it is redeemed, then
	// redeemed again (which revokes what the first redemption opened).
	f := newFlow()
	q := signIn(t, b, r.authURL(f), "lena", pw)
	code := q.Get("code")
	keep(code)
	if g := clientCall(t, token, other.ID, otherSecret, redeemForm(code, f)); g.str("error") != "invalid_grant" {
		t.Fatalf("another client's code: %d %s", g.status, g.raw)
	}
	first := clientCall(t, token, c.ID, secret, redeemForm(code, f))
	if first.status != http.StatusOK {
		t.Fatalf("redeem: %d %s", first.status, first.raw)
	}
	keep(first.str("access_token"), first.str("refresh_token"), first.str("id_token"))
	if g := clientCall(t, token, c.ID, secret, redeemForm(code, f)); g.str("error") != "invalid_grant" {
		t.Fatalf("replay: %d %s", g.status, g.raw)
	}
	// PAR, then a refresh and its reuse.
	f = newFlow()
	authURL, _ := url.Parse(r.authURL(f))
	pushed := clientCall(t, ts.URL+"/oauth/par", c.ID, secret, authURL.Query().Encode())
	keep(pushed.str("request_uri"))
	q = signIn(t, b, ts.URL+"/oauth/authorize?client_id="+c.ID+"&request_uri="+url.QueryEscape(pushed.str("request_uri")), "lena", pw)
	keep(q.Get("code"))
	tok, _, err := r.exchange(q, f)
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := tok.Extra("id_token").(string)
	keep(tok.AccessToken, tok.RefreshToken, idt)
	refreshed := clientCall(t, token, c.ID, secret, "grant_type=refresh_token&refresh_token="+url.QueryEscape(tok.RefreshToken))
	keep(refreshed.str("access_token"), refreshed.str("refresh_token"))
	if g := clientCall(t, token, c.ID, secret, "grant_type=refresh_token&refresh_token="+url.QueryEscape(tok.RefreshToken)); g.str("error") != "invalid_grant" {
		t.Fatalf("reuse: %d %s", g.status, g.raw)
	}
	// client_credentials.
	cc := clientCall(t, token, job.ID, jobSecret, "grant_type=client_credentials")
	keep(cc.str("access_token"))
	// RP-initiated logout with a hint, from the browser, signed in anew
	// (prompt=login ends its previous sign-in).
	f = newFlow()
	tok, _, err = r.exchange(signIn(t, b, r.authURL(f, oauth2.SetAuthURLParam("prompt", "login")), "lena", pw), f)
	if err != nil {
		t.Fatal(err)
	}
	idt, _ = tok.Extra("id_token").(string)
	keep(tok.AccessToken, tok.RefreshToken, idt)
	for _, ck := range b.client.Jar.Cookies(mustURL(ts.URL)) {
		keep(ck.Value)
	}
	if lo := b.get(ts.URL + "/oauth/logout?id_token_hint=" + url.QueryEscape(idt)); lo.status != http.StatusOK {
		t.Fatalf("logout: %d", lo.status)
	}
	// A withdrawn consent.
	f = newFlow()
	tok, _, err = r.exchange(signIn(t, newBrowser(t), r.authURL(f), "lena", pw), f)
	if err != nil {
		t.Fatal(err)
	}
	login := call(t, "POST", ts.URL+"/v1/login", "", map[string]string{"username": "lena", "password": pw})
	keep(tok.AccessToken, tok.RefreshToken, login.str("access_token"), login.str("refresh_token"))
	if w := call(t, "DELETE", ts.URL+"/v1/consents/"+c.ID, login.str("access_token"), nil); w.status != http.StatusNoContent {
		t.Fatalf("withdraw: %d %s", w.status, w.raw)
	}

	ts.Close() // flushes the audit log
	events := allAuditEvents(t, ts)
	wantAuditSteps(t, events, []auditStep{
		{"login", "ok", uid, ""},
		{"consent", "failed", uid, "denied: " + c.ID},
		{"consent", "ok", uid, c.ID + ": openid"},
		{"authorize", "ok", uid, c.ID},
		{"code_exchange", "failed", uid, other.ID + ": issued to another client"},
		{"code_exchange", "ok", uid, c.ID},
		{"code_exchange", "revoked", uid, "code redeemed twice"},
		{"refresh", "ok", uid, ""},
		{"reuse_detected", "revoked", uid, ""},
		{"client_credentials", "ok", "", job.ID},
		{"logout", "ok", uid, "local"},
		{"rp_logout", "ok", uid, c.ID},
		{"revoke", "ok", uid, baton.ReasonConsentWithdrawn + ": " + c.ID},
	})
	// The browser's events name it: the code issued to it, the logout.
	// No administrator acted.
	for _, e := range events {
		if e.Detail == "admin" {
			t.Errorf("an administrator's event: %+v", e)
		}
		if (e.Type == "authorize" || e.Type == "rp_logout") && (e.IP != "127.0.0.1" || e.UserAgent == "") {
			t.Errorf("%s without its requester: ip %q, user agent %q", e.Type, e.IP, e.UserAgent)
		}
	}
	if t.Failed() {
		t.Logf("audit log:\n%s", auditEventsOf(t, ts))
	}

	// Nothing that works as a credential in any event or log line.
	wantNoSecrets(t, events, ts.Logs.String(), append(secrets, "bac_", "bar_", "brt_", "bcs_", session.RequestURIPrefix, "eyJ"))
}

// auditStep is an event an audit test wants: its type, outcome, user and
// the start of its detail.
type auditStep struct{ typ, outcome, user, detail string }

// wantAuditSteps checks that each step has an event of its own in events
// (in any order: background work interleaves with requests).
func wantAuditSteps(t *testing.T, events []*baton.AuditEvent, steps []auditStep) {
	t.Helper()
	used := make([]bool, len(events))
	for _, st := range steps {
		found := false
		for j, e := range events {
			if !used[j] && e.Type == st.typ && e.Outcome == st.outcome && e.UserID == st.user && strings.HasPrefix(e.Detail, st.detail) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no %+v event in the audit log", st)
		}
	}
}

// wantNoSecrets checks that no audit event and no log line holds any of
// secrets.
func wantNoSecrets(t *testing.T, events []*baton.AuditEvent, logs string, secrets []string) {
	t.Helper()
	for _, e := range events {
		raw, _ := json.Marshal(e)
		for _, s := range secrets {
			if s != "" && strings.Contains(string(raw), s) {
				t.Errorf("audit event %d (%s) holds %.12q", e.Seq, e.Type, s)
			}
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the log holds %.12q", s)
		}
	}
}
