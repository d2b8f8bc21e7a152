package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/batonauth/baton/batontest"
)

var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/v1/register"}, {"POST", "/v1/login"}, {"POST", "/v1/refresh"}, {"POST", "/v1/logout"},
	{"GET", "/v1/me"}, {"DELETE", "/v1/me"}, {"POST", "/v1/reauth"}, {"POST", "/v1/password"},
	{"GET", "/v1/sessions"}, {"DELETE", "/v1/sessions/x"}, {"POST", "/oauth/token"}, {"POST", "/oauth/revoke"},
	{"POST", "/oauth/introspect"}, {"GET", "/v1/revocations?since=1"},
	{"POST", "/v1/passkeys/register/options"}, {"POST", "/v1/passkeys/register"}, {"GET", "/v1/passkeys"},
	{"DELETE", "/v1/passkeys/x"}, {"POST", "/v1/passkeys/login/options"}, {"POST", "/v1/passkeys/login"},
}

// FuzzRequests sends arbitrary bodies, content types and credentials to
// every endpoint: whatever the input, the answer is never a 5xx and never a
// panic, and every error has the contract's JSON shape.
func FuzzRequests(f *testing.F) {
	srv := batontest.NewServer(f, batontest.Env{
		"BATON_RESOURCE_CLIENT_ID": "rs", "BATON_RESOURCE_CLIENT_SECRET": "0123456789abcdef",
		"BATON_LIMIT_IP_FAILURES": "off", "BATON_LIMIT_ACCOUNT_FAILURES": "off", "BATON_LIMIT_IP_REGISTRATIONS": "off",
	}, nil)
	h := srv.Handler()
	seeds := []struct {
		route       uint8
		contentType string
		body        string
		auth        string
	}{
		{0, "application/json", `{"username":"fuzz","password":"correct horse battery staple"}`, ""},
		{1, "application/json", `{"username":"fuzz","password":"correct horse battery staple","transport":"cookies"}`, ""},
		{1, "application/json", `{"username":"fuzz","password":"x","transport":"refresh_cookie","client_id":"c"}`, ""},
		{2, "application/json", `{"refresh_token":"brt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","access_token":"a.b.c"}`, ""},
		{2, "", "", "Bearer brt_x"},
		{3, "application/json", `{"scope":"global"}`, "Bearer eyJhbGciOiJub25lIn0.e30."},
		{4, "", "", "Bearer \x00"},
		{6, "application/json; charset=utf-8", `{"password":1}`, "Bearer a.b.c"},
		{7, "application/json", `{"current_password":"a","new_password":"b"}`, "bearer  "},
		{10, "application/x-www-form-urlencoded", "grant_type=password&username=fuzz&password=correct+horse+battery+staple", ""},
		{10, "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=%ZZ", ""},
		{10, "application/json", `{"grant_type":"password","username":["a"]}`, ""},
		{11, "application/x-www-form-urlencoded", "token=brt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&token_type_hint=refresh_token", ""},
		{12, "application/x-www-form-urlencoded", "token=abc", "Basic cnM6MDEyMzQ1Njc4OWFiY2RlZg=="},
		{13, "", "", "Basic cnM6MDEyMzQ1Njc4OWFiY2RlZg=="},
		{0, "application/json", `{"username":"\u0000","password":"` + strings.Repeat("é", 600) + `"}`, ""},
		{0, "multipart/form-data; boundary=x", "--x--", ""},
		{1, "application/json", `{"username":"a","password":"b"}{"x":1}`, ""},
		{1, "application/json", `nul`, ""},
	}
	for _, s := range seeds {
		f.Add(s.route, s.contentType, s.body, s.auth)
	}
	f.Fuzz(func(t *testing.T, route uint8, contentType, body, auth string) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(body))
		req.RemoteAddr = "192.0.2.1:1234"
		if contentType != "" {
			req.Header["Content-Type"] = []string{contentType}
		}
		if auth != "" {
			req.Header["Authorization"] = []string{auth}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q %q: status %d: %s", rt.method, rt.path, contentType, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"error_description"`) {
			t.Fatalf("error without the contract's shape: %d %s", rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), "access_token") && rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("token response without Cache-Control: no-store")
		}
	})
}

