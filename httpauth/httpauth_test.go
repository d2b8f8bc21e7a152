package httpauth_test

import (
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/httpauth"
	"github.com/batonauth/baton/token"
)

func TestAuthorization(t *testing.T) {
	for _, tt := range []struct {
		header   string
		wantTok  string
		wantDPoP bool
		wantCode string
	}{
		{"", "", false, ""},
		{"Bearer abc", "abc", false, ""},
		{"bearer  abc ", "abc", false, ""},
		{"DPoP abc", "abc", true, ""},
		{"dpop abc", "abc", true, ""},
		{"Bearer", "", false, baton.EInvalidToken},
		{"Bearer ", "", false, baton.EInvalidToken},
		{"Basic abc", "", false, baton.EInvalidToken},
		{"Bearerabc", "", false, baton.EInvalidToken},
	} {
		tok, isDPoP, err := httpauth.Authorization(tt.header)
		if tok != tt.wantTok || isDPoP != tt.wantDPoP || baton.ErrorCode(err) != tt.wantCode {
			t.Errorf("Authorization(%q) = %q, %v, %v; want %q, %v, code %q", tt.header, tok, isDPoP, err, tt.wantTok, tt.wantDPoP, tt.wantCode)
		}
	}
}

func TestFresh(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		c      token.Claims
		maxAge time.Duration
		want   bool
	}{
		{"Recent", token.Claims{Fresh: true, AuthTime: now.Add(-time.Minute)}, 15 * time.Minute, true},
		{"AtTheLimit", token.Claims{Fresh: true, AuthTime: now.Add(-15 * time.Minute)}, 15 * time.Minute, true},
		{"TooOld", token.Claims{Fresh: true, AuthTime: now.Add(-16 * time.Minute)}, 15 * time.Minute, false},
		{"NoWindow", token.Claims{Fresh: true, AuthTime: now.Add(-24 * time.Hour)}, 0, true},
		{"NotFresh", token.Claims{AuthTime: now}, 0, false},
		{"NoAuthTime", token.Claims{Fresh: true}, 15 * time.Minute, false},
		{"NoAuthTimeNoWindow", token.Claims{Fresh: true}, 0, false},
	} {
		if got := httpauth.Fresh(&tt.c, tt.maxAge, now); got != tt.want {
			t.Errorf("%s: Fresh = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestChallenge(t *testing.T) {
	for _, tt := range []struct {
		code, msg string
		want      string
	}{
		{baton.EUnauthorized, "x", `Bearer realm="r"`},
		{baton.ETokenExpired, "x", `Bearer realm="r", error="invalid_token", error_description="the access token expired"`},
		{baton.EInvalidToken, `bad "sig"`, `Bearer realm="r", error="invalid_token", error_description="bad \"sig\""`},
		{baton.EInsufficientUserAuth, "x", `Bearer realm="r", error="insufficient_user_authentication", error_description="a fresh authentication is required", max_age=900`},
		{baton.EInvalidRequest, "x", ``},
	} {
		if got := httpauth.Challenge("r", tt.code, tt.msg, 15*time.Minute); got != tt.want {
			t.Errorf("Challenge(%s) = %s, want %s", tt.code, got, tt.want)
		}
	}
	if got, want := httpauth.DPoPChallenge("r", baton.EInvalidDPoPProof, "m"), `DPoP realm="r", algs="ES256 EdDSA", error="invalid_dpop_proof", error_description="m"`; got != want {
		t.Errorf("DPoPChallenge = %s, want %s", got, want)
	}
}
