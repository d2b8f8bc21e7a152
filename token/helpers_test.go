package token_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

const (
	testIssuer   = "https://auth.example.com"
	testAudience = "https://api.example.com"
)

// t0 is the fake clock's "now" unless a test moves it.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

var testOptions = token.Options{Issuer: testIssuer, Audience: testAudience}

// testKey returns a signing key whose seed is seed repeated, so tests and
// golden files are deterministic.
func testKey(id string, seed byte, activateAt time.Time) *baton.Key {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	priv := ed25519.NewKeyFromSeed(s)
	return &baton.Key{
		ID:         id,
		Use:        baton.KeyUseSigning,
		Algorithm:  "EdDSA",
		Secret:     s,
		Public:     priv.Public().(ed25519.PublicKey),
		CreatedAt:  activateAt.Add(-time.Hour),
		ActivateAt: activateAt,
	}
}

func privOf(k *baton.Key) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(k.Secret) }

// mustKeyring returns a keyring with keys set at t0.
func mustKeyring(tb testing.TB, keys ...*baton.Key) *token.Keyring {
	tb.Helper()
	k := token.NewKeyring(testOptions)
	if err := k.SetKeys(keys, t0); err != nil {
		tb.Fatalf("SetKeys: %v", err)
	}
	return k
}

// validClaims are the claims of a token issued at t0 for five minutes.
func validClaims() *token.Claims {
	return &token.Claims{
		Issuer:    testIssuer,
		Subject:   "user-1",
		Audience:  testAudience,
		IssuedAt:  t0,
		NotBefore: t0,
		ExpiresAt: t0.Add(5 * time.Minute),
		AuthTime:  t0.Add(-time.Minute),
		ID:        "jti-1",
		SessionID: "sess-1",
		ClientID:  "cli",
		Fresh:     true,
	}
}

func mustSign(tb testing.TB, k *token.Keyring, c *token.Claims) string {
	tb.Helper()
	s, err := k.Sign(c)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return s
}

// claimsMap is validClaims as the JSON object a forger would edit.
func claimsMap() map[string]any {
	return map[string]any{
		"iss":       testIssuer,
		"sub":       "user-1",
		"aud":       testAudience,
		"exp":       t0.Add(5 * time.Minute).Unix(),
		"nbf":       t0.Unix(),
		"iat":       t0.Unix(),
		"auth_time": t0.Add(-time.Minute).Unix(),
		"jti":       "jti-1",
		"sid":       "sess-1",
		"client_id": "cli",
		"fresh":     true,
	}
}

func headerMap(kid string) map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": kid}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

var b64 = base64.RawURLEncoding

// mustPayload returns the decoded claim set of tok.
func mustPayload(tb testing.TB, tok string) []byte {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("token %q has %d parts", tok, len(parts))
	}
	p, err := b64.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// forge signs header and payload, given as raw JSON text so tests can say
// things encoding/json would not (duplicate members), with priv.
func forge(priv ed25519.PrivateKey, header, payload string) string {
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	return input + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(input)))
}

// code returns the baton error code of err and checks that any error is a
// *baton.Error with a message safe to show.
func code(tb testing.TB, err error) string {
	tb.Helper()
	if err == nil {
		return ""
	}
	var e *baton.Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %v (%T) is not a *baton.Error", err, err)
	}
	if e.Message == "" {
		tb.Fatalf("error %v has no message", err)
	}
	return e.Code
}
