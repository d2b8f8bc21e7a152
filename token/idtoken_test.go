package token_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
)

// testIDKey returns the RSA-2048 (baton.KeyUseSigningRSA) or P-256
// (baton.KeyUseSigningEC) key of testdata, fixed so that the JWKS golden
// file is too. They are test keys, published in this repository: they
// sign nothing else.
func testIDKey(tb testing.TB, id, use string, activateAt time.Time) *baton.Key {
	tb.Helper()
	file, alg := "rsa2048.p8", baton.AlgRS256
	if use == baton.KeyUseSigningEC {
		file, alg = "p256.p8", baton.AlgES256
	}
	secret, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		tb.Fatal(err)
	}
	return storeKey(tb, id, use, alg, secret, activateAt)
}

// storeKey makes a store key of a PKCS #8 secret, with its PKIX public
// half.
func storeKey(tb testing.TB, id, use, alg string, secret []byte, activateAt time.Time) *baton.Key {
	tb.Helper()
	priv, err := x509.ParsePKCS8PrivateKey(secret)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.(crypto.Signer).Public())
	if err != nil {
		tb.Fatal(err)
	}
	return &baton.Key{ID: id, Use: use, Algorithm: alg, Secret: secret, Public: pub,
		CreatedAt: activateAt.Add(-time.Hour), ActivateAt: activateAt}
}

// pkcs8 marshals a key the tests generate.
func pkcs8(tb testing.TB, priv crypto.Signer) []byte {
	tb.Helper()
	b, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// idKeys are one key of each algorithm, active since before t0.
func idKeys(tb testing.TB) []*baton.Key {
	return []*baton.Key{
		testKey("ed-1", 1, t0.Add(-time.Hour)),
		testIDKey(tb, "rsa-1", baton.KeyUseSigningRSA, t0.Add(-time.Hour)),
		testIDKey(tb, "ec-1", baton.KeyUseSigningEC, t0.Add(-time.Hour)),
	}
}

func mustIDSigner(tb testing.TB, keys ...*baton.Key) *token.IDSigner {
	tb.Helper()
	s := token.NewIDSigner()
	if err := s.SetKeys(keys, t0); err != nil {
		tb.Fatalf("SetKeys: %v", err)
	}
	return s
}

// idClaims are the claims of an ID token as the provider makes them.
func idClaims() map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": "user-1", "aud": "client-1",
		"exp": float64(t0.Add(5 * time.Minute).Unix()), "iat": float64(t0.Unix()),
		"auth_time": float64(t0.Add(-time.Minute).Unix()), "nonce": "n-0S6_WzA2Mj",
		"amr": []any{"pwd", "mfa"}, "sid": "sess-1", "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
	}
}

func mustIDSign(tb testing.TB, s *token.IDSigner, alg string, claims any, typ string) string {
	tb.Helper()
	tok, err := s.Sign(alg, claims, typ)
	if err != nil {
		tb.Fatalf("Sign(%s): %v", alg, err)
	}
	return tok
}

// headerOf returns a token's decoded header, as sent.
func headerOf(tb testing.TB, tok string) string {
	tb.Helper()
	h, err := b64.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		tb.Fatal(err)
	}
	return string(h)
}

