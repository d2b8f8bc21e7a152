package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/httpapi"
	"github.com/batonauth/baton/internal/webauthntest"
	"github.com/batonauth/baton/mail/smtptest"
	"github.com/batonauth/baton/session"
	"github.com/pquerna/otp/totp"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// docURL names the OpenAPI document for the schema compiler; schemas are
// compiled from JSON pointers into it, so its "#/components/…" $refs
// resolve as they do for any reader of the document.
const docURL = "https://baton.invalid/openapi.json"

// conformance checks real answers against httpapi/openapi.json, with a
// maintained JSON Schema (2020-12, OpenAPI 3.1's dialect) validator.
type conformance struct {
	t        *testing.T
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema // by JSON pointer
	doc      map[string]any
	seen     map[string]map[int]bool // "METHOD path" → statuses answered
}

func newConformance(t *testing.T, doc []byte) *conformance {
	parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := parsed.(map[string]any)
	if m["openapi"] != "3.1.0" {
		t.Fatalf("openapi %v, want 3.1.0", m["openapi"])
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat() // "format": "date-time" is checked, not only annotated
	if err := c.AddResource(docURL, parsed); err != nil {
		t.Fatal(err)
	}
	return &conformance{t: t, compiler: c, schemas: map[string]*jsonschema.Schema{}, doc: m, seen: map[string]map[int]bool{}}
}

// at returns the value at JSON pointer ptr ("/a/b", RFC 6901) of the
// document, nil when there is none.
func (c *conformance) at(ptr string) any {
	var v any = c.doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		m, _ := v.(map[string]any)
		v = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)]
	}
	return v
}

// object returns the object at ptr, following a "$ref" to a local
// definition, and the pointer it was found at.
func (c *conformance) object(ptr string) (map[string]any, string) {
	m, _ := c.at(ptr).(map[string]any)
	if ref, ok := m["$ref"].(string); ok && strings.HasPrefix(ref, "#/") {
		ptr = strings.TrimPrefix(ref, "#")
		m, _ = c.at(ptr).(map[string]any)
	}
	return m, ptr
}

func escapePtr(tok string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(tok) }

// validate checks v (a string, or JSON decoded with UseNumber) against the
// schema at ptr.
func (c *conformance) validate(ptr string, v any) error {
	sch, ok := c.schemas[ptr]
	if !ok {
		var err error
		if sch, err = c.compiler.Compile(docURL + "#" + ptr); err != nil {
			c.t.Fatalf("schema at %s: %v", ptr, err)
		}
		c.schemas[ptr] = sch
	}
	return sch.Validate(v)
}

// verify checks one answer of METHOD tmpl (the documented path) and
// returns the problems found.
func (c *conformance) verify(method, tmpl string, r reply) []string {
	var bad []string
	ops, _ := c.doc["paths"].(map[string]any)[tmpl].(map[string]any)
	opPtr := "/paths/" + escapePtr(tmpl) + "/" + strings.ToLower(method)
	op, _ := ops[strings.ToLower(method)].(map[string]any)
	if op == nil && r.status == http.StatusMethodNotAllowed {
		// An undocumented method of a documented path: every operation
		// documents the 405 answer.
		for m, o := range ops {
			op, _ = o.(map[string]any)
			opPtr = "/paths/" + escapePtr(tmpl) + "/" + m
			break
		}
	}
	if op == nil {
		return []string{method + " " + tmpl + " is not documented"}
	}
	resp, respPtr := c.object(opPtr + "/responses/" + strconv.Itoa(r.status))
	if resp == nil {
		return []string{method + " " + tmpl + ": status " + strconv.Itoa(r.status) + " is not documented: " + string(r.raw)}
	}
	if r.hdr.Get("X-Request-Id") == "" {
		bad = append(bad, "no X-Request-Id")
	}
	hdrs, _ := resp["headers"].(map[string]any)
	for name := range hdrs {
		h, hPtr := c.object(respPtr + "/headers/" + escapePtr(name))
		val := r.hdr.Get(name)
		if val == "" {
			if req, _ := h["required"].(bool); req {
				bad = append(bad, "header "+name+" is missing")
			}
			continue
		}
		if _, ok := h["schema"]; ok {
			if err := c.validate(hPtr+"/schema", val); err != nil {
				bad = append(bad, "header "+name+": "+err.Error())
			}
		}
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(r.raw) != 0 {
			bad = append(bad, "a body where none is documented: "+string(r.raw))
		}
		return bad
	}
	mt, _, _ := mime.ParseMediaType(r.hdr.Get("Content-Type"))
	if _, ok := content[mt].(map[string]any); !ok {
		return append(bad, "Content-Type "+r.hdr.Get("Content-Type")+" is not documented")
	}
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		body, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.raw))
		if err != nil {
			bad = append(bad, "body "+string(r.raw)+" is not JSON: "+err.Error())
		} else if err := c.validate(respPtr+"/content/"+escapePtr(mt)+"/schema", body); err != nil {
			bad = append(bad, "body "+string(r.raw)+": "+err.Error())
		}
		if codes, ok := resp["x-error-codes"].([]any); ok {
			var body struct{ Error string }
			_ = json.Unmarshal(r.raw, &body)
			if !slices.Contains(codes, any(body.Error)) {
				bad = append(bad, "error code "+body.Error+" is not documented for this status")
			}
		}
	}
	return bad
}

