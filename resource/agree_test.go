package resource_test

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/dpop"
	"github.com/batonauth/baton/resource"
	"github.com/batonauth/baton/token"
)

// TestConsumersAgree: baton's own middleware (httpapi's RequireAuth and
// RequireFresh) and a resource server's (Require, RequireFresh) apply one
// set of transport rules (package httpauth): the same request gets the
// same status, error code and WWW-Authenticate challenge from both. The
// table covers the Authorization schemes, the DPoP binding, expiry and
// freshness, a token without auth_time included (never fresh), under a
// freshness window and under none.
func TestConsumersAgree(t *testing.T) {
	key, other := mustKey(t), mustKey(t)
	for _, ttl := range []time.Duration{15 * time.Minute, 0} {
		t.Run("FreshTTL="+ttl.String(), func(t *testing.T) {
			srv := newBaton(t, batontest.Env{"BATON_FRESH_TTL": ttl.String()})
			v, _ := newVerifier(t, srv, func(o *resource.Options) { o.PublicURL = srv.URL })
			ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
			consumers := []struct {
				name         string
				plain, fresh http.Handler
			}{
				{"httpapi", srv.API.RequireAuth(ok), srv.API.RequireFresh(ok)},
				{"resource", v.Require(ok), v.Require(v.RequireFresh(ttl)(ok))},
			}
			now := time.Now()
			mint := func(mod func(c *token.Claims)) string {
				c := &token.Claims{Subject: "user", SessionID: rand.Text(), ID: rand.Text(), IssuedAt: now.Add(-time.Second),
					ExpiresAt: now.Add(5 * time.Minute), AuthTime: now.Add(-time.Second), Fresh: true}
				if mod != nil {
					mod(c)
				}
				tok, err := srv.Service.Keyring().Sign(c)
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			unbound := mint(nil)
			bound := mint(func(c *token.Claims) { c.JKT = key.JKT() })
			proof := func(p *dpop.Prover, tok string) string {
				s, err := p.Proof("GET", srv.URL+"/thing", tok, "")
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			freshAnswer := 200
			if ttl > 0 {
				freshAnswer = 401
			}
			for _, tt := range []struct {
				name       string
				fresh      bool     // through the fresh middleware
				hdr        []string // header, value, …
				wantStatus int
				wantCode   string
			}{
				{"NoToken", false, nil, 401, "unauthorized"},
				{"OtherScheme", false, []string{"Authorization", "Basic dXNlcjpwdw=="}, 401, "invalid_token"},
				{"SchemeWithoutToken", false, []string{"Authorization", "Bearer "}, 401, "invalid_token"},
				{"Bearer", false, []string{"Authorization", "Bearer " + unbound}, 200, ""},
				{"BearerAnyCase", false, []string{"Authorization", "bEaReR " + unbound}, 200, ""},
				{"BadSignature", false, []string{"Authorization", "Bearer " + unbound[:len(unbound)-4] + "AAAA"}, 401, "invalid_token"},
				{"Expired", false, []string{"Authorization", "Bearer " + mint(func(c *token.Claims) {
					c.IssuedAt, c.ExpiresAt = now.Add(-10*time.Minute), now.Add(-5*time.Minute)
				})}, 401, "token_expired"},
				{"DPoPSchemeUnboundToken", false, []string{"Authorization", "DPoP " + unbound, "DPoP", proof(key, unbound)}, 401, "invalid_token"},
				{"BearerSchemeBoundToken", false, []string{"Authorization", "Bearer " + bound}, 401, "invalid_token"},
				{"BoundNoProof", false, []string{"Authorization", "DPoP " + bound}, 401, "invalid_dpop_proof"},
				{"BoundTwoProofs", false, []string{"Authorization", "DPoP " + bound, "DPoP", proof(key, bound), "DPoP", proof(key, bound)}, 401, "invalid_dpop_proof"},
				{"BoundProofForAnotherToken", false, []string{"Authorization", "DPoP " + bound, "DPoP", proof(key, unbound)}, 401, "invalid_dpop_proof"},
				{"BoundOtherKey", false, []string{"Authorization", "DPoP " + bound, "DPoP", proof(other, bound)}, 401, "invalid_token"},
				{"BoundProof", false, []string{"Authorization", "DPoP " + bound, "DPoP", proof(key, bound)}, 200, ""},
				{"Fresh", true, []string{"Authorization", "Bearer " + unbound}, 200, ""},
				{"NotFresh", true, []string{"Authorization", "Bearer " + mint(func(c *token.Claims) { c.Fresh = false })}, 401, "insufficient_user_authentication"},
				{"FreshButOld", true, []string{"Authorization", "Bearer " + mint(func(c *token.Claims) { c.AuthTime = now.Add(-time.Hour) })}, freshAnswer, map[int]string{401: "insufficient_user_authentication"}[freshAnswer]},
				{"FreshWithoutAuthTime", true, []string{"Authorization", "Bearer " + mint(func(c *token.Claims) { c.AuthTime = time.Time{} })}, 401, "insufficient_user_authentication"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					var first *httptest.ResponseRecorder
					for _, c := range consumers {
						req := httptest.NewRequest(http.MethodGet, srv.URL+"/thing", nil)
						for i := 0; i+1 < len(tt.hdr); i += 2 {
							req.Header.Add(tt.hdr[i], tt.hdr[i+1])
						}
						h := c.plain
						if tt.fresh {
							h = c.fresh
						}
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, req)
						var body struct{ Error string }
						_ = json.Unmarshal(rec.Body.Bytes(), &body)
						if rec.Code != tt.wantStatus || body.Error != tt.wantCode {
							t.Errorf("%s: got %d %q, want %d %q", c.name, rec.Code, body.Error, tt.wantStatus, tt.wantCode)
						}
						if first == nil {
							first = rec
							continue
						}
						if a, b := first.Header().Get("WWW-Authenticate"), rec.Header().Get("WWW-Authenticate"); a != b {
							t.Errorf("WWW-Authenticate differs:\n httpapi:  %s\n resource: %s", a, b)
						}
					}
				})
			}
		})
	}
}

func mustKey(t *testing.T) *dpop.Prover {
	t.Helper()
	p, err := dpop.NewProver("ES256")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
