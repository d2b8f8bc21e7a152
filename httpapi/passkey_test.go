package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/internal/webauthntest"
)

// The test server's issuer is http://127.0.0.1:<port>: the RP id is
// localhost and http://localhost:<port> the origin.
func passkeyOrigin(srv *batontest.Server) string {
	return strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
}

func newAuthenticator(srv *batontest.Server, opt webauthntest.Options) *webauthntest.Authenticator {
	if opt.Origin == "" {
		opt.Origin = passkeyOrigin(srv)
	}
	return webauthntest.New(opt)
}

// options posts to an options endpoint and returns the flow id and the
// options, checking the answer's shape.
func (c *client) options(path string, body any, hdr ...string) (string, []byte) {
	c.t.Helper()
	r := c.do("POST", path, body, hdr...).want(c.t, 200, "")
	if r.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r.str("flow_id"), "bpk_") {
		c.t.Fatalf("options answer: %s %v", r.raw, r.Header)
	}
	var o struct {
		Options json.RawMessage `json:"options"`
	}
	json.Unmarshal(r.raw, &o)
	return r.str("flow_id"), o.Options
}

// enrolPasskey registers a's next credential with the access token at.
func (c *client) enrolPasskey(at []string, a *webauthntest.Authenticator, name string) *resp {
	c.t.Helper()
	flow, opts := c.options("/v1/passkeys/register/options", nil, at...)
	cred, err := a.Register(opts)
	if err != nil {
		c.t.Fatalf("authenticator Register: %v", err)
	}
	return c.do("POST", "/v1/passkeys/register", map[string]any{"flow_id": flow, "credential": json.RawMessage(cred), "name": name}, at...).want(c.t, 201, "")
}

// passkeyLogin signs in usernameless with a.
func (c *client) passkeyLogin(a *webauthntest.Authenticator, edit func(*webauthntest.Assertion)) *resp {
	c.t.Helper()
	flow, opts := c.options("/v1/passkeys/login/options", map[string]any{})
	cred, err := a.LoginWith(opts, edit)
	if err != nil {
		c.t.Fatalf("authenticator Login: %v", err)
	}
	return c.do("POST", "/v1/passkeys/login", map[string]any{"flow_id": flow, "credential": json.RawMessage(cred)})
}

