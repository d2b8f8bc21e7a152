package resource_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/resource"
	"github.com/batonauth/baton/token"
)

const (
	resourceID     = "api server"
	resourceSecret = "s3cret:with/odd&chars"
)

func newBaton(t *testing.T, env batontest.Env) *batontest.Server {
	t.Helper()
	e := batontest.Env{
		"BATON_RESOURCE_CLIENT_ID":     resourceID,
		"BATON_RESOURCE_CLIENT_SECRET": resourceSecret,
		"BATON_LIMIT_IP_FAILURES":      "off",
	}
	for k, v := range env {
		e[k] = v
	}
	return batontest.NewServer(t, e, nil)
}

type grant struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	SessionID    string `json:"session_id"`
}

func post(t *testing.T, url string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

var userSeq atomic.Int64

// login registers a fresh user and logs in with the body transport.
func login(t *testing.T, srv *batontest.Server) (grant, string) {
	t.Helper()
	user := fmt.Sprintf("user%d@example.com", userSeq.Add(1))
	pw := "correct horse battery staple"
	if st := post(t, srv.URL+"/v1/register", map[string]string{"username": user, "password": pw}, nil); st != http.StatusCreated {
		t.Fatalf("register: got %d, want 201", st)
	}
	var g grant
	if st := post(t, srv.URL+"/v1/login", map[string]string{"username": user, "password": pw}, &g); st != http.StatusOK {
		t.Fatalf("login: got %d, want 200", st)
	}
	return g, user
}

// countingClient counts the requests per path.
type countingClient struct {
	counts sync32
}

type sync32 struct {
	jwks, feed atomic.Int64
}

func (c *countingClient) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/jwks.json"):
		c.counts.jwks.Add(1)
	case strings.HasSuffix(r.URL.Path, "/v1/revocations"):
		c.counts.feed.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func newVerifier(t *testing.T, srv *batontest.Server, mod func(*resource.Options)) (*resource.Verifier, *countingClient) {
	t.Helper()
	cc := &countingClient{}
	opt := resource.Options{Issuer: srv.URL, ClientID: resourceID, ClientSecret: resourceSecret, HTTPClient: &http.Client{Transport: cc}}
	if mod != nil {
		mod(&opt)
	}
	v, err := resource.New(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v, cc
}

// api is a protected handler answering the user and session it saw.
func api(v *resource.Verifier, fresh time.Duration) http.Handler {
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := resource.ClaimsFrom(r.Context())
		if !ok {
			http.Error(w, "no claims", 500)
			return
		}
		fmt.Fprintf(w, "%s %s", c.Subject, c.SessionID)
	})
	if fresh >= 0 {
		h = v.RequireFresh(fresh)(h)
	}
	return v.Require(h)
}

type answer struct {
	status int
	auth   string
	body   string
	code   string
}

func call(t *testing.T, h http.Handler, authz string) answer {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/thing", nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := answer{status: rec.Code, auth: rec.Header().Get("WWW-Authenticate"), body: rec.Body.String()}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(rec.Body.Bytes(), &e) == nil {
		a.code = e.Error
	}
	return a
}