func TestIDSignerSignVerify(t *testing.T) {
	s := mustIDSigner(t, idKeys(t)...)
	for _, tt := range []struct{ alg, kid string }{
		{baton.AlgRS256, "rsa-1"},
		{baton.AlgES256, "ec-1"},
		{baton.AlgEdDSA, "ed-1"},
	} {
		t.Run(tt.alg, func(t *testing.T) {
			if !s.CanSign(tt.alg) {
				t.Errorf("CanSign(%s) is false", tt.alg)
			}
			tok := mustIDSign(t, s, tt.alg, idClaims(), token.TypIDToken)
			if got, want := headerOf(t, tok), `{"alg":"`+tt.alg+`","kid":"`+tt.kid+`","typ":"JWT"}`; got != want {
				t.Errorf("header %s, want %s", got, want)
			}
			claims, alg, err := s.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if alg != tt.alg {
				t.Errorf("alg %s, want %s", alg, tt.alg)
			}
			if diff := cmp.Diff(idClaims(), map[string]any(claims)); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}

			logout := mustIDSign(t, s, tt.alg, map[string]any{"sub": "user-1"}, token.TypLogoutToken)
			if got, want := headerOf(t, logout), `{"alg":"`+tt.alg+`","kid":"`+tt.kid+`","typ":"logout+jwt"}`; got != want {
				t.Errorf("logout token header %s, want %s", got, want)
			}
			// Only ID tokens pass Verify: it serves id_token_hint.
			if _, _, err := s.Verify(logout); code(t, err) != baton.EInvalidToken {
				t.Errorf("Verify(logout token): %v, want invalid_token", err)
			}
		})
	}

	t.Run("Struct", func(t *testing.T) {
		type claims struct {
			Sub   string `json:"sub"`
			Nonce string `json:"nonce,omitempty"`
		}
		tok := mustIDSign(t, s, baton.AlgRS256, claims{Sub: "u"}, token.TypIDToken)
		if got := string(mustPayload(t, tok)); got != `{"sub":"u"}` {
			t.Errorf("payload %s", got)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		for name, sign := range map[string]func() (string, error){
			"TypAtJWT":  func() (string, error) { return s.Sign(baton.AlgEdDSA, idClaims(), "at+jwt") },
			"TypEmpty":  func() (string, error) { return s.Sign(baton.AlgRS256, idClaims(), "") },
			"AlgHS256":  func() (string, error) { return s.Sign("HS256", idClaims(), token.TypIDToken) },
			"AlgNone":   func() (string, error) { return s.Sign("none", idClaims(), token.TypIDToken) },
			"NotObject": func() (string, error) { return s.Sign(baton.AlgRS256, "sub", token.TypIDToken) },
			"Null":      func() (string, error) { return s.Sign(baton.AlgRS256, nil, token.TypIDToken) },
			"NotJSON": func() (string, error) {
				return s.Sign(baton.AlgRS256, map[string]any{"c": make(chan int)}, token.TypIDToken)
			},
			"TooLarge": func() (string, error) {
				return s.Sign(baton.AlgES256, map[string]any{"x": strings.Repeat("x", 8192)}, token.TypIDToken)
			},
			"NoKeyOfAlg": func() (string, error) {
				return mustIDSigner(t, idKeys(t)[0]).Sign(baton.AlgRS256, idClaims(), token.TypIDToken)
			},
		} {
			if tok, err := sign(); err == nil {
				t.Errorf("%s: Sign succeeded: %s", name, tok)
			}
		}
		if _, err := token.NewIDSigner().Sign(baton.AlgES256, idClaims(), token.TypIDToken); err != token.ErrNoSigningKey {
			t.Errorf("Sign without keys: %v, want ErrNoSigningKey", err)
		}
		if token.NewIDSigner().CanSign(baton.AlgEdDSA) {
			t.Error("CanSign without keys")
		}
	})
}