func TestPasskeys(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	srv := batontest.NewServer(t, nil, clock)
	c := newClient(t, srv)
	c.register("alice")
	c.register("bob")
	at := bearer(c.login("alice").str("access_token"))
	a := newAuthenticator(srv, webauthntest.Options{Alg: webauthntest.AlgEdDSA, Attestation: "packed", UV: true})

	p := c.enrolPasskey(at, a, "Laptop")
	if p.str("id") == "" || p.str("name") != "Laptop" || p.str("created_at") == "" || p.body["last_used_at"] != nil {
		t.Fatalf("registered: %s", p.raw)
	}
	if _, ok := p.body["last_used_at"]; !ok {
		t.Fatalf("last_used_at missing: %s", p.raw)
	}
	list := c.do("GET", "/v1/passkeys", nil, at...).want(t, 200, "")
	if items, _ := list.body["passkeys"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != p.str("id") {
		t.Fatalf("list: %s", list.raw)
	}
	me := c.do("GET", "/v1/me", nil, at...).want(t, 200, "")
	if mfa, _ := me.body["mfa"].(map[string]any); mfa["passkeys"] != float64(1) {
		t.Fatalf("me: %s", me.raw)
	}

	// Usernameless sign-in: a token response like login's.
	l := c.passkeyLogin(a, nil).want(t, 200, "")
	if l.Header.Get("Cache-Control") != "no-store" || l.str("refresh_token") == "" || l.str("token_type") != "Bearer" {
		t.Fatalf("passkey login: %s %v", l.raw, l.Header)
	}
	claims := decodeClaims(t, l.str("access_token"))
	if fmt.Sprint(claims["amr"]) != "[hwk mfa]" || claims["fresh"] != true {
		t.Fatalf("claims: %v", claims)
	}
	pat := bearer(l.str("access_token"))
	list = c.do("GET", "/v1/passkeys", nil, pat...).want(t, 200, "")
	if items, _ := list.body["passkeys"].([]any); items[0].(map[string]any)["last_used_at"] == nil {
		t.Fatalf("last_used_at after a sign-in: %s", list.raw)
	}
	// With the cookies transport.
	flow, opts := c.options("/v1/passkeys/login/options", nil)
	cred, _ := a.Login(opts)
	ck := c.do("POST", "/v1/passkeys/login", map[string]any{"flow_id": flow, "credential": json.RawMessage(cred), "transport": "cookies"}).want(t, 200, "")
	if ck.str("access_token") != "" || len(cookieNamed(ck.Response, "baton_access")) != 1 {
		t.Fatalf("cookies transport: %s", ck.raw)
	}

	// The password is now a first step; the passkey finishes it.
	m := c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw}).want(t, 403, "mfa_required")
	if fmt.Sprint(m.body["methods"]) != "[passkey]" {
		t.Fatalf("methods: %s", m.raw)
	}
	flow, opts = c.options("/v1/passkeys/login/options", map[string]string{"mfa_token": m.str("mfa_token")})
	if !strings.Contains(string(opts), base64.RawURLEncoding.EncodeToString(a.Credential().ID)) {
		t.Fatalf("second-step options without the user's credential: %s", opts)
	}
	cred, _ = a.Login(opts)
	// Its flow is no usernameless sign-in.
	c.do("POST", "/v1/passkeys/login", map[string]any{"flow_id": flow, "credential": json.RawMessage(cred)}).want(t, 401, "invalid_credentials")
	_, opts = c.options("/v1/passkeys/login/options", map[string]string{"mfa_token": m.str("mfa_token")})
	cred, _ = a.Login(opts)
	g := c.do("POST", "/v1/login/mfa", map[string]any{"mfa_token": m.str("mfa_token"), "passkey": json.RawMessage(cred)}).want(t, 200, "")
	if claims := decodeClaims(t, g.str("access_token")); fmt.Sprint(claims["amr"]) != "[pwd hwk mfa]" || claims["fresh"] != true {
		t.Fatalf("second-step claims: %v", claims)
	}
	c.do("POST", "/v1/passkeys/login/options", map[string]string{"mfa_token": m.str("mfa_token")}).want(t, 401, "invalid_grant")

	// Deletion: another user's is not found; the last factor needs mfa.
	bat := bearer(c.login("bob").str("access_token"))
	bp := c.enrolPasskey(bat, newAuthenticator(srv, webauthntest.Options{}), "")
	if bp.str("name") != "Passkey" {
		t.Fatalf("default name: %s", bp.raw)
	}
	c.do("DELETE", "/v1/passkeys/"+bp.str("id"), nil, pat...).want(t, 404, "not_found")
	c.do("DELETE", "/v1/passkeys/"+strings.Repeat("x", 100), nil, pat...).want(t, 404, "not_found")
	c.do("DELETE", "/v1/passkeys/"+bp.str("id"), nil, bat...).want(t, 401, "insufficient_user_authentication")
	c.do("DELETE", "/v1/passkeys/"+p.str("id"), nil, pat...).want(t, 204, "")
	c.do("DELETE", "/v1/passkeys/"+p.str("id"), nil, pat...).want(t, 404, "not_found")
	c.passkeyLogin(a, nil).want(t, 401, "invalid_credentials")
	c.login("alice")
}

