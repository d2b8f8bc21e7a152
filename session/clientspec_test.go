package session

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// TestCheckClientSpec: every rule of a client registration refuses a spec
// that breaks it with invalid_request and a message naming the rule; good
// specs come out with the defaults applied.
func TestCheckClientSpec(t *testing.T) {
	good := func(mod func(*ClientSpec)) ClientSpec {
		s := ClientSpec{Name: "Example app", RedirectURIs: []string{"https://app.example.com/cb"}}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	uris := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "https://app.example.com/cb" + strings.Repeat("x", i)
		}
		return out
	}
	bad := []struct {
		name    string
		mod     func(*ClientSpec)
		wantMsg string // a part of the message
	}{
		{"NameEmpty", func(s *ClientSpec) { s.Name = "" }, "name"},
		{"NameBlank", func(s *ClientSpec) { s.Name = "  \t " }, "name"},
		{"NameTooLong", func(s *ClientSpec) { s.Name = strings.Repeat("é", 101) }, "name"},
		{"NameControl", func(s *ClientSpec) { s.Name = "evil\x1b[2Japp" }, "control"},
		{"NameBidiOverride", func(s *ClientSpec) { s.Name = "good\u202eppa" }, "control"},
		{"NameInvalidUTF8", func(s *ClientSpec) { s.Name = "a\xffb" }, "name"},

		{"NoRedirectURI", func(s *ClientSpec) { s.RedirectURIs = nil }, "at least one redirect URI"},
		{"NoRedirectURIWithCodeAndCC", func(s *ClientSpec) {
			s.RedirectURIs, s.GrantTypes = nil, []string{baton.GrantAuthorizationCode, baton.GrantClientCredentials}
		}, "at least one redirect URI"},
		{"TooManyRedirectURIs", func(s *ClientSpec) { s.RedirectURIs = uris(baton.MaxClientURIs + 1) }, "at most"},
		{"RedirectURIDuplicate", func(s *ClientSpec) {
			s.RedirectURIs = []string{"https://app.example.com/cb", "https://app.example.com/cb"}
		}, "twice"},
		{"RedirectURIRelative", func(s *ClientSpec) { s.RedirectURIs = []string{"/cb"} }, "absolute"},
		{"RedirectURIEmpty", func(s *ClientSpec) { s.RedirectURIs = []string{""} }, "characters"},
		{"RedirectURITooLong", func(s *ClientSpec) {
			s.RedirectURIs = []string{"https://app.example.com/" + strings.Repeat("a", 2000)}
		}, "characters"},
		{"RedirectURIFragment", func(s *ClientSpec) { s.RedirectURIs = []string{"https://app.example.com/cb#x"} }, "fragment"},
		{"RedirectURIEmptyFragment", func(s *ClientSpec) { s.RedirectURIs = []string{"https://app.example.com/cb#"} }, "fragment"},
		{"RedirectURIUserInfo", func(s *ClientSpec) { s.RedirectURIs = []string{"https://user:pw@app.example.com/cb"} }, "user information"},
		{"RedirectURISpace", func(s *ClientSpec) { s.RedirectURIs = []string{"https://app.example.com/a b"} }, "ASCII"},
		{"RedirectURIUnicode", func(s *ClientSpec) { s.RedirectURIs = []string{"https://app.example.com/é"} }, "ASCII"},
		{"RedirectURIHTTP", func(s *ClientSpec) { s.RedirectURIs = []string{"http://app.example.com/cb"} }, "loopback"},
		{"RedirectURIHTTPOtherLoopbackAddress", func(s *ClientSpec) { s.RedirectURIs = []string{"http://127.0.0.2/cb"} }, "loopback"},
		{"RedirectURIHTTPLoopbackPrefix", func(s *ClientSpec) { s.RedirectURIs = []string{"http://127.0.0.1.evil.com/cb"} }, "loopback"},
		{"RedirectURIHTTPSNoHost", func(s *ClientSpec) { s.RedirectURIs = []string{"https:///cb"} }, "host"},
		{"RedirectURISchemeWithoutDot", func(s *ClientSpec) { s.RedirectURIs = []string{"myapp:/cb"} }, "private-use"},
		{"RedirectURIJavaScript", func(s *ClientSpec) { s.RedirectURIs = []string{"javascript:alert(1)"} }, "private-use"},
		{"RedirectURINotAURI", func(s *ClientSpec) { s.RedirectURIs = []string{"https://app.example.com:port/cb"} }, "not a URI"},
		{"PostLogoutURIHTTP", func(s *ClientSpec) { s.PostLogoutRedirectURIs = []string{"http://app.example.com/bye"} }, "post-logout"},
		{"PostLogoutURIFragment", func(s *ClientSpec) { s.PostLogoutRedirectURIs = []string{"https://app.example.com/bye#x"} }, "fragment"},
		{"TooManyPostLogoutURIs", func(s *ClientSpec) { s.PostLogoutRedirectURIs = uris(baton.MaxClientURIs + 1) }, "at most"},

		{"BackchannelRelative", func(s *ClientSpec) { s.BackchannelLogoutURI = "/logout" }, "back-channel"},
		{"BackchannelFragment", func(s *ClientSpec) { s.BackchannelLogoutURI = "https://app.example.com/logout#x" }, "fragment"},
		{"BackchannelScheme", func(s *ClientSpec) { s.BackchannelLogoutURI = "com.example.app:/logout" }, "http or https"},
		{"BackchannelNoHost", func(s *ClientSpec) { s.BackchannelLogoutURI = "https:/logout" }, "http or https"},

		{"ScopeEmpty", func(s *ClientSpec) { s.Scopes = []string{"profile", ""} }, "scope token"},
		{"ScopeSpace", func(s *ClientSpec) { s.Scopes = []string{"read write"} }, "scope token"},
		{"ScopeQuote", func(s *ClientSpec) { s.Scopes = []string{`a"b`} }, "scope token"},
		{"ScopeBackslash", func(s *ClientSpec) { s.Scopes = []string{`a\b`} }, "scope token"},
		{"ScopeUnicode", func(s *ClientSpec) { s.Scopes = []string{"lecture:é"} }, "scope token"},
		{"ScopeTooLong", func(s *ClientSpec) { s.Scopes = []string{strings.Repeat("a", 65)} }, "scope token"},
		{"TooManyScopes", func(s *ClientSpec) {
			for i := range 21 {
				s.Scopes = append(s.Scopes, "s"+strings.Repeat("x", i))
			}
		}, "at most 20 scopes"},

		{"GrantUnknown", func(s *ClientSpec) { s.GrantTypes = []string{"password"} }, "unknown grant type"},
		{"GrantImplicit", func(s *ClientSpec) { s.GrantTypes = []string{"implicit"} }, "unknown grant type"},
		{"GrantNone", func(s *ClientSpec) { s.GrantTypes = []string{} }, "at least one grant type"},
		{"GrantCCPublic", func(s *ClientSpec) {
			s.Public, s.GrantTypes = true, []string{baton.GrantAuthorizationCode, baton.GrantClientCredentials}
		}, "public client"},
		{"GrantRefreshAlone", func(s *ClientSpec) { s.GrantTypes = []string{baton.GrantRefreshToken} }, "needs the authorization_code"},
		{"GrantRefreshWithCC", func(s *ClientSpec) {
			s.GrantTypes = []string{baton.GrantClientCredentials, baton.GrantRefreshToken}
		}, "needs the authorization_code"},

		{"AlgUnknown", func(s *ClientSpec) { s.IDTokenAlg = "HS256" }, "algorithm"},
		{"AlgNone", func(s *ClientSpec) { s.IDTokenAlg = "none" }, "algorithm"},
		{"AlgCase", func(s *ClientSpec) { s.IDTokenAlg = "rs256" }, "algorithm"},

		{"AccessTTLNegative", func(s *ClientSpec) { s.AccessTTL = -time.Second }, "negative"},
		{"RefreshTTLNegative", func(s *ClientSpec) { s.RefreshTTL = -time.Second }, "negative"},
		{"IdleTTLNegative", func(s *ClientSpec) { s.RefreshIdleTTL = -time.Second }, "negative"},
		{"AccessTTLSubSecond", func(s *ClientSpec) { s.AccessTTL = time.Millisecond }, "at least"},
		{"AccessTTLTooLong", func(s *ClientSpec) { s.AccessTTL = 25 * time.Hour }, "at most"},
		{"RefreshTTLTooLong", func(s *ClientSpec) { s.RefreshTTL = 11 * 365 * 24 * time.Hour }, "at most"},
		{"IdleOverRefresh", func(s *ClientSpec) { s.RefreshTTL, s.RefreshIdleTTL = time.Hour, 2*time.Hour }, "must not exceed"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c, err := checkClientSpec(good(tt.mod))
			if baton.ErrorCode(err) != baton.EInvalidRequest || c != nil {
				t.Fatalf("got %+v, %v; want invalid_request", c, err)
			}
			if msg := baton.ErrorMessage(err); !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q lacks %q", msg, tt.wantMsg)
			}
		})
	}

	ok := []struct {
		name  string
		mod   func(*ClientSpec)
		check func(t *testing.T, c *baton.OAuthClient)
	}{
		{"Defaults", nil, func(t *testing.T, c *baton.OAuthClient) {
			if c.Name != "Example app" || c.IDTokenAlg != baton.AlgRS256 ||
				!slices.Equal(c.Scopes, []string{"openid", "profile", "email", "offline_access"}) ||
				!slices.Equal(c.GrantTypes, []string{"authorization_code", "refresh_token"}) {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{"NameTrimmed", func(s *ClientSpec) { s.Name = "  Zoë's app  " }, func(t *testing.T, c *baton.OAuthClient) {
			if c.Name != "Zoë's app" {
				t.Errorf("name %q", c.Name)
			}
		}},
		{"NameHundredCharacters", func(s *ClientSpec) { s.Name = strings.Repeat("é", 100) }, nil},
		{"OpenIDAddedAndDuplicatesDropped", func(s *ClientSpec) {
			s.Scopes = []string{"email", "api:read", "email"}
			s.GrantTypes = []string{"authorization_code", "authorization_code"}
		}, func(t *testing.T, c *baton.OAuthClient) {
			if !slices.Equal(c.Scopes, []string{"openid", "email", "api:read"}) || !slices.Equal(c.GrantTypes, []string{"authorization_code"}) {
				t.Errorf("scopes %v, grants %v", c.Scopes, c.GrantTypes)
			}
		}},
		{"OnlyOpenID", func(s *ClientSpec) { s.Scopes = []string{} }, func(t *testing.T, c *baton.OAuthClient) {
			if !slices.Equal(c.Scopes, []string{"openid"}) {
				t.Errorf("scopes %v", c.Scopes)
			}
		}},
		{"NativeApp", func(s *ClientSpec) {
			s.Public = true
			s.RedirectURIs = []string{"http://127.0.0.1/cb", "http://[::1]:8080/cb", "http://localhost:3000/cb?x=1",
				"com.example.app:/oauth2redirect", "https://app.example.com:8443/cb?tenant=1"}
		}, nil},
		{"MaxRedirectURIs", func(s *ClientSpec) { s.RedirectURIs = uris(baton.MaxClientURIs) }, nil},
		{"ClientCredentialsOnlyNoRedirectURI", func(s *ClientSpec) {
			s.RedirectURIs, s.GrantTypes = nil, []string{baton.GrantClientCredentials}
		}, nil},
		{"Everything", func(s *ClientSpec) {
			s.PostLogoutRedirectURIs = []string{"https://app.example.com/bye"}
			s.BackchannelLogoutURI = "http://internal.example:8080/logout?x=1"
			s.FirstParty, s.RequirePAR, s.IDTokenAlg = true, true, baton.AlgEdDSA
			s.AccessTTL, s.RefreshTTL, s.RefreshIdleTTL = 24*time.Hour, time.Hour, time.Hour
		}, func(t *testing.T, c *baton.OAuthClient) {
			if !c.FirstParty || !c.RequirePAR || c.IDTokenAlg != baton.AlgEdDSA || c.BackchannelLogoutURI == "" ||
				len(c.PostLogoutRedirectURIs) != 1 || c.AccessTTL != 24*time.Hour || c.RefreshIdleTTL != time.Hour {
				t.Errorf("got %+v", c)
			}
		}},
		{"IdleWithServerRefresh", func(s *ClientSpec) { s.RefreshIdleTTL = time.Hour }, nil},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			c, err := checkClientSpec(good(tt.mod))
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// TestClientAuthOK: the decision of AuthenticateClient for every kind of
// client and presentation.
func TestClientAuthOK(t *testing.T) {
	const secret = "bcs_right"
	conf := &baton.OAuthClient{ID: "c", SecretHash: hashSecret(secret)}
	pub := &baton.OAuthClient{ID: "p"}
	tests := []struct {
		name   string
		c      *baton.OAuthClient
		secret string
		method string
		want   bool
	}{
		{"ConfidentialBasic", conf, secret, AuthClientSecretBasic, true},
		{"ConfidentialPost", conf, secret, AuthClientSecretPost, true},
		{"ConfidentialWrongSecret", conf, "bcs_wrong", AuthClientSecretBasic, false},
		{"ConfidentialSecretPrefix", conf, secret[:5], AuthClientSecretPost, false},
		{"ConfidentialNoSecret", conf, "", AuthClientSecretBasic, false},
		{"ConfidentialNone", conf, "", AuthNone, false},
		{"ConfidentialNoneWithSecret", conf, secret, AuthNone, false},
		{"ConfidentialUnknownMethod", conf, secret, "private_key_jwt", false},
		{"PublicNone", pub, "", AuthNone, true},
		{"PublicWithSecret", pub, "anything", AuthClientSecretBasic, false},
		{"PublicEmptySecretBasic", pub, "", AuthClientSecretBasic, false},
		{"PublicNoneWithSecret", pub, "anything", AuthNone, false},
		{"UnknownClient", nil, secret, AuthClientSecretBasic, false},
		{"UnknownClientNone", nil, "", AuthNone, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clientAuthOK(tt.c, tt.secret, hashSecret(tt.secret), tt.method); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