// TestIDTokenIndependentCheck verifies ID tokens along another path than
// IDSigner.Verify: the keys are read back from the published JWKS members
// with math/big and crypto/ecdsa, and golang-jwt's own parser checks the
// signature, as a relying party would.
func TestIDTokenIndependentCheck(t *testing.T) {
	keys := idKeys(t)
	s := mustIDSigner(t, keys...)
	k := mustKeyring(t, keys...)

	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	published := map[string]any{}
	for _, m := range set.Keys {
		published[m["kid"]] = jwkPublicKey(t, m)
	}
	for i, alg := range []string{baton.AlgEdDSA, baton.AlgRS256, baton.AlgES256} {
		t.Run(alg, func(t *testing.T) {
			// The published key is the stored key.
			want, err := x509.ParsePKIXPublicKey(keys[i].Public)
			if keys[i].Use == baton.KeyUseSigning {
				want, err = ed25519.PublicKey(keys[i].Public), nil
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := published[keys[i].ID]; !want.(interface{ Equal(crypto.PublicKey) bool }).Equal(got) {
				t.Fatalf("the JWKS publishes %v for %s, want %v", got, keys[i].ID, want)
			}

			tok := mustIDSign(t, s, alg, idClaims(), token.TypIDToken)
			parsed, err := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithAudience("client-1"),
				jwt.WithIssuer(testIssuer), jwt.WithTimeFunc(func() time.Time { return t0 })).
				Parse(tok, func(tok *jwt.Token) (any, error) { return published[tok.Header["kid"].(string)], nil })
			if err != nil {
				t.Fatalf("golang-jwt with the published key: %v", err)
			}
			if sub, _ := parsed.Claims.GetSubject(); sub != "user-1" {
				t.Errorf("sub %q", sub)
			}
			// And with the Go standard library alone, for the signature.
			dot := strings.LastIndexByte(tok, '.')
			sig, err := b64.DecodeString(tok[dot+1:])
			if err != nil {
				t.Fatal(err)
			}
			if !stdlibVerify(published[keys[i].ID], []byte(tok[:dot]), sig) {
				t.Error("the standard library does not verify the signature")
			}
		})
	}
}

// jwkPublicKey decodes the members of a published key (RFC 7518 §6,
// RFC 8037 §2) by hand, checking that it has exactly the members it
// should.
func jwkPublicKey(t *testing.T, m map[string]string) any {
	t.Helper()
	members := slices.Sorted(func(yield func(string) bool) {
		for name := range m {
			if !yield(name) {
				return
			}
		}
	})
	dec := func(name string) []byte {
		b, err := b64.Strict().DecodeString(m[name])
		if err != nil {
			t.Fatalf("key %s: %s: %v", m["kid"], name, err)
		}
		return b
	}
	switch m["kty"] {
	case "OKP":
		if want := []string{"alg", "crv", "kid", "kty", "use", "x"}; !slices.Equal(members, want) ||
			m["crv"] != "Ed25519" || m["alg"] != "EdDSA" || m["use"] != "sig" {
			t.Fatalf("OKP key %v", m)
		}
		return ed25519.PublicKey(dec("x"))
	case "RSA":
		if want := []string{"alg", "e", "kid", "kty", "n", "use"}; !slices.Equal(members, want) ||
			m["alg"] != "RS256" || m["use"] != "sig" || m["e"] != "AQAB" {
			t.Fatalf("RSA key %v", m)
		}
		n := dec("n")
		if n[0] == 0 || len(n) != 256 {
			t.Fatalf("n is %d bytes with a leading %#x, want 256 with no leading zero", len(n), n[0])
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(dec("e")).Int64())}
	case "EC":
		if want := []string{"alg", "crv", "kid", "kty", "use", "x", "y"}; !slices.Equal(members, want) ||
			m["crv"] != "P-256" || m["alg"] != "ES256" || m["use"] != "sig" {
			t.Fatalf("EC key %v", m)
		}
		x, y := dec("x"), dec("y")
		if len(x) != 32 || len(y) != 32 {
			t.Fatalf("x, y are %d, %d bytes, want 32 each (RFC 7518 §6.2.1.2)", len(x), len(y))
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			t.Fatal(err)
		}
		return pub
	}
	t.Fatalf("key of kty %q", m["kty"])
	return nil
}

// stdlibVerify checks a JWS signature with crypto/* alone.
func stdlibVerify(pub any, input, sig []byte) bool {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(p, input, sig)
	case *rsa.PublicKey:
		sum := sha256Sum(input)
		return rsa.VerifyPKCS1v15(p, crypto.SHA256, sum, sig) == nil
	case *ecdsa.PublicKey:
		// JWS carries r || s (RFC 7518 §3.4), not ASN.1.
		if len(sig) != 64 {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(p, sha256Sum(input), r, s)
	}
	return false
}