// TestPasskeyRefusals: every failed sign-in is 401 invalid_credentials;
// what is not a WebAuthn answer is 400 invalid_request.
func TestPasskeyRefusals(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	srv := batontest.NewServer(t, nil, clock)
	c := newClient(t, srv)
	c.register("alice")
	at := bearer(c.login("alice").str("access_token"))
	a := newAuthenticator(srv, webauthntest.Options{UV: true})
	c.enrolPasskey(at, a, "")

	c.passkeyLogin(a, func(as *webauthntest.Assertion) { as.ClientData.Origin = "http://localhost:1" }).want(t, 401, "invalid_credentials")
	c.passkeyLogin(a, func(as *webauthntest.Assertion) { as.ClientData.Origin = srv.URL }).want(t, 401, "invalid_credentials")
	otherRP := sha256.Sum256([]byte("127.0.0.1"))
	c.passkeyLogin(a, func(as *webauthntest.Assertion) { as.RPIDHash = otherRP[:] }).want(t, 401, "invalid_credentials")
	c.passkeyLogin(a, func(as *webauthntest.Assertion) { as.CorruptSignature = true }).want(t, 401, "invalid_credentials")

	// Replayed and expired.
	flow, opts := c.options("/v1/passkeys/login/options", map[string]any{})
	cred, _ := a.Login(opts)
	body := map[string]any{"flow_id": flow, "credential": json.RawMessage(cred)}
	c.do("POST", "/v1/passkeys/login", body).want(t, 200, "")
	c.do("POST", "/v1/passkeys/login", body).want(t, 401, "invalid_credentials")
	flow, opts = c.options("/v1/passkeys/login/options", map[string]any{})
	cred, _ = a.Login(opts)
	clock.Advance(5*time.Minute + time.Second)
	c.do("POST", "/v1/passkeys/login", map[string]any{"flow_id": flow, "credential": json.RawMessage(cred)}).want(t, 401, "invalid_credentials")

	// Counter regression.
	a.SetCounter(0)
	c.passkeyLogin(a, nil).want(t, 401, "invalid_credentials")

	// Malformed: 400, and the flow survives.
	a.SetCounter(100)
	flow, opts = c.options("/v1/passkeys/login/options", nil)
	cred, _ = a.Login(opts)
	var m map[string]any
	json.Unmarshal(cred, &m)
	m["response"].(map[string]any)["authenticatorData"] = base64.RawURLEncoding.EncodeToString([]byte("garbage"))
	garbage, _ := json.Marshal(m)
	for _, b := range []any{
		`{"flow_id":`,
		`{"flow_id":"x"}`,
		`{"credential":{}}`,
		`{"flow_id":"` + flow + `","credential":null}`,
		`{"flow_id":"` + flow + `","credential":"abc"}`,
		`{"flow_id":"` + flow + `","credential":{"id":"AA","id":"BB"}}`,
		`{"flow_id":"` + flow + `","credential":{}}`,
		map[string]any{"flow_id": flow, "credential": json.RawMessage(garbage)},
		`{"flow_id":"` + flow + `","credential":` + string(cred) + `,"transport":"pigeon"}`,
	} {
		c.do("POST", "/v1/passkeys/login", b).want(t, 400, "invalid_request")
	}
	c.do("POST", "/v1/passkeys/login", map[string]any{"flow_id": flow, "credential": map[string]string{"id": strings.Repeat("A", 70<<10)}}).want(t, 413, "request_too_large")
	c.do("POST", "/v1/passkeys/login", map[string]any{"flow_id": flow, "credential": json.RawMessage(cred)}).want(t, 200, "")

	// Registration: garbage CBOR, wrong origin. A second passkey needs a
	// token with mfa.
	c.do("POST", "/v1/passkeys/register/options", nil, at...).want(t, 401, "insufficient_user_authentication")
	at = bearer(c.passkeyLogin(a, nil).want(t, 200, "").str("access_token"))
	flow, opts = c.options("/v1/passkeys/register/options", nil, at...)
	reg, _ := newAuthenticator(srv, webauthntest.Options{}).Register(opts)
	json.Unmarshal(reg, &m)
	m["response"].(map[string]any)["attestationObject"] = base64.RawURLEncoding.EncodeToString([]byte{0xbf, 0xff, 0xff})
	garbage, _ = json.Marshal(m)
	c.do("POST", "/v1/passkeys/register", map[string]any{"flow_id": flow, "credential": json.RawMessage(garbage)}, at...).want(t, 400, "invalid_request")
	c.do("POST", "/v1/passkeys/register", `{"flow_id":"`+flow+`"}`, at...).want(t, 400, "invalid_request")
	reg, _ = newAuthenticator(srv, webauthntest.Options{Origin: "https://evil.example"}).Register(opts)
	c.do("POST", "/v1/passkeys/register", map[string]any{"flow_id": flow, "credential": json.RawMessage(reg)}, at...).want(t, 401, "invalid_credentials")
	c.do("POST", "/v1/passkeys/register/options", nil).want(t, 401, "unauthorized")

	// The second step: a malformed passkey is 400, a wrong one 401.
	mr := c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw}).want(t, 403, "mfa_required")
	c.do("POST", "/v1/login/mfa", map[string]any{"mfa_token": mr.str("mfa_token"), "passkey": "x"}).want(t, 400, "invalid_request")
	_, opts = c.options("/v1/passkeys/login/options", nil) // a usernameless challenge
	cred, _ = a.Login(opts)
	c.do("POST", "/v1/login/mfa", map[string]any{"mfa_token": mr.str("mfa_token"), "passkey": json.RawMessage(cred)}).want(t, 401, "invalid_credentials")
}

