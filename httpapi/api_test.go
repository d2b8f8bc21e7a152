package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
)

func TestRegister(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	r := c.register("Alice@Example.com")
	if r.str("id") == "" || r.str("username") != "Alice@Example.com" || r.str("created_at") == "" {
		t.Fatalf("register body: %s", r.raw)
	}
	if _, err := time.Parse(time.RFC3339, r.str("created_at")); err != nil {
		t.Fatalf("created_at is not RFC 3339: %v", err)
	}
	tests := []struct {
		name       string
		body       any
		hdr        []string
		wantStatus int
		wantCode   string
	}{
		{"Taken", map[string]string{"username": "alice@example.COM", "password": pw}, nil, 409, "username_taken"},
		{"InvalidUsername", map[string]string{"username": " ", "password": pw}, nil, 400, "invalid_username"},
		{"WeakPassword", map[string]string{"username": "bob", "password": "1234567"}, nil, 400, "weak_password"},
		{"CommonPassword", map[string]string{"username": "bob", "password": "iloveyou123"}, nil, 400, "weak_password"},
		{"MissingPassword", map[string]string{"username": "bob"}, nil, 400, "invalid_request"},
		{"WrongType", `{"username": 5, "password": "x"}`, nil, 400, "invalid_request"},
		{"NotJSON", `{"username": `, nil, 400, "invalid_request"},
		{"Array", `[]`, nil, 400, "invalid_request"},
		{"TrailingData", `{"username":"bob","password":"` + pw + `"} {}`, nil, 400, "invalid_request"},
		{"EmptyBody", nil, nil, 400, "invalid_request"},
		{"WrongContentType", `{"username":"bob","password":"x"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"FormNotAllowed", `username=bob&password=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"TooLarge", `{"username":"bob","password":"` + strings.Repeat("x", 70<<10) + `"}`, nil, 413, "request_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.do("POST", "/v1/register", tt.body, tt.hdr...).want(t, tt.wantStatus, tt.wantCode)
		})
	}
	t.Run("CharsetParameterAccepted", func(t *testing.T) {
		c.do("POST", "/v1/register", `{"username":"carol","password":"`+pw+`"}`, "Content-Type", "application/json; charset=UTF-8").want(t, 201, "")
	})
	t.Run("MethodNotAllowed", func(t *testing.T) {
		r := c.do("GET", "/v1/register", nil).want(t, 405, "method_not_allowed")
		if r.Header.Get("Allow") != "POST" {
			t.Fatalf("Allow: got %q", r.Header.Get("Allow"))
		}
	})
	t.Run("NothingStoredForRejected", func(t *testing.T) {
		c.do("POST", "/v1/login", map[string]string{"username": "bob", "password": "1234567"}).want(t, 401, "invalid_credentials")
	})
}

func TestLogin(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	c.register("alice")
	r := c.login("alice")
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control: got %q, want no-store", r.Header.Get("Cache-Control"))
	}
	if r.str("token_type") != "Bearer" || r.body["expires_in"] != float64(300) || !strings.HasPrefix(r.str("refresh_token"), "brt_") ||
		r.body["refresh_token_expires_in"] != float64(720*3600) || r.str("session_id") == "" || strings.Count(r.str("access_token"), ".") != 2 {
		t.Fatalf("token response: %s", r.raw)
	}
	for _, tt := range []struct{ name, user, pass string }{{"WrongPassword", "alice", "not the password"}, {"UnknownUser", "mallory", pw}} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do("POST", "/v1/login", map[string]string{"username": tt.user, "password": tt.pass}).want(t, 401, "invalid_credentials")
			if r.str("error_description") != "the username or password is wrong" {
				t.Fatalf("description differs between unknown user and wrong password: %s", r.raw)
			}
		})
	}
	t.Run("BadTransport", func(t *testing.T) {
		c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw, "transport": "x"}).want(t, 400, "invalid_request")
	})
}

