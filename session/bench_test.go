package session_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/session"
)

// newBenchService is a Service on a fresh SQLite store with cheap password
// hashing and the real clock, so rotations carry real timestamps; mods
// change its configuration.
func newBenchService(b *testing.B, mods ...func(*session.Config)) *session.Service {
	b.Helper()
	return newBenchServiceOn(b, batontest.OpenSQLite(b), mods...)
}

// newBenchServiceOn is newBenchService on store.
func newBenchServiceOn(b *testing.B, store baton.Store, mods ...func(*session.Config)) *session.Service {
	b.Helper()
	cfg := session.Config{
		Issuer:     "https://auth.example.com",
		AccessTTL:  5 * time.Minute,
		RefreshTTL: 30 * 24 * time.Hour,
		IdleTTL:    7 * 24 * time.Hour,
		ReuseGrace: 10 * time.Second,
		Hasher:     password.NewHasher(batontest.CheapPasswords, 4),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	svc, err := session.New(ctx, store, cfg)
	if err != nil {
		b.Fatalf("session.New: %v", err)
	}
	b.Cleanup(svc.Close)
	return svc
}

// benchLogin registers name and logs it in.
func benchLogin(b *testing.B, svc *session.Service, name string) *session.Grant {
	b.Helper()
	if _, err := svc.Register(ctx, session.RegisterRequest{Username: name, Password: pw}, cl); err != nil {
		b.Fatalf("Register(%q): %v", name, err)
	}
	g, err := svc.Login(ctx, session.LoginRequest{Username: name, Password: pw}, cl)
	if err != nil {
		b.Fatalf("Login(%q): %v", name, err)
	}
	return g
}

// BenchmarkRefresh is one client's rotation chain through the whole engine:
// read the token and its session, rotate (one group commit with
// synchronous=FULL, so one fsync per refresh), sign a new access token.
func BenchmarkRefresh(b *testing.B) {
	svc := newBenchService(b)
	rt := benchLogin(b, svc, "alice").RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		g, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: rt}, cl)
		if err != nil {
			b.Fatalf("Refresh: %v", err)
		}
		rt = g.RefreshToken
	}
}

// BenchmarkRefreshParallel is many clients refreshing their own sessions at
// once (16 per GOMAXPROCS): the store's group commit shares each fsync.
func BenchmarkRefreshParallel(b *testing.B) {
	const parallelism = 16
	svc := newBenchService(b)
	chains := make([]string, parallelism*runtime.GOMAXPROCS(0))
	for i := range chains {
		chains[i] = benchLogin(b, svc, fmt.Sprint("user", i)).RefreshToken
	}
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rt := chains[next.Add(1)-1]
		for pb.Next() {
			g, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: rt}, cl)
			if err != nil {
				b.Errorf("Refresh: %v", err)
				return
			}
			rt = g.RefreshToken
		}
	})
}

// BenchmarkAuthenticate is the protected-route check: verify the access
// token and look its session up in the revoked set; no store access.
func BenchmarkAuthenticate(b *testing.B) {
	svc := newBenchService(b)
	at := benchLogin(b, svc, "alice").AccessToken
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Authenticate(at); err != nil {
			b.Fatalf("Authenticate: %v", err)
		}
	}
}

// BenchmarkAuthenticateParallel shows that Authenticate does not contend.
func BenchmarkAuthenticateParallel(b *testing.B) {
	svc := newBenchService(b)
	at := benchLogin(b, svc, "alice").AccessToken
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.Authenticate(at); err != nil {
				b.Errorf("Authenticate: %v", err)
				return
			}
		}
	})
}

// BenchmarkLogin is a password login of a user without a second factor:
// the user read, the password hash checked, a session created (one group
// commit) and its tokens signed. The clock advances 30 s per login, as in
// BenchmarkLoginSecondStep, so both pay the same store work.
func BenchmarkLogin(b *testing.B) {
	clock := batontest.NewClock(time.Now())
	svc := newBenchService(b, func(c *session.Config) { c.Now = clock.Now })
	benchLogin(b, svc, "alice")
	b.ReportAllocs()
	for b.Loop() {
		clock.Advance(30 * time.Second)
		if _, err := svc.Login(ctx, session.LoginRequest{Username: "alice", Password: pw}, cl); err != nil {
			b.Fatalf("Login: %v", err)
		}
	}
}

// BenchmarkLoginSecondStep is POST /v1/login/mfa without HTTP: the first
// step (the password, the mfa_token) is prepared outside the timer; the
// timed part reads the challenge, checks the factor (three HMACs and a
// compare-and-set on the time step), spends the mfa_token by
// compare-and-set, creates the session and signs its tokens. Each
// iteration moves the clock a 30 s step on, so every code is new.
func BenchmarkLoginSecondStep(b *testing.B) {
	b.Run("TOTP", func(b *testing.B) {
		clock := batontest.NewClock(time.Now())
		svc := newBenchService(b, func(c *session.Config) { c.Now = clock.Now })
		g := benchLogin(b, svc, "alice")
		e, err := svc.BeginTOTP(ctx, g.Claims, cl)
		if err != nil {
			b.Fatalf("BeginTOTP: %v", err)
		}
		code := func() string {
			c, err := totp.GenerateCode(e.Secret, clock.Now())
			if err != nil {
				b.Fatal(err)
			}
			return c
		}
		if _, err := svc.ConfirmTOTP(ctx, g.Claims, code(), cl); err != nil {
			b.Fatalf("ConfirmTOTP: %v", err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			clock.Advance(30 * time.Second)
			_, err := svc.Login(ctx, session.LoginRequest{Username: "alice", Password: pw}, cl)
			var m *session.MFARequired
			if !errors.As(err, &m) {
				b.Fatalf("Login: got %v, want mfa_required", err)
			}
			req := session.MFARequest{Token: m.Token, TOTP: ptr(code())}
			b.StartTimer()
			if _, err := svc.CompleteLogin(ctx, req, cl); err != nil {
				b.Fatalf("CompleteLogin: %v", err)
			}
		}
	})
}
