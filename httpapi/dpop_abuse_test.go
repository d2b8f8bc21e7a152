package httpapi_test

import (
	"fmt"
	"log/slog"
	"net/url"
	"testing"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/dpop"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/batonauth/baton/server"
)

// dpopLogin logs name in with a DPoP proof of key and returns the token
// response.
func dpopLogin(t *testing.T, c *client, key *dpop.Prover, name string, hdr ...string) *resp {
	t.Helper()
	return c.do("POST", "/v1/login", map[string]string{"username": name, "password": pw},
		append([]string{"DPoP", proofFor(t, key, c.srv, "POST", "/v1/login", "", "")}, hdr...)...).want(t, 200, "")
}

// dpopGet sends GET path with a bound access token and a fresh proof.
func dpopGet(t *testing.T, c *client, key *dpop.Prover, path, at string, hdr ...string) *resp {
	t.Helper()
	return c.do("GET", path, nil, append([]string{"Authorization", "DPoP " + at,
		"DPoP", proofFor(t, key, c.srv, "GET", path, at, "")}, hdr...)...)
}

// TestDPoPFloodFromOneAddress: anyone can make valid proofs with keys of
// their own, so one address sending proofs with junk requests (bad
// passwords, unknown refresh tokens, bad access tokens, unknown grant
// types) or with good requests of its own account at a high rate must not
// fill the replay cache for everyone. Requests are checked before their
// proof is spent, and each address may fill a tenth of the cache; honest
// DPoP requests from another address see no failure.
func TestDPoPFloodFromOneAddress(t *testing.T) {
	const cacheSize = 200 // so each address may hold 20 proofs
	srv := batontest.NewServerWith(t, batontest.Env{"BATON_TRUSTED_PROXIES": "127.0.0.0/8,::1/128"}, nil,
		server.Options{Logger: slog.New(slog.DiscardHandler), DPoPReplayCacheSize: cacheSize})
	honestAddr := []string{"X-Forwarded-For", "203.0.113.9"}
	floodAddr := []string{"X-Forwarded-For", "198.51.100.66"}
	c := newClient(t, srv)
	c.register("alice")
	c.register("mallory")
	honest := mustProver(t, "ES256")
	l := dpopLogin(t, c, honest, "alice", honestAddr...)

	flooder := mustProver(t, "ES256")
	m := dpopLogin(t, c, flooder, "mallory", floodAddr...)
	mAT := m.str("access_token")
	form := "application/x-www-form-urlencoded"
	junk := []func(i int) *resp{
		func(i int) *resp {
			return c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": "wrong password"},
				append([]string{"DPoP", proofFor(t, flooder, srv, "POST", "/v1/login", "", "")}, floodAddr...)...)
		},
		func(i int) *resp {
			return c.do("POST", "/oauth/token", fmt.Sprintf("grant_type=refresh_token&refresh_token=brt_junk%d", i),
				append([]string{"Content-Type", form, "DPoP", proofFor(t, flooder, srv, "POST", "/oauth/token", "", "")}, floodAddr...)...)
		},
		func(i int) *resp {
			return c.do("POST", "/oauth/token", "grant_type=client_credentials",
				append([]string{"Content-Type", form, "DPoP", proofFor(t, flooder, srv, "POST", "/oauth/token", "", "")}, floodAddr...)...)
		},
		func(i int) *resp {
			return c.do("POST", "/v1/refresh", map[string]string{"refresh_token": fmt.Sprintf("brt_junk%d", i)},
				append([]string{"DPoP", proofFor(t, flooder, srv, "POST", "/v1/refresh", "", "")}, floodAddr...)...)
		},
		func(i int) *resp {
			return c.do("GET", "/v1/me", nil, append([]string{"Authorization", "DPoP junk.token.here",
				"DPoP", proofFor(t, flooder, srv, "GET", "/v1/me", "junk.token.here", "")}, floodAddr...)...)
		},
		// Mallory's own, valid requests: these do spend, her share only.
		func(i int) *resp { return dpopGet(t, c, flooder, "/v1/me", mAT, floodAddr...) },
	}
	const flood = 3 * cacheSize / 2
	refused := 0
	for i := range flood {
		if r := junk[i%len(junk)](i); r.StatusCode == 429 || r.StatusCode == 503 {
			refused++
		}
	}

	at, rt := l.str("access_token"), l.str("refresh_token")
	failures := 0
	const honestRequests = 12
	for i := range honestRequests {
		var r *resp
		switch i % 4 {
		case 0, 1:
			r = dpopGet(t, c, honest, "/v1/me", at, honestAddr...)
		case 2:
			r = c.do("POST", "/v1/refresh", map[string]string{"refresh_token": rt},
				append([]string{"DPoP", proofFor(t, honest, srv, "POST", "/v1/refresh", "", "")}, honestAddr...)...)
			if r.StatusCode == 200 {
				at, rt = r.str("access_token"), r.str("refresh_token")
			}
		case 3:
			r = c.do("POST", "/oauth/token", "grant_type=password&username=alice&password="+url.QueryEscape(pw),
				append([]string{"Content-Type", form, "DPoP", proofFor(t, honest, srv, "POST", "/oauth/token", "", "")}, honestAddr...)...)
		}
		if r.StatusCode != 200 {
			failures++
			t.Logf("honest %s %s: %d %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.raw)
		}
	}
	t.Logf("%d flood requests with proofs from one address (%d refused with 429/503); %d of %d honest DPoP requests failed",
		flood, refused, failures, honestRequests)
	if failures != 0 {
		t.Fatalf("%d of %d honest DPoP requests failed after a flood from another address, want 0", failures, honestRequests)
	}
	// The flooder's own valid requests met their share's bound.
	if r := dpopGet(t, c, flooder, "/v1/me", mAT, floodAddr...); r.StatusCode != 429 {
		t.Fatalf("flooder past its share: got %d %s, want 429", r.StatusCode, r.raw)
	}
}