// FuzzLoginMFA posts arbitrary bodies to POST /v1/login/mfa for a user
// with TOTP on. In a body, $TOKEN becomes a live mfa_token (a fresh first
// step), $CODE the current TOTP code (the clock moves a step on first, so
// it is unused) and $RECOVERY one of the user's recovery codes, so the
// fuzzer reaches the paths behind a live token, not just the parser.
// Whatever the input: never a 5xx or a panic, errors in the contract's
// shape, a 401 is invalid_credentials or invalid_grant, and a token
// response is no-store.
func FuzzLoginMFA(f *testing.F) {
	clock := batontest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := batontest.NewServer(f, batontest.Env{
		"BATON_LIMIT_IP_FAILURES": "off", "BATON_LIMIT_ACCOUNT_FAILURES": "off", "BATON_LIMIT_IP_REGISTRATIONS": "off",
	}, clock)
	h := srv.Handler()
	send := func(path, contentType, body, bearer string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.RemoteAddr = "192.0.2.1:1234"
		if contentType != "" {
			req.Header["Content-Type"] = []string{contentType}
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	field := func(rec *httptest.ResponseRecorder, k string) any {
		var m map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &m)
		return m[k]
	}
	login := `{"username":"fuzz","password":"correct horse battery staple"}`
	send("/v1/register", "application/json", login, "")
	at, _ := field(send("/v1/login", "application/json", login, ""), "access_token").(string)
	secret, _ := field(send("/v1/mfa/totp", "", "", at), "secret").(string)
	code := func() string {
		c, err := totp.GenerateCode(secret, clock.Now())
		if err != nil {
			f.Fatal(err)
		}
		return c
	}
	var recovery []string
	for _, c := range field(send("/v1/mfa/totp/confirm", "application/json", `{"code":"`+code()+`"}`, at), "recovery_codes").([]any) {
		recovery = append(recovery, c.(string))
	}
	for _, s := range []struct{ contentType, body string }{
		{"application/json", `{"mfa_token":"$TOKEN","totp":"$CODE"}`},
		{"application/json", `{"mfa_token":"$TOKEN","recovery_code":"$RECOVERY"}`},
		{"application/json", `{"mfa_token":"$TOKEN","totp":"000000"}`},
		{"application/json", `{"mfa_token":"$TOKEN","totp":" 12 34-56 "}`},
		{"application/json", `{"mfa_token":"$TOKEN","totp":"١٢٣٤٥٦"}`},
		{"application/json", `{"mfa_token":"$TOKEN","recovery_code":"ABCDE-FGHJK"}`},
		{"application/json", `{"mfa_token":"$TOKEN","totp":"$CODE","recovery_code":"$RECOVERY"}`},
		{"application/json", `{"mfa_token":"$TOKEN"}`},
		{"application/json", `{"mfa_token":"$TOKEN","totp":123456}`},
		{"application/json", `{"mfa_token":"$TOKEN","passkey":{"id":"x"}}`},
		{"application/json", `{"mfa_token":"$TOKEN","totp":"` + strings.Repeat("1", 70) + `"}`},
		{"application/json", `{"mfa_token":"bmf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","totp":"123456"}`},
		{"application/json", `{"mfa_token":null,"totp":"123456"}`},
		{"application/json", `{"mfa_token":"$TOKEN","mfa_token":"$TOKEN","totp":"$CODE"}`},
		{"application/json", `[]`},
		{"text/plain", `{"mfa_token":"$TOKEN","totp":"$CODE"}`},
		{"", ``},
	} {
		f.Add(s.contentType, s.body)
	}
	fill := func(tb testing.TB, body string) string {
		if strings.Contains(body, "$TOKEN") {
			tok, _ := field(send("/v1/login", "application/json", login, ""), "mfa_token").(string)
			if tok == "" {
				tb.Fatal("no mfa_token from the first step")
			}
			body = strings.ReplaceAll(body, "$TOKEN", tok)
		}
		if strings.Contains(body, "$CODE") {
			clock.Advance(30 * time.Second)
			body = strings.ReplaceAll(body, "$CODE", code())
		}
		return strings.ReplaceAll(body, "$RECOVERY", recovery[len(body)%len(recovery)])
	}
	// The placeholders work: the first seed signs in.
	if rec := send("/v1/login/mfa", "application/json", fill(f, `{"mfa_token":"$TOKEN","totp":"$CODE"}`), ""); rec.Code != http.StatusOK {
		f.Fatalf("a second step with a live token and code: %d %s", rec.Code, rec.Body)
	}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		body = fill(t, body)
		rec := send("/v1/login/mfa", contentType, body, "")
		switch {
		case rec.Code >= 500:
			t.Fatalf("%q %q: status %d: %s", contentType, body, rec.Code, rec.Body)
		case rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"error_description"`):
			t.Fatalf("error without the contract's shape: %d %s", rec.Code, rec.Body)
		case rec.Code == http.StatusUnauthorized && field(rec, "error") != "invalid_credentials" && field(rec, "error") != "invalid_grant":
			t.Fatalf("401 %s, want invalid_credentials or invalid_grant", rec.Body)
		case rec.Code == http.StatusOK && (field(rec, "access_token") == nil || rec.Header().Get("Cache-Control") != "no-store"):
			t.Fatalf("200 %s (Cache-Control %q), want a no-store token response", rec.Body, rec.Header().Get("Cache-Control"))
		}
	})
}