// TestPasskeyLimits: failed passkey sign-ins count toward the per-address
// failure limit.
func TestPasskeyLimits(t *testing.T) {
	srv := batontest.NewServer(t, batontest.Env{"BATON_LIMIT_IP_FAILURES": "3/1h"}, nil)
	c := newClient(t, srv)
	c.register("alice")
	a := newAuthenticator(srv, webauthntest.Options{UV: true})
	c.enrolPasskey(bearer(c.login("alice").str("access_token")), a, "")
	bad := func(as *webauthntest.Assertion) { as.CorruptSignature = true }
	for range 3 {
		c.passkeyLogin(a, bad).want(t, 401, "invalid_credentials")
	}
	r := c.passkeyLogin(a, nil).want(t, 429, "too_many_requests")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

// TestPasskeysOff: an issuer at an IP address that is not loopback turns
// passkeys off: every endpoint is 404.
func TestPasskeysOff(t *testing.T) {
	srv := batontest.NewServer(t, batontest.Env{"BATON_ISSUER": "http://192.0.2.7:8080"}, nil)
	c := newClient(t, srv)
	c.register("alice")
	at := bearer(c.login("alice").str("access_token"))
	for _, r := range []struct{ method, path string }{
		{"POST", "/v1/passkeys/register/options"}, {"POST", "/v1/passkeys/register"}, {"GET", "/v1/passkeys"},
		{"DELETE", "/v1/passkeys/x"}, {"POST", "/v1/passkeys/login/options"}, {"POST", "/v1/passkeys/login"},
	} {
		c.do(r.method, r.path, map[string]any{}, at...).want(t, 404, "not_found")
	}
}

// TestPasskeyAccountLimit: failures with a registered passkey count toward
// its account's budget, which password logins share.
func TestPasskeyAccountLimit(t *testing.T) {
	srv := batontest.NewServer(t, batontest.Env{"BATON_LIMIT_ACCOUNT_FAILURES": "2/1h", "BATON_LIMIT_IP_FAILURES": "off"}, nil)
	c := newClient(t, srv)
	c.register("alice")
	c.register("bob")
	a := newAuthenticator(srv, webauthntest.Options{UV: true})
	c.enrolPasskey(bearer(c.login("alice").str("access_token")), a, "")
	bad := func(as *webauthntest.Assertion) { as.CorruptSignature = true }
	for range 2 {
		c.passkeyLogin(a, bad).want(t, 401, "invalid_credentials")
	}
	c.passkeyLogin(a, nil).want(t, 429, "too_many_requests")
	c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw}).want(t, 429, "too_many_requests")
	c.login("bob")
}

// TestPasskeyOptionsLimit: usernameless sign-in options store a challenge
// for anyone, so they are limited per client IP (four times the IP's
// failure budget); the second-step form is not (it needs a password).
func TestPasskeyOptionsLimit(t *testing.T) {
	srv := batontest.NewServer(t, batontest.Env{"BATON_LIMIT_IP_FAILURES": "2/1h"}, nil)
	c := newClient(t, srv)
	for i := 0; i < 8; i++ {
		c.do("POST", "/v1/passkeys/login/options", map[string]string{}).want(t, 200, "")
	}
	res := c.do("POST", "/v1/passkeys/login/options", map[string]string{}).want(t, 429, "too_many_requests")
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}
