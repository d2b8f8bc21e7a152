package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton/admin"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/server"
)

func kidOf(t *testing.T, jwt string) string {
	t.Helper()
	h, _, _ := strings.Cut(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Kid string }
	_ = json.Unmarshal(raw, &hdr)
	return hdr.Kid
}

// jwksKids returns the kids of the published Ed25519 keys, those of
// access tokens.
func jwksKids(t *testing.T, url string) []string {
	t.Helper()
	r := call(t, "GET", url+"/.well-known/jwks.json", "", nil)
	var set struct{ Keys []struct{ Kid, Kty string } }
	if err := json.Unmarshal(r.raw, &set); err != nil {
		t.Fatalf("jwks: %v %s", err, r.raw)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.Kty == "OKP" {
			kids = append(kids, k.Kid)
		}
	}
	return kids
}

// TestKeyRotation walks a signing key through its life with a fake clock:
// a rotated-in key is published before it signs; tokens signed by the old
// key keep verifying until they expire; a retired key stays published until
// every token it signed has expired, then housekeeping removes it from the
// JWKS.
func TestKeyRotation(t *testing.T) {
	clock := batontest.NewClock(time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC))
	ts := newTestServer(t, map[string]string{"BATON_ACCESS_TTL": "15m", "BATON_REUSE_GRACE": "0"}, clock, server.Options{})
	ctx := context.Background()
	u := ts.URL
	call(t, "POST", u+"/v1/register", "", map[string]string{"username": "kate", "password": pw})
	login := func() string {
		t.Helper()
		r := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "kate", "password": pw})
		if r.status != 200 {
			t.Fatalf("login: %d %s", r.status, r.raw)
		}
		return r.str("access_token")
	}
	old := login()
	k1 := kidOf(t, old)
	if kids := jwksKids(t, u); !slices.Equal(kids, []string{k1}) {
		t.Fatalf("jwks %v, want [%s]", kids, k1)
	}

	k2, err := ts.Admin.RotateKey(ctx, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if k2.State != admin.KeyPending {
		t.Fatalf("new key state %q, want pending", k2.State)
	}
	t.Run("PublishedBeforeSigning", func(t *testing.T) {
		if kids := jwksKids(t, u); !slices.Contains(kids, k2.ID) || !slices.Contains(kids, k1) {
			t.Fatalf("jwks %v, want both %s and %s", kids, k1, k2.ID)
		}
		clock.Advance(9 * time.Minute)
		_ = ts.Service.ReloadKeys(ctx)
		if kid := kidOf(t, login()); kid != k1 {
			t.Fatalf("before activation a token is signed by %s, want the old key %s", kid, k1)
		}
	})
	t.Run("SignsAfterActivation", func(t *testing.T) {
		clock.Advance(time.Minute + time.Second)
		// The keyring picks the signer when it (re)loads keys: the first
		// reload after ActivateAt switches (every KeyReloadInterval).
		if err := ts.Service.ReloadKeys(ctx); err != nil {
			t.Fatal(err)
		}
		if kid := kidOf(t, login()); kid != k2.ID {
			t.Fatalf("after activation a token is signed by %s, want %s", kid, k2.ID)
		}
		if r := call(t, "GET", u+"/v1/me", old, nil); r.status != 200 {
			t.Fatalf("a token signed by the old key before the rotation: %d %s", r.status, r.raw)
		}
	})
	var retired admin.KeyInfo
	t.Run("RetiredStaysPublished", func(t *testing.T) {
		var err error
		retired, err = ts.Admin.RetireKey(ctx, k1, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := retired.RetiredAt.Add(15*time.Minute + 5*time.Second + 30*time.Second); !retired.RemoveAfter.Equal(want) {
			t.Fatalf("remove after %v, want %v", retired.RemoveAfter, want)
		}
		if ts.Prune(ctx); !slices.Contains(jwksKids(t, u), k1) {
			t.Fatal("a just-retired key left the JWKS")
		}
		if r := call(t, "GET", u+"/v1/me", old, nil); r.status != 200 {
			t.Fatalf("a token of the retired key before its expiry: %d %s", r.status, r.raw)
		}
		if kid := kidOf(t, login()); kid != k2.ID {
			t.Fatalf("signed by %s after retirement, want %s", kid, k2.ID)
		}
		// The only remaining signing key cannot be retired by mistake.
		if _, err := ts.Admin.RetireKey(ctx, k2.ID, false); err == nil {
			t.Fatal("retiring the last signing key was allowed")
		}
	})
	t.Run("GoneAfterItsTokensExpired", func(t *testing.T) {
		clock.Advance(15*time.Minute + 5*time.Second + 30*time.Second - time.Second)
		if ts.Prune(ctx); !slices.Contains(jwksKids(t, u), k1) {
			t.Fatal("the retired key left the JWKS a second early")
		}
		clock.Advance(2 * time.Second)
		ts.Prune(ctx)
		if kids := jwksKids(t, u); slices.Contains(kids, k1) || !slices.Contains(kids, k2.ID) {
			t.Fatalf("jwks %v after the retired key's tokens expired, want only %s", kids, k2.ID)
		}
		if r := call(t, "GET", u+"/v1/me", old, nil); r.status != 401 {
			t.Fatalf("an expired token of a deleted key: %d", r.status)
		}
	})
}

// TestJWKSCacheShorterThanPrepublish: resource servers cache the JWKS for
// max-age; a pre-published key must reach them before it signs, so
// max-age plus the key-reload interval must stay below the default
// pre-publication delay of `baton keys rotate` (10m).
func TestJWKSCacheShorterThanPrepublish(t *testing.T) {
	ts := newTestServer(t, nil, nil, server.Options{})
	r := call(t, "GET", ts.URL+"/.well-known/jwks.json", "", nil)
	m := regexp.MustCompile(`max-age=(\d+)`).FindStringSubmatch(r.hdr.Get("Cache-Control"))
	if m == nil {
		t.Fatalf("Cache-Control %q has no max-age", r.hdr.Get("Cache-Control"))
	}
	age, _ := strconv.Atoi(m[1])
	if time.Duration(age)*time.Second+30*time.Second >= 10*time.Minute {
		t.Fatalf("JWKS max-age %ds + 30s key reload is not below the 10m pre-publication default", age)
	}
}