func TestProtectedEndpointErrors(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	srv := batontest.NewServer(t, nil, clock)
	c := newClient(t, srv)
	c.register("alice")
	l := c.login("alice")
	at, rt := l.str("access_token"), l.str("refresh_token")

	r := c.do("GET", "/v1/me", nil, bearer(at)...).want(t, 200, "")
	if r.str("username") != "alice" || r.str("session_id") != l.str("session_id") || r.str("id") == "" {
		t.Fatalf("me: %s", r.raw)
	}
	tests := []struct {
		name       string
		hdr        []string
		wantCode   string
		wantHeader string
	}{
		{"NoToken", nil, "unauthorized", `Bearer realm="baton"`},
		{"Garbage", bearer("garbage"), "invalid_token", `Bearer realm="baton", error="invalid_token"`},
		{"RefreshTokenAsBearer", bearer(rt), "invalid_token", `Bearer realm="baton", error="invalid_token"`},
		{"WrongScheme", []string{"Authorization", "Basic " + at}, "invalid_token", `Bearer realm="baton", error="invalid_token"`},
		{"Tampered", bearer(at[:len(at)-4] + "AAAA"), "invalid_token", `Bearer realm="baton", error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do("GET", "/v1/me", nil, tt.hdr...).want(t, 401, tt.wantCode)
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, tt.wantHeader) {
				t.Fatalf("WWW-Authenticate: got %q, want prefix %q", got, tt.wantHeader)
			}
		})
	}
	t.Run("Expired", func(t *testing.T) {
		clock.Advance(5*time.Minute + 6*time.Second)
		r := c.do("GET", "/v1/me", nil, bearer(at)...).want(t, 401, "token_expired")
		want := `Bearer realm="baton", error="invalid_token", error_description="the access token expired"`
		if got := r.Header.Get("WWW-Authenticate"); got != want {
			t.Fatalf("WWW-Authenticate: got %q, want %q", got, want)
		}
	})
}

func TestRefreshFlow(t *testing.T) {
	srv := batontest.NewServer(t, batontest.Env{"BATON_REUSE_GRACE": "0"}, nil)
	c := newClient(t, srv)
	c.register("alice")
	l := c.login("alice")
	rt := l.str("refresh_token")

	// The three places a refresh token may come from.
	r1 := c.do("POST", "/v1/refresh", map[string]string{"refresh_token": rt}).want(t, 200, "")
	if r1.Header.Get("Cache-Control") != "no-store" || r1.str("refresh_token") == rt {
		t.Fatalf("refresh: %s", r1.raw)
	}
	r2 := c.do("POST", "/v1/refresh", nil, bearer(r1.str("refresh_token"))...).want(t, 200, "")
	r3 := c.do("POST", "/v1/refresh", map[string]string{"refresh_token": r2.str("refresh_token"), "access_token": r2.str("access_token")}).want(t, 200, "")
	if r3.body["refresh_token_expires_in"].(float64) > l.body["refresh_token_expires_in"].(float64) {
		t.Fatalf("refresh_token_expires_in grew")
	}
	// Reuse of a spent token: the whole session dies.
	c.do("POST", "/v1/refresh", map[string]string{"refresh_token": rt}).want(t, 401, "invalid_grant")
	c.do("POST", "/v1/refresh", map[string]string{"refresh_token": r3.str("refresh_token")}).want(t, 401, "invalid_grant")
	c.do("GET", "/v1/me", nil, bearer(r3.str("access_token"))...).want(t, 401, "invalid_token")

	for _, tt := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"Unknown", map[string]string{"refresh_token": "brt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 401, "invalid_grant"},
		{"AccessTokenAsRefresh", map[string]string{"refresh_token": l.str("access_token")}, 401, "invalid_grant"},
		{"Missing", nil, 400, "invalid_request"},
		{"WrongType", `{"refresh_token": 1}`, 400, "invalid_request"},
	} {
		t.Run(tt.name, func(t *testing.T) { c.do("POST", "/v1/refresh", tt.body).want(t, tt.status, tt.code) })
	}
	t.Run("AccessTokenOfAnotherSession", func(t *testing.T) {
		a, b := c.login("alice"), c.login("alice")
		c.do("POST", "/v1/refresh", map[string]string{"refresh_token": a.str("refresh_token"), "access_token": b.str("access_token")}).want(t, 401, "invalid_grant")
	})
}

func TestGraceReplayOverHTTP(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	c.register("alice")
	rt := c.login("alice").str("refresh_token")
	a := c.do("POST", "/v1/refresh", map[string]string{"refresh_token": rt}).want(t, 200, "")
	b := c.do("POST", "/v1/refresh", map[string]string{"refresh_token": rt}).want(t, 200, "")
	if a.str("refresh_token") != b.str("refresh_token") || a.str("access_token") == b.str("access_token") {
		t.Fatalf("grace replay: got successors %q and %q", a.str("refresh_token"), b.str("refresh_token"))
	}
}

func TestLogoutOverHTTP(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	c.register("alice")
	for _, tt := range []struct {
		name  string
		scope string
		by    string // access, refresh-body, refresh-bearer
		// whether the caller's and the other session are revoked
		wantSelf, wantOther bool
	}{
		{"DefaultLocalByAccess", "", "access", true, false},
		{"LocalByRefreshBody", "local", "refresh-body", true, false},
		{"GlobalByRefreshBearer", "global", "refresh-bearer", true, true},
		{"Others", "others", "access", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			self, other := c.login("alice"), c.login("alice")
			body := map[string]string{}
			if tt.scope != "" {
				body["scope"] = tt.scope
			}
			var hdr []string
			switch tt.by {
			case "access":
				hdr = bearer(self.str("access_token"))
			case "refresh-body":
				body["refresh_token"] = self.str("refresh_token")
			case "refresh-bearer":
				hdr = bearer(self.str("refresh_token"))
			}
			c.do("POST", "/v1/logout", body, hdr...).want(t, 204, "")
			for _, s := range []struct {
				r    *resp
				want bool
			}{{self, tt.wantSelf}, {other, tt.wantOther}} {
				status := c.do("GET", "/v1/me", nil, bearer(s.r.str("access_token"))...).StatusCode
				if revoked := status == 401; revoked != s.want {
					t.Fatalf("session revoked: got %v, want %v", revoked, s.want)
				}
			}
			if tt.wantSelf {
				// Logging out again with either token of the revoked session.
				c.do("POST", "/v1/logout", nil, bearer(self.str("access_token"))...).want(t, 204, "")
				c.do("POST", "/v1/logout", map[string]string{"refresh_token": self.str("refresh_token")}).want(t, 204, "")
			}
		})
	}
	t.Run("NoToken", func(t *testing.T) {
		c.do("POST", "/v1/logout", nil).want(t, 401, "unauthorized")
	})
	t.Run("BadScope", func(t *testing.T) {
		l := c.login("alice")
		c.do("POST", "/v1/logout", map[string]string{"scope": "all"}, bearer(l.str("access_token"))...).want(t, 400, "invalid_request")
	})
}

func TestOAuthTokenEndpoint(t *testing.T) {
	srv := batontest.NewServer(t, batontest.Env{"BATON_REUSE_GRACE": "0"}, nil)
	c := newClient(t, srv)
	c.register("alice")
	form := func(v url.Values) string { return v.Encode() }
	formHdr := []string{"Content-Type", "application/x-www-form-urlencoded"}

	r := c.do("POST", "/oauth/token", form(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw}, "client_id": {"cli"}}), formHdr...).want(t, 200, "")
	if r.str("token_type") != "Bearer" || r.str("refresh_token") == "" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token response: %s", r.raw)
	}
	claims := decodeClaims(t, r.str("access_token"))
	if claims["client_id"] != "cli" {
		t.Fatalf("client_id claim: got %v", claims["client_id"])
	}
	r2 := c.do("POST", "/oauth/token", map[string]string{"grant_type": "refresh_token", "refresh_token": r.str("refresh_token")}).want(t, 200, "")
	if decodeClaims(t, r2.str("access_token"))["client_id"] != "cli" {
		t.Fatalf("a refresh without client_id must keep the session's")
	}
	tests := []struct {
		name     string
		body     string
		wantCode string
	}{
		{"Reuse", form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}}), "invalid_grant"},
		{"BadPassword", form(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"nope nope nope"}}), "invalid_grant"},
		{"UnknownUser", form(url.Values{"grant_type": {"password"}, "username": {"zed"}, "password": {pw}}), "invalid_grant"},
		{"MissingGrantType", form(url.Values{"username": {"alice"}}), "invalid_request"},
		{"MissingPassword", form(url.Values{"grant_type": {"password"}, "username": {"alice"}}), "invalid_request"},
		{"Unsupported", form(url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}), "unsupported_grant_type"},
		{"RepeatedParameter", "grant_type=password&grant_type=password&username=alice&password=x", "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.do("POST", "/oauth/token", tt.body, formHdr...).want(t, 400, tt.wantCode)
		})
	}
	t.Run("WrongContentType", func(t *testing.T) {
		c.do("POST", "/oauth/token", "grant_type=password", "Content-Type", "text/plain").want(t, 415, "unsupported_media_type")
	})
}

func TestWellKnown(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	j := c.do("GET", "/.well-known/jwks.json", nil).want(t, 200, "")
	// The Ed25519 key of access tokens, then the RSA and P-256 keys of ID
	// tokens, which the first JWKS request makes.
	keys, _ := j.body["keys"].([]any)
	if len(keys) != 3 {
		t.Fatalf("jwks: %s", j.raw)
	}
	for i, want := range []map[string]any{
		{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig"},
		{"kty": "RSA", "e": "AQAB", "alg": "RS256", "use": "sig"},
		{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig"},
	} {
		k := keys[i].(map[string]any)
		for name, v := range want {
			if k[name] != v || k["kid"] == "" {
				t.Fatalf("jwk %d: %v, want %v", i, k, want)
			}
		}
	}
	if cc := j.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control %q", cc)
	}
	m := c.do("GET", "/.well-known/oauth-authorization-server", nil).want(t, 200, "")
	for k, want := range map[string]string{
		"issuer":                 srv.URL,
		"token_endpoint":         srv.URL + "/oauth/token",
		"jwks_uri":               srv.URL + "/.well-known/jwks.json",
		"revocation_endpoint":    srv.URL + "/oauth/revoke",
		"introspection_endpoint": srv.URL + "/oauth/introspect",
	} {
		if m.str(k) != want {
			t.Fatalf("metadata %s: got %q, want %q", k, m.str(k), want)
		}
	}
	// The kid in the header of an access token is the one published.
	c.register("alice")
	l := c.login("alice")
	if h := decodeHeader(t, l.str("access_token")); h["kid"] != keys[0].(map[string]any)["kid"] || h["typ"] != "at+jwt" || h["alg"] != "EdDSA" {
		t.Fatalf("header: %v", h)
	}
	c.do("GET", "/healthz", nil).want(t, 200, "")
	c.do("GET", "/readyz", nil).want(t, 200, "")
	c.do("GET", "/no/such/thing", nil).want(t, 404, "not_found")
}

func TestAccessTokenClaims(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	u := c.register("alice")
	l := c.login("alice", "client_id", "web")
	cl := decodeClaims(t, l.str("access_token"))
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "auth_time", "fresh", "client_id"} {
		if _, ok := cl[k]; !ok {
			t.Fatalf("claim %s missing: %v", k, cl)
		}
	}
	if cl["iss"] != srv.URL || cl["aud"] != srv.URL || cl["sub"] != u.str("id") || cl["sid"] != l.str("session_id") || cl["fresh"] != true {
		t.Fatalf("claims: %v", cl)
	}
	if exp, iat := cl["exp"].(float64), cl["iat"].(float64); exp-iat != 300 {
		t.Fatalf("exp-iat: got %v, want 300", exp-iat)
	}
	r := c.do("POST", "/v1/refresh", map[string]string{"refresh_token": l.str("refresh_token")}).want(t, 200, "")
	if decodeClaims(t, r.str("access_token"))["fresh"] != false {
		t.Fatalf("refreshed token is fresh")
	}
}

func TestRequestID(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	r := c.do("GET", "/healthz", nil)
	if r.Header.Get("X-Request-Id") == "" {
		t.Fatal("no X-Request-Id")
	}
	r = c.do("GET", "/healthz", nil, "X-Request-Id", "abc-123")
	if got := r.Header.Get("X-Request-Id"); got != "abc-123" {
		t.Fatalf("X-Request-Id: got %q", got)
	}
	if r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("security headers missing")
	}
}

var _ = fmt.Sprintf
var _ = http.MethodGet
