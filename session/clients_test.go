package session_test

import (
	"testing"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
)

// TestRedirectURIAllowed: registered redirect URIs match exactly; a
// loopback http URI (127.0.0.1, [::1], localhost) may differ in port only
// (RFC 8252 §7.3), and nothing else may differ, for loopback URIs or any
// other.
func TestRedirectURIAllowed(t *testing.T) {
	c := &baton.OAuthClient{RedirectURIs: []string{
		"https://app.example.com/cb?tenant=1",
		"https://app.example.com:8443/cb",
		"http://127.0.0.1/callback",
		"http://[::1]:8080/callback",
		"http://localhost:3000/cb?x=1",
		"com.example.app:/oauth2redirect",
	}}
	tests := []struct {
		name string
		uri  string
		want bool
	}{
		{"Exact", "https://app.example.com/cb?tenant=1", true},
		{"ExactPort", "https://app.example.com:8443/cb", true},
		{"ExactPrivateUse", "com.example.app:/oauth2redirect", true},
		{"ExactLoopback", "http://127.0.0.1/callback", true},

		{"OtherPath", "https://app.example.com/cb2?tenant=1", false},
		{"TrailingSlash", "https://app.example.com/cb/?tenant=1", false},
		{"OtherQuery", "https://app.example.com/cb?tenant=2", false},
		{"ExtraQuery", "https://app.example.com/cb?tenant=1&a=b", false},
		{"NoQuery", "https://app.example.com/cb", false},
		{"Fragment", "https://app.example.com/cb?tenant=1#x", false},
		{"OtherScheme", "http://app.example.com/cb?tenant=1", false},
		{"OtherHost", "https://evil.example.com/cb?tenant=1", false},
		{"HostCase", "https://APP.example.com/cb?tenant=1", false},
		{"SchemeCase", "HTTPS://app.example.com/cb?tenant=1", false},
		{"NonLoopbackPortAdded", "https://app.example.com:443/cb?tenant=1", false},
		{"NonLoopbackOtherPort", "https://app.example.com:9443/cb", false},
		{"NonLoopbackPortDropped", "https://app.example.com/cb", false},
		{"UserInfo", "https://user@app.example.com/cb?tenant=1", false},
		{"PrivateUsePath", "com.example.app:/oauth2redirect/x", false},
		{"Empty", "", false},

		{"LoopbackV4PortAdded", "http://127.0.0.1:51234/callback", true},
		{"LoopbackV6OtherPort", "http://[::1]:1/callback", true},
		{"LoopbackV6PortDropped", "http://[::1]/callback", true},
		{"LocalhostOtherPort", "http://localhost:65535/cb?x=1", true},
		{"LoopbackPath", "http://127.0.0.1:51234/callback/x", false},
		{"LoopbackQuery", "http://127.0.0.1:51234/callback?a=b", false},
		{"LoopbackFragment", "http://127.0.0.1:51234/callback#a", false},
		{"LoopbackHTTPS", "https://127.0.0.1:51234/callback", false},
		{"LoopbackOtherLoopbackHost", "http://localhost:51234/callback", false},
		{"LoopbackOtherAddress", "http://127.0.0.2:51234/callback", false},
		{"LoopbackHostPrefix", "http://127.0.0.1.evil.com/callback", false},
		{"LoopbackUserInfo", "http://evil@127.0.0.1:51234/callback", false},
		{"LoopbackUserInfoAfter", "http://127.0.0.1:51234@evil.com/callback", false},
		{"LoopbackPortTooBig", "http://127.0.0.1:65536/callback", false},
		{"LoopbackPortSign", "http://127.0.0.1:+80/callback", false},
		{"LoopbackPortEmpty", "http://127.0.0.1:/callback", false},
		{"LoopbackPortLong", "http://127.0.0.1:000080/callback", false},
		{"LocalhostCase", "http://LOCALHOST:3000/cb?x=1", false},
		{"LoopbackSchemeCase", "HTTP://127.0.0.1:5000/callback", false},
		{"LocalhostQueryDiffers", "http://localhost:3001/cb?x=2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := session.RedirectURIAllowed(c, tt.uri); got != tt.want {
				t.Errorf("RedirectURIAllowed(%q) = %v, want %v", tt.uri, got, tt.want)
			}
		})
	}
}

// TestPostLogoutURIAllowed: post-logout redirect URIs match exactly, also
// on loopback hosts.
func TestPostLogoutURIAllowed(t *testing.T) {
	c := &baton.OAuthClient{
		RedirectURIs:           []string{"https://app.example.com/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example.com/bye", "http://127.0.0.1:8080/bye"},
	}
	for uri, want := range map[string]bool{
		"https://app.example.com/bye":  true,
		"http://127.0.0.1:8080/bye":    true,
		"http://127.0.0.1:8081/bye":    false,
		"https://app.example.com/bye/": false,
		"https://app.example.com/cb":   false, // a redirect URI is no post-logout one
		"":                             false,
	} {
		if got := session.PostLogoutURIAllowed(c, uri); got != want {
			t.Errorf("PostLogoutURIAllowed(%q) = %v, want %v", uri, got, want)
		}
	}
}
