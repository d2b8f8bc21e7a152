package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/batonauth/baton/batontest"
)

var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/v1/register"}, {"POST", "/v1/login"}, {"POST", "/v1/refresh"}, {"POST", "/v1/logout"},
	{"GET", "/v1/me"}, {"DELETE", "/v1/me"}, {"POST", "/v1/reauth"}, {"POST", "/v1/password"},
	{"GET", "/v1/sessions"}, {"DELETE", "/v1/sessions/x"}, {"POST", "/oauth/token"}, {"POST", "/oauth/revoke"},
	{"POST", "/oauth/introspect"}, {"GET", "/v1/revocations?since=1"},
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