func (c *conformance) check(method, tmpl string, r reply, wantStatus int) reply {
	c.t.Helper()
	if r.status != wantStatus {
		c.t.Errorf("%s %s: status %d, want %d: %s", method, tmpl, r.status, wantStatus, r.raw)
	}
	for _, b := range c.verify(method, tmpl, r) {
		c.t.Errorf("%s %s → %d: %s", method, tmpl, r.status, b)
	}
	k := method + " " + tmpl
	if c.seen[k] == nil {
		c.seen[k] = map[int]bool{}
	}
	c.seen[k][r.status] = true
	return r
}

func cookieHeader(r reply) string {
	var parts []string
	for _, sc := range (&http.Response{Header: r.hdr}).Cookies() {
		parts = append(parts, sc.Name+"="+sc.Value)
	}
	return strings.Join(parts, "; ")
}

func cookieValue(r reply, name string) string {
	for _, sc := range (&http.Response{Header: r.hdr}).Cookies() {
		if sc.Name == name {
			return sc.Value
		}
	}
	return ""
}

// TestOpenAPIConformance sends real requests to every endpoint, with
// success and error cases, and checks each answer's status, the headers
// the document requires and the JSON body against httpapi/openapi.json.
func TestOpenAPIConformance(t *testing.T) {
	relay := smtptest.Start(t, smtptest.Options{})
	srv := batontest.NewServer(t, batontest.Env{
		"BATON_RESOURCE_CLIENT_ID": rsID, "BATON_RESOURCE_CLIENT_SECRET": rsSecret,
		"BATON_LIMIT_ACCOUNT_FAILURES": "3/1h", "BATON_FRESH_TTL": "15m",
		"BATON_SMTP_URL": "smtp+plain://" + relay.Addr(), "BATON_MAIL_FROM": "noreply@example.com",
	}, nil)
	u := srv.URL
	served := call(t, "GET", u+"/openapi.json", "", nil)
	if string(served.raw) != string(httpapi.OpenAPI) {
		t.Fatal("GET /openapi.json does not serve the embedded document")
	}
	c := newConformance(t, served.raw)
	c.check("GET", "/openapi.json", served, 200)
	rs := basic(rsID, rsSecret)

	// Register.
	c.check("POST", "/v1/register", call(t, "POST", u+"/v1/register", "", map[string]string{"username": "openapi", "password": pw}), 201)
	c.check("POST", "/v1/register", call(t, "POST", u+"/v1/register", "", map[string]string{"username": "OpenAPI", "password": pw}), 409)
	c.check("POST", "/v1/register", call(t, "POST", u+"/v1/register", "", map[string]string{"username": "openapi-mail", "password": pw, "email": "OpenAPI@Example.com"}), 201)
	// Email verification: the link of the message the registration sent.
	verifyToken := linkToken(t, srv, relay, 1, "/account/verify-email")
	mailAT := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi-mail", "password": pw}).str("access_token")
	c.check("POST", "/v1/email/verification", call(t, "POST", u+"/v1/email/verification", mailAT, nil), 202)
	c.check("POST", "/v1/email/verify", call(t, "POST", u+"/v1/email/verify", "", map[string]string{"token": "bve_unknown"}), 400)
	c.check("POST", "/v1/email/verify", call(t, "POST", u+"/v1/email/verify", "", map[string]string{"token": verifyToken}), 200)
	c.check("POST", "/v1/email/verification", call(t, "POST", u+"/v1/email/verification", mailAT, nil), 409)
	// Email change, then password reset.
	c.check("POST", "/v1/email", call(t, "POST", u+"/v1/email", mailAT, map[string]string{"email": "OpenAPI@example.org"}), 202)
	c.check("POST", "/v1/email", call(t, "POST", u+"/v1/email", mailAT, map[string]string{"email": "not an address"}), 400)
	c.check("POST", "/v1/email", call(t, "POST", u+"/v1/email", "", map[string]string{"email": "OpenAPI@example.org"}), 401)
	c.check("POST", "/v1/password/forgot", call(t, "POST", u+"/v1/password/forgot", "", map[string]string{"email": "openapi@example.com"}), 202)
	c.check("POST", "/v1/password/forgot", call(t, "POST", u+"/v1/password/forgot", "", map[string]string{"email": "nobody@example.com"}), 202)
	c.check("POST", "/v1/password/forgot", call(t, "POST", u+"/v1/password/forgot", "", map[string]string{}), 400)
	resetToken := linkToken(t, srv, relay, 5, "/account/reset-password") // after the change's two messages
	c.check("POST", "/v1/password/reset", call(t, "POST", u+"/v1/password/reset", "", map[string]string{"token": resetToken, "new_password": "x"}), 400)
	c.check("POST", "/v1/password/reset", call(t, "POST", u+"/v1/password/reset", "", map[string]string{"token": resetToken, "new_password": pw}), 204)
	c.check("POST", "/v1/password/reset", call(t, "POST", u+"/v1/password/reset", "", map[string]string{"token": resetToken, "new_password": pw}), 400)
	// The reset ended every session: the new password logs in.
	c.check("POST", "/v1/login", call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi-mail", "password": pw}), 200)
	c.check("POST", "/v1/register", call(t, "POST", u+"/v1/register", "", map[string]any{"username": "openapi-null", "password": pw, "email": nil}), 201)
	c.check("POST", "/v1/register", call(t, "POST", u+"/v1/register", "", map[string]string{"username": "openapi@example.COM", "password": pw}), 409)
	c.check("POST", "/v1/register", call(t, "POST", u+"/v1/register", "", map[string]string{"username": "openapi-bad", "password": pw, "email": "OpenAPI <openapi@example.com>"}), 400)
	c.check("POST", "/v1/register", call(t, "POST", u+"/v1/register", "", map[string]string{"username": "weak", "password": "password"}), 400)
	c.check("POST", "/v1/register", call(t, "POST", u+"/v1/register", "", map[string]string{"username": "", "password": pw}), 400)
	c.check("POST", "/v1/register", call(t, "POST", u+"/v1/register", "", map[string]string{"username": "x"}), 400)
	c.check("POST", "/v1/register", call(t, "POST", u+"/v1/register", "", "username=a&password=b"), 415)
	c.check("POST", "/v1/register", call(t, "POST", u+"/v1/register", "", map[string]string{"username": strings.Repeat("a", 70<<10), "password": pw}), 413)
	c.check("PUT", "/v1/register", call(t, "PUT", u+"/v1/register", "", nil), 405)

	// Login, refresh, me.
	login := c.check("POST", "/v1/login", call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi", "password": pw}), 200)
	c.check("POST", "/v1/login", call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi", "password": "wrong password"}), 401)
	at, rt := login.str("access_token"), login.str("refresh_token")
	ref := c.check("POST", "/v1/refresh", call(t, "POST", u+"/v1/refresh", "", map[string]string{"refresh_token": rt}), 200)
	c.check("POST", "/v1/refresh", call(t, "POST", u+"/v1/refresh", "", map[string]string{"refresh_token": "brt_nope"}), 401)
	c.check("POST", "/v1/refresh", call(t, "POST", u+"/v1/refresh", "", "refresh_token=x"), 415)
	c.check("GET", "/v1/me", call(t, "GET", u+"/v1/me", at, nil), 200)
	mail := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi-mail", "password": pw})
	c.check("GET", "/v1/me", call(t, "GET", u+"/v1/me", mail.str("access_token"), nil), 200)
	c.check("GET", "/v1/me", call(t, "GET", u+"/v1/me", "", nil), 401)
	c.check("GET", "/v1/me", call(t, "GET", u+"/v1/me", "eyJ.bad.token", nil), 401)

	// Second factors: TOTP enrolment, the two-step login, recovery codes.
	c.check("POST", "/v1/register", call(t, "POST", u+"/v1/register", "", map[string]string{"username": "openapi-mfa", "password": pw}), 201)
	mfaAT := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi-mfa", "password": pw}).str("access_token")
	c.check("POST", "/v1/mfa/totp", call(t, "POST", u+"/v1/mfa/totp", "", nil), 401)
	c.check("GET", "/v1/mfa/totp/qr", call(t, "GET", u+"/v1/mfa/totp/qr", mfaAT, nil), 404)
	secret := c.check("POST", "/v1/mfa/totp", call(t, "POST", u+"/v1/mfa/totp", mfaAT, nil), 200).str("secret")
	c.check("GET", "/v1/mfa/totp/qr", call(t, "GET", u+"/v1/mfa/totp/qr", mfaAT, nil), 200)
	c.check("GET", "/v1/mfa/totp/qr", call(t, "GET", u+"/v1/mfa/totp/qr", "", nil), 401)
	c.check("POST", "/v1/mfa/totp/confirm", call(t, "POST", u+"/v1/mfa/totp/confirm", mfaAT, map[string]string{"code": "12345x"}), 400)
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	codes := c.check("POST", "/v1/mfa/totp/confirm", call(t, "POST", u+"/v1/mfa/totp/confirm", mfaAT, map[string]string{"code": code}), 200).strs("recovery_codes")
	c.check("GET", "/v1/me", call(t, "GET", u+"/v1/me", mfaAT, nil), 200)
	second := c.check("POST", "/v1/login", call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi-mfa", "password": pw}), 403).str("mfa_token")
	c.check("POST", "/oauth/token", call(t, "POST", u+"/oauth/token", "", "grant_type=password&username=openapi-mfa&password="+url.QueryEscape(pw)), 403)
	c.check("POST", "/v1/login/mfa", call(t, "POST", u+"/v1/login/mfa", "", map[string]string{"mfa_token": "bmf_nope", "recovery_code": codes[0]}), 401)
	c.check("POST", "/v1/login/mfa", call(t, "POST", u+"/v1/login/mfa", "", map[string]string{"mfa_token": second, "totp": "abc"}), 400)
	mfaAT = c.check("POST", "/v1/login/mfa", call(t, "POST", u+"/v1/login/mfa", "", map[string]string{"mfa_token": second, "recovery_code": codes[0]}), 200).str("access_token")
	c.check("POST", "/v1/mfa/recovery-codes", call(t, "POST", u+"/v1/mfa/recovery-codes", mfaAT, nil), 200)
	c.check("POST", "/v1/reauth", call(t, "POST", u+"/v1/reauth", mfaAT, map[string]string{"password": pw}), 403)
	c.check("DELETE", "/v1/mfa/totp", call(t, "DELETE", u+"/v1/mfa/totp", at, nil), 401)
	c.check("DELETE", "/v1/mfa/totp", call(t, "DELETE", u+"/v1/mfa/totp", mfaAT, nil), 204)
	c.check("DELETE", "/v1/mfa/totp", call(t, "DELETE", u+"/v1/mfa/totp", mfaAT, nil), 404)
	c.check("POST", "/v1/mfa/recovery-codes", call(t, "POST", u+"/v1/mfa/recovery-codes", mfaAT, nil), 404)
	c.check("GET", "/v1/sessions", call(t, "GET", u+"/v1/sessions", at, nil), 200)
	c.check("GET", "/v1/sessions", call(t, "GET", u+"/v1/sessions", "", nil), 401)

	// Passkeys: enrolment, listing, usernameless sign-in, the second step
	// of a login, deletion.
	c.check("POST", "/v1/register", call(t, "POST", u+"/v1/register", "", map[string]string{"username": "openapi-pk", "password": pw}), 201)
	pkAT := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi-pk", "password": pw}).str("access_token")
	key := webauthntest.New(webauthntest.Options{UV: true, Origin: strings.Replace(u, "127.0.0.1", "localhost", 1)})
	c.check("POST", "/v1/passkeys/register/options", call(t, "POST", u+"/v1/passkeys/register/options", "", nil), 401)
	regFlow := c.check("POST", "/v1/passkeys/register/options", call(t, "POST", u+"/v1/passkeys/register/options", pkAT, nil), 200)
	regCred, err := key.Register(regFlow.rawMember("options"))
	if err != nil {
		t.Fatal(err)
	}
	c.check("POST", "/v1/passkeys/register", call(t, "POST", u+"/v1/passkeys/register", pkAT, map[string]any{"flow_id": regFlow.str("flow_id"), "credential": map[string]any{}}), 400)
	pk := c.check("POST", "/v1/passkeys/register", call(t, "POST", u+"/v1/passkeys/register", pkAT,
		map[string]any{"flow_id": regFlow.str("flow_id"), "credential": json.RawMessage(regCred), "name": "OpenAPI key"}), 201)
	c.check("POST", "/v1/passkeys/register", call(t, "POST", u+"/v1/passkeys/register", pkAT,
		map[string]any{"flow_id": regFlow.str("flow_id"), "credential": json.RawMessage(regCred)}), 401)
	c.check("GET", "/v1/passkeys", call(t, "GET", u+"/v1/passkeys", pkAT, nil), 200)
	c.check("GET", "/v1/passkeys", call(t, "GET", u+"/v1/passkeys", "", nil), 401)
	loginFlow := c.check("POST", "/v1/passkeys/login/options", call(t, "POST", u+"/v1/passkeys/login/options", "", map[string]any{}), 200)
	loginCred, err := key.Login(loginFlow.rawMember("options"))
	if err != nil {
		t.Fatal(err)
	}
	c.check("POST", "/v1/passkeys/login", call(t, "POST", u+"/v1/passkeys/login", "", map[string]any{"flow_id": loginFlow.str("flow_id"), "credential": "x"}), 400)
	pkLogin := c.check("POST", "/v1/passkeys/login", call(t, "POST", u+"/v1/passkeys/login", "",
		map[string]any{"flow_id": loginFlow.str("flow_id"), "credential": json.RawMessage(loginCred)}), 200)
	c.check("POST", "/v1/passkeys/login", call(t, "POST", u+"/v1/passkeys/login", "",
		map[string]any{"flow_id": loginFlow.str("flow_id"), "credential": json.RawMessage(loginCred)}), 401)
	c.check("GET", "/v1/me", call(t, "GET", u+"/v1/me", pkLogin.str("access_token"), nil), 200)
	pkSecond := c.check("POST", "/v1/login", call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi-pk", "password": pw}), 403).str("mfa_token")
	c.check("POST", "/v1/passkeys/login/options", call(t, "POST", u+"/v1/passkeys/login/options", "", map[string]string{"mfa_token": "bmf_nope"}), 401)
	secondFlow := c.check("POST", "/v1/passkeys/login/options", call(t, "POST", u+"/v1/passkeys/login/options", "", map[string]string{"mfa_token": pkSecond}), 200)
	secondCred, err := key.Login(secondFlow.rawMember("options"))
	if err != nil {
		t.Fatal(err)
	}
	c.check("POST", "/v1/login/mfa", call(t, "POST", u+"/v1/login/mfa", "", map[string]any{"mfa_token": pkSecond, "passkey": json.RawMessage(secondCred)}), 200)
	c.check("DELETE", "/v1/passkeys/{id}", call(t, "DELETE", u+"/v1/passkeys/"+pk.str("id"), pkAT, nil), 401)
	c.check("DELETE", "/v1/passkeys/{id}", call(t, "DELETE", u+"/v1/passkeys/"+pk.str("id"), pkLogin.str("access_token"), nil), 204)
	c.check("DELETE", "/v1/passkeys/{id}", call(t, "DELETE", u+"/v1/passkeys/"+pk.str("id"), pkLogin.str("access_token"), nil), 404)

	// Freshness: a refreshed token is not fresh.
	c.check("DELETE", "/v1/me", call(t, "DELETE", u+"/v1/me", ref.str("access_token"), nil), 401)
	c.check("POST", "/v1/password", call(t, "POST", u+"/v1/password", ref.str("access_token"),
		map[string]string{"current_password": pw, "new_password": "fresh new passphrase"}), 401)
	c.check("POST", "/v1/reauth", call(t, "POST", u+"/v1/reauth", ref.str("access_token"), map[string]string{"password": "wrong!"}), 401)
	ra := c.check("POST", "/v1/reauth", call(t, "POST", u+"/v1/reauth", ref.str("access_token"), map[string]string{"password": pw}), 200)
	c.check("POST", "/v1/reauth", call(t, "POST", u+"/v1/reauth", ref.str("access_token"), map[string]string{}), 400)
	c.check("POST", "/v1/password", call(t, "POST", u+"/v1/password", ra.str("access_token"),
		map[string]string{"current_password": pw, "new_password": "short"}), 400)
	pc := c.check("POST", "/v1/password", call(t, "POST", u+"/v1/password", ra.str("access_token"),
		map[string]string{"current_password": pw, "new_password": "fresh new passphrase"}), 200)
	pw2 := "fresh new passphrase"

	// Sessions.
	other := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi", "password": pw2})
	c.check("DELETE", "/v1/sessions/{id}", call(t, "DELETE", u+"/v1/sessions/"+other.str("session_id"), pc.str("access_token"), nil), 204)
	c.check("DELETE", "/v1/sessions/{id}", call(t, "DELETE", u+"/v1/sessions/"+other.str("session_id"), pc.str("access_token"), nil), 404)
	c.check("DELETE", "/v1/sessions/{id}", call(t, "DELETE", u+"/v1/sessions/x", "", nil), 401)

	// Cookies transport and CSRF.
	ck := c.check("POST", "/v1/login", call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi", "password": pw2, "transport": "cookies"}), 200)
	cookies := cookieHeader(ck)
	c.check("GET", "/v1/me", call(t, "GET", u+"/v1/me", "", nil, "Cookie", cookies), 200)
	c.check("POST", "/v1/logout", call(t, "POST", u+"/v1/logout", "", nil, "Cookie", cookies), 403)
	c.check("POST", "/v1/refresh", call(t, "POST", u+"/v1/refresh", "", nil, "Cookie", cookies, "X-CSRF-Token", cookieValue(ck, "baton_csrf")), 200)
	c.check("POST", "/v1/logout", call(t, "POST", u+"/v1/logout", "", nil, "Cookie", cookies, "X-CSRF-Token", cookieValue(ck, "baton_csrf")), 204)

	// Logout.
	l2 := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi", "password": pw2})
	c.check("POST", "/v1/logout", call(t, "POST", u+"/v1/logout", l2.str("access_token"), map[string]string{"scope": "others"}), 204)
	c.check("POST", "/v1/logout", call(t, "POST", u+"/v1/logout", "", nil), 401)
	c.check("POST", "/v1/logout", call(t, "POST", u+"/v1/logout", l2.str("access_token"), map[string]string{"scope": "everything"}), 400)

	// OAuth.
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	ot := c.check("POST", "/oauth/token", call(t, "POST", u+"/oauth/token", "", form("grant_type", "password", "username", "openapi", "password", pw2, "client_id", "cli")), 200)
	c.check("POST", "/oauth/token", call(t, "POST", u+"/oauth/token", "", form("grant_type", "refresh_token", "refresh_token", ot.str("refresh_token"))), 200)
	c.check("POST", "/oauth/token", call(t, "POST", u+"/oauth/token", "", form("grant_type", "password", "username", "openapi", "password", "nope nope")), 400)
	c.check("POST", "/oauth/token", call(t, "POST", u+"/oauth/token", "", form("grant_type", "client_credentials")), 400)
	c.check("POST", "/oauth/token", call(t, "POST", u+"/oauth/token", "", form()), 400)
	c.check("POST", "/oauth/token", call(t, "POST", u+"/oauth/token", "", map[string]string{"grant_type": "refresh_token", "refresh_token": "brt_x"}), 400)
	l3 := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi", "password": pw2})
	c.check("POST", "/oauth/introspect", call(t, "POST", u+"/oauth/introspect", "", form("token", l3.str("access_token")), "Authorization", rs), 200)
	c.check("POST", "/oauth/introspect", call(t, "POST", u+"/oauth/introspect", "", form("token", l3.str("refresh_token")), "Authorization", rs), 200)
	c.check("POST", "/oauth/introspect", call(t, "POST", u+"/oauth/introspect", "", form("token", "brt_unknown"), "Authorization", rs), 200)
	c.check("POST", "/oauth/introspect", call(t, "POST", u+"/oauth/introspect", "", form("token", l3.str("access_token"))), 401)
	c.check("POST", "/oauth/introspect", call(t, "POST", u+"/oauth/introspect", "", form(), "Authorization", rs), 400)
	c.check("POST", "/oauth/revoke", call(t, "POST", u+"/oauth/revoke", "", form("token", l3.str("refresh_token"))), 200)
	c.check("POST", "/oauth/revoke", call(t, "POST", u+"/oauth/revoke", "", form("token", "unknown")), 200)
	c.check("POST", "/oauth/revoke", call(t, "POST", u+"/oauth/revoke", "", form()), 400)
	c.check("GET", "/v1/revocations", call(t, "GET", u+"/v1/revocations", "", nil, "Authorization", rs), 200)
	c.check("GET", "/v1/revocations", call(t, "GET", u+"/v1/revocations?since=1&limit=1", "", nil, "Authorization", rs), 200)
	c.check("GET", "/v1/revocations", call(t, "GET", u+"/v1/revocations?since=x", "", nil, "Authorization", rs), 400)
	c.check("GET", "/v1/revocations", call(t, "GET", u+"/v1/revocations", "", nil), 401)

	// The OpenID provider's JSON endpoints.
	c.check("POST", "/v1/register", call(t, "POST", u+"/v1/register", "", map[string]string{"username": "openapi-rp", "password": pw, "email": "rp@example.com"}), 201)
	client, secret := addClient(t, srv, session.ClientSpec{Name: "OpenAPI RP", GrantTypes: []string{baton.GrantAuthorizationCode, baton.GrantRefreshToken, baton.GrantClientCredentials},
		Scopes: []string{"openid", "profile", "email", "offline_access", "reports"}})
	crp := newRP(t, u, client, secret)
	fl := newFlow()
	authURL, _ := url.Parse(crp.authURL(fl))
	c.check("POST", "/oauth/par", clientCall(t, u+"/oauth/par", client.ID, secret, authURL.Query().Encode()), 201)
	c.check("POST", "/oauth/par", clientCall(t, u+"/oauth/par", client.ID, "wrong", authURL.Query().Encode()), 401)
	c.check("POST", "/oauth/par", clientCall(t, u+"/oauth/par", client.ID, secret, "response_type=token&scope=openid"), 400)
	cb := signIn(t, newBrowser(t), crp.authURL(fl), "openapi-rp", pw)
	codeGrant := clientCall(t, u+"/oauth/token", client.ID, secret, url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")},
		"redirect_uri": {rpCallback}, "code_verifier": {fl.verifier}}.Encode())
	c.check("POST", "/oauth/token", codeGrant, 200)
	c.check("POST", "/oauth/token", clientCall(t, u+"/oauth/token", client.ID, secret, "grant_type=refresh_token&refresh_token="+codeGrant.str("refresh_token")), 200)
	c.check("POST", "/oauth/token", clientCall(t, u+"/oauth/token", client.ID, secret, "grant_type=client_credentials&scope=reports"), 200)
	c.check("POST", "/oauth/token", clientCall(t, u+"/oauth/token", client.ID, secret, "grant_type=client_credentials&scope=other"), 400)
	c.check("POST", "/oauth/token", clientCall(t, u+"/oauth/token", client.ID, "wrong", "grant_type=client_credentials"), 401)
	rpAT := codeGrant.str("access_token")
	c.check("GET", "/oauth/userinfo", call(t, "GET", u+"/oauth/userinfo", rpAT, nil), 200)
	c.check("POST", "/oauth/userinfo", call(t, "POST", u+"/oauth/userinfo", rpAT, nil), 200)
	c.check("GET", "/oauth/userinfo", call(t, "GET", u+"/oauth/userinfo", l3.str("access_token"), nil), 401)
	// The account API takes first-party tokens only.
	rpLogin := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi-rp", "password": pw}).str("access_token")
	c.check("GET", "/v1/consents", call(t, "GET", u+"/v1/consents", rpLogin, nil), 200)
	c.check("GET", "/v1/consents", call(t, "GET", u+"/v1/consents", rpAT, nil), 401)
	c.check("DELETE", "/v1/consents/{client_id}", call(t, "DELETE", u+"/v1/consents/"+client.ID, rpLogin, nil), 204)
	c.check("DELETE", "/v1/consents/{client_id}", call(t, "DELETE", u+"/v1/consents/"+client.ID, rpLogin, nil), 404)
	c.check("GET", "/.well-known/openid-configuration", call(t, "GET", u+"/.well-known/openid-configuration", "", nil), 200)

	// Rate limit: the account's failure budget (3/1h) runs out.
	for range 3 {
		call(t, "POST", u+"/v1/login", "", map[string]string{"username": "limited", "password": "wrong password"})
	}
	c.check("POST", "/v1/login", call(t, "POST", u+"/v1/login", "", map[string]string{"username": "limited", "password": "wrong password"}), 429)

	// Discovery and operations.
	c.check("GET", "/.well-known/jwks.json", call(t, "GET", u+"/.well-known/jwks.json", "", nil), 200)
	c.check("GET", "/.well-known/oauth-authorization-server", call(t, "GET", u+"/.well-known/oauth-authorization-server", "", nil), 200)
	c.check("GET", "/healthz", call(t, "GET", u+"/healthz", "", nil), 200)
	c.check("GET", "/readyz", call(t, "GET", u+"/readyz", "", nil), 200)
	c.check("GET", "/metrics", call(t, "GET", u+"/metrics", "", nil), 200)
	c.check("POST", "/healthz", call(t, "POST", u+"/healthz", "", nil), 405)

	// Account deletion, last.
	fresh := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "openapi", "password": pw2})
	c.check("DELETE", "/v1/me", call(t, "DELETE", u+"/v1/me", fresh.str("access_token"), nil), 204)
	c.check("GET", "/v1/me", call(t, "GET", u+"/v1/me", fresh.str("access_token"), nil), 401)

	// Every documented operation was exercised with a success.
	var missing []string
	for path, ops := range c.doc["paths"].(map[string]any) {
		for method, op := range ops.(map[string]any) {
			k := strings.ToUpper(method) + " " + path
			ok := false
			for code := range op.(map[string]any)["responses"].(map[string]any) {
				if n, _ := strconv.Atoi(code); n >= 200 && n < 300 && c.seen[k][n] {
					ok = true
				}
			}
			if !ok {
				missing = append(missing, k)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("operations never answered with success: %v", missing)
	}
}

// TestOpenAPIConformanceCatchesBadAnswers: the checker used above rejects
// answers that break the document, so the conformance test can fail.
func TestOpenAPIConformanceCatchesBadAnswers(t *testing.T) {
	c := newConformance(t, httpapi.OpenAPI)
	hdr := func(kv ...string) http.Header {
		h := http.Header{"X-Request-Id": {"r"}, "Content-Type": {"application/json"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	good := reply{status: 200, hdr: hdr("Cache-Control", "no-store"), raw: []byte(`{"access_token":"a","token_type":"Bearer","expires_in":300,"refresh_token":"brt_x","refresh_token_expires_in":10,"session_id":"s"}`)}
	if bad := c.verify("POST", "/v1/login", good); len(bad) > 0 {
		t.Fatalf("a good answer was rejected: %v", bad)
	}
	for _, tt := range []struct {
		name, method, path string
		r                  reply
	}{
		{"MissingField", "POST", "/v1/login", reply{status: 200, hdr: hdr("Cache-Control", "no-store"), raw: []byte(`{"access_token":"a","token_type":"Bearer","session_id":"s"}`)}},
		{"ExtraField", "POST", "/v1/login", reply{status: 200, hdr: hdr("Cache-Control", "no-store"), raw: []byte(`{"token_type":"Bearer","expires_in":1,"session_id":"s","password_hash":"x"}`)}},
		{"NoCacheControl", "POST", "/v1/login", reply{status: 200, hdr: hdr(), raw: good.raw}},
		{"CacheControlNotInEnum", "POST", "/v1/login", reply{status: 200, hdr: hdr("Cache-Control", "private"), raw: good.raw}},
		{"WrongType", "POST", "/v1/login", reply{status: 200, hdr: hdr("Cache-Control", "no-store"), raw: []byte(`{"access_token":"a","token_type":"Bearer","expires_in":"300","refresh_token":"brt_x","refresh_token_expires_in":10,"session_id":"s"}`)}},
		{"WWWAuthenticatePattern", "GET", "/v1/me", reply{status: 401, hdr: hdr("WWW-Authenticate", `Basic realm="baton"`), raw: []byte(`{"error":"unauthorized","error_description":"x"}`)}},
		{"NoRequestID", "POST", "/v1/login", reply{status: 200, hdr: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}, raw: good.raw}},
		{"UndocumentedStatus", "POST", "/v1/login", reply{status: 418, hdr: hdr(), raw: []byte(`{}`)}},
		{"UndocumentedPath", "GET", "/v1/nothing", reply{status: 200, hdr: hdr(), raw: []byte(`{}`)}},
		{"WrongErrorCode", "POST", "/v1/register", reply{status: 409, hdr: hdr(), raw: []byte(`{"error":"invalid_request","error_description":"x"}`)}},
		{"ErrorShape", "GET", "/v1/me", reply{status: 401, hdr: hdr("WWW-Authenticate", `Bearer realm="baton"`), raw: []byte(`{"message":"no"}`)}},
		{"NoWWWAuthenticate", "GET", "/v1/me", reply{status: 401, hdr: hdr(), raw: []byte(`{"error":"unauthorized","error_description":"x"}`)}},
		{"IntrospectionLeaks", "POST", "/oauth/introspect", reply{status: 200, hdr: hdr("Cache-Control", "no-store"), raw: []byte(`{"active":false,"sub":"u"}`)}},
		{"BodyOn204", "POST", "/v1/logout", reply{status: 204, hdr: hdr(), raw: []byte(`{}`)}},
		{"WrongContentType", "GET", "/healthz", reply{status: 200, hdr: http.Header{"X-Request-Id": {"r"}, "Content-Type": {"text/html"}}, raw: []byte(`{"status":"ok"}`)}},
		{"BadDate", "GET", "/v1/me", reply{status: 200, hdr: hdr(), raw: []byte(`{"id":"i","username":"u","created_at":"today","session_id":"s"}`)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := c.verify(tt.method, tt.path, tt.r)
			if len(bad) == 0 {
				t.Fatal("a non-conforming answer passed")
			}
			t.Logf("rejected: %q", bad)
		})
	}
}

// linkToken waits for the relay's n-th message and returns its link's
// token.
// linkToken waits for n messages and returns the token of the last one
// whose link opens page: the server's own dispatcher and the test's drain
// may send messages queued together in either order.
func linkToken(t *testing.T, srv *batontest.Server, relay *smtptest.Server, n int, page string) string {
	t.Helper()
	msgs := relay.Await(t, n, func() { _, _ = srv.Mail.Drain(context.Background()) })
	for i := n - 1; i >= 0; i-- {
		if p, err := smtptest.Parse(msgs[i].Data); err == nil && strings.Contains(p.Text, page+"#token=") {
			_, tok := smtptest.LinkToken(t, msgs[i].Data)
			return tok
		}
	}
	t.Fatalf("none of the first %d messages links to %s", n, page)
	return ""
}
