package resource_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/dpop"
	"github.com/batonauth/baton/resource"
)

// TestDPoPBoundTokens: a resource server accepts a DPoP-bound token only
// with the DPoP scheme and a proof of the bound key for this request.
func TestDPoPBoundTokens(t *testing.T) {
	srv := newBaton(t, nil)
	v, _ := newVerifier(t, srv, func(o *resource.Options) { o.PublicURL = "https://api.example" })
	h := api(v, -1)
	key, err := dpop.NewProver("ES256")
	if err != nil {
		t.Fatal(err)
	}
	g := grant{AccessToken: dpopLoginAt(t, srv, key)}
	do := func(scheme, proof string) answer {
		req := httptest.NewRequest(http.MethodGet, "/thing", nil)
		req.Header.Set("Authorization", scheme+" "+g.AccessToken)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var e struct{ Error string }
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		return answer{status: rec.Code, auth: rec.Header().Get("WWW-Authenticate"), code: e.Error}
	}
	good := func() string { p, _ := key.Proof("GET", "https://api.example/thing", g.AccessToken, ""); return p }
	if a := do("DPoP", good()); a.status != 200 {
		t.Fatalf("bound token with its proof: %+v", a)
	}
	other, _ := dpop.NewProver("EdDSA")
	otherProof, _ := other.Proof("GET", "https://api.example/thing", g.AccessToken, "")
	wrongURL, _ := key.Proof("GET", "https://elsewhere.example/thing", g.AccessToken, "")
	for _, tt := range []struct {
		name, scheme, proof, code string
	}{
		{"BearerScheme", "Bearer", "", "invalid_token"},
		{"NoProof", "DPoP", "", "invalid_dpop_proof"},
		{"OtherKey", "DPoP", otherProof, "invalid_token"},
		{"WrongURL", "DPoP", wrongURL, "invalid_dpop_proof"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := do(tt.scheme, tt.proof)
			if a.status != 401 || a.code != tt.code || !strings.HasPrefix(a.auth, "DPoP ") {
				t.Fatalf("got %+v, want 401 %s with a DPoP challenge", a, tt.code)
			}
		})
	}
	// A bearer token presented with the DPoP scheme is refused too.
	plain, _ := login(t, srv)
	req2 := httptest.NewRequest(http.MethodGet, "/thing", nil)
	req2.Header.Set("Authorization", "DPoP "+plain.AccessToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req2)
	if rec.Code != 401 {
		t.Fatalf("bearer token with the DPoP scheme: %d", rec.Code)
	}
}

// TestDPoPReplayShare: a client address that fills its share of the
// replay cache is answered 429 with Retry-After, not 401 (its token is
// fine), and other addresses go on; behind a proxy, ClientAddr names the
// client.
func TestDPoPReplayShare(t *testing.T) {
	srv := newBaton(t, nil)
	proofs, err := dpop.NewVerifier(dpop.Options{ReplayCacheSize: 20, ReplayCachePerClient: 2})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := newVerifier(t, srv, func(o *resource.Options) {
		o.PublicURL = "https://api.example"
		o.DPoP = proofs
		o.ClientAddr = func(r *http.Request) string { return r.Header.Get("X-Client") }
	})
	h := api(v, -1)
	key, err := dpop.NewProver("ES256")
	if err != nil {
		t.Fatal(err)
	}
	at := dpopLoginAt(t, srv, key)
	do := func(client string) *httptest.ResponseRecorder {
		p, _ := key.Proof("GET", "https://api.example/thing", at, "")
		req := httptest.NewRequest(http.MethodGet, "/thing", nil)
		req.Header.Set("Authorization", "DPoP "+at)
		req.Header.Set("DPoP", p)
		req.Header.Set("X-Client", client)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i, want := range []int{200, 200, 429} {
		if rec := do("198.51.100.1"); rec.Code != want {
			t.Fatalf("request %d from the flooding address: got %d %s, want %d", i, rec.Code, rec.Body, want)
		} else if want == 429 && rec.Header().Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if rec := do("198.51.100.2"); rec.Code != 200 {
		t.Fatalf("another address: got %d %s, want 200", rec.Code, rec.Body)
	}
}

// dpopLoginAt logs a fresh user in with a proof of key and returns the
// bound access token.
func dpopLoginAt(t *testing.T, srv *batontest.Server, key *dpop.Prover) string {
	t.Helper()
	_, user := login(t, srv)
	proof, _ := key.Proof("POST", srv.URL+"/v1/login", "", "")
	body, _ := json.Marshal(map[string]string{"username": user, "password": "correct horse battery staple"})
	req, _ := http.NewRequest("POST", srv.URL+"/v1/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("DPoP", proof)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var g grant
	if err := json.NewDecoder(res.Body).Decode(&g); err != nil || res.StatusCode != 200 {
		t.Fatalf("DPoP login: %d %v", res.StatusCode, err)
	}
	return g.AccessToken
}
