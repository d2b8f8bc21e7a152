package session

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestParseAuthorize(t *testing.T) {
	for _, tc := range []struct {
		name  string
		query string
		ok    bool
		check func(*AuthorizeParams) bool
	}{
		{"OK", "client_id=c&response_type=code&scope=openid&max_age=30", true, func(p *AuthorizeParams) bool { return p.MaxAge == 30 && p.ClientID == "c" }},
		{"NoMaxAge", "client_id=c", true, func(p *AuthorizeParams) bool { return p.MaxAge == -1 }},
		{"RepeatedParameter", "client_id=c&scope=openid&scope=email", false, nil},
		{"RepeatedState", "state=a&state=b", false, nil},
		{"NegativeMaxAge", "max_age=-1", false, nil},
		{"TextMaxAge", "max_age=soon", false, nil},
		{"HugeMaxAge", "max_age=99999999999", false, nil},
		{"LongState", "state=" + strings.Repeat("a", maxParam+1), false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := url.ParseQuery(tc.query)
			p, err := ParseAuthorize(v)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.check != nil && !tc.check(p) {
				t.Fatalf("parsed %+v", p)
			}
		})
	}
}

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"openid", "openid", true},
		{"openid  email openid", "openid email", true},
		{"", "", false},
		{"   ", "", false},
		{"openid\temail", "", false},
		{"openid \"x\"", "", false},
		{"openid é", "", false},
		{strings.Repeat("a", maxScopeName+1), "", false},
		{manyScopes(maxScopes + 1), "", false},
		{manyScopes(maxScopes), manyScopes(maxScopes), true},
	} {
		got, ok := parseScope(tc.in)
		if ok != tc.ok || ok && strings.Join(got, " ") != tc.want {
			t.Errorf("parseScope(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestVerifierMatches(t *testing.T) {
	verifier := strings.Repeat("abcdefgh", 6) // 48 unreserved characters
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	for _, tc := range []struct {
		name     string
		verifier string
		want     bool
	}{
		{"OK", verifier, true},
		{"Other", strings.Repeat("abcdefgi", 6), false},
		{"TooShort", verifier[:42], false},
		{"TooLong", strings.Repeat("a", 129), false},
		{"Reserved", verifier[:47] + "+", false},
		{"Empty", "", false},
	} {
		if got := verifierMatches(tc.verifier, challenge); got != tc.want {
			t.Errorf("%s: verifierMatches = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !validChallenge(challenge) || validChallenge(challenge+"A") || validChallenge(strings.Repeat("A", 42)) || validChallenge("plain-text") {
		t.Error("validChallenge accepts only the base64url form of 32 bytes")
	}
}

func manyScopes(n int) string {
	out := make([]string, n)
	for i := range out {
		out[i] = "s" + strconv.Itoa(i)
	}
	return strings.Join(out, " ")
}
