package httpapi_test

import (
	"context"
	"encoding/base64"
	"github.com/batonauth/baton"
	"testing"

	"github.com/batonauth/baton/batontest"
)

// TestAmbiguousBodies: a JSON object whose member names repeat, also in
// another letter case or spelt with escapes, or that names a known member
// in another case, is 400 invalid_request on every JSON endpoint; so is a
// repeated parameter in a form on /oauth/*. Nothing is stored for such a
// request: the same request without the ambiguity succeeds afterwards.
func TestAmbiguousBodies(t *testing.T) {
	srv := batontest.NewServer(t, batontest.Env{
		"BATON_RESOURCE_CLIENT_ID": "rs", "BATON_RESOURCE_CLIENT_SECRET": "0123456789abcdef",
		"BATON_LIMIT_IP_FAILURES": "off", "BATON_LIMIT_ACCOUNT_FAILURES": "off", "BATON_LIMIT_IP_REGISTRATIONS": "off",
	}, nil)
	c := newClient(t, srv)
	c.register("alice")
	l := c.login("alice")
	at, rt := l.str("access_token"), l.str("refresh_token")
	const form = "application/x-www-form-urlencoded"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("rs:0123456789abcdef"))
	tests := []struct {
		name, path, body string
		hdr              []string
	}{
		{"Register/Duplicate", "/v1/register", `{"username":"dup1","password":"` + pw + `","username":"dup2"}`, nil},
		{"Register/CaseVariantDuplicate", "/v1/register", `{"username":"dup1","password":"` + pw + `","Username":"dup2"}`, nil},
		{"Register/EscapedDuplicate", "/v1/register", `{"username":"dup1","password":"` + pw + `","user\u006eame":"dup2"}`, nil},
		{"Register/LoneCaseVariant", "/v1/register", `{"USERNAME":"dup3","password":"` + pw + `"}`, nil},
		{"Register/NestedDuplicate", "/v1/register", `{"username":"dup4","password":"` + pw + `","x":{"k":1,"K":2}}`, nil},
		{"Register/InvalidUTF8", "/v1/register", "{\"username\":\"dup5\",\"password\":\"" + pw + "\",\"\xff\":1}", nil},
		{"Login", "/v1/login", `{"username":"alice","password":"not the password","Password":"` + pw + `"}`, nil},
		{"Refresh", "/v1/refresh", `{"refresh_token":"` + rt + `","refresh_token":"` + rt + `"}`, nil},
		{"Logout", "/v1/logout", `{"refresh_token":"` + rt + `","Refresh_Token":"` + rt + `"}`, nil},
		{"Reauth", "/v1/reauth", `{"password":"` + pw + `","PASSWORD":"` + pw + `"}`, bearer(at)},
		{"Password", "/v1/password", `{"current_password":"` + pw + `","new_password":"an entirely new passphrase","new_password":"another new passphrase"}`, bearer(at)},
		{"OAuthToken/JSON", "/oauth/token", `{"grant_type":"refresh_token","refresh_token":"` + rt + `","refresh_token":"brt_x"}`, nil},
		{"OAuthToken/JSONCase", "/oauth/token", `{"grant_type":"refresh_token","refresh_token":"` + rt + `","Refresh_token":"brt_x"}`, nil},
		{"OAuthToken/Form", "/oauth/token", "grant_type=refresh_token&refresh_token=" + rt + "&refresh_token=brt_x", []string{"Content-Type", form}},
		{"OAuthRevoke/JSON", "/oauth/revoke", `{"token":"` + rt + `","token":"brt_x"}`, nil},
		{"OAuthRevoke/Form", "/oauth/revoke", "token=" + rt + "&token=brt_x", []string{"Content-Type", form}},
		{"OAuthIntrospect/JSON", "/oauth/introspect", `{"token":"` + at + `","TOKEN":"x"}`, []string{"Authorization", basic}},
		{"OAuthIntrospect/Form", "/oauth/introspect", "token=" + at + "&token=x", []string{"Authorization", basic, "Content-Type", form}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.do("POST", tt.path, tt.body, tt.hdr...).want(t, 400, "invalid_request")
		})
	}
	t.Run("NothingStored", func(t *testing.T) {
		ctx := context.Background()
		for _, name := range []string{"dup1", "dup2", "dup3", "dup4", "dup5"} {
			if _, err := srv.Store.UserByName(ctx, name); err == nil {
				t.Errorf("user %s was registered by a rejected request", name)
			}
		}
		// The refresh token was neither spent nor revoked, the password
		// is unchanged, and the login made no session.
		u, err := srv.Store.UserByName(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if ss, err := srv.Store.Sessions(ctx, u.ID, srv.Service.Now(), baton.SessionPage{Limit: 100}); err != nil || len(ss) != 1 {
			t.Errorf("%d live sessions (%v), want 1", len(ss), err)
		}
		c.do("POST", "/v1/refresh", map[string]string{"refresh_token": rt}).want(t, 200, "")
		c.login("alice")
	})
}
