package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/httpapi"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/session"
)

// refusingIDKeys is a store that cannot store the ID-token keys.
type refusingIDKeys struct{ baton.Store }

func (s refusingIDKeys) EnsureKey(ctx context.Context, k *baton.Key) (*baton.Key, error) {
	if k.Use == baton.KeyUseSigningRSA || k.Use == baton.KeyUseSigningEC {
		return nil, errors.New("the store is read-only")
	}
	return s.Store.EnsureKey(ctx, k)
}

// TestJWKSWithoutIDKeys: when the ID-token keys cannot be made, the JWKS
// still publishes the access tokens' key, for resource servers, but asks
// nobody to cache a set the next answer will complete.
func TestJWKSWithoutIDKeys(t *testing.T) {
	svc, err := session.New(context.Background(), refusingIDKeys{batontest.OpenSQLite(t)}, session.Config{
		Issuer: "https://auth.example.com", Hasher: password.NewHasher(batontest.CheapPasswords, 2),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	api, err := httpapi.New(svc, httpapi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	var set struct{ Keys []struct{ Kty, Kid string } }
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("JWKS: %d %s", rec.Code, rec.Body)
	}
	if len(set.Keys) != 1 || set.Keys[0].Kty != "OKP" {
		t.Errorf("JWKS %s, want the Ed25519 key alone", rec.Body)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
}
