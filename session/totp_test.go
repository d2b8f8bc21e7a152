package session_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
)

// rfc6238 is an independent TOTP (RFC 6238 with SHA-1, RFC 4226's dynamic
// truncation), written from the RFCs, to check baton's codes against.
func rfc6238(secret []byte, at time.Time, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(at.Unix()/30))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// TestRFC6238Vectors pins the test's own TOTP to the RFC's SHA-1 vectors
// (Appendix B), so that it can judge baton's.
func TestRFC6238Vectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		want string
	}{{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"}, {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"}} {
		if got := rfc6238(secret, time.Unix(v.unix, 0), 8); got != v.want {
			t.Errorf("T=%d: got %s, want %s", v.unix, got, v.want)
		}
	}
}

// mfaFixture is a fixture with a user who has TOTP on.
type mfaFixture struct {
	*fixture
	user   *baton.User
	secret []byte
	codes  []string
	// pre is the (fresh) token the enrolment was made with: no mfa.
	pre *session.Grant
}

func (f *mfaFixture) code(at time.Time) string { return rfc6238(f.secret, at, 6) }

func newMFAFixture(t *testing.T, mod func(*session.Config)) *mfaFixture {
	t.Helper()
	f := &mfaFixture{fixture: newFixture(t, mod)}
	f.user = f.fixture.user(t, "alice")
	g := f.login(t, "alice")
	f.pre = g
	e, err := f.svc.BeginTOTP(ctx, g.Claims, cl)
	if err != nil {
		t.Fatalf("BeginTOTP: %v", err)
	}
	u, err := url.Parse(e.URI)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || !strings.Contains(u.Path, "alice") || q.Get("secret") != e.Secret ||
		q.Get("issuer") != "baton" || q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Fatalf("otpauth URI: %s", e.URI)
	}
	if f.secret, err = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret); err != nil || len(f.secret) != 20 {
		t.Fatalf("secret %q: %v (%d bytes)", e.Secret, err, len(f.secret))
	}
	// Wrong, malformed and then right codes; spaces and dashes are fine.
	for _, bad := range []string{"000000", rfc6238(f.secret, t0.Add(-2*time.Minute), 6)} {
		if bad == f.code(f.clock.Now()) {
			continue
		}
		if _, err := f.svc.ConfirmTOTP(ctx, g.Claims, bad, cl); baton.ErrorCode(err) != baton.EInvalidCode {
			t.Fatalf("ConfirmTOTP(%q): got %v, want invalid_code", bad, err)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "12a456", "١٢٣٤٥٦", strings.Repeat("1", 100)} {
		if _, err := f.svc.ConfirmTOTP(ctx, g.Claims, bad, cl); baton.ErrorCode(err) != baton.EInvalidCode {
			t.Fatalf("ConfirmTOTP(%q): got %v, want invalid_code", bad, err)
		}
	}
	c := f.code(f.clock.Now())
	if f.codes, err = f.svc.ConfirmTOTP(ctx, g.Claims, c[:3]+" - "+c[3:], cl); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	if len(f.codes) != 10 || len(slices.Compact(slices.Sorted(slices.Values(f.codes)))) != 10 {
		t.Fatalf("recovery codes: %v", f.codes)
	}
	for _, rc := range f.codes {
		if len(rc) != 11 || rc[5] != '-' {
			t.Fatalf("recovery code %q", rc)
		}
	}
	return f
}

// mfaLogin logs in with the password and returns the mfa_token.
func (f *mfaFixture) mfaLogin(t *testing.T) *session.MFARequired {
	t.Helper()
	_, err := f.svc.Login(ctx, session.LoginRequest{Username: "alice", Password: pw}, cl)
	var m *session.MFARequired
	if !errors.As(err, &m) || baton.ErrorCode(err) != baton.EMFARequired {
		t.Fatalf("Login of a TOTP user: got %v, want mfa_required", err)
	}
	if !slices.Equal(m.Methods, []string{"totp", "recovery_code"}) || m.ExpiresIn != 5*time.Minute || !strings.HasPrefix(m.Token, "bmf_") {
		t.Fatalf("mfa_required: %+v", m)
	}
	return m
}