func sha256Sum(b []byte) []byte {
	h := crypto.SHA256.New()
	h.Write(b)
	return h.Sum(nil)
}

func TestJWKSCombined(t *testing.T) {
	retiredRSA := testIDKey(t, "rsa-old", baton.KeyUseSigningRSA, time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC))
	retiredRSA.RetiredAt = t0
	// The store's order is not the published order.
	keys := []*baton.Key{
		testIDKey(t, "ec-1", baton.KeyUseSigningEC, t0.Add(-time.Hour)),
		testIDKey(t, "rsa-1", baton.KeyUseSigningRSA, t0.Add(-time.Hour)),
		{ID: "rot", Use: baton.KeyUseRotation, Algorithm: "HS256", Secret: make([]byte, 32)},
		testKey("ed-1", 1, t0.Add(-time.Hour)),
		retiredRSA,
	}
	// rsa-old and rsa-1 share the test key material; only kids must differ.
	got := mustKeyring(t, keys...).JWKS()
	checkGolden(t, "jwks_combined.golden", got)
	var set struct {
		Keys []struct{ Kid, Kty string } `json:"keys"`
	}
	if err := json.Unmarshal(got, &set); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, k := range set.Keys {
		order = append(order, k.Kty+":"+k.Kid)
	}
	// Ed25519 first, as before, then RSA and EC, each oldest first.
	if want := []string{"OKP:ed-1", "RSA:rsa-old", "RSA:rsa-1", "EC:ec-1"}; !slices.Equal(order, want) {
		t.Errorf("published %v, want %v", order, want)
	}

	// A resource server loads the combined set and keeps the Ed25519 keys.
	t.Run("SetPublicKeys", func(t *testing.T) {
		server := mustKeyring(t, keys...)
		rs := token.NewKeyring(testOptions)
		if err := rs.SetPublicKeys(got); err != nil {
			t.Fatalf("SetPublicKeys(combined JWKS): %v", err)
		}
		if _, err := rs.Verify(mustSign(t, server, validClaims()), t0); err != nil {
			t.Errorf("Verify: %v", err)
		}
		if want := mustKeyring(t, keys[3]).JWKS(); !bytes.Equal(rs.JWKS(), want) {
			t.Errorf("JWKS of the resource server:\n%s\nwant\n%s", rs.JWKS(), want)
		}
	})

	// The ID-token keys never verify access tokens.
	t.Run("NotForAccessTokens", func(t *testing.T) {
		rsaPriv, err := x509.ParsePKCS8PrivateKey(keys[1].Secret)
		if err != nil {
			t.Fatal(err)
		}
		at := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(claimsMap()))
		at.Header["kid"], at.Header["typ"] = "rsa-1", "at+jwt"
		raw, err := at.SignedString(rsaPriv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mustKeyring(t, keys...).Verify(raw, t0); code(t, err) != baton.EInvalidToken {
			t.Errorf("an RS256 access token: %v, want invalid_token", err)
		}
	})
}