func TestRequire(t *testing.T) {
	srv := newBaton(t, nil)
	g, _ := login(t, srv)
	v, _ := newVerifier(t, srv, nil)
	h := api(v, -1)

	t.Run("OK", func(t *testing.T) {
		a := call(t, h, "Bearer "+g.AccessToken)
		if a.status != 200 || !strings.HasSuffix(a.body, " "+g.SessionID) {
			t.Fatalf("got %d %q, want 200 with the session id", a.status, a.body)
		}
	})
	tests := []struct {
		name     string
		authz    string
		wantCode string
		wantAuth string
	}{
		{"NoToken", "", "unauthorized", `Bearer realm="baton"`},
		{"Garbage", "Bearer not.a.token", "invalid_token", `Bearer realm="baton", error="invalid_token", error_description="the access token is invalid"`},
		{"NotBearer", "Basic Zm9vOmJhcg==", "invalid_token", `Bearer realm="baton", error="invalid_token"`},
		{"RefreshToken", "Bearer " + g.RefreshToken, "invalid_token", `error="invalid_token"`},
		{"Tampered", "Bearer " + g.AccessToken[:len(g.AccessToken)-4] + "AAAA", "invalid_token", `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, h, tt.authz)
			if a.status != 401 || a.code != tt.wantCode || !strings.Contains(a.auth, tt.wantAuth) {
				t.Fatalf("got %d %s %q, want 401 %s %q", a.status, a.code, a.auth, tt.wantCode, tt.wantAuth)
			}
		})
	}
	t.Run("Expired", func(t *testing.T) {
		late, _ := newVerifier(t, srv, func(o *resource.Options) {
			o.Now = func() time.Time { return time.Now().Add(5*time.Minute + 6*time.Second) }
		})
		a := call(t, api(late, -1), "Bearer "+g.AccessToken)
		want := `Bearer realm="baton", error="invalid_token", error_description="the access token expired"`
		if a.status != 401 || a.code != "token_expired" || a.auth != want {
			t.Fatalf("got %d %s %q, want 401 token_expired %q", a.status, a.code, a.auth, want)
		}
	})
	t.Run("WithinLeeway", func(t *testing.T) {
		late, _ := newVerifier(t, srv, func(o *resource.Options) {
			o.Now = func() time.Time { return time.Now().Add(5*time.Minute + 3*time.Second) }
		})
		if a := call(t, api(late, -1), "Bearer "+g.AccessToken); a.status != 200 {
			t.Fatalf("got %d %s, want 200 inside the 5 s leeway", a.status, a.code)
		}
	})
	t.Run("WrongAudience", func(t *testing.T) {
		other, _ := newVerifier(t, srv, func(o *resource.Options) { o.Audience = "https://other.example" })
		if a := call(t, api(other, -1), "Bearer "+g.AccessToken); a.status != 401 || a.code != "invalid_token" {
			t.Fatalf("got %d %s, want 401 invalid_token", a.status, a.code)
		}
	})
}

func TestRevocationFeed(t *testing.T) {
	srv := newBaton(t, nil)
	v, cc := newVerifier(t, srv, nil)
	h := api(v, -1)
	g, _ := login(t, srv)
	other, _ := login(t, srv)
	if a := call(t, h, "Bearer "+g.AccessToken); a.status != 200 {
		t.Fatalf("before logout: got %d, want 200", a.status)
	}
	if st := post(t, srv.URL+"/v1/logout", map[string]string{"refresh_token": g.RefreshToken}, nil); st != 204 {
		t.Fatalf("logout: got %d, want 204", st)
	}
	start := time.Now()
	for {
		a := call(t, h, "Bearer "+g.AccessToken)
		if a.status == 401 {
			if a.code != "invalid_token" || !strings.Contains(a.body, "revoked") {
				t.Fatalf("got %s %q, want invalid_token: the session was revoked", a.code, a.body)
			}
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("revoked session still accepted after %v", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("revocation seen after %v (%d feed reads)", time.Since(start), cc.counts.feed.Load())
	if a := call(t, h, "Bearer "+other.AccessToken); a.status != 200 {
		t.Fatalf("other session: got %d, want 200", a.status)
	}
	if n := v.RevokedCount(); n != 1 {
		t.Fatalf("tracking %d revoked sessions, want 1", n)
	}

	t.Run("ColdStartSeesEarlierRevocations", func(t *testing.T) {
		v2, _ := newVerifier(t, srv, nil)
		if a := call(t, api(v2, -1), "Bearer "+g.AccessToken); a.status != 401 {
			t.Fatalf("got %d, want 401", a.status)
		}
	})
	t.Run("BadCredentials", func(t *testing.T) {
		_, err := resource.New(context.Background(), resource.Options{Issuer: srv.URL, ClientID: resourceID, ClientSecret: "wrong"})
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("got %v, want a 401 from the feed", err)
		}
	})
}

func TestRequireFresh(t *testing.T) {
	srv := newBaton(t, batontest.Env{"BATON_FRESH_TTL": "10m"})
	v, _ := newVerifier(t, srv, nil)
	g, _ := login(t, srv)
	if a := call(t, api(v, 5*time.Minute), "Bearer "+g.AccessToken); a.status != 200 {
		t.Fatalf("fresh login token: got %d %s, want 200", a.status, a.code)
	}
	var r grant
	if st := post(t, srv.URL+"/v1/refresh", map[string]string{"refresh_token": g.RefreshToken}, &r); st != 200 {
		t.Fatalf("refresh: %d", st)
	}
	a := call(t, api(v, 5*time.Minute), "Bearer "+r.AccessToken)
	want := `Bearer realm="baton", error="insufficient_user_authentication", error_description="a fresh authentication is required", max_age=300`
	if a.status != 401 || a.code != "insufficient_user_authentication" || a.auth != want {
		t.Fatalf("refreshed token: got %d %s %q, want 401 insufficient_user_authentication %q", a.status, a.code, a.auth, want)
	}
	old, _ := newVerifier(t, srv, func(o *resource.Options) {
		o.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	})
	if a := call(t, api(old, time.Minute), "Bearer "+g.AccessToken); a.status != 401 || !strings.Contains(a.auth, "max_age=60") {
		t.Fatalf("authenticated 2 minutes ago, max age 1 minute: got %d %q", a.status, a.auth)
	}
}

func TestKeyRotation(t *testing.T) {
	srv := newBaton(t, nil)
	v, cc := newVerifier(t, srv, func(o *resource.Options) { o.RefetchInterval = 50 * time.Millisecond })
	h := api(v, -1)
	g, _ := login(t, srv)
	if a := call(t, h, "Bearer "+g.AccessToken); a.status != 200 {
		t.Fatalf("got %d, want 200", a.status)
	}
	before := cc.counts.jwks.Load()

	// A new signing key takes over on the server.
	ctx := context.Background()
	key, err := token.NewSigningKey(time.Now(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Store.InsertKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := srv.Service.ReloadKeys(ctx); err != nil {
		t.Fatal(err)
	}
	g2, _ := login(t, srv)
	if kid(t, g2.AccessToken) == kid(t, g.AccessToken) {
		t.Fatal("the server did not switch keys")
	}
	time.Sleep(60 * time.Millisecond)
	if a := call(t, h, "Bearer "+g2.AccessToken); a.status != 200 {
		t.Fatalf("token of the new key: got %d %s, want 200", a.status, a.code)
	}
	if a := call(t, h, "Bearer "+g.AccessToken); a.status != 200 {
		t.Fatalf("token of the old key: got %d %s, want 200", a.status, a.code)
	}
	if n := cc.counts.jwks.Load() - before; n != 1 {
		t.Fatalf("JWKS fetched %d times for the new kid, want 1", n)
	}

	t.Run("UnknownKidIsRateLimited", func(t *testing.T) {
		forged := forgeKid(t, g2.AccessToken, "no-such-key")
		time.Sleep(60 * time.Millisecond)
		before := cc.counts.jwks.Load()
		start := time.Now()
		for range 50 {
			if a := call(t, h, "Bearer "+forged); a.status != 401 || a.code != "invalid_token" {
				t.Fatalf("got %d %s, want 401 invalid_token", a.status, a.code)
			}
		}
		// At most one fetch per RefetchInterval (50ms) that went by: on a
		// busy machine the 50 calls may span more than one interval.
		most := 1 + int64(time.Since(start)/(50*time.Millisecond))
		if n := cc.counts.jwks.Load() - before; n < 1 || n > most {
			t.Fatalf("50 tokens with an unknown kid fetched the JWKS %d times, want 1 to %d", n, most)
		}
	})
}

func kid(t *testing.T, jwt string) string {
	t.Helper()
	var h struct {
		Kid string `json:"kid"`
	}
	seg, _, _ := strings.Cut(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil || json.Unmarshal(b, &h) != nil {
		t.Fatalf("bad header %q", seg)
	}
	return h.Kid
}

func forgeKid(t *testing.T, jwt, kid string) string {
	t.Helper()
	_, rest, _ := strings.Cut(jwt, ".")
	h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "kid": kid, "typ": "at+jwt"})
	return base64.RawURLEncoding.EncodeToString(h) + "." + rest
}

// TestVerifyAllocations: the middleware adds no allocation to the
// keyring's own verification (the claims) on the success path.
func TestVerifyAllocations(t *testing.T) {
	srv := newBaton(t, nil)
	v, _ := newVerifier(t, srv, nil)
	g, _ := login(t, srv)
	ctx := context.Background()
	// AllocsPerRun counts every goroutine's allocations: the login's audit
	// batch, written a moment after it, must not land in the measurement.
	if err := srv.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	keys := token.NewKeyring(token.Options{Issuer: srv.URL, Audience: srv.URL})
	if err := keys.SetPublicKeys(srv.Service.Keyring().JWKS()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	base := testing.AllocsPerRun(50, func() {
		if _, err := keys.Verify(g.AccessToken, now); err != nil {
			t.Fatal(err)
		}
	})
	got := testing.AllocsPerRun(50, func() {
		if _, err := v.Verify(ctx, g.AccessToken); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("keyring.Verify: %v allocs, Verifier.Verify: %v allocs", base, got)
	if got > base {
		t.Fatalf("Verifier.Verify allocates %v times, the keyring alone %v", got, base)
	}
}

func BenchmarkVerify(b *testing.B) {
	srv := batontest.NewServer(b, nil, nil)
	v, err := resource.New(context.Background(), resource.Options{Issuer: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	body, _ := json.Marshal(map[string]string{"username": "bench@example.com", "password": "correct horse battery staple"})
	if resp, err := http.Post(srv.URL+"/v1/register", "application/json", bytes.NewReader(body)); err == nil {
		resp.Body.Close()
	}
	resp, err := http.Post(srv.URL+"/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	var g grant
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_ = json.Unmarshal(data, &g)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, g.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}