func (f *mfaFixture) complete(tok string, totp, recovery *string) (*session.Grant, error) {
	return f.svc.CompleteLogin(ctx, session.MFARequest{Token: tok, TOTP: totp, RecoveryCode: recovery}, cl)
}

func ptr(s string) *string { return &s }

func TestTOTPLogin(t *testing.T) {
	f := newMFAFixture(t, nil)
	// The enrolment's step is used: the same code does not log in.
	m := f.mfaLogin(t)
	if _, err := f.complete(m.Token, ptr(f.code(f.clock.Now())), nil); baton.ErrorCode(err) != baton.EInvalidCredentials {
		t.Fatalf("the confirmation's code again: got %v, want invalid_credentials", err)
	}
	f.clock.Advance(30 * time.Second)
	g, err := f.complete(m.Token, ptr(f.code(f.clock.Now())), nil)
	if err != nil {
		t.Fatalf("CompleteLogin: %v", err)
	}
	if !slices.Equal(g.Claims.AMR, []string{"pwd", "otp", "mfa"}) || !g.Claims.Fresh || g.RefreshToken == "" {
		t.Fatalf("second step's token: amr %v, fresh %v", g.Claims.AMR, g.Claims.Fresh)
	}
	// The mfa_token is spent.
	if _, err := f.complete(m.Token, ptr(f.code(f.clock.Now().Add(30*time.Second))), nil); baton.ErrorCode(err) != baton.EInvalidGrant {
		t.Fatalf("a spent mfa_token: got %v, want invalid_grant", err)
	}
	// amr through rotation.
	r, err := f.refresh(g.RefreshToken)
	if err != nil || !slices.Equal(r.Claims.AMR, []string{"pwd", "otp", "mfa"}) || r.Claims.Fresh {
		t.Fatalf("refreshed: %v, amr %v", err, r.Claims.AMR)
	}
	p, err := f.svc.Profile(ctx, g.Claims)
	if err != nil || !p.MFA.TOTP || p.MFA.RecoveryCodesLeft != 10 {
		t.Fatalf("profile: %+v, %v", p, err)
	}
}