// TestJWKSECFullLength: x and y keep their leading zero bytes (RFC 7518
// §6.2.1.2), which one key in about 128 has in one coordinate.
func TestJWKSECFullLength(t *testing.T) {
	var keys []*baton.Key
	for i := range 1000 {
		keys = append(keys, storeKey(t, "ec-"+strconv.Itoa(i), baton.KeyUseSigningEC, baton.AlgES256, pkcs8(t, mustECKey(t)), t0))
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(mustKeyring(t, keys...).JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != len(keys) {
		t.Fatalf("%d keys published, want %d", len(set.Keys), len(keys))
	}
	for _, m := range set.Keys {
		jwkPublicKey(t, m) // fails on a short coordinate
	}
}

func TestIDSignerKeyChoice(t *testing.T) {
	old := testIDKey(t, "rsa-old", baton.KeyUseSigningRSA, t0.Add(-time.Hour))
	next := testIDKey(t, "rsa-next", baton.KeyUseSigningRSA, t0.Add(time.Hour))
	ec := testIDKey(t, "ec-1", baton.KeyUseSigningEC, t0.Add(time.Hour)) // only one, not active yet
	keys := []*baton.Key{next, old, ec}
	s := mustIDSigner(t, keys...)
	kidOfAlg := func(alg string) string {
		t.Helper()
		return kidOf(t, mustIDSign(t, s, alg, idClaims(), token.TypIDToken))
	}
	if got := kidOfAlg(baton.AlgRS256); got != "rsa-old" {
		t.Errorf("before the new key activates: %s signs", got)
	}
	if got := kidOfAlg(baton.AlgES256); got != "ec-1" {
		t.Errorf("the only EC key, pending: %s signs", got)
	}
	if s.CanSign(baton.AlgEdDSA) {
		t.Error("CanSign(EdDSA) without an Ed25519 key")
	}
	signedByOld := mustIDSign(t, s, baton.AlgRS256, idClaims(), token.TypIDToken)

	if err := s.SetKeys(keys, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := kidOfAlg(baton.AlgRS256); got != "rsa-next" {
		t.Errorf("after activation: %s signs", got)
	}

	retired := *old
	retired.RetiredAt = t0
	if err := s.SetKeys([]*baton.Key{&retired, next, ec}, t0); err != nil {
		t.Fatal(err)
	}
	if got := kidOfAlg(baton.AlgRS256); got != "rsa-next" {
		t.Errorf("with the active key retired: %s signs", got)
	}
	if _, _, err := s.Verify(signedByOld); err != nil {
		t.Errorf("a retired key stops verifying: %v", err)
	}
	if err := s.SetKeys([]*baton.Key{next, ec}, t0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Verify(signedByOld); code(t, err) != baton.EInvalidToken {
		t.Errorf("a deleted key still verifies: %v", err)
	}

	verifyOnly := *next
	verifyOnly.Secret = nil
	if err := s.SetKeys([]*baton.Key{&verifyOnly}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if s.CanSign(baton.AlgRS256) {
		t.Error("a key without secret signs")
	}
}

func TestIDSignerSetKeysErrors(t *testing.T) {
	good := idKeys(t)
	rsaKey, ec := good[1], good[2]
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherEC := storeKey(t, "ec-2", baton.KeyUseSigningEC, baton.AlgES256, pkcs8(t, mustECKey(t)), t0)
	// edit changes a copy of a good key, under a kid of its own unless f
	// sets one.
	edit := func(k *baton.Key, f func(*baton.Key)) *baton.Key {
		c := *k
		c.ID = "bad"
		f(&c)
		return &c
	}
	for name, bad := range map[string]*baton.Key{
		"RSA1024":        storeKey(t, "r", baton.KeyUseSigningRSA, baton.AlgRS256, pkcs8(t, small), t0),
		"P384":           storeKey(t, "e", baton.KeyUseSigningEC, baton.AlgES256, pkcs8(t, p384), t0),
		"RSAUnderEC":     edit(rsaKey, func(k *baton.Key) { k.Use, k.Algorithm = baton.KeyUseSigningEC, baton.AlgES256 }),
		"ECUnderRSA":     edit(ec, func(k *baton.Key) { k.Use, k.Algorithm = baton.KeyUseSigningRSA, baton.AlgRS256 }),
		"WrongAlgorithm": edit(rsaKey, func(k *baton.Key) { k.Algorithm = baton.AlgES256 }),
		"NoID":           edit(rsaKey, func(k *baton.Key) { k.ID = "" }),
		"NoPublic":       edit(rsaKey, func(k *baton.Key) { k.Public = nil }),
		"BadPublic":      edit(rsaKey, func(k *baton.Key) { k.Public = k.Public[:20] }),
		"BadSecret":      edit(rsaKey, func(k *baton.Key) { k.Secret = []byte("bsk1 still sealed, say") }),
		"PublicMismatch": edit(ec, func(k *baton.Key) { k.Public = otherEC.Public }),
		"SecretIsEd":     edit(ec, func(k *baton.Key) { k.Secret = pkcs8(t, ed25519.NewKeyFromSeed(make([]byte, 32))) }),
		"KidOfAnother":   edit(rsaKey, func(k *baton.Key) { k.ID = "ed-1" }),
	} {
		t.Run(name, func(t *testing.T) {
			s := mustIDSigner(t, good...)
			if err := s.SetKeys(append(slices.Clone(good), bad), t0); err == nil {
				t.Fatal("IDSigner.SetKeys succeeded")
			}
			if _, _, err := s.Verify(mustIDSign(t, s, baton.AlgES256, idClaims(), token.TypIDToken)); err != nil {
				t.Errorf("a failed SetKeys changed the keys: %v", err)
			}
			// The keyring publishes the keys, so it refuses them too, save
			// a secret it never reads.
			k := mustKeyring(t, good...)
			err := k.SetKeys(append(slices.Clone(good), bad), t0)
			if readsSecret := name == "BadSecret" || name == "PublicMismatch" || name == "SecretIsEd"; readsSecret != (err == nil) {
				t.Errorf("Keyring.SetKeys: %v", err)
			}
		})
	}
}

func mustECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestIDSignerVerifyAttacks: Verify refuses whatever it did not sign as
// an ID token.
func TestIDSignerVerifyAttacks(t *testing.T) {
	keys := idKeys(t)
	s := mustIDSigner(t, keys...)
	priv := map[string]any{}
	for _, k := range keys {
		if k.Use == baton.KeyUseSigning {
			priv[k.ID] = privOf(k)
			continue
		}
		p, err := x509.ParsePKCS8PrivateKey(k.Secret)
		if err != nil {
			t.Fatal(err)
		}
		priv[k.ID] = p
	}
	// forgeWith signs claims with method and the key of keyKid, sending
	// header as the header.
	forgeWith := func(method jwt.SigningMethod, keyKid string, header map[string]any) string {
		t.Helper()
		tok := jwt.NewWithClaims(method, jwt.MapClaims(idClaims()))
		tok.Header = header
		raw, err := tok.SignedString(priv[keyKid])
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	h := func(alg, kid string) map[string]any { return map[string]any{"alg": alg, "kid": kid, "typ": "JWT"} }
	valid := mustIDSign(t, s, baton.AlgRS256, idClaims(), token.TypIDToken)
	parts := strings.Split(valid, ".")
	rsaPublic := keys[1].Public

	for _, tt := range []struct {
		name  string
		token string
		ok    bool
	}{
		{name: "OK", token: valid, ok: true},
		{name: "OKForgedWithOurKey", token: forgeWith(jwt.SigningMethodES256, "ec-1", h("ES256", "ec-1")), ok: true},
		{name: "OKTypApplicationJWT", token: forgeWith(jwt.SigningMethodEdDSA, "ed-1",
			map[string]any{"alg": "EdDSA", "kid": "ed-1", "typ": "application/jwt"}), ok: true},
		{name: "OKExpired", token: mustIDSign(t, s, baton.AlgES256, map[string]any{"exp": 1}, token.TypIDToken), ok: true},

		{name: "TamperedPayload", token: parts[0] + "." + b64.EncodeToString([]byte(`{"sub":"admin"}`)) + "." + parts[2]},
		{name: "TamperedSignature", token: parts[0] + "." + parts[1] + "." + b64.EncodeToString(bytes.Repeat([]byte{1}, 256))},
		{name: "NonCanonicalSignature", token: valid[:len(valid)-1] + string(nonCanonical(valid[len(valid)-1]))},
		{name: "TamperedHeaderKid", token: b64.EncodeToString([]byte(`{"alg":"RS256","kid":"rsa-2","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]},
		{name: "AlgNone", token: b64.EncodeToString([]byte(`{"alg":"none","kid":"rsa-1","typ":"JWT"}`)) + "." + parts[1] + "."},
		// The classic confusion: HS256 keyed with the RSA public key.
		{name: "AlgHS256WithPublicKey", token: func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(idClaims()))
			tok.Header = h("HS256", "rsa-1")
			raw, _ := tok.SignedString(rsaPublic)
			return raw
		}()},
		// An RS256 header on the EC key's kid, signed by the RSA key.
		{name: "RS256OnECKid", token: forgeWith(jwt.SigningMethodRS256, "rsa-1", h("RS256", "ec-1"))},
		{name: "ES256OnRSAKid", token: forgeWith(jwt.SigningMethodES256, "ec-1", h("ES256", "rsa-1"))},
		{name: "EdDSAOnRSAKid", token: forgeWith(jwt.SigningMethodEdDSA, "ed-1", h("EdDSA", "rsa-1"))},
		{name: "RS256OnEdKid", token: forgeWith(jwt.SigningMethodRS256, "rsa-1", h("RS256", "ed-1"))},
		{name: "PS256", token: forgeWith(jwt.SigningMethodPS256, "rsa-1", h("PS256", "rsa-1"))},
		{name: "UnknownKid", token: forgeWith(jwt.SigningMethodRS256, "rsa-1", h("RS256", "nope"))},
		{name: "NoKid", token: forgeWith(jwt.SigningMethodRS256, "rsa-1", map[string]any{"alg": "RS256", "typ": "JWT"})},
		{name: "NoTyp", token: forgeWith(jwt.SigningMethodRS256, "rsa-1", map[string]any{"alg": "RS256", "kid": "rsa-1"})},
		{name: "TypLogout", token: forgeWith(jwt.SigningMethodRS256, "rsa-1", map[string]any{"alg": "RS256", "kid": "rsa-1", "typ": "logout+jwt"})},
		{name: "Crit", token: forgeWith(jwt.SigningMethodRS256, "rsa-1", map[string]any{"alg": "RS256", "kid": "rsa-1", "typ": "JWT", "crit": []string{"exp"}})},
		{name: "DuplicateKid", token: func() string {
			in := b64.EncodeToString([]byte(`{"alg":"EdDSA","kid":"nope","kid":"ed-1","typ":"JWT"}`)) + "." + parts[1]
			return in + "." + b64.EncodeToString(ed25519.Sign(privOf(keys[0]), []byte(in)))
		}()},
		// An access token, signed by the Ed25519 key ID tokens share.
		{name: "AccessToken", token: mustSign(t, mustKeyring(t, keys...), validClaims())},
		{name: "TooLarge", token: parts[0] + "." + strings.Repeat("A", token.DefaultMaxTokenBytes) + "." + parts[2]},
		{name: "Garbage", token: "a.b.c"},
		{name: "Empty", token: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			claims, alg, err := s.Verify(tt.token)
			if tt.ok {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if got := code(t, err); got != baton.EInvalidToken || claims != nil || alg != "" {
				t.Errorf("Verify: %v, %q, %v; want invalid_token", claims, alg, err)
			}
		})
	}
}

// TestAtHash checks at_hash against values computed outside Go: the
// first is the example of OpenID Connect Core Appendix A.3, the others
// `printf %s TOKEN | sha512sum`, its first 32 bytes in base64url.
func TestAtHash(t *testing.T) {
	const at = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
	for _, tt := range []struct{ alg, token, want string }{
		{baton.AlgRS256, at, "77QmUPtjPfzWtF2AnpK9RQ"},
		{baton.AlgES256, at, "77QmUPtjPfzWtF2AnpK9RQ"},
		{baton.AlgEdDSA, at, "q7nS86GgvvFaZkzALLWqJYaJIKw2wCDAVfCAsm5CrBM"},
		{baton.AlgEdDSA, "", "z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg_SpIdNs6c4"},
		{"HS256", at, ""},
		{"", at, ""},
	} {
		if got := token.AtHash(tt.alg, tt.token); got != tt.want {
			t.Errorf("AtHash(%q, %q) = %q, want %q", tt.alg, tt.token, got, tt.want)
		}
	}
}

func TestNewIDKeys(t *testing.T) {
	for _, tt := range []struct {
		use, alg string
		newKey   func(now, activateAt time.Time) (*baton.Key, error)
		check    func(any) bool
	}{
		{baton.KeyUseSigningRSA, baton.AlgRS256, token.NewRSAKey, func(p any) bool {
			k, ok := p.(*rsa.PrivateKey)
			return ok && k.N.BitLen() == 2048 && k.E == 65537
		}},
		{baton.KeyUseSigningEC, baton.AlgES256, token.NewECKey, func(p any) bool {
			k, ok := p.(*ecdsa.PrivateKey)
			return ok && k.Curve == elliptic.P256()
		}},
	} {
		t.Run(tt.alg, func(t *testing.T) {
			key, err := tt.newKey(t0, t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if key.Use != tt.use || key.Algorithm != tt.alg || !key.CreatedAt.Equal(t0) || !key.ActivateAt.Equal(t0.Add(time.Hour)) {
				t.Errorf("key %+v", key)
			}
			if id, err := b64.DecodeString(key.ID); err != nil || len(id) != 16 {
				t.Errorf("kid %q is not 16 bytes of base64url: %v", key.ID, err)
			}
			priv, err := x509.ParsePKCS8PrivateKey(key.Secret)
			if err != nil || !tt.check(priv) {
				t.Fatalf("secret: %T %v", priv, err)
			}
			pub, err := x509.ParsePKIXPublicKey(key.Public)
			if err != nil || !priv.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
				t.Fatalf("public half: %v", err)
			}
			s := mustIDSigner(t, key)
			if _, _, err := s.Verify(mustIDSign(t, s, tt.alg, idClaims(), token.TypIDToken)); err != nil {
				t.Errorf("a new key signs and verifies: %v", err)
			}
			if !token.IsSigningUse(tt.use) {
				t.Errorf("IsSigningUse(%s) is false", tt.use)
			}
			if _, err := token.NewSecretKey(tt.use, t0); err == nil {
				t.Errorf("NewSecretKey(%s) succeeded", tt.use)
			}
		})
	}
	t.Run("Distinct", func(t *testing.T) {
		a, err := token.NewECKey(t0, t0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := token.NewECKey(t0, t0)
		if err != nil {
			t.Fatal(err)
		}
		if a.ID == b.ID || bytes.Equal(a.Secret, b.Secret) {
			t.Error("two new keys are the same")
		}
	})
	for _, use := range []string{baton.KeyUseRotation, baton.KeyUseCSRF, ""} {
		if token.IsSigningUse(use) {
			t.Errorf("IsSigningUse(%q) is true", use)
		}
	}
}

// TestIDSignerConcurrent signs and verifies while the keys change, for
// the race detector.
func TestIDSignerConcurrent(t *testing.T) {
	keys := idKeys(t)
	s := mustIDSigner(t, keys...)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	keepSetting(t, &wg, stop, func(i int) error {
		return s.SetKeys(keys, t0.Add(time.Duration(i)*time.Second))
	})
	for range 50 {
		for _, alg := range []string{baton.AlgRS256, baton.AlgES256, baton.AlgEdDSA} {
			tok := mustIDSign(t, s, alg, idClaims(), token.TypIDToken)
			if _, _, err := s.Verify(tok); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
}

// BenchmarkIDToken is what signing one ID token costs per algorithm.
func BenchmarkIDToken(b *testing.B) {
	s := mustIDSigner(b, idKeys(b)...)
	claims := idClaims()
	for _, alg := range []string{baton.AlgRS256, baton.AlgES256, baton.AlgEdDSA} {
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(alg, claims, token.TypIDToken); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIDTokenVerify is the cost of checking an id_token_hint.
func BenchmarkIDTokenVerify(b *testing.B) {
	s := mustIDSigner(b, idKeys(b)...)
	for _, alg := range []string{baton.AlgRS256, baton.AlgES256, baton.AlgEdDSA} {
		tok := mustIDSign(b, s, alg, idClaims(), token.TypIDToken)
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
