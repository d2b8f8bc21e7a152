package session_test

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/internal/webauthntest"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/session"
)

// benchArgon2id makes the benchmarks hash passwords as production does
// (password.DefaultParams) instead of with cheap parameters: the ratio of
// a second step to a password login that operators see. Set-up then pays
// a real hash per login too, so run it with a fixed -benchtime (200x):
//
//	go test ./session -run '^$' -bench 'Login' -benchtime 200x -args -argon2id
var benchArgon2id = flag.Bool("argon2id", false, "session benchmarks: hash passwords with password.DefaultParams")

// newBenchService is a Service on a fresh SQLite store with cheap password
// hashing (see benchArgon2id) and the real clock, so rotations carry real timestamps; mods
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
	if *benchArgon2id {
		cfg.Hasher = password.NewHasher(password.DefaultParams, 4)
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
// cpu-µs/op is there to set BenchmarkClientRefresh beside it.
func BenchmarkRefresh(b *testing.B) {
	svc := newBenchService(b)
	rt := benchLogin(b, svc, "alice").RefreshToken
	b.ReportAllocs()
	cpu := newCPUMeter(b)
	cpu.at, cpu.atSys, _ = session.ProcessCPU()
	for b.Loop() {
		g, err := svc.Refresh(ctx, session.RefreshRequest{RefreshToken: rt}, cl)
		if err != nil {
			b.Fatalf("Refresh: %v", err)
		}
		rt = g.RefreshToken
	}
	cpu.stop()
	cpu.report()
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
	cpu := newCPUMeter(b)
	cpu.at, cpu.atSys, _ = session.ProcessCPU()
	for b.Loop() {
		clock.Advance(30 * time.Second)
		if _, err := svc.Login(ctx, session.LoginRequest{Username: "alice", Password: pw}, cl); err != nil {
			b.Fatalf("Login: %v", err)
		}
	}
	cpu.stop()
	cpu.report()
}

// cpuMeter adds up the process's CPU time (session.ProcessCPU) over a
// benchmark's timed parts and reports it per op as cpu-µs/op, and the
// kernel's part of it as sys-µs/op: these benchmarks wait for fsyncs, so
// ns/op is mostly not CPU, and each durable commit costs system time.
type cpuMeter struct {
	b               *testing.B
	at, atSys       time.Duration
	total, totalSys time.Duration
	ok              bool
}

func newCPUMeter(b *testing.B) *cpuMeter {
	_, _, ok := session.ProcessCPU()
	return &cpuMeter{b: b, ok: ok}
}

// stoppedCPUMeter is newCPUMeter for a benchmark that times parts of each
// iteration with start and stop: set-up so far is forgotten, allocations
// are reported, and the timer is stopped until the first start.
func stoppedCPUMeter(b *testing.B) *cpuMeter {
	b.ReportAllocs()
	m := newCPUMeter(b)
	b.ResetTimer()
	b.StopTimer()
	return m
}

// start starts the timer, then the meter.
func (m *cpuMeter) start() {
	m.b.StartTimer()
	m.at, m.atSys, _ = session.ProcessCPU()
}

// stop stops the meter, then the timer.
func (m *cpuMeter) stop() {
	d, sys, _ := session.ProcessCPU()
	m.total += d - m.at
	m.totalSys += sys - m.atSys
	m.b.StopTimer()
}

func (m *cpuMeter) report() {
	if m.ok && m.b.N > 0 {
		n := float64(m.b.N) * float64(time.Microsecond)
		m.b.ReportMetric(float64(m.total)/n, "cpu-µs/op")
		m.b.ReportMetric(float64(m.totalSys)/n, "sys-µs/op")
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
		cpu := stoppedCPUMeter(b)
		for range b.N {
			req := session.MFARequest{Token: benchFirstStep(b, svc, clock), TOTP: ptr(code())}
			cpu.start()
			if _, err := svc.CompleteLogin(ctx, req, cl); err != nil {
				b.Fatalf("CompleteLogin: %v", err)
			}
			cpu.stop()
		}
		cpu.report()
	})
	b.Run("Passkey", func(b *testing.B) { benchmarkLoginSecondStepPasskey(b, false) })
	b.Run("PasskeyWithOptions", func(b *testing.B) { benchmarkLoginSecondStepPasskey(b, true) })
}