// TestTOTPSteps: one step either side is accepted, each step once, and
// never one before a step used.
func TestTOTPSteps(t *testing.T) {
	f := newMFAFixture(t, nil)
	f.clock.Advance(10 * time.Minute)
	now := f.clock.Now()
	for _, tc := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"two steps back", now.Add(-60 * time.Second), false},
		{"two steps ahead", now.Add(60 * time.Second), false},
		{"one step back", now.Add(-30 * time.Second), true},
		{"one step back again", now.Add(-30 * time.Second), false},
		{"now", now, true},
		{"now again", now, false},
		{"one step back, before one used", now.Add(-30 * time.Second), false},
		{"one step ahead", now.Add(30 * time.Second), true},
	} {
		m := f.mfaLogin(t)
		_, err := f.complete(m.Token, ptr(f.code(tc.at)), nil)
		if tc.ok && err != nil || !tc.ok && baton.ErrorCode(err) != baton.EInvalidCredentials {
			t.Errorf("%s: got %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestRecoveryCodes(t *testing.T) {
	var mu sync.Mutex
	var used []string // the audit detail of each recovery code used
	f := newMFAFixture(t, func(c *session.Config) {
		c.Observer = func(e session.Event) {
			if e.Type == session.EventRecoveryCodeUsed {
				mu.Lock()
				used = append(used, e.Detail)
				mu.Unlock()
			}
		}
	})
	// Each works once, typed in any case with spaces.
	typed := strings.ToUpper(strings.ReplaceAll(f.codes[0], "-", " "))
	m := f.mfaLogin(t)
	g, err := f.complete(m.Token, nil, &typed)
	if err != nil || !slices.Equal(g.Claims.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("recovery code: %v", err)
	}
	m = f.mfaLogin(t)
	if _, err := f.complete(m.Token, nil, &f.codes[0]); baton.ErrorCode(err) != baton.EInvalidCredentials {
		t.Fatalf("a used recovery code: got %v, want invalid_credentials", err)
	}
	if _, err := f.complete(m.Token, nil, ptr("not a code!")); baton.ErrorCode(err) != baton.EInvalidCode {
		t.Fatalf("a malformed recovery code: got %v, want invalid_code", err)
	}
	if _, err := f.complete(m.Token, ptr("123456"), &f.codes[1]); baton.ErrorCode(err) != baton.EInvalidRequest {
		t.Fatalf("two factors: got %v, want invalid_request", err)
	}
	if _, err := f.complete(m.Token, nil, &f.codes[1]); err != nil {
		t.Fatalf("the next code: %v", err)
	}
	if p, _ := f.svc.Profile(ctx, g.Claims); p.MFA.RecoveryCodesLeft != 8 {
		t.Fatalf("codes left: %d, want 8", p.MFA.RecoveryCodesLeft)
	}
	mu.Lock()
	if !slices.Equal(used, []string{"9 recovery codes left", "8 recovery codes left"}) {
		t.Fatalf("recovery_code_used events: %q, want the count left after each use", used)
	}
	mu.Unlock()
	// A new set: the old ones die.
	fresh := f.mfaLogin(t)
	g, err = f.complete(fresh.Token, nil, &f.codes[2])
	if err != nil {
		t.Fatal(err)
	}
	codes, err := f.svc.RegenerateRecoveryCodes(ctx, g.Claims, cl)
	if err != nil || len(codes) != 10 {
		t.Fatalf("RegenerateRecoveryCodes: %v", err)
	}
	m = f.mfaLogin(t)
	if _, err := f.complete(m.Token, nil, &f.codes[3]); baton.ErrorCode(err) != baton.EInvalidCredentials {
		t.Fatalf("an old code after a new set: got %v", err)
	}
	if _, err := f.complete(m.Token, nil, &codes[0]); err != nil {
		t.Fatalf("a new code: %v", err)
	}
}

// TestMFATokenLimits: five wrong codes kill the token; it dies after five
// minutes; an unknown one is invalid_grant.
func TestMFATokenLimits(t *testing.T) {
	f := newMFAFixture(t, nil)
	f.clock.Advance(time.Minute)
	m := f.mfaLogin(t)
	for i := 0; i < 5; i++ {
		if _, err := f.complete(m.Token, ptr("000000"), nil); baton.ErrorCode(err) != baton.EInvalidCredentials && f.code(f.clock.Now()) != "000000" {
			t.Fatalf("wrong code %d: got %v", i, err)
		}
	}
	if _, err := f.complete(m.Token, ptr(f.code(f.clock.Now())), nil); baton.ErrorCode(err) != baton.EInvalidGrant {
		t.Fatalf("the right code after five wrong: got %v, want invalid_grant", err)
	}
	m = f.mfaLogin(t)
	f.clock.Advance(5 * time.Minute)
	if _, err := f.complete(m.Token, ptr(f.code(f.clock.Now())), nil); baton.ErrorCode(err) != baton.EInvalidGrant {
		t.Fatalf("after five minutes: got %v, want invalid_grant", err)
	}
	for _, bad := range []string{"", "bmf_", "bmf_" + strings.Repeat("A", 43), m.Token + "A"} {
		if _, err := f.complete(bad, ptr("123456"), nil); baton.ErrorCode(err) != baton.EInvalidGrant {
			t.Fatalf("mfa_token %q: got %v, want invalid_grant", bad, err)
		}
	}
}

// TestMFAPasswordChangedBetweenSteps: a password change after the first
// step wins: the second step creates no session.
func TestMFAPasswordChangedBetweenSteps(t *testing.T) {
	f := newMFAFixture(t, nil)
	m := f.mfaLogin(t)
	if err := f.svc.SetPassword(ctx, f.user, "an entirely new passphrase", cl); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	if _, err := f.complete(m.Token, ptr(f.code(f.clock.Now())), nil); baton.ErrorCode(err) != baton.EInvalidCredentials {
		t.Fatalf("second step after a password change: got %v, want invalid_credentials", err)
	}
}

// TestMFAReauthAndDisable: a reauth of a TOTP user asks for the factor
// too, and its fresh token has mfa; removing TOTP needs such a token.
func TestMFAReauthAndDisable(t *testing.T) {
	f := newMFAFixture(t, nil)
	// The enrolment's token is fresh but has no mfa: it can neither
	// remove the factor, replace it, nor mint recovery codes.
	if err := f.svc.DisableTOTP(ctx, f.pre.Claims, cl); baton.ErrorCode(err) != baton.EInsufficientUserAuth {
		t.Fatalf("DisableTOTP with a fresh token without mfa: got %v", err)
	}
	if _, err := f.svc.BeginTOTP(ctx, f.pre.Claims, cl); baton.ErrorCode(err) != baton.EInsufficientUserAuth {
		t.Fatalf("BeginTOTP (replacing the factor) with a fresh token without mfa: got %v", err)
	}
	if _, err := f.svc.RegenerateRecoveryCodes(ctx, f.pre.Claims, cl); baton.ErrorCode(err) != baton.EInsufficientUserAuth {
		t.Fatalf("RegenerateRecoveryCodes with a fresh token without mfa: got %v", err)
	}
	m := f.mfaLogin(t)
	f.clock.Advance(30 * time.Second)
	g, err := f.complete(m.Token, ptr(f.code(f.clock.Now())), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Stale after the fresh window; reauth with the password alone is not
	// enough.
	f.clock.Advance(20 * time.Minute)
	if err := f.svc.DisableTOTP(ctx, g.Claims, cl); baton.ErrorCode(err) != baton.EInsufficientUserAuth {
		t.Fatalf("DisableTOTP with a stale token: got %v", err)
	}
	_, err = f.svc.Reauth(ctx, g.Claims, pw, cl)
	var rm *session.MFARequired
	if !errors.As(err, &rm) {
		t.Fatalf("Reauth of a TOTP user: got %v, want mfa_required", err)
	}
	re, err := f.complete(rm.Token, ptr(f.code(f.clock.Now())), nil)
	if err != nil {
		t.Fatalf("reauth's second step: %v", err)
	}
	if re.Session.ID != g.Session.ID || re.RefreshToken != "" || !re.Claims.Fresh || !slices.Contains(re.Claims.AMR, "mfa") {
		t.Fatalf("reauth's grant: session %s (want %s), refresh %q, fresh %v, amr %v", re.Session.ID, g.Session.ID, re.RefreshToken, re.Claims.Fresh, re.Claims.AMR)
	}
	if err := f.svc.DisableTOTP(ctx, re.Claims, cl); err != nil {
		t.Fatalf("DisableTOTP: %v", err)
	}
	// Off: the password alone logs in, and the codes are gone.
	l := f.login(t, "alice")
	if !slices.Equal(l.Claims.AMR, []string{"pwd"}) {
		t.Fatalf("amr after disabling: %v", l.Claims.AMR)
	}
	if p, _ := f.svc.Profile(ctx, l.Claims); p.MFA.TOTP || p.MFA.RecoveryCodesLeft != 0 {
		t.Fatalf("profile after disabling: %+v", p.MFA)
	}
}

// TestTOTPSealed: with a master key the stored secret is sealed, and the
// flows work the same.
func TestTOTPSealed(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	f := newMFAFixture(t, func(c *session.Config) { c.MasterKey = key })
	st, err := f.store.TOTP(ctx, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	plain := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(f.secret)
	if strings.Contains(string(st.Secret), plain) || len(st.Secret) < len(plain)+16 {
		t.Fatalf("the stored secret is not sealed: %q", st.Secret)
	}
	m := f.mfaLogin(t)
	f.clock.Advance(30 * time.Second)
	if _, err := f.complete(m.Token, ptr(f.code(f.clock.Now())), nil); err != nil {
		t.Fatalf("second step with a sealed secret: %v", err)
	}
}

// TestMFATokenConcurrentAttempts: however many second steps race with one
// token, at most five codes are checked against it.
func TestMFATokenConcurrentAttempts(t *testing.T) {
	f := newMFAFixture(t, nil)
	m := f.mfaLogin(t)
	const n = 20
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		go func() {
			<-start
			_, err := f.complete(m.Token, nil, ptr("aaaaa-aaaaa"))
			errs <- err
		}()
	}
	close(start)
	got := map[string]int{}
	for i := 0; i < n; i++ {
		got[baton.ErrorCode(<-errs)]++
	}
	if got[baton.EInvalidCredentials] > session.MaxMFAFailures || got[baton.EInvalidCredentials]+got[baton.EInvalidGrant] != n {
		t.Fatalf("%d racing wrong codes: %v, want at most %d checked, the rest invalid_grant", n, got, session.MaxMFAFailures)
	}
}
