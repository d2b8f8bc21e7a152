package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/batonauth/baton/batontest"
)

// enrolTOTP turns TOTP on for name (logged in with the password) and
// returns the secret and the recovery codes.
func enrolTOTP(t *testing.T, c *client, clock *batontest.Clock, name string) (string, []string) {
	t.Helper()
	at := bearer(c.login(name).str("access_token"))
	e := c.do("POST", "/v1/mfa/totp", nil, at...).want(t, 200, "")
	if e.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("enrolment answer without no-store")
	}
	secret := e.str("secret")
	code, err := totp.GenerateCode(secret, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := c.do("POST", "/v1/mfa/totp/confirm", map[string]string{"code": code}, at...).want(t, 200, "")
	raw, _ := r.body["recovery_codes"].([]any)
	var codes []string
	for _, v := range raw {
		codes = append(codes, v.(string))
	}
	if len(codes) != 10 {
		t.Fatalf("recovery codes: %s", r.raw)
	}
	return secret, codes
}

// TestTwoStepLogin: a TOTP user's right password gets 403 mfa_required
// with a single-use mfa_token; the second step answers like the first
// would have, in the same transport; a wrong password looks exactly as
// for a user without a second factor.
func TestTwoStepLogin(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	srv := batontest.NewServer(t, batontest.Env{"BATON_COOKIE_SECURE": "false"}, clock)
	c := newClient(t, srv)
	c.register("alice")
	c.register("bob")
	secret, codes := enrolTOTP(t, c, clock, "alice")

	// Wrong passwords: the same answer for both users.
	a := c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": "not the password"}).want(t, 401, "invalid_credentials")
	b := c.do("POST", "/v1/login", map[string]string{"username": "bob", "password": "not the password"}).want(t, 401, "invalid_credentials")
	if string(a.raw) != string(b.raw) {
		t.Fatalf("wrong password bodies differ: %s vs %s", a.raw, b.raw)
	}

	m := c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw, "transport": "refresh_cookie"}).want(t, 403, "mfa_required")
	if m.Header.Get("Cache-Control") != "no-store" || m.body["expires_in"] != float64(300) || !strings.HasPrefix(m.str("mfa_token"), "bmf_") {
		t.Fatalf("mfa_required: %s %v", m.raw, m.Header)
	}
	if methods, _ := m.body["methods"].([]any); len(methods) != 2 || methods[0] != "totp" || methods[1] != "recovery_code" {
		t.Fatalf("methods: %s", m.raw)
	}
	if len(m.Cookies()) != 0 {
		t.Fatal("mfa_required set cookies")
	}
	clock.Advance(30 * time.Second)
	code, _ := totp.GenerateCode(secret, clock.Now())
	g := c.do("POST", "/v1/login/mfa", map[string]string{"mfa_token": m.str("mfa_token"), "totp": code}).want(t, 200, "")
	if g.str("refresh_token") != "" || g.str("access_token") == "" {
		t.Fatalf("refresh_cookie transport: the refresh token belongs in a cookie: %s", g.raw)
	}
	var refreshCookie bool
	for _, ck := range g.Cookies() {
		refreshCookie = refreshCookie || ck.Name == "baton_refresh" && ck.HttpOnly
	}
	if !refreshCookie {
		t.Fatalf("no refresh cookie from the second step: %v", g.Header["Set-Cookie"])
	}
	c.do("POST", "/v1/login/mfa", map[string]string{"mfa_token": m.str("mfa_token"), "totp": code}).want(t, 401, "invalid_grant")
	if me := c.do("GET", "/v1/me", nil, bearer(g.str("access_token"))...).want(t, 200, ""); me.raw == nil ||
		!strings.Contains(string(me.raw), `"mfa":{"totp":true,"passkeys":0,"recovery_codes_left":10}`) {
		t.Fatalf("/v1/me: %s", me.raw)
	}

	// The OAuth password grant: 403 mfa_required too; a wrong password is
	// invalid_grant as for anyone.
	form := "grant_type=password&username=alice&password=" + strings.ReplaceAll(pw, " ", "+")
	o := c.do("POST", "/oauth/token", form, "Content-Type", "application/x-www-form-urlencoded").want(t, 403, "mfa_required")
	c.do("POST", "/oauth/token", "grant_type=password&username=alice&password=nope", "Content-Type", "application/x-www-form-urlencoded").want(t, 400, "invalid_grant")
	c.do("POST", "/v1/login/mfa", map[string]string{"mfa_token": o.str("mfa_token"), "recovery_code": strings.ToUpper(codes[0])}).want(t, 200, "")

	// Bad input.
	c.do("POST", "/v1/login/mfa", map[string]string{"mfa_token": m.str("mfa_token")}).want(t, 400, "invalid_request")
	c.do("POST", "/v1/login/mfa", map[string]string{"totp": code}).want(t, 400, "invalid_request")
	c.do("POST", "/v1/login/mfa", map[string]any{"mfa_token": 5, "totp": code}).want(t, 400, "invalid_request")
	c.do("POST", "/v1/login/mfa", map[string]string{"mfa_token": "bmf_x", "totp": "12 34 5x"}).want(t, 400, "invalid_code")
}

