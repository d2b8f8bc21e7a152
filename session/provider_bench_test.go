package session_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
)

// The OpenID provider's hot paths, beside BenchmarkRefresh (v1), on the
// same real SQLite store: run them in one invocation so the ratios
// compare like with like:
//
//	go test ./session -run '^$' -bench '^(BenchmarkRefresh|BenchmarkClientRefresh|BenchmarkCodeExchange)$' -benchmem -count 3

// benchVerifier is the PKCE code_verifier of every benchmark request, and
// benchChallenge its S256 challenge: the code differs per request, and the
// engine does the same work whatever the verifier.
const benchVerifier = "bench-code-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"

var benchChallenge = func() string {
	sum := sha256.Sum256([]byte(benchVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}()

const benchRedirect = "https://app.example.com/callback"

// benchProvider is a service with a first-party confidential client
// signing ID tokens with alg, and alice signed in on a browser: the
// client, its secret and the browser's baton_sso token.
type benchProvider struct {
	svc    *session.Service
	client *baton.OAuthClient
	secret string
	sso    string
}

func newBenchProvider(b *testing.B, alg string) *benchProvider {
	b.Helper()
	svc := newBenchService(b)
	if _, err := svc.Register(ctx, session.RegisterRequest{Username: "alice", Password: pw}, cl); err != nil {
		b.Fatalf("Register: %v", err)
	}
	g, err := svc.SignIn(ctx, "alice", pw, cl)
	if err != nil {
		b.Fatalf("SignIn: %v", err)
	}
	c, secret, err := svc.AddClient(ctx, session.ClientSpec{Name: "Bench app", RedirectURIs: []string{benchRedirect},
		FirstParty: true, IDTokenAlg: alg})
	if err != nil {
		b.Fatalf("AddClient: %v", err)
	}
	return &benchProvider{svc: svc, client: c, secret: secret, sso: g.RefreshToken}
}

// authorize is GET /oauth/authorize from the signed-in browser without
// HTTP: the baton_sso session read, the request checked, the code stored.
func (p *benchProvider) authorize(b *testing.B) string {
	sso, err := p.svc.SSOSession(ctx, p.sso)
	if err != nil || sso == nil {
		b.Fatalf("SSOSession: %v, %v", sso, err)
	}
	out, err := p.svc.Authorize(ctx, &session.AuthorizeParams{ClientID: p.client.ID, ResponseType: "code",
		Scope: "openid profile email", State: "s", Nonce: "n", CodeChallenge: benchChallenge,
		CodeChallengeMethod: "S256", MaxAge: -1}, sso, session.Client{})
	if err != nil {
		b.Fatalf("Authorize: %v", err)
	}
	u, err := url.Parse(out.Redirect)
	if err != nil || u.Query().Get("code") == "" {
		b.Fatalf("Authorize: %+v, want a redirect with a code", out)
	}
	return u.Query().Get("code")
}

// exchange is POST /oauth/token (authorization_code, client_secret_basic)
// without HTTP: the client authenticated, then the code redeemed.
func (p *benchProvider) exchange(b *testing.B, code string) *session.ClientGrant {
	c, err := p.svc.AuthenticateClient(ctx, p.client.ID, p.secret, session.AuthClientSecretBasic)
	if err != nil {
		b.Fatalf("AuthenticateClient: %v", err)
	}
	g, err := p.svc.ExchangeCode(ctx, c, code, "", benchVerifier, cl)
	if err != nil {
		b.Fatalf("ExchangeCode: %v", err)
	}
	return g
}

// BenchmarkCodeExchange is a whole authorization code flow for a browser
// already signed in, per ID-token algorithm: GET /oauth/authorize (the
// single-sign-on session read, the code stored: one write) and POST
// /oauth/token (the client and the code read, the session created, the
// code spent: two writes; the access token and the ID token signed).
// authorize-µs/op is the first part's share of ns/op. One exchange before
// the timer makes the lazily created RSA and P-256 keys. The service has
// no session cap (MaxSessionsPerUser 0; the server's default is 100,
// whose check is one more read per exchange, and past which each
// exchange also revokes the user's least recently used session).
func BenchmarkCodeExchange(b *testing.B) {
	for _, alg := range []string{baton.AlgRS256, baton.AlgES256, baton.AlgEdDSA} {
		b.Run(alg, func(b *testing.B) {
			p := newBenchProvider(b, alg)
			if g := p.exchange(b, p.authorize(b)); g.IDToken == "" {
				b.Fatal("ExchangeCode answered no ID token")
			}
			b.ReportAllocs()
			cpu := newCPUMeter(b)
			cpu.at, cpu.atSys, _ = session.ProcessCPU()
			var inAuthorize time.Duration
			for b.Loop() {
				t := time.Now()
				code := p.authorize(b)
				inAuthorize += time.Since(t)
				p.exchange(b, code)
			}
			cpu.stop()
			cpu.report()
			b.ReportMetric(float64(inAuthorize)/float64(time.Microsecond)/float64(b.N), "authorize-µs/op")
		})
	}
}

// BenchmarkClientRefresh is a registered client's refresh_token grant
// without HTTP: the client authenticated (one read, one SHA-256), then
// RefreshClient, which is BenchmarkRefresh's rotation with the client
// binding checked. The client signs ID tokens with RS256, the default: a
// refresh answers none, so no RSA signature may show here.
func BenchmarkClientRefresh(b *testing.B) {
	p := newBenchProvider(b, baton.AlgRS256)
	rt := p.exchange(b, p.authorize(b)).RefreshToken
	b.ReportAllocs()
	cpu := newCPUMeter(b)
	cpu.at, cpu.atSys, _ = session.ProcessCPU()
	for b.Loop() {
		c, err := p.svc.AuthenticateClient(ctx, p.client.ID, p.secret, session.AuthClientSecretBasic)
		if err != nil {
			b.Fatalf("AuthenticateClient: %v", err)
		}
		g, err := p.svc.RefreshClient(ctx, c, rt, "", cl)
		if err != nil {
			b.Fatalf("RefreshClient: %v", err)
		}
		if g.IDToken != "" {
			b.Fatal("RefreshClient signed an ID token")
		}
		rt = g.RefreshToken
	}
	cpu.stop()
	cpu.report()
}
