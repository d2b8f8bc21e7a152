package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/batonauth/baton/internal/webauthntest"
	"github.com/batonauth/baton/server"
)

// TestPasskeyCounterRegressionAudited: a sign-in whose signature counter
// went backwards is refused, and the audit log says so, naming the user
// and the client address.
func TestPasskeyCounterRegressionAudited(t *testing.T) {
	ts := newTestServer(t, nil, nil, server.Options{})
	u := ts.URL
	call(t, "POST", u+"/v1/register", "", map[string]string{"username": "cloned", "password": pw})
	login := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "cloned", "password": pw})
	key := webauthntest.New(webauthntest.Options{UV: true, Origin: strings.Replace(u, "127.0.0.1", "localhost", 1)})
	opts := call(t, "POST", u+"/v1/passkeys/register/options", login.str("access_token"), nil)
	cred, err := key.Register(opts.rawMember("options"))
	if err != nil {
		t.Fatal(err)
	}
	reg := call(t, "POST", u+"/v1/passkeys/register", login.str("access_token"), map[string]any{"flow_id": opts.str("flow_id"), "credential": json.RawMessage(cred)})
	if reg.status != 201 {
		t.Fatalf("register: %d %s", reg.status, reg.raw)
	}
	signIn := func() reply {
		o := call(t, "POST", u+"/v1/passkeys/login/options", "", map[string]any{})
		a, err := key.Login(o.rawMember("options"))
		if err != nil {
			t.Fatal(err)
		}
		return call(t, "POST", u+"/v1/passkeys/login", "", map[string]any{"flow_id": o.str("flow_id"), "credential": json.RawMessage(a)})
	}
	for range 2 {
		if r := signIn(); r.status != 200 {
			t.Fatalf("sign-in: %d %s", r.status, r.raw)
		}
	}
	key.SetCounter(0) // reports 1 after 2
	if r := signIn(); r.status != 401 || r.str("error") != "invalid_credentials" {
		t.Fatalf("a counter that went backwards: %d %s", r.status, r.raw)
	}
	ts.Close()
	found := false
	for _, e := range allAuditEvents(t, ts) {
		if e.Type == "passkey_counter_regression" {
			found = true
			if e.Outcome != "failed" || e.UserID == "" || e.IP == "" || !strings.Contains(e.Detail, "counter 1 after 2") {
				t.Errorf("audit event: %+v", e)
			}
		}
	}
	if !found {
		t.Fatal("no passkey_counter_regression in the audit log")
	}
}

// TestPasskeysOffWarns: an issuer at an IP address that is not loopback
// turns passkeys off, and start-up says why.
func TestPasskeysOffWarns(t *testing.T) {
	ts := newTestServer(t, map[string]string{"BATON_ISSUER": "http://192.0.2.7:8080"}, nil, server.Options{})
	logs := ts.Logs.String()
	if !strings.Contains(logs, `"level":"WARN"`) || !strings.Contains(logs, "passkeys are off until BATON_WEBAUTHN_RP_ID is set") {
		t.Fatalf("no start-up warning:\n%s", logs)
	}
	if r := call(t, "POST", ts.URL+"/v1/passkeys/login/options", "", map[string]any{}); r.status != 404 {
		t.Fatalf("options with passkeys off: %d %s", r.status, r.raw)
	}
}

// TestPasskeyMetrics: passkey second steps are counted under
// method="passkey", refused ones too, and a usernameless sign-in is a
// login.
func TestPasskeyMetrics(t *testing.T) {
	ts := newTestServer(t, nil, nil, server.Options{})
	u := ts.URL
	at := loginAs(t, u, "pk-metric").str("access_token")
	key := webauthntest.New(webauthntest.Options{UV: true, Origin: strings.Replace(u, "127.0.0.1", "localhost", 1)})
	opts := call(t, "POST", u+"/v1/passkeys/register/options", at, nil)
	cred, err := key.Register(opts.rawMember("options"))
	if err != nil {
		t.Fatal(err)
	}
	if r := call(t, "POST", u+"/v1/passkeys/register", at, map[string]any{"flow_id": opts.str("flow_id"), "credential": json.RawMessage(cred)}); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	second := func(edit func(*webauthntest.Assertion), want int) {
		t.Helper()
		m := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "pk-metric", "password": pw}).str("mfa_token")
		o := call(t, "POST", u+"/v1/passkeys/login/options", "", map[string]string{"mfa_token": m})
		a, err := key.LoginWith(o.rawMember("options"), edit)
		if err != nil {
			t.Fatal(err)
		}
		if r := call(t, "POST", u+"/v1/login/mfa", "", map[string]any{"mfa_token": m, "passkey": json.RawMessage(a)}); r.status != want {
			t.Fatalf("second step: %d %s, want %d", r.status, r.raw, want)
		}
	}
	second(nil, 200)
	second(func(a *webauthntest.Assertion) { a.CorruptSignature = true }, 401)
	o := call(t, "POST", u+"/v1/passkeys/login/options", "", map[string]any{})
	a, _ := key.Login(o.rawMember("options"))
	if r := call(t, "POST", u+"/v1/passkeys/login", "", map[string]any{"flow_id": o.str("flow_id"), "credential": json.RawMessage(a)}); r.status != 200 {
		t.Fatalf("passkey login: %d %s", r.status, r.raw)
	}
	wantSeries(t, string(call(t, "GET", u+"/metrics", "", nil).raw), map[string]string{
		`baton_mfa_attempts_total{method="passkey",outcome="ok"}`:                    "1",
		`baton_mfa_attempts_total{method="passkey",outcome="failed"}`:                "1",
		`baton_mfa_attempts_total{method="other",outcome="failed"}`:                  "",
		`baton_auth_events_total{outcome="ok",type="passkey_added"}`:                 "1",
		`baton_http_requests_total{route="/v1/passkeys/login",status="200"}`:         "1",
		`baton_http_requests_total{route="/v1/passkeys/login/options",status="200"}`: "3",
		`baton_logins_total{outcome="ok"}`:                                           "3",
	})
}
