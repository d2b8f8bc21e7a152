package httpapi_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/internal/webauthntest"
)

// FuzzPasskeyBodies sends arbitrary passkey answers — built from real
// ones, with a live flow put in place of FLOW (and an mfa_token in place
// of MFA) — to the endpoints that parse them: never a 5xx, never a panic,
// and every error in the contract's shape.
func FuzzPasskeyBodies(f *testing.F) {
	srv := batontest.NewServer(f, batontest.Env{
		"BATON_LIMIT_IP_FAILURES": "off", "BATON_LIMIT_ACCOUNT_FAILURES": "off",
	}, nil)
	c := newClient(f, srv)
	c.register("fuzz")
	at := bearer(c.login("fuzz").str("access_token"))
	a := newAuthenticator(srv, webauthntest.Options{UV: true})
	c.enrolPasskey(at, a, "")
	// A token with mfa: enrolling another passkey needs it.
	at = bearer(c.passkeyLogin(a, nil).want(f, 200, "").str("access_token"))
	mr := c.do("POST", "/v1/login", map[string]string{"username": "fuzz", "password": pw})
	mfaToken := mr.str("mfa_token")

	_, opts := c.options("/v1/passkeys/login/options", nil)
	login, _ := a.Login(opts)
	_, opts = c.options("/v1/passkeys/register/options", nil, at...)
	reg, _ := newAuthenticator(srv, webauthntest.Options{Attestation: "packed"}).Register(opts)
	if login == nil || reg == nil {
		f.Fatal("fuzz setup: no credentials")
	}
	seed := func(route uint8, body map[string]any) {
		b, _ := json.Marshal(body)
		f.Add(route, string(b))
	}
	seed(0, map[string]any{"flow_id": "FLOW", "credential": json.RawMessage(login)})
	seed(0, map[string]any{"flow_id": "FLOW", "credential": json.RawMessage(login), "transport": "cookies"})
	seed(1, map[string]any{"flow_id": "FLOW", "credential": json.RawMessage(reg), "name": "k"})
	seed(2, map[string]any{"mfa_token": "MFA", "passkey": json.RawMessage(login)})
	seed(0, map[string]any{"flow_id": "FLOW", "credential": map[string]any{"id": "", "response": map[string]any{"authenticatorData": "////"}}})
	f.Add(uint8(1), `{"flow_id":"FLOW","credential":{"type":"public-key","response":{"attestationObject":"v_8"}}}`)
	f.Add(uint8(0), `{"flow_id":"FLOW","credential":`+strings.Repeat("[", 200)+`}`)

	// Flows are made before fuzzing, not per input: each would write to
	// the store, and coverage that changes with every input makes the
	// fuzzer minimise forever. The first inputs get live flows; later ones
	// spent flows, which still reach the parsers.
	const pool = 32
	var loginFlows, regFlows []string
	for range pool {
		fl, _ := c.options("/v1/passkeys/login/options", nil)
		loginFlows = append(loginFlows, fl)
		fl, _ = c.options("/v1/passkeys/register/options", nil, at...)
		regFlows = append(regFlows, fl)
	}
	next := func(flows *[]string) string {
		fl := (*flows)[0]
		if len(*flows) > 1 {
			*flows = (*flows)[1:]
		}
		return fl
	}
	h := srv.Handler()
	routes := []string{"/v1/passkeys/login", "/v1/passkeys/register", "/v1/login/mfa"}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		path := routes[int(route)%len(routes)]
		if strings.Contains(body, "FLOW") {
			flows := &loginFlows
			if path == "/v1/passkeys/register" {
				flows = &regFlows
			}
			body = strings.ReplaceAll(body, "FLOW", next(flows))
		}
		body = strings.ReplaceAll(body, "MFA", mfaToken)
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.RemoteAddr = "192.0.2.1:1234"
		req.Header.Set("Content-Type", "application/json")
		if path == "/v1/passkeys/register" {
			req.Header.Set(at[0], at[1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		wantContract(t, rec, path+" with "+body)
	})
}
