package token_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// checkGolden compares got with testdata/name, which go test -update
// rewrites.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, append(bytes.Clone(got), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, bytes.TrimSuffix(want, []byte("\n"))) {
		t.Errorf("%s:\n%s\nwant:\n%s", golden, got, want)
	}
}

// kidOf returns the kid in a token's header.
func kidOf(tb testing.TB, tok string) string {
	tb.Helper()
	h, err := b64.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		tb.Fatal(err)
	}
	var header struct{ Kid string }
	if err := json.Unmarshal(h, &header); err != nil {
		tb.Fatal(err)
	}
	return header.Kid
}

func TestKeyRotation(t *testing.T) {
	old := testKey("old", 1, t0.Add(-48*time.Hour))
	next := testKey("next", 2, t0.Add(time.Hour)) // published, not yet signing
	k := mustKeyring(t, old, next)
	oldTok := mustSign(t, k, validClaims())
	if got := kidOf(t, oldTok); got != "old" {
		t.Fatalf("signing kid %q before activation, want old", got)
	}

	t.Run("NewKeyActivates", func(t *testing.T) {
		later := t0.Add(2 * time.Hour)
		if err := k.SetKeys([]*baton.Key{old, next}, later); err != nil {
			t.Fatal(err)
		}
		c := validClaims()
		newTok := mustSign(t, k, c)
		if got := kidOf(t, newTok); got != "next" {
			t.Errorf("signing kid %q after activation, want next", got)
		}
		if _, err := k.Verify(oldTok, t0); err != nil {
			t.Errorf("token of the old key after rotation: %v", err)
		}
		if _, err := k.Verify(newTok, t0); err != nil {
			t.Errorf("token of the new key: %v", err)
		}
	})

	t.Run("RetiredKeyVerifies", func(t *testing.T) {
		retired := *old
		retired.RetiredAt = t0
		if err := k.SetKeys([]*baton.Key{&retired, next}, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Verify(oldTok, t0); err != nil {
			t.Errorf("token of a retired key: %v", err)
		}
	})

	t.Run("RetiredKeyDoesNotSign", func(t *testing.T) {
		// The newest key is retired early (say, suspected compromise):
		// the older unretired one signs.
		retiredNext := *next
		retiredNext.RetiredAt = t0
		if err := k.SetKeys([]*baton.Key{old, &retiredNext}, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := kidOf(t, mustSign(t, k, validClaims())); got != "old" {
			t.Errorf("signing kid %q, want old", got)
		}
	})

	t.Run("RemovedKeyFails", func(t *testing.T) {
		if err := k.SetKeys([]*baton.Key{next}, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		_, err := k.Verify(oldTok, t0)
		if got := code(t, err); got != baton.EInvalidToken {
			t.Errorf("token of a removed key: code %q, want %q", got, baton.EInvalidToken)
		}
	})

	t.Run("NoneActiveYet", func(t *testing.T) {
		a := testKey("a", 3, t0.Add(time.Hour))
		b := testKey("b", 4, t0.Add(2*time.Hour))
		if err := k.SetKeys([]*baton.Key{b, a}, t0); err != nil {
			t.Fatal(err)
		}
		if got := kidOf(t, mustSign(t, k, validClaims())); got != "a" {
			t.Errorf("signing kid %q, want the oldest unretired, a", got)
		}
	})

	t.Run("TieBrokenByCreatedAt", func(t *testing.T) {
		a := testKey("a", 3, t0.Add(-time.Hour))
		b := testKey("b", 4, t0.Add(-time.Hour))
		b.CreatedAt = a.CreatedAt.Add(time.Second)
		for _, order := range [][]*baton.Key{{a, b}, {b, a}} {
			if err := k.SetKeys(order, t0); err != nil {
				t.Fatal(err)
			}
			if got := kidOf(t, mustSign(t, k, validClaims())); got != "b" {
				t.Errorf("signing kid %q, want the later created, b", got)
			}
		}
	})

	t.Run("AllRetired", func(t *testing.T) {
		retired := *old
		retired.RetiredAt = t0
		if err := k.SetKeys([]*baton.Key{&retired}, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Sign(validClaims()); err != token.ErrNoSigningKey {
			t.Errorf("Sign with only retired keys: %v, want ErrNoSigningKey", err)
		}
		if _, err := k.Verify(oldTok, t0); err != nil {
			t.Errorf("Verify with only retired keys: %v", err)
		}
	})

	t.Run("OtherUsesIgnored", func(t *testing.T) {
		rot, err := token.NewSecretKey(baton.KeyUseRotation, t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.SetKeys([]*baton.Key{rot, old}, t0); err != nil {
			t.Fatal(err)
		}
		if got := kidOf(t, mustSign(t, k, validClaims())); got != "old" {
			t.Errorf("signing kid %q, want old", got)
		}
		if bytes.Contains(k.JWKS(), []byte(rot.ID)) {
			t.Errorf("JWKS publishes the rotation key: %s", k.JWKS())
		}
	})
}

func TestSetKeysErrors(t *testing.T) {
	good := testKey("good", 1, t0.Add(-time.Hour))
	mismatch := testKey("mismatch", 2, t0.Add(-time.Hour))
	mismatch.Public = good.Public
	short := testKey("short", 3, t0.Add(-time.Hour))
	short.Secret = short.Secret[:16]
	noID := testKey("", 4, t0.Add(-time.Hour))
	rsa := testKey("rsa", 5, t0.Add(-time.Hour))
	rsa.Algorithm = "RS256"
	noKey := &baton.Key{ID: "nokey", Use: baton.KeyUseSigning}

	for _, tt := range []struct {
		name string
		keys []*baton.Key
	}{
		{"PublicMismatch", []*baton.Key{good, mismatch}},
		{"ShortSecret", []*baton.Key{good, short}},
		{"DuplicateID", []*baton.Key{good, testKey("good", 6, t0)}},
		{"EmptyID", []*baton.Key{noID}},
		{"WrongAlgorithm", []*baton.Key{rsa}},
		{"NoKeyMaterial", []*baton.Key{noKey}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := mustKeyring(t, good)
			before := k.JWKS()
			if err := k.SetKeys(tt.keys, t0); err == nil {
				t.Fatal("SetKeys succeeded")
			}
			if !bytes.Equal(k.JWKS(), before) {
				t.Errorf("a failed SetKeys changed the keys")
			}
			if got := kidOf(t, mustSign(t, k, validClaims())); got != "good" {
				t.Errorf("signing kid %q after a failed SetKeys, want good", got)
			}
		})
	}

	t.Run("PublicOnlyVerifies", func(t *testing.T) {
		pubOnly := *good
		pubOnly.Secret = nil
		k := mustKeyring(t, &pubOnly)
		if _, err := k.Sign(validClaims()); err != token.ErrNoSigningKey {
			t.Errorf("Sign: %v, want ErrNoSigningKey", err)
		}
		if _, err := k.Verify(mustSign(t, mustKeyring(t, good), validClaims()), t0); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})
}

func TestJWKS(t *testing.T) {
	retired := testKey("2024-key", 7, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	retired.RetiredAt = t0
	k := mustKeyring(t,
		testKey("current", 8, time.Date(2029, 6, 1, 0, 0, 0, 0, time.UTC)),
		retired,
		testKey("next", 9, t0.Add(24*time.Hour)),
	)
	got := k.JWKS()
	checkGolden(t, "jwks.golden", got)

	t.Run("RFC8037Vector", func(t *testing.T) {
		// RFC 8037 Appendix A.1: the seed d publishes as x.
		seed, err := b64.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
		if err != nil {
			t.Fatal(err)
		}
		k := mustKeyring(t, &baton.Key{ID: "rfc", Use: baton.KeyUseSigning, Secret: seed, ActivateAt: t0})
		want := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"rfc","use":"sig","alg":"EdDSA"}]}`
		if got := string(k.JWKS()); got != want {
			t.Errorf("JWKS %s, want %s", got, want)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		if got, want := string(token.NewKeyring(testOptions).JWKS()), `{"keys":[]}`; got != want {
			t.Errorf("JWKS %s, want %s", got, want)
		}
	})

	t.Run("PublishedXVerifies", func(t *testing.T) {
		var set struct {
			Keys []struct{ Kid, X string }
		}
		if err := json.Unmarshal(got, &set); err != nil {
			t.Fatal(err)
		}
		for _, key := range set.Keys {
			pub, err := b64.DecodeString(key.X)
			if err != nil || len(pub) != ed25519.PublicKeySize {
				t.Fatalf("key %s: x %q: %v", key.Kid, key.X, err)
			}
		}
	})
}

func TestSetPublicKeys(t *testing.T) {
	server := mustKeyring(t, testKey("a", 1, t0.Add(-time.Hour)), testKey("b", 2, t0.Add(time.Hour)))
	tok := mustSign(t, server, validClaims())

	rs := token.NewKeyring(testOptions)
	if err := rs.SetPublicKeys(server.JWKS()); err != nil {
		t.Fatalf("SetPublicKeys: %v", err)
	}
	if _, err := rs.Verify(tok, t0); err != nil {
		t.Errorf("Verify with the published keys: %v", err)
	}
	if _, err := rs.Sign(validClaims()); err != token.ErrNoSigningKey {
		t.Errorf("Sign on a verify-only keyring: %v, want ErrNoSigningKey", err)
	}
	if !bytes.Equal(rs.JWKS(), server.JWKS()) {
		t.Errorf("JWKS of the verify-only keyring:\n%s\nwant\n%s", rs.JWKS(), server.JWKS())
	}

	t.Run("SkipsOtherKeys", func(t *testing.T) {
		doc := `{"keys":[
			{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"},
			{"kty":"OKP","crv":"X25519","kid":"x","x":"` + strings.Repeat("A", 43) + `"},
			{"kty":"OKP","crv":"Ed25519","kid":"enc","use":"enc","x":"` + strings.Repeat("A", 43) + `"},
			{"kty":"OKP","crv":"Ed25519","kid":"a","x":"` + b64.EncodeToString(testKey("a", 1, t0).Public) + `"}]}`
		k := token.NewKeyring(testOptions)
		if err := k.SetPublicKeys([]byte(doc)); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Verify(tok, t0); err != nil {
			t.Errorf("Verify: %v", err)
		}
		if n := strings.Count(string(k.JWKS()), `"kid"`); n != 1 {
			t.Errorf("JWKS has %d keys, want 1: %s", n, k.JWKS())
		}
	})

	x := b64.EncodeToString(testKey("a", 1, t0).Public)
	for _, tt := range []struct{ name, doc string }{
		{"NotJSON", `{"keys":`},
		{"NoKeys", `{}`},
		{"PrivateKey", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"` + x + `","d":"` + x + `"}]}`},
		{"NoKid", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `"}]}`},
		{"ShortX", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"AAAA"}]}`},
		{"PaddedX", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"` + x + `="}]}`},
		{"DuplicateKid", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"` + x + `"},{"kty":"OKP","crv":"Ed25519","kid":"a","x":"` + x + `"}]}`},
	} {
		t.Run("Err"+tt.name, func(t *testing.T) {
			k := token.NewKeyring(testOptions)
			if err := k.SetPublicKeys(server.JWKS()); err != nil {
				t.Fatal(err)
			}
			if err := k.SetPublicKeys([]byte(tt.doc)); err == nil {
				t.Fatal("SetPublicKeys succeeded")
			}
			if _, err := k.Verify(tok, t0); err != nil {
				t.Errorf("a failed SetPublicKeys changed the keys: %v", err)
			}
		})
	}
}

// keepSetting calls set(0), set(1), … in a goroutine until stop is closed
// or set fails; wg waits for it.
func keepSetting(t *testing.T, wg *sync.WaitGroup, stop <-chan struct{}, set func(i int) error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := set(i); err != nil {
				t.Error(err)
				return
			}
		}
	}()
}

// TestConcurrentRotation runs Sign and Verify while the keys change, for the
// race detector: every token must verify whichever snapshot it meets.
func TestConcurrentRotation(t *testing.T) {
	a := testKey("a", 1, t0.Add(-time.Hour))
	b := testKey("b", 2, t0.Add(-time.Minute))
	k := mustKeyring(t, a)
	var setter, wg sync.WaitGroup
	stop := make(chan struct{})
	keepSetting(t, &setter, stop, func(i int) error {
		keys := []*baton.Key{a, b}
		if i%2 == 0 {
			keys = keys[:1]
		}
		_ = k.JWKS()
		return k.SetKeys(keys, t0)
	})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				tok, err := k.Sign(validClaims())
				if err != nil {
					t.Error(err)
					return
				}
				// A token of b may meet a snapshot without b; one of a
				// always verifies.
				if _, err := k.Verify(tok, t0); err != nil && kidOf(t, tok) == "a" {
					t.Errorf("Verify: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	setter.Wait()
}

func TestNewSigningKey(t *testing.T) {
	key, err := token.NewSigningKey(t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if key.Use != baton.KeyUseSigning || key.Algorithm != "EdDSA" || len(key.Secret) != ed25519.SeedSize ||
		len(key.Public) != ed25519.PublicKeySize || !key.CreatedAt.Equal(t0) || !key.ActivateAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("key %+v", key)
	}
	if id, err := b64.DecodeString(key.ID); err != nil || len(id) != 16 {
		t.Errorf("kid %q is not 16 bytes of base64url: %v", key.ID, err)
	}
	key2, err := token.NewSigningKey(t0, t0)
	if err != nil {
		t.Fatal(err)
	}
	if key.ID == key2.ID || bytes.Equal(key.Secret, key2.Secret) {
		t.Error("two new keys are the same")
	}
	k := mustKeyring(t, key)
	if _, err := k.Verify(mustSign(t, k, validClaims()), t0); err != nil {
		t.Errorf("a new key signs and verifies: %v", err)
	}
}

func TestNewSecretKey(t *testing.T) {
	for _, use := range []string{baton.KeyUseRotation, baton.KeyUseCSRF} {
		key, err := token.NewSecretKey(use, t0)
		if err != nil {
			t.Fatal(err)
		}
		if key.Use != use || key.Algorithm != "HS256" || len(key.Secret) != 32 || key.Public != nil ||
			key.ID == "" || !key.ActivateAt.Equal(t0) {
			t.Errorf("key %+v", key)
		}
	}
	for _, use := range []string{"", baton.KeyUseSigning} {
		if _, err := token.NewSecretKey(use, t0); err == nil {
			t.Errorf("NewSecretKey(%q) succeeded", use)
		}
	}
}
