package dpop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/dpop"
	"github.com/golang-jwt/jwt/v5"
)

// t0 is the fake clock's "now" unless a test moves it.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const testURL = "https://api.example.com/v1/resource"

var b64 = base64.RawURLEncoding

// clock is a fake clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// mustVerifier returns a verifier with o, on clk when o has no clock.
func mustVerifier(tb testing.TB, clk *clock, o dpop.Options) *dpop.Verifier {
	tb.Helper()
	if o.Now == nil {
		o.Now = clk.Now
	}
	v, err := dpop.NewVerifier(o)
	if err != nil {
		tb.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// mustProver returns a prover for key on clk.
func mustProver(tb testing.TB, key crypto.Signer, clk *clock) *dpop.Prover {
	tb.Helper()
	p, err := dpop.NewProverFromKey(key)
	if err != nil {
		tb.Fatalf("NewProverFromKey: %v", err)
	}
	p.Now = clk.Now
	return p
}

func mustProof(tb testing.TB, p *dpop.Prover, method, url, accessToken, nonce string) string {
	tb.Helper()
	s, err := p.Proof(method, url, accessToken, nonce)
	if err != nil {
		tb.Fatalf("Proof: %v", err)
	}
	return s
}

func newECKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func newEdKey(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// ecJWK is the public JWK of k, written by hand rather than by the code
// under test.
func ecJWK(tb testing.TB, k *ecdsa.PrivateKey) string {
	tb.Helper()
	b, err := k.PublicKey.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf(`{"kty":"EC","crv":"P-256","x":%q,"y":%q}`, b64.EncodeToString(b[1:33]), b64.EncodeToString(b[33:]))
}

func edJWK(k ed25519.PrivateKey) string {
	return fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","x":%q}`, b64.EncodeToString(k.Public().(ed25519.PublicKey)))
}

// hdr is a proof header with alg and the JWK text jwk.
func hdr(alg, jwk string) string {
	return fmt.Sprintf(`{"typ":"dpop+jwt","alg":%q,"jwk":%s}`, alg, jwk)
}

// validClaims are the claims of a proof for POST testURL made at t0.
func validClaims() map[string]any {
	return map[string]any{"jti": "jti-1", "htm": "POST", "htu": testURL, "iat": t0.Unix()}
}

// claimsWith is validClaims changed by set; a nil value deletes the claim.
func claimsWith(tb testing.TB, set map[string]any) string {
	tb.Helper()
	c := validClaims()
	maps.Copy(c, set)
	for k, v := range set {
		if v == nil {
			delete(c, k)
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// sign makes a JWS of header and payload, given as raw JSON text so tests
// can say things encoding/json would not (duplicate members), signed by
// key with m.
func sign(tb testing.TB, m jwt.SigningMethod, key any, header, payload string) string {
	tb.Helper()
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	sig, err := m.Sign(input, key)
	if err != nil {
		tb.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return input + "." + b64.EncodeToString(sig)
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
