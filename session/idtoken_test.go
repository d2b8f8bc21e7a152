package session_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/seal"
	"github.com/batonauth/baton/session"
	"github.com/batonauth/baton/token"
)

// keysOfUse returns the stored keys of use.
func keysOfUse(t *testing.T, store baton.KeyStore, use string) []*baton.Key {
	t.Helper()
	keys, err := store.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*baton.Key
	for _, k := range keys {
		if k.Use == use {
			out = append(out, k)
		}
	}
	return out
}

// publishedKids returns the kids of the JWKS by key type.
func publishedKids(t *testing.T, svc *session.Service) map[string][]string {
	t.Helper()
	var set struct{ Keys []struct{ Kty, Kid string } }
	if err := json.Unmarshal(svc.Keyring().JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, k := range set.Keys {
		out[k.Kty] = append(out[k.Kty], k.Kid)
	}
	return out
}

func headerOf(t *testing.T, tok string) map[string]string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(h, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestIDSignerLazy: a new server makes no ID-token key until one is
// needed; then it makes one RSA and one P-256 key, sealed, publishes them,
// and signs with them.
func TestIDSignerLazy(t *testing.T) {
	master := bytes.Repeat([]byte{7}, 32)
	f := newFixture(t, func(c *session.Config) { c.MasterKey = master })
	for _, use := range []string{baton.KeyUseSigningRSA, baton.KeyUseSigningEC} {
		if ks := keysOfUse(t, f.store, use); len(ks) != 0 {
			t.Fatalf("a new server made %d %s keys", len(ks), use)
		}
	}
	if kids := publishedKids(t, f.svc); len(kids["RSA"]) != 0 || len(kids["EC"]) != 0 || len(kids["OKP"]) != 1 {
		t.Fatalf("published %v before any need", kids)
	}

	ids, err := f.svc.IDSigner(ctx)
	if err != nil {
		t.Fatalf("IDSigner: %v", err)
	}
	kids := publishedKids(t, f.svc)
	for use, kty := range map[string]string{baton.KeyUseSigningRSA: "RSA", baton.KeyUseSigningEC: "EC"} {
		ks := keysOfUse(t, f.store, use)
		if len(ks) != 1 || !seal.IsSealed(ks[0]) {
			t.Fatalf("%s keys: %d, want 1, sealed", use, len(ks))
		}
		if len(kids[kty]) != 1 || kids[kty][0] != ks[0].ID {
			t.Errorf("published %s kids %v, want [%s]", kty, kids[kty], ks[0].ID)
		}
	}
	again, err := f.svc.IDSigner(ctx)
	if err != nil || again != ids {
		t.Fatalf("IDSigner again: %v", err)
	}
	if n := len(keysOfUse(t, f.store, baton.KeyUseSigningRSA)); n != 1 {
		t.Fatalf("a second call made more keys: %d RSA keys", n)
	}

	claims := map[string]any{"iss": "https://auth.example.com", "sub": "u1", "aud": "client-1"}
	for alg, kty := range map[string]string{"": "RSA", baton.AlgRS256: "RSA", baton.AlgES256: "EC", baton.AlgEdDSA: "OKP"} {
		tok, err := f.svc.SignIDToken(ctx, alg, claims)
		if err != nil {
			t.Fatalf("SignIDToken(%q): %v", alg, err)
		}
		h := headerOf(t, tok)
		if h["typ"] != "JWT" || h["kid"] != kids[kty][0] {
			t.Errorf("SignIDToken(%q): header %v, want typ JWT and the %s key", alg, h, kty)
		}
		got, gotAlg, err := f.svc.VerifyIDToken(tok)
		if err != nil || got["sub"] != "u1" || (alg != "" && gotAlg != alg) {
			t.Errorf("VerifyIDToken: %v %s %v", got, gotAlg, err)
		}
		logout, err := f.svc.SignLogoutToken(ctx, alg, claims)
		if err != nil {
			t.Fatalf("SignLogoutToken(%q): %v", alg, err)
		}
		if h := headerOf(t, logout); h["typ"] != "logout+jwt" || h["kid"] != kids[kty][0] {
			t.Errorf("SignLogoutToken(%q): header %v", alg, h)
		}
	}
	if _, err := f.svc.SignIDToken(ctx, "HS256", claims); err == nil {
		t.Error("SignIDToken(HS256) succeeded")
	}
}

// TestIDSignerSharedStore: servers on one store share the ID-token keys,
// however many ask at once, and a rotation made by one reaches the other
// at its next key reload.
func TestIDSignerSharedStore(t *testing.T) {
	a := newFixture(t, nil)
	b := newFixtureOn(t, a.store, nil)
	var wg sync.WaitGroup
	for i := range 6 {
		svc := a.svc
		if i%2 == 1 {
			svc = b.svc
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := svc.IDSigner(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, use := range []string{baton.KeyUseSigningRSA, baton.KeyUseSigningEC} {
		if n := len(keysOfUse(t, a.store, use)); n != 1 {
			t.Fatalf("%d %s keys after concurrent first needs, want 1", n, use)
		}
	}
	if ka, kb := string(a.svc.Keyring().JWKS()), string(b.svc.Keyring().JWKS()); ka != kb {
		t.Fatalf("the servers publish different keys:\n%s\n%s", ka, kb)
	}

	// A rotation by a: a new EC key, then the old one retired.
	old := keysOfUse(t, a.store, baton.KeyUseSigningEC)[0]
	next, err := token.NewECKey(a.clock.Now(), a.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.store.InsertKey(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := a.store.RetireKey(ctx, old.ID, a.clock.Now()); err != nil {
		t.Fatal(err)
	}
	signedByOld, err := b.svc.SignIDToken(ctx, baton.AlgES256, map[string]any{"sub": "u"})
	if err != nil || headerOf(t, signedByOld)["kid"] != old.ID {
		t.Fatalf("before b reloads, want the old key: %v", err)
	}
	if err := b.svc.ReloadKeys(ctx); err != nil {
		t.Fatal(err)
	}
	tok, err := b.svc.SignIDToken(ctx, baton.AlgES256, map[string]any{"sub": "u"})
	if err != nil || headerOf(t, tok)["kid"] != next.ID {
		t.Fatalf("after b reloads, want the new key %s: %v", next.ID, err)
	}
	if _, _, err := b.svc.VerifyIDToken(signedByOld); err != nil {
		t.Errorf("the retired key stopped verifying: %v", err)
	}
	if kids := publishedKids(t, b.svc)["EC"]; len(kids) != 2 {
		t.Errorf("published EC keys %v, want the retired and the new one", kids)
	}
}

// failingKeys is a store whose EnsureKey fails for the ID-token keys while
// fail is set, and remembers the keys it was offered.
type failingKeys struct {
	baton.Store
	mu      sync.Mutex
	fail    bool
	offered map[string][]string // use → kids offered to EnsureKey
}

func (s *failingKeys) EnsureKey(ctx context.Context, k *baton.Key) (*baton.Key, error) {
	s.mu.Lock()
	s.offered[k.Use] = append(s.offered[k.Use], k.ID)
	fail := s.fail && token.IsSigningUse(k.Use) && k.Use != baton.KeyUseSigning
	s.mu.Unlock()
	if fail {
		return nil, errors.New("the store is read-only")
	}
	return s.Store.EnsureKey(ctx, k)
}

// TestIDSignerStoreFailure: while the store refuses the keys, IDSigner
// fails and nothing signs; the key it made is kept for the next try, so
// that failing requests do not each generate an RSA key.
func TestIDSignerStoreFailure(t *testing.T) {
	store := &failingKeys{Store: batontest.OpenSQLite(t), offered: map[string][]string{}, fail: true}
	f := newFixtureOn(t, store, nil)
	for range 3 {
		if _, err := f.svc.IDSigner(ctx); err == nil {
			t.Fatal("IDSigner succeeded while the store refused the keys")
		}
	}
	if _, err := f.svc.SignIDToken(ctx, baton.AlgEdDSA, map[string]any{"sub": "u"}); err == nil {
		t.Fatal("SignIDToken succeeded without ID-token keys")
	}
	store.mu.Lock()
	store.fail = false
	store.mu.Unlock()
	if _, err := f.svc.IDSigner(ctx); err != nil {
		t.Fatalf("IDSigner once the store works: %v", err)
	}
	// Four failed tries (three IDSigner, one SignIDToken), then success.
	offered := store.offered[baton.KeyUseSigningRSA]
	if len(offered) != 5 || len(slices.Compact(slices.Clone(offered))) != 1 {
		t.Errorf("RSA keys offered %v: want one key, five times", offered)
	}
	if ks := keysOfUse(t, store, baton.KeyUseSigningRSA); len(ks) != 1 || ks[0].ID != offered[0] {
		t.Errorf("stored RSA keys %v, want the one made first", ks)
	}
}

// TestIDSignerRemade: when every RSA key was retired (`baton keys retire
// --force`), the next need makes a new one rather than failing.
func TestIDSignerRemade(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.svc.IDSigner(ctx); err != nil {
		t.Fatal(err)
	}
	first := keysOfUse(t, f.store, baton.KeyUseSigningRSA)[0]
	if err := f.store.RetireKey(ctx, first.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ReloadKeys(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	tok, err := f.svc.SignIDToken(ctx, baton.AlgRS256, map[string]any{"sub": "u"})
	if err != nil {
		t.Fatal(err)
	}
	if kid := headerOf(t, tok)["kid"]; kid == first.ID {
		t.Fatal("signed with the retired key")
	}
	if n := len(keysOfUse(t, f.store, baton.KeyUseSigningRSA)); n != 2 {
		t.Fatalf("%d RSA keys, want the retired one and a new one", n)
	}
}
