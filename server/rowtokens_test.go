package server_test

import (
	"testing"

	"github.com/batonauth/baton/server"
	"github.com/batonauth/baton/token"
)

// TestRowRefreshTokensSetting: BATON_ROW_REFRESH_TOKENS reaches the engine
// (a rolling upgrade: logins get tokens an older instance can refresh).
func TestRowRefreshTokensSetting(t *testing.T) {
	for _, tt := range []struct {
		env       string
		namesSess bool
	}{{"true", false}, {"false", true}} {
		ts := newTestServer(t, map[string]string{"BATON_ROW_REFRESH_TOKENS": tt.env}, nil, server.Options{})
		rt := loginAs(t, ts.URL, "alice").str("refresh_token")
		if token.NamesSession(rt) != tt.namesSess || !token.IsRefreshToken(rt) {
			t.Errorf("BATON_ROW_REFRESH_TOKENS=%s: login's refresh token %q", tt.env, rt)
		}
		r := call(t, "POST", ts.URL+"/v1/refresh", "", map[string]string{"refresh_token": rt})
		if r.status != 200 {
			t.Errorf("BATON_ROW_REFRESH_TOKENS=%s: refresh answered %d", tt.env, r.status)
		}
	}
}