// TestDPoPReplayAcrossInstances: on PostgreSQL a proof accepted by one
// instance is refused by every other within its window.
func TestDPoPReplayAcrossInstances(t *testing.T) {
	env := batontest.Env{"BATON_DATABASE_URL": pgtest.NewDatabase(t), "BATON_ISSUER": "http://auth.test"}
	a, b := batontest.NewServer(t, env, nil), batontest.NewServer(t, env, nil)
	ca, cb := newClient(t, a), newClient(t, b)
	ca.register("alice")
	key := mustProver(t, "ES256")
	proof := func(method, path, at string) string {
		p, err := key.Proof(method, "http://auth.test"+path, at, "")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	l := ca.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw},
		"DPoP", proof("POST", "/v1/login", "")).want(t, 200, "")
	at := l.str("access_token")
	p := proof("GET", "/v1/me", at)
	ca.do("GET", "/v1/me", nil, "Authorization", "DPoP "+at, "DPoP", p).want(t, 200, "")
	cb.do("GET", "/v1/me", nil, "Authorization", "DPoP "+at, "DPoP", p).want(t, 401, "invalid_dpop_proof")
	cb.do("GET", "/v1/me", nil, "Authorization", "DPoP "+at, "DPoP", proof("GET", "/v1/me", at)).want(t, 200, "")

	// A refresh proof replayed at the other instance is refused as well.
	rp := proof("POST", "/v1/refresh", "")
	r := cb.do("POST", "/v1/refresh", map[string]string{"refresh_token": l.str("refresh_token")}, "DPoP", rp).want(t, 200, "")
	ca.do("POST", "/v1/refresh", map[string]string{"refresh_token": r.str("refresh_token")}, "DPoP", rp).want(t, 400, "invalid_dpop_proof")
}

// TestDPoPBoundSessionEnd: a session bound to a DPoP key ends only with a
// proof of that key, whether by access token or refresh token at
// /v1/logout or by either token at /oauth/revoke. Without one the session
// lives on.
func TestDPoPBoundSessionEnd(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	c.register("alice")
	key, other := mustProver(t, "ES256"), mustProver(t, "EdDSA")
	form := "application/x-www-form-urlencoded"
	// revoke returns the /oauth/revoke of the token named kind.
	revoke := func(kind string) func(l *resp, p *dpop.Prover) *resp {
		return func(l *resp, p *dpop.Prover) *resp {
			hdr := []string{"Content-Type", form}
			if p != nil {
				hdr = append(hdr, "DPoP", proofFor(t, p, srv, "POST", "/oauth/revoke", "", ""))
			}
			return c.do("POST", "/oauth/revoke", "token="+url.QueryEscape(l.str(kind)), hdr...)
		}
	}
	alive := func(t *testing.T, at string) bool {
		t.Helper()
		return dpopGet(t, c, key, "/v1/me", at).StatusCode == 200
	}
	for _, tt := range []struct {
		name string
		// end tries to end the session of l with proof (a proof maker,
		// nil for none) and returns the answer.
		end        func(l *resp, proof *dpop.Prover) *resp
		wantStatus int
		wantCode   string
	}{
		{"LogoutByAccessToken", func(l *resp, p *dpop.Prover) *resp {
			at := l.str("access_token")
			hdr := []string{"Authorization", "DPoP " + at}
			if p != nil {
				hdr = append(hdr, "DPoP", proofFor(t, p, srv, "POST", "/v1/logout", at, ""))
			}
			return c.do("POST", "/v1/logout", nil, hdr...)
		}, 401, "invalid_dpop_proof"},
		{"LogoutByRefreshToken", func(l *resp, p *dpop.Prover) *resp {
			var hdr []string
			if p != nil {
				hdr = []string{"DPoP", proofFor(t, p, srv, "POST", "/v1/logout", "", "")}
			}
			return c.do("POST", "/v1/logout", map[string]string{"refresh_token": l.str("refresh_token")}, hdr...)
		}, 400, "invalid_dpop_proof"},
		{"RevokeRefreshToken", revoke("refresh_token"), 400, "invalid_dpop_proof"},
		{"RevokeAccessToken", revoke("access_token"), 400, "invalid_dpop_proof"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := dpopLogin(t, c, key, "alice")
			at := l.str("access_token")
			tt.end(l, nil).want(t, tt.wantStatus, tt.wantCode)
			if !alive(t, at) {
				t.Fatal("without a proof: the session was ended")
			}
			if r := tt.end(l, other); r.StatusCode < 400 {
				t.Fatalf("with a proof of another key: got %d, want an error", r.StatusCode)
			}
			if !alive(t, at) {
				t.Fatal("with a proof of another key: the session was ended")
			}
			if r := tt.end(l, key); r.StatusCode != 200 && r.StatusCode != 204 {
				t.Fatalf("with a proof of the bound key: got %d %s, want success", r.StatusCode, r.raw)
			}
			if alive(t, at) {
				t.Fatal("with a proof of the bound key: the session is still alive")
			}
			// Ending it again needs no proof: nothing is left to protect.
			if r := tt.end(l, nil); r.StatusCode != 200 && r.StatusCode != 204 {
				t.Fatalf("again, without a proof: got %d %s, want success", r.StatusCode, r.raw)
			}
		})
	}
}
