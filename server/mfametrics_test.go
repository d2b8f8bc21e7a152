package server_test

import (
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/server"
)

// TestMFAMetrics: two-step logins through the real server are counted in
// baton_mfa_attempts_total by method and outcome, and once in
// baton_logins_total, as ok, when the second step finishes: a right
// password that answers mfa_required is no failed login.
func TestMFAMetrics(t *testing.T) {
	clock := batontest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	ts := newTestServer(t, nil, clock, server.Options{})
	u := ts.URL
	at := loginAs(t, u, "mfa-metric").str("access_token")
	secret := call(t, "POST", u+"/v1/mfa/totp", at, nil).str("secret")
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	codes := call(t, "POST", u+"/v1/mfa/totp/confirm", at, map[string]string{"code": code(clock.Now())}).strs("recovery_codes")
	if len(codes) != 10 {
		t.Fatal("TOTP enrolment failed")
	}
	second := func(body map[string]string, want int) {
		t.Helper()
		r := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "mfa-metric", "password": pw})
		if r.status != 403 || r.str("mfa_token") == "" {
			t.Fatalf("login: %d %s, want 403 mfa_required", r.status, r.raw)
		}
		body["mfa_token"] = r.str("mfa_token")
		if r := call(t, "POST", u+"/v1/login/mfa", "", body); r.status != want {
			t.Fatalf("POST /v1/login/mfa %v: %d %s, want %d", body, r.status, r.raw, want)
		}
	}
	wrong := "000000"
	for d := time.Duration(-30); d <= 30; d += 30 {
		if code(clock.Now().Add(d*time.Second)) == wrong {
			wrong = "111111" // astronomically unlikely, but never a flake
		}
	}
	clock.Advance(30 * time.Second) // the confirmation's step is spent
	second(map[string]string{"totp": wrong}, 401)
	second(map[string]string{"totp": code(clock.Now())}, 200)
	second(map[string]string{"recovery_code": "aaaaa-aaaaa"}, 401)
	second(map[string]string{"recovery_code": codes[0]}, 200)
	second(map[string]string{"recovery_code": codes[0]}, 401) // spent

	wantSeries(t, string(call(t, "GET", u+"/metrics", "", nil).raw), map[string]string{
		`baton_mfa_attempts_total{method="totp",outcome="ok"}`:              "1",
		`baton_mfa_attempts_total{method="totp",outcome="failed"}`:          "1",
		`baton_mfa_attempts_total{method="recovery_code",outcome="ok"}`:     "1",
		`baton_mfa_attempts_total{method="recovery_code",outcome="failed"}`: "2",
		`baton_mfa_attempts_total{method="passkey",outcome="ok"}`:           "0",
		`baton_mfa_attempts_total{method="passkey",outcome="failed"}`:       "0",
		// The first, plain login and the two finished second steps.
		`baton_logins_total{outcome="ok"}`:                                              "3",
		`baton_logins_total{outcome="failed"}`:                                          "0",
		`baton_auth_events_total{outcome="mfa_required",type="login"}`:                  "5",
		`baton_auth_events_total{outcome="ok",type="totp_enabled"}`:                     "1",
		`baton_auth_events_total{outcome="ok",type="recovery_code_used"}`:               "1",
		`baton_http_requests_total{route="/v1/login/mfa",status="401"}`:                 "3",
		`baton_http_request_duration_seconds_count{route="/v1/login/mfa",status="200"}`: "2",
	})
}
