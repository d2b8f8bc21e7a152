package httpapi_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/batonauth/baton/batontest"
)

// TestAMR: through a real server, every token of a password session says
// amr ["pwd"] — from login, refresh, a grace replay, reauth, a password
// change and the OAuth token endpoint — and /v1/sessions shows the same.
func TestAMR(t *testing.T) {
	srv := batontest.NewServer(t, batontest.Env{"BATON_REUSE_GRACE": "10s"}, nil)
	c := newClient(t, srv)
	c.register("alice")
	wantPwd := func(step, tok string) {
		t.Helper()
		if amr, _ := json.Marshal(decodeClaims(t, tok)["amr"]); string(amr) != `["pwd"]` {
			t.Errorf("%s: amr %s, want [\"pwd\"]", step, amr)
		}
	}

	l := c.login("alice")
	wantPwd("login", l.str("access_token"))
	r := c.do("POST", "/v1/refresh", map[string]string{"refresh_token": l.str("refresh_token")}).want(t, 200, "")
	wantPwd("refresh", r.str("access_token"))
	replay := c.do("POST", "/v1/refresh", map[string]string{"refresh_token": l.str("refresh_token")}).want(t, 200, "")
	if replay.str("refresh_token") != r.str("refresh_token") {
		t.Fatalf("grace replay answered another successor: %s", replay.raw)
	}
	wantPwd("grace replay", replay.str("access_token"))
	ra := c.do("POST", "/v1/reauth", map[string]string{"password": pw}, bearer(r.str("access_token"))...).want(t, 200, "")
	wantPwd("reauth", ra.str("access_token"))

	list := c.do("GET", "/v1/sessions", nil, bearer(ra.str("access_token"))...).want(t, 200, "")
	sessions, _ := list.body["sessions"].([]any)
	if len(sessions) != 1 {
		t.Fatalf("sessions: %s", list.raw)
	}
	if amr, _ := json.Marshal(sessions[0].(map[string]any)["amr"]); string(amr) != `["pwd"]` {
		t.Errorf("/v1/sessions entry: amr %s, want [\"pwd\"]: %s", amr, list.raw)
	}

	pc := c.do("POST", "/v1/password", map[string]string{"current_password": pw, "new_password": pw + " again"},
		bearer(ra.str("access_token"))...).want(t, 200, "")
	wantPwd("password change", pc.str("access_token"))

	form := []string{"Content-Type", "application/x-www-form-urlencoded"}
	o := c.do("POST", "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw + " again"}}.Encode(), form...).want(t, 200, "")
	wantPwd("password grant", o.str("access_token"))
	o2 := c.do("POST", "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {o.str("refresh_token")}}.Encode(), form...).want(t, 200, "")
	wantPwd("refresh_token grant", o2.str("access_token"))
}
