package httpapi_test

import (
	"strings"
	"testing"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/dpop"
)

func mustProver(t *testing.T, alg string) *dpop.Prover {
	t.Helper()
	p, err := dpop.NewProver(alg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func proofFor(t *testing.T, p *dpop.Prover, srv *batontest.Server, method, path, at, nonce string) string {
	t.Helper()
	s, err := p.Proof(method, srv.URL+path, at, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDPoP: tokens bound to a client key (RFC 9449) are useless without
// that key: the access token needs a fresh proof per request, the refresh
// token a proof at every refresh.
func TestDPoP(t *testing.T) {
	srv := batontest.NewServer(t, batontest.Env{"BATON_REUSE_GRACE": "0"}, nil)
	c := newClient(t, srv)
	c.register("alice")
	key := mustProver(t, "ES256")
	l := c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw},
		"DPoP", proofFor(t, key, srv, "POST", "/v1/login", "", "")).want(t, 200, "")
	at := l.str("access_token")
	if l.str("token_type") != "DPoP" {
		t.Fatalf("token_type: got %q, want DPoP", l.str("token_type"))
	}
	cnf, _ := decodeClaims(t, at)["cnf"].(map[string]any)
	if cnf["jkt"] != key.JKT() {
		t.Fatalf("cnf.jkt: got %v, want %s", cnf, key.JKT())
	}
	dpopAuth := func(tok, proof string) []string { return []string{"Authorization", "DPoP " + tok, "DPoP", proof} }

	c.do("GET", "/v1/me", nil, dpopAuth(at, proofFor(t, key, srv, "GET", "/v1/me", at, ""))...).want(t, 200, "")
	replayed := proofFor(t, key, srv, "GET", "/v1/me", at, "")
	c.do("GET", "/v1/me", nil, dpopAuth(at, replayed)...).want(t, 200, "")

	other := mustProver(t, "EdDSA")
	for _, tt := range []struct {
		name string
		hdr  []string
		code string
	}{
		{"BearerSchemeForBoundToken", bearer(at), "invalid_token"},
		{"NoProof", []string{"Authorization", "DPoP " + at}, "invalid_dpop_proof"},
		{"ReplayedProof", dpopAuth(at, replayed), "invalid_dpop_proof"},
		{"OtherKey", dpopAuth(at, proofFor(t, other, srv, "GET", "/v1/me", at, "")), "invalid_token"},
		{"WrongMethod", dpopAuth(at, proofFor(t, key, srv, "POST", "/v1/me", at, "")), "invalid_dpop_proof"},
		{"WrongURL", dpopAuth(at, proofFor(t, key, srv, "GET", "/v1/sessions", at, "")), "invalid_dpop_proof"},
		{"ProofForAnotherToken", dpopAuth(at, proofFor(t, key, srv, "GET", "/v1/me", "another-token", "")), "invalid_dpop_proof"},
		{"TwoProofs", []string{"Authorization", "DPoP " + at, "DPoP", proofFor(t, key, srv, "GET", "/v1/me", at, "") + ", x"}, "invalid_dpop_proof"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do("GET", "/v1/me", nil, tt.hdr...).want(t, 401, tt.code)
			if h := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "DPoP ") || !strings.Contains(h, `algs="ES256 EdDSA"`) {
				t.Fatalf("WWW-Authenticate: got %q", h)
			}
		})
	}

	t.Run("Refresh", func(t *testing.T) {
		rt := l.str("refresh_token")
		// A stolen bound refresh token is useless, and trying does not
		// end the owner's session.
		c.do("POST", "/v1/refresh", map[string]string{"refresh_token": rt}).want(t, 401, "invalid_grant")
		c.do("POST", "/v1/refresh", map[string]string{"refresh_token": rt},
			"DPoP", proofFor(t, other, srv, "POST", "/v1/refresh", "", "")).want(t, 401, "invalid_grant")
		r := c.do("POST", "/v1/refresh", map[string]string{"refresh_token": rt},
			"DPoP", proofFor(t, key, srv, "POST", "/v1/refresh", "", "")).want(t, 200, "")
		if r.str("token_type") != "DPoP" {
			t.Fatalf("refreshed token_type: %q", r.str("token_type"))
		}
		at2 := r.str("access_token")
		c.do("GET", "/v1/me", nil, dpopAuth(at2, proofFor(t, key, srv, "GET", "/v1/me", at2, ""))...).want(t, 200, "")
	})
	t.Run("BearerTokenWithDPoPScheme", func(t *testing.T) {
		plain := c.login("alice").str("access_token")
		c.do("GET", "/v1/me", nil, dpopAuth(plain, proofFor(t, key, srv, "GET", "/v1/me", plain, ""))...).want(t, 401, "invalid_token")
	})
	t.Run("InvalidProofAtLogin", func(t *testing.T) {
		c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw},
			"DPoP", proofFor(t, key, srv, "POST", "/v1/refresh", "", "")).want(t, 400, "invalid_dpop_proof")
	})
	t.Run("OAuthTokenEndpoint", func(t *testing.T) {
		r := c.do("POST", "/oauth/token", "grant_type=password&username=alice&password=correct+horse+battery+staple",
			"Content-Type", "application/x-www-form-urlencoded", "DPoP", proofFor(t, key, srv, "POST", "/oauth/token", "", "")).want(t, 200, "")
		if r.str("token_type") != "DPoP" {
			t.Fatalf("token_type: %q", r.str("token_type"))
		}
		c.do("POST", "/oauth/token", "grant_type=refresh_token&refresh_token="+r.str("refresh_token"),
			"Content-Type", "application/x-www-form-urlencoded").want(t, 400, "invalid_grant")
	})
	m := c.do("GET", "/.well-known/oauth-authorization-server", nil).want(t, 200, "")
	if algs, _ := m.body["dpop_signing_alg_values_supported"].([]any); len(algs) != 2 {
		t.Fatalf("metadata dpop algs: %v", m.body["dpop_signing_alg_values_supported"])
	}
}

func TestDPoPNonce(t *testing.T) {
	srv := batontest.NewServer(t, batontest.Env{"BATON_DPOP_REQUIRE_NONCE": "true"}, nil)
	c := newClient(t, srv)
	c.register("alice")
	key := mustProver(t, "EdDSA")
	body := map[string]string{"username": "alice", "password": pw}
	r := c.do("POST", "/v1/login", body, "DPoP", proofFor(t, key, srv, "POST", "/v1/login", "", "")).want(t, 400, "use_dpop_nonce")
	nonce := r.Header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("no DPoP-Nonce header with use_dpop_nonce")
	}
	c.do("POST", "/v1/login", body, "DPoP", proofFor(t, key, srv, "POST", "/v1/login", "", "forged")).want(t, 400, "use_dpop_nonce")
	l := c.do("POST", "/v1/login", body, "DPoP", proofFor(t, key, srv, "POST", "/v1/login", "", nonce)).want(t, 200, "")
	at := l.str("access_token")
	r = c.do("GET", "/v1/me", nil, "Authorization", "DPoP "+at, "DPoP", proofFor(t, key, srv, "GET", "/v1/me", at, "")).want(t, 401, "use_dpop_nonce")
	if r.Header.Get("DPoP-Nonce") == "" {
		t.Fatal("no DPoP-Nonce on the resource challenge")
	}
	c.do("GET", "/v1/me", nil, "Authorization", "DPoP "+at, "DPoP", proofFor(t, key, srv, "GET", "/v1/me", at, nonce)).want(t, 200, "")
}