// benchFirstStep moves the clock a 30 s step on (a new TOTP code) and
// returns the mfa_token of alice's password step.
func benchFirstStep(b *testing.B, svc *session.Service, clock *batontest.Clock) string {
	b.Helper()
	clock.Advance(30 * time.Second)
	_, err := svc.Login(ctx, session.LoginRequest{Username: "alice", Password: pw}, cl)
	var m *session.MFARequired
	if !errors.As(err, &m) {
		b.Fatalf("Login: got %v, want mfa_required", err)
	}
	return m.Token
}

// benchPasskeyService is newBenchService with passkeys on, on clock, and a
// user alice with a passkey (ES256, user verification, counter) and a
// fresh grant.
func benchPasskeyService(b *testing.B, clock *batontest.Clock) (*session.Service, *webauthntest.Authenticator) {
	b.Helper()
	svc := newBenchService(b, func(c *session.Config) {
		c.Now = clock.Now
		c.WebAuthn = session.WebAuthnConfig{RPID: rpID, Origins: []string{rpOrigin}}
	})
	g := benchLogin(b, svc, "alice")
	a := webauthntest.New(webauthntest.Options{Alg: webauthntest.AlgES256, UV: true})
	flow, err := svc.BeginPasskeyRegistration(ctx, g.Claims)
	if err != nil {
		b.Fatalf("BeginPasskeyRegistration: %v", err)
	}
	cred, err := a.Register(flow.Options)
	if err != nil {
		b.Fatalf("authenticator Register: %v", err)
	}
	if _, err := svc.FinishPasskeyRegistration(ctx, g.Claims, flow.FlowID, cred, "", cl); err != nil {
		b.Fatalf("FinishPasskeyRegistration: %v", err)
	}
	return svc, a
}

// benchmarkLoginSecondStepPasskey is BenchmarkLoginSecondStep with a
// passkey assertion (b.Run'd from there). The mfa_token, the options
// (their challenge stored) and the authenticator's signature are prepared
// outside the timer; the timed part is POST /v1/login/mfa: parse the
// assertion, spend the challenge by compare-and-set, read the user and its
// passkeys, verify the ES256 signature (go-webauthn's ValidateLogin), move
// the signature counter by compare-and-set, spend the mfa_token, create
// the session and sign its tokens. WithOptions times the options request
// (POST /v1/passkeys/login/options with the mfa_token: one challenge
// written) as well, the authenticator still outside the timer.
func benchmarkLoginSecondStepPasskey(b *testing.B, withOptions bool) {
	clock := batontest.NewClock(time.Now())
	svc, a := benchPasskeyService(b, clock)
	cpu := stoppedCPUMeter(b)
	for range b.N {
		mfaToken := benchFirstStep(b, svc, clock)
		if withOptions {
			cpu.start()
		}
		flow, err := svc.BeginPasskeyLogin(ctx, mfaToken)
		if err != nil {
			b.Fatalf("BeginPasskeyLogin: %v", err)
		}
		if withOptions {
			cpu.stop()
		}
		cred, err := a.Login(flow.Options)
		if err != nil {
			b.Fatalf("authenticator Login: %v", err)
		}
		cpu.start()
		if _, err := svc.CompleteLogin(ctx, session.MFARequest{Token: mfaToken, Passkey: cred}, cl); err != nil {
			b.Fatalf("CompleteLogin: %v", err)
		}
		cpu.stop()
	}
	cpu.report()
}

// BenchmarkPasskeyLogin is a usernameless passkey sign-in without HTTP:
// the options (a challenge written) and the answer (the challenge spent,
// the passkey and its user read, the signature verified, the counter
// moved, a session created and its tokens signed). Only the
// authenticator's signature, the browser's part, is outside the timer.
func BenchmarkPasskeyLogin(b *testing.B) {
	clock := batontest.NewClock(time.Now())
	svc, a := benchPasskeyService(b, clock)
	cpu := stoppedCPUMeter(b)
	for range b.N {
		clock.Advance(30 * time.Second)
		cpu.start()
		flow, err := svc.BeginPasskeyLogin(ctx, "")
		if err != nil {
			b.Fatalf("BeginPasskeyLogin: %v", err)
		}
		cpu.stop()
		cred, err := a.Login(flow.Options)
		if err != nil {
			b.Fatalf("authenticator Login: %v", err)
		}
		cpu.start()
		g, err := svc.FinishPasskeyLogin(ctx, session.PasskeyLoginRequest{FlowID: flow.FlowID, Credential: cred}, cl)
		if err != nil {
			b.Fatalf("FinishPasskeyLogin: %v", err)
		}
		cpu.stop()
		if !slices.Contains(g.Claims.AMR, "mfa") {
			b.Fatalf("amr %v, want mfa (user verified)", g.Claims.AMR)
		}
	}
	cpu.report()
}