// TestSecondStepLimits: wrong codes count toward the account's failure
// budget, as wrong passwords do.
func TestSecondStepLimits(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	srv := batontest.NewServer(t, batontest.Env{"BATON_LIMIT_ACCOUNT_FAILURES": "3/1h"}, clock)
	c := newClient(t, srv)
	c.register("carol")
	enrolTOTP(t, c, clock, "carol")
	m := c.do("POST", "/v1/login", map[string]string{"username": "carol", "password": pw}).want(t, 403, "mfa_required")
	for i := 0; i < 3; i++ {
		c.do("POST", "/v1/login/mfa", map[string]string{"mfa_token": m.str("mfa_token"), "recovery_code": "aaaaa-aaaaa"}).want(t, 401, "invalid_credentials")
	}
	c.do("POST", "/v1/login/mfa", map[string]string{"mfa_token": m.str("mfa_token"), "recovery_code": "aaaaa-aaaaa"}).want(t, 429, "too_many_requests")
	c.do("POST", "/v1/login", map[string]string{"username": "carol", "password": pw}).want(t, 429, "too_many_requests")
}

// TestTOTPManagement: enrolment needs a fresh token; disabling needs one
// with mfa; a reauth of a TOTP user asks for the factor.
func TestTOTPManagement(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	srv := batontest.NewServer(t, batontest.Env{"BATON_ACCESS_TTL": "1h"}, clock)
	c := newClient(t, srv)
	c.register("dave")
	at := bearer(c.login("dave").str("access_token"))
	secret, _ := enrolTOTP(t, c, clock, "dave")
	// The pre-TOTP token is fresh, but has no mfa.
	c.do("DELETE", "/v1/mfa/totp", nil, at...).want(t, 401, "insufficient_user_authentication")
	clock.Advance(16 * time.Minute)
	c.do("POST", "/v1/mfa/totp", nil, at...).want(t, 401, "insufficient_user_authentication")
	c.do("POST", "/v1/mfa/recovery-codes", nil, at...).want(t, 401, "insufficient_user_authentication")
	// Reauth: the password, then the factor; the answer is a fresh token
	// of the same session, with mfa.
	m := c.do("POST", "/v1/reauth", map[string]string{"password": pw}, at...).want(t, 403, "mfa_required")
	code, _ := totp.GenerateCode(secret, clock.Now())
	r := c.do("POST", "/v1/login/mfa", map[string]string{"mfa_token": m.str("mfa_token"), "totp": code}).want(t, 200, "")
	if r.str("refresh_token") != "" {
		t.Fatalf("reauth's second step minted a refresh token: %s", r.raw)
	}
	fresh := bearer(r.str("access_token"))
	c.do("POST", "/v1/mfa/recovery-codes", nil, fresh...).want(t, 200, "")
	c.do("DELETE", "/v1/mfa/totp", nil, fresh...).want(t, 204, "")
	c.do("DELETE", "/v1/mfa/totp", nil, fresh...).want(t, 404, "not_found")
	c.login("dave") // one step again
	if res := c.do("GET", "/v1/mfa/totp", nil, fresh...); res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /v1/mfa/totp: %d", res.StatusCode)
	}
}

// TestSecondStepAccountLimitAcrossIPs: wrong codes count per account
// whatever the client's IP, so an attacker who has the password cannot
// spread TOTP guesses over many addresses.
func TestSecondStepAccountLimitAcrossIPs(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	srv := batontest.NewServer(t, batontest.Env{"BATON_LIMIT_ACCOUNT_FAILURES": "3/1h", "BATON_TRUSTED_PROXIES": "127.0.0.1"}, clock)
	c := newClient(t, srv)
	c.register("erin")
	enrolTOTP(t, c, clock, "erin")
	from := func(i int) []string { return []string{"X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i)} }
	for i := 1; i <= 4; i++ {
		m := c.do("POST", "/v1/login", map[string]string{"username": "erin", "password": pw}, from(i)...).want(t, 403, "mfa_required")
		res := c.do("POST", "/v1/login/mfa", map[string]string{"mfa_token": m.str("mfa_token"), "recovery_code": "aaaaa-aaaaa"}, from(i)...)
		if i <= 3 {
			res.want(t, 401, "invalid_credentials")
		} else {
			res.want(t, 429, "too_many_requests")
		}
	}
}
