package session_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/internal/webauthntest"
	"github.com/batonauth/baton/session"
)

const (
	rpID     = "example.com"
	rpOrigin = "https://example.com"
)

type passkeyFixture struct {
	*fixture
	mu     sync.Mutex
	events []session.Event
}

func newPasskeyFixture(t *testing.T) *passkeyFixture {
	t.Helper()
	f := &passkeyFixture{}
	f.fixture = newFixture(t, func(c *session.Config) {
		c.WebAuthn = session.WebAuthnConfig{RPID: rpID, RPName: "Example", Origins: []string{rpOrigin}}
		c.Observer = func(e session.Event) {
			f.mu.Lock()
			f.events = append(f.events, e)
			f.mu.Unlock()
		}
	})
	return f
}

func (f *passkeyFixture) saw(typ, outcome string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.ContainsFunc(f.events, func(e session.Event) bool { return e.Type == typ && e.Outcome == outcome })
}

// enrol registers a's next credential for the grant's user.
func (f *passkeyFixture) enrol(t *testing.T, g *session.Grant, a *webauthntest.Authenticator, name string) *baton.Passkey {
	t.Helper()
	flow, err := f.svc.BeginPasskeyRegistration(ctx, g.Claims)
	if err != nil {
		t.Fatalf("BeginPasskeyRegistration: %v", err)
	}
	cred, err := a.Register(flow.Options)
	if err != nil {
		t.Fatalf("authenticator Register: %v", err)
	}
	p, err := f.svc.FinishPasskeyRegistration(ctx, g.Claims, flow.FlowID, cred, name, cl)
	if err != nil {
		t.Fatalf("FinishPasskeyRegistration: %v", err)
	}
	return p
}

// loginFlow begins a usernameless sign-in and answers it with a, edited.
func (f *passkeyFixture) loginFlow(t *testing.T, a *webauthntest.Authenticator, edit func(*webauthntest.Assertion)) (string, []byte) {
	t.Helper()
	flow, err := f.svc.BeginPasskeyLogin(ctx, "")
	if err != nil {
		t.Fatalf("BeginPasskeyLogin: %v", err)
	}
	cred, err := a.LoginWith(flow.Options, edit)
	if err != nil {
		t.Fatalf("authenticator Login: %v", err)
	}
	return flow.FlowID, cred
}

func (f *passkeyFixture) finish(flowID string, cred []byte) (*session.Grant, error) {
	return f.svc.FinishPasskeyLogin(ctx, session.PasskeyLoginRequest{FlowID: flowID, Credential: cred}, cl)
}

func TestPasskeyEnrolAndLogin(t *testing.T) {
	tests := []struct {
		name      string
		opt       webauthntest.Options
		wantAMR   []string
		wantFresh bool
	}{
		{"ES256None", webauthntest.Options{Alg: webauthntest.AlgES256, UV: true}, []string{"hwk", "mfa"}, true},
		{"EdDSAPacked", webauthntest.Options{Alg: webauthntest.AlgEdDSA, Attestation: "packed", UV: true}, []string{"hwk", "mfa"}, true},
		{"SyncedNoCounter", webauthntest.Options{UV: true, BackupEligible: true, BackedUp: true, NoCounter: true}, []string{"hwk", "mfa"}, true},
		{"WithoutUV", webauthntest.Options{Alg: webauthntest.AlgES256}, []string{"hwk"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPasskeyFixture(t)
			u := f.user(t, "alice")
			g := f.login(t, "alice")
			a := webauthntest.New(tt.opt)

			flow, err := f.svc.BeginPasskeyRegistration(ctx, g.Claims)
			if err != nil {
				t.Fatal(err)
			}
			var opts struct {
				Challenge string `json:"challenge"`
				RP        struct{ ID, Name string }
				User      struct{ ID, Name string }
				Selection struct {
					ResidentKey      string `json:"residentKey"`
					UserVerification string `json:"userVerification"`
				} `json:"authenticatorSelection"`
			}
			if err := json.Unmarshal(flow.Options, &opts); err != nil {
				t.Fatal(err)
			}
			if uid, err := base64.RawURLEncoding.DecodeString(opts.User.ID); err != nil || string(uid) != u.ID {
				t.Errorf("user.id: got %q (%v), want base64url of %q", opts.User.ID, err, u.ID)
			}
			if c, err := base64.RawURLEncoding.DecodeString(opts.Challenge); err != nil || len(c) != 32 || flow.FlowID != "bpk_"+opts.Challenge {
				t.Errorf("challenge %q (%v), flow %q", opts.Challenge, err, flow.FlowID)
			}
			if opts.RP.ID != rpID || opts.RP.Name != "Example" || opts.User.Name != "alice" ||
				opts.Selection.ResidentKey != "required" || opts.Selection.UserVerification != "preferred" {
				t.Errorf("creation options: %s", flow.Options)
			}
			cred, err := a.Register(flow.Options)
			if err != nil {
				t.Fatal(err)
			}
			p, err := f.svc.FinishPasskeyRegistration(ctx, g.Claims, flow.FlowID, cred, "  Laptop ", cl)
			if err != nil {
				t.Fatalf("FinishPasskeyRegistration: %v", err)
			}
			if p.Name != "Laptop" || !p.CreatedAt.Equal(t0) || !p.LastUsedAt.IsZero() || p.Flags.UserVerified != tt.opt.UV ||
				p.Flags.BackupEligible != tt.opt.BackupEligible || string(p.CredentialID) != string(a.Credential().ID) {
				t.Errorf("passkey: %+v", p)
			}
			// Now a second factor is on: a fresh token without mfa
			// enrols no more.
			_, err = f.svc.FinishPasskeyRegistration(ctx, g.Claims, flow.FlowID, cred, "", cl)
			wantCode(t, err, baton.EInsufficientUserAuth)
			_, err = f.svc.BeginPasskeyRegistration(ctx, g.Claims)
			wantCode(t, err, baton.EInsufficientUserAuth)

			list, err := f.svc.Passkeys(ctx, g.Claims)
			if err != nil || len(list) != 1 || list[0].ID != p.ID {
				t.Fatalf("Passkeys: %v, %v", list, err)
			}
			if prof, err := f.svc.Profile(ctx, g.Claims); err != nil || prof.MFA.Passkeys != 1 || prof.MFA.TOTP {
				t.Fatalf("profile: %+v, %v", prof, err)
			}

			// Usernameless: the options name nobody.
			lflow, err := f.svc.BeginPasskeyLogin(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(lflow.Options), "allowCredentials") {
				t.Errorf("usernameless options list credentials: %s", lflow.Options)
			}
			f.clock.Advance(time.Minute)
			assertion, err := a.Login(lflow.Options)
			if err != nil {
				t.Fatal(err)
			}
			lg, err := f.finish(lflow.FlowID, assertion)
			if err != nil {
				t.Fatalf("FinishPasskeyLogin: %v", err)
			}
			if lg.Claims.Subject != u.ID || !slices.Equal(lg.Claims.AMR, tt.wantAMR) || lg.Claims.Fresh != tt.wantFresh || lg.RefreshToken == "" {
				t.Errorf("grant: sub %s amr %v fresh %v", lg.Claims.Subject, lg.Claims.AMR, lg.Claims.Fresh)
			}
			if f.svc.IsFresh(lg.Claims) != tt.wantFresh {
				t.Errorf("IsFresh: got %v, want %v", !tt.wantFresh, tt.wantFresh)
			}
			// The session keeps its methods across a refresh.
			rg, err := f.refresh(lg.RefreshToken)
			if err != nil || !slices.Equal(rg.Claims.AMR, tt.wantAMR) || rg.Claims.Fresh {
				t.Errorf("refreshed: %v, amr %v", err, rg.Claims.AMR)
			}
			// Replayed: the challenge was spent.
			_, err = f.finish(lflow.FlowID, assertion)
			wantCode(t, err, baton.EInvalidCredentials)
			if tt.wantFresh {
				// The enrolment's answer again, with a token that may
				// enrol: its challenge was spent.
				_, err = f.svc.FinishPasskeyRegistration(ctx, lg.Claims, flow.FlowID, cred, "", cl)
				wantCode(t, err, baton.EInvalidCredentials)
			}
			list, _ = f.svc.Passkeys(ctx, g.Claims)
			if !list[0].LastUsedAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("last used: got %v, want %v", list[0].LastUsedAt, t0.Add(time.Minute))
			}
		})
	}
}

// TestPasskeySecondStep: a passkey makes the password a first step, and
// finishes it (a login and a reauth) with amr pwd hwk mfa.
func TestPasskeySecondStep(t *testing.T) {
	f := newPasskeyFixture(t)
	u := f.user(t, "alice")
	a := webauthntest.New(webauthntest.Options{UV: true})
	f.enrol(t, f.login(t, "alice"), a, "")

	mfaLogin := func() *session.MFARequired {
		t.Helper()
		_, err := f.svc.Login(ctx, session.LoginRequest{Username: "alice", Password: pw}, cl)
		var m *session.MFARequired
		if !errors.As(err, &m) || !slices.Equal(m.Methods, []string{"passkey"}) {
			t.Fatalf("Login of a passkey user: got %v (%+v), want mfa_required with passkey", err, m)
		}
		return m
	}
	m := mfaLogin()
	flow, err := f.svc.BeginPasskeyLogin(ctx, m.Token)
	if err != nil {
		t.Fatal(err)
	}
	var opts struct {
		Allow []struct{ ID string } `json:"allowCredentials"`
	}
	if err := json.Unmarshal(flow.Options, &opts); err != nil || len(opts.Allow) != 1 ||
		opts.Allow[0].ID != base64.RawURLEncoding.EncodeToString(a.Credential().ID) {
		t.Fatalf("second-step options: %s (%v)", flow.Options, err)
	}
	assertion, err := a.Login(flow.Options)
	if err != nil {
		t.Fatal(err)
	}
	// Its challenge finishes only the second step.
	_, err = f.finish(flow.FlowID, assertion)
	wantCode(t, err, baton.EInvalidCredentials)

	flow, _ = f.svc.BeginPasskeyLogin(ctx, m.Token)
	assertion, _ = a.Login(flow.Options)
	g, err := f.svc.CompleteLogin(ctx, session.MFARequest{Token: m.Token, Passkey: assertion}, cl)
	if err != nil {
		t.Fatalf("CompleteLogin with a passkey: %v", err)
	}
	if g.Claims.Subject != u.ID || !slices.Equal(g.Claims.AMR, []string{"pwd", "hwk", "mfa"}) || !g.Claims.Fresh {
		t.Fatalf("grant: amr %v fresh %v", g.Claims.AMR, g.Claims.Fresh)
	}
	// The mfa_token is spent.
	_, err = f.svc.CompleteLogin(ctx, session.MFARequest{Token: m.Token, Passkey: assertion}, cl)
	wantCode(t, err, baton.EInvalidGrant)

	// A usernameless challenge, or another login's, is no second step:
	// a wrong factor that counts against the mfa_token.
	m = mfaLogin()
	other := mfaLogin()
	oflow, _ := f.svc.BeginPasskeyLogin(ctx, other.Token)
	for i, opt := range [][]byte{nil, oflow.Options} {
		if opt == nil {
			lflow, _ := f.svc.BeginPasskeyLogin(ctx, "")
			opt = lflow.Options
		}
		assertion, _ := a.Login(opt)
		_, err := f.svc.CompleteLogin(ctx, session.MFARequest{Token: m.Token, Passkey: assertion}, cl)
		if baton.ErrorCode(err) != baton.EInvalidCredentials {
			t.Fatalf("#%d foreign challenge: got %v, want invalid_credentials", i, err)
		}
	}
	if !f.saw(session.EventSecondFactor, session.OutcomeFailed) {
		t.Error("no failed second_factor event")
	}
	// A dead mfa_token gets no options.
	_, err = f.svc.BeginPasskeyLogin(ctx, "bmf_"+strings.Repeat("A", 43))
	wantCode(t, err, baton.EInvalidGrant)

	// Reauth: the second step keeps the session.
	f.clock.Advance(20 * time.Minute)
	_, err = f.svc.Reauth(ctx, g.Claims, pw, cl)
	var rm *session.MFARequired
	if !errors.As(err, &rm) {
		t.Fatalf("Reauth of a passkey user: got %v", err)
	}
	flow, _ = f.svc.BeginPasskeyLogin(ctx, rm.Token)
	assertion, _ = a.Login(flow.Options)
	re, err := f.svc.CompleteLogin(ctx, session.MFARequest{Token: rm.Token, Passkey: assertion}, cl)
	if err != nil || re.Session.ID != g.Session.ID || !re.Claims.Fresh || !slices.Contains(re.Claims.AMR, "hwk") {
		t.Fatalf("reauth with a passkey: %v, %+v", err, re)
	}

	// Recovery codes go with passkeys too, and then finish a login.
	codes, err := f.svc.RegenerateRecoveryCodes(ctx, re.Claims, cl)
	if err != nil || len(codes) != 10 {
		t.Fatalf("RegenerateRecoveryCodes of a passkey user: %v", err)
	}
	_, err = f.svc.Login(ctx, session.LoginRequest{Username: "alice", Password: pw}, cl)
	var cm *session.MFARequired
	if !errors.As(err, &cm) || !slices.Equal(cm.Methods, []string{"recovery_code", "passkey"}) {
		t.Fatalf("methods with recovery codes: %v, %+v", err, cm)
	}
	if _, err := f.svc.CompleteLogin(ctx, session.MFARequest{Token: cm.Token, RecoveryCode: &codes[0]}, cl); err != nil {
		t.Fatalf("a recovery code of a passkey user: %v", err)
	}
}

// TestPasskeyCounterRegression: a counter that goes backwards refuses the
// sign-in, in both steps, and is audited.
func TestPasskeyCounterRegression(t *testing.T) {
	f := newPasskeyFixture(t)
	f.user(t, "alice")
	a := webauthntest.New(webauthntest.Options{UV: true})
	f.enrol(t, f.login(t, "alice"), a, "")
	for range 3 {
		if _, err := f.finish(f.loginFlow(t, a, nil)); err != nil {
			t.Fatal(err)
		}
	}
	a.SetCounter(1) // the next login reports 2, after 3
	_, err := f.finish(f.loginFlow(t, a, nil))
	wantCode(t, err, baton.EInvalidCredentials)
	if !f.saw(session.EventPasskeyCounter, session.OutcomeFailed) {
		t.Fatal("no passkey_counter_regression event")
	}
	// As a second step too.
	_, err = f.svc.Login(ctx, session.LoginRequest{Username: "alice", Password: pw}, cl)
	var m *session.MFARequired
	errors.As(err, &m)
	a.SetCounter(0)
	flow, _ := f.svc.BeginPasskeyLogin(ctx, m.Token)
	assertion, _ := a.Login(flow.Options)
	_, err = f.svc.CompleteLogin(ctx, session.MFARequest{Token: m.Token, Passkey: assertion}, cl)
	wantCode(t, err, baton.EInvalidCredentials)
	// The stored counter did not move back: 3 is still refused, 4 works.
	a.SetCounter(2)
	_, err = f.finish(f.loginFlow(t, a, nil))
	wantCode(t, err, baton.EInvalidCredentials)
	if _, err := f.finish(f.loginFlow(t, a, nil)); err != nil {
		t.Fatalf("a counter past the stored one: %v", err)
	}
}

// TestPasskeyRefusals: every failure is invalid_credentials.
func TestPasskeyRefusals(t *testing.T) {
	f := newPasskeyFixture(t)
	alice := f.user(t, "alice")
	bob := f.user(t, "bob")
	a := webauthntest.New(webauthntest.Options{UV: true})
	f.enrol(t, f.login(t, "alice"), a, "")
	f.enrol(t, f.login(t, "bob"), webauthntest.New(webauthntest.Options{UV: true}), "")

	// A credential the server never registered: registered against
	// options whose ceremony was not finished.
	stranger := webauthntest.New(webauthntest.Options{UV: true})
	f.user(t, "carol")
	flow, _ := f.svc.BeginPasskeyRegistration(ctx, f.login(t, "carol").Claims)
	if _, err := stranger.Register(flow.Options); err != nil {
		t.Fatal(err)
	}
	evilHash := sha256.Sum256([]byte("evil.example"))
	tests := []struct {
		name string
		a    *webauthntest.Authenticator
		edit func(*webauthntest.Assertion)
	}{
		{"WrongOrigin", a, func(as *webauthntest.Assertion) { as.ClientData.Origin = "https://evil.example" }},
		{"OriginOtherPort", a, func(as *webauthntest.Assertion) { as.ClientData.Origin = "https://example.com:8443" }},
		{"OriginSubdomain", a, func(as *webauthntest.Assertion) { as.ClientData.Origin = "https://www.example.com" }},
		{"WrongRPID", a, func(as *webauthntest.Assertion) { as.RPIDHash = evilHash[:] }},
		{"BadSignature", a, func(as *webauthntest.Assertion) { as.CorruptSignature = true }},
		{"WrongType", a, func(as *webauthntest.Assertion) { as.ClientData.Type = "webauthn.create" }},
		{"OtherChallenge", a, func(as *webauthntest.Assertion) {
			as.ClientData.Challenge = base64.RawURLEncoding.EncodeToString(make([]byte, 32))
		}},
		{"OtherUsersHandle", a, func(as *webauthntest.Assertion) { as.UserHandle = []byte(bob.ID) }},
		{"NoUserHandle", a, func(as *webauthntest.Assertion) { as.UserHandle = nil }},
		{"NotPresent", a, func(as *webauthntest.Assertion) { as.Flags &^= webauthntest.FlagUP }},
		{"UnknownCredential", stranger, nil},
		{"CrossOrigin", a, func(as *webauthntest.Assertion) { as.ClientData.CrossOrigin = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.a
			_, err := f.finish(f.loginFlow(t, key, tt.edit))
			wantCode(t, err, baton.EInvalidCredentials)
		})
	}
	if !f.saw(session.EventLogin, session.OutcomeFailed) {
		t.Error("no failed login event")
	}

	t.Run("ExpiredChallenge", func(t *testing.T) {
		flowID, cred := f.loginFlow(t, a, nil)
		f.clock.Advance(session.PasskeyTTL)
		_, err := f.finish(flowID, cred)
		wantCode(t, err, baton.EInvalidCredentials)
	})
	t.Run("JustInTime", func(t *testing.T) {
		flowID, cred := f.loginFlow(t, a, nil)
		f.clock.Advance(session.PasskeyTTL - time.Second)
		if _, err := f.finish(flowID, cred); err != nil {
			t.Fatalf("a challenge a second before expiry: %v", err)
		}
	})
	t.Run("ReplayedAssertion", func(t *testing.T) {
		flowID, cred := f.loginFlow(t, a, nil)
		if _, err := f.finish(flowID, cred); err != nil {
			t.Fatal(err)
		}
		_, err := f.finish(flowID, cred)
		wantCode(t, err, baton.EInvalidCredentials)
		// With a new flow the old assertion answers the wrong challenge.
		next, _ := f.svc.BeginPasskeyLogin(ctx, "")
		_, err = f.finish(next.FlowID, cred)
		wantCode(t, err, baton.EInvalidCredentials)
	})
	t.Run("ConcurrentFinish", func(t *testing.T) {
		flowID, cred := f.loginFlow(t, a, nil)
		const n = 8
		errs := make(chan error, n)
		for range n {
			go func() { _, err := f.finish(flowID, cred); errs <- err }()
		}
		ok := 0
		for range n {
			if err := <-errs; err == nil {
				ok++
			} else if baton.ErrorCode(err) != baton.EInvalidCredentials {
				t.Errorf("a losing finish: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d concurrent finishes of one flow: %d succeeded, want 1", n, ok)
		}
	})
	t.Run("UnknownFlow", func(t *testing.T) {
		_, cred := f.loginFlow(t, a, nil)
		for _, id := range []string{"", "bpk_", "bpk_" + strings.Repeat("A", 43), "nope", "bpk_" + strings.Repeat("!", 43)} {
			_, err := f.finish(id, cred)
			wantCode(t, err, baton.EInvalidCredentials)
		}
	})
	t.Run("LockedUser", func(t *testing.T) {
		if err := f.store.SetLocked(ctx, alice.ID, t0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.store.SetLocked(ctx, alice.ID, time.Time{}) })
		_, err := f.finish(f.loginFlow(t, a, nil))
		wantCode(t, err, baton.EInvalidCredentials)
	})
}

// TestPasskeyRegistrationRefusals: a registration answer that does not
// verify stores nothing.
func TestPasskeyRegistrationRefusals(t *testing.T) {
	f := newPasskeyFixture(t)
	f.user(t, "alice")
	f.user(t, "bob")
	g := f.login(t, "alice")
	evilHash := sha256.Sum256([]byte("evil.example"))
	tests := []struct {
		name string
		opt  webauthntest.Options
		edit func(*webauthntest.Attestation)
	}{
		{"WrongOrigin", webauthntest.Options{Origin: "https://evil.example"}, nil},
		{"WrongRPID", webauthntest.Options{}, func(at *webauthntest.Attestation) { at.RPIDHash = evilHash[:] }},
		{"BadPackedSignature", webauthntest.Options{Attestation: "packed"}, func(at *webauthntest.Attestation) { at.CorruptSignature = true }},
		{"WrongType", webauthntest.Options{}, func(at *webauthntest.Attestation) { at.ClientData.Type = "webauthn.get" }},
		{"BackedUpNotEligible", webauthntest.Options{BackedUp: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flow, err := f.svc.BeginPasskeyRegistration(ctx, g.Claims)
			if err != nil {
				t.Fatal(err)
			}
			cred, err := webauthntest.New(tt.opt).RegisterWith(flow.Options, tt.edit)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.svc.FinishPasskeyRegistration(ctx, g.Claims, flow.FlowID, cred, "", cl)
			wantCode(t, err, baton.EInvalidCredentials)
		})
	}
	t.Run("OtherUsersFlow", func(t *testing.T) {
		flow, _ := f.svc.BeginPasskeyRegistration(ctx, g.Claims)
		cred, _ := webauthntest.New(webauthntest.Options{}).Register(flow.Options)
		_, err := f.svc.FinishPasskeyRegistration(ctx, f.login(t, "bob").Claims, flow.FlowID, cred, "", cl)
		wantCode(t, err, baton.EInvalidCredentials)
	})
	t.Run("Expired", func(t *testing.T) {
		flow, _ := f.svc.BeginPasskeyRegistration(ctx, g.Claims)
		cred, _ := webauthntest.New(webauthntest.Options{}).Register(flow.Options)
		f.clock.Advance(session.PasskeyTTL)
		g2 := f.login(t, "alice")
		_, err := f.svc.FinishPasskeyRegistration(ctx, g2.Claims, flow.FlowID, cred, "", cl)
		wantCode(t, err, baton.EInvalidCredentials)
	})
	t.Run("NotFresh", func(t *testing.T) {
		old := f.login(t, "alice")
		f.clock.Advance(16 * time.Minute)
		_, err := f.svc.BeginPasskeyRegistration(ctx, old.Claims)
		wantCode(t, err, baton.EInsufficientUserAuth)
	})
	t.Run("BadName", func(t *testing.T) {
		g := f.login(t, "alice")
		flow, _ := f.svc.BeginPasskeyRegistration(ctx, g.Claims)
		cred, _ := webauthntest.New(webauthntest.Options{}).Register(flow.Options)
		for _, name := range []string{strings.Repeat("x", 65), "a\nb", "\xff"} {
			_, err := f.svc.FinishPasskeyRegistration(ctx, g.Claims, flow.FlowID, cred, name, cl)
			wantCode(t, err, baton.EInvalidRequest)
		}
	})
	if list, _ := f.svc.Passkeys(ctx, g.Claims); len(list) != 0 {
		t.Fatalf("passkeys after refused registrations: %d", len(list))
	}
}

// TestPasskeyMalformed: what is not a WebAuthn response is invalid_request,
// before any challenge is spent.
func TestPasskeyMalformed(t *testing.T) {
	f := newPasskeyFixture(t)
	f.user(t, "alice")
	g := f.login(t, "alice")
	a := webauthntest.New(webauthntest.Options{UV: true})
	f.enrol(t, g, a, "")
	flowID, good := f.loginFlow(t, a, nil)
	var shape map[string]any
	if err := json.Unmarshal(good, &shape); err != nil {
		t.Fatal(err)
	}
	with := func(path string, v any) []byte {
		m := map[string]any{}
		json.Unmarshal(good, &m)
		resp := m["response"].(map[string]any)
		resp[path] = v
		b, _ := json.Marshal(m)
		return b
	}
	for name, body := range map[string][]byte{
		"Empty":            nil,
		"NotJSON":          []byte("{"),
		"Array":            []byte("[]"),
		"NoResponse":       []byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key"}`),
		"GarbageAuthData":  with("authenticatorData", base64.RawURLEncoding.EncodeToString([]byte{1, 2, 3})),
		"NotBase64":        with("signature", "***"),
		"ClientDataNotObj": with("clientDataJSON", base64.RawURLEncoding.EncodeToString([]byte("[1,2]"))),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.finish(flowID, body)
			wantCode(t, err, baton.EInvalidRequest)
		})
	}
	// The flow was not spent by the malformed answers.
	if _, err := f.finish(flowID, good); err != nil {
		t.Fatalf("the good answer after malformed ones: %v", err)
	}

	pg, err := f.finish(f.loginFlow(t, a, nil))
	if err != nil {
		t.Fatal(err)
	}
	g = pg // with mfa: enrolling another passkey needs it
	flow, err := f.svc.BeginPasskeyRegistration(ctx, g.Claims)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := webauthntest.New(webauthntest.Options{}).Register(flow.Options)
	m := map[string]any{}
	json.Unmarshal(reg, &m)
	m["response"].(map[string]any)["attestationObject"] = base64.RawURLEncoding.EncodeToString([]byte{0xa3, 0xff, 0x00, 0x01})
	garbage, _ := json.Marshal(m)
	for _, body := range [][]byte{garbage, []byte(`{"id":1}`), []byte("null")} {
		_, err := f.svc.FinishPasskeyRegistration(ctx, g.Claims, flow.FlowID, body, "", cl)
		wantCode(t, err, baton.EInvalidRequest)
	}
	// A malformed second step leaves the mfa_token alone.
	_, err = f.svc.Login(ctx, session.LoginRequest{Username: "alice", Password: pw}, cl)
	var mr *session.MFARequired
	if !errors.As(err, &mr) {
		t.Fatal(err)
	}
	_, err = f.svc.CompleteLogin(ctx, session.MFARequest{Token: mr.Token, Passkey: []byte("{")}, cl)
	wantCode(t, err, baton.EInvalidRequest)
	_, err = f.svc.CompleteLogin(ctx, session.MFARequest{Token: mr.Token, Passkey: []byte("{}"), TOTP: ptr("123456")}, cl)
	wantCode(t, err, baton.EInvalidRequest)
}

// TestPasskeyDelete: only the owner deletes, with a fresh token, and the
// last second factor only with mfa.
func TestPasskeyDelete(t *testing.T) {
	f := newPasskeyFixture(t)
	f.user(t, "alice")
	f.user(t, "bob")
	g := f.login(t, "alice")
	a1, a2 := webauthntest.New(webauthntest.Options{UV: true}), webauthntest.New(webauthntest.Options{UV: true})
	p1 := f.enrol(t, g, a1, "one")
	// A second passkey needs a token with mfa.
	withMFA, err := f.finish(f.loginFlow(t, a1, nil))
	if err != nil {
		t.Fatal(err)
	}
	p2 := f.enrol(t, withMFA, a2, "two")
	bobKey := webauthntest.New(webauthntest.Options{})
	bg := f.login(t, "bob")
	pb := f.enrol(t, bg, bobKey, "")

	wantCode(t, f.svc.DeletePasskey(ctx, g.Claims, pb.ID, cl), baton.ENotFound)
	wantCode(t, f.svc.DeletePasskey(ctx, g.Claims, "nope", cl), baton.ENotFound)
	// One of two goes with a fresh token alone.
	if err := f.svc.DeletePasskey(ctx, g.Claims, p1.ID, cl); err != nil {
		t.Fatalf("DeletePasskey of one of two: %v", err)
	}
	wantCode(t, f.svc.DeletePasskey(ctx, g.Claims, p1.ID, cl), baton.ENotFound)
	// The last second factor needs mfa: the password token has none.
	wantCode(t, f.svc.DeletePasskey(ctx, g.Claims, p2.ID, cl), baton.EInsufficientUserAuth)
	// A deleted passkey signs nobody in.
	_, err = f.finish(f.loginFlow(t, a1, nil))
	wantCode(t, err, baton.EInvalidCredentials)
	pg, err := f.finish(f.loginFlow(t, a2, nil))
	if err != nil {
		t.Fatal(err)
	}
	// Stale, even with mfa: freshness first.
	f.clock.Advance(16 * time.Minute)
	wantCode(t, f.svc.DeletePasskey(ctx, pg.Claims, p2.ID, cl), baton.EInsufficientUserAuth)
	pg, _ = f.finish(f.loginFlow(t, a2, nil))
	if err := f.svc.DeletePasskey(ctx, pg.Claims, p2.ID, cl); err != nil {
		t.Fatalf("DeletePasskey of the last with mfa: %v", err)
	}
	if !f.saw(session.EventPasskeyRemoved, session.OutcomeOK) {
		t.Error("no passkey_removed event")
	}
	// No second factor left: the password alone signs in.
	if l := f.login(t, "alice"); !slices.Equal(l.Claims.AMR, []string{"pwd"}) {
		t.Fatalf("amr: %v", l.Claims.AMR)
	}
	if prof, _ := f.svc.Profile(ctx, pg.Claims); prof.MFA.Passkeys != 0 {
		t.Fatalf("profile after deleting: %+v", prof.MFA)
	}
	// Bob's is untouched.
	if list, _ := f.svc.Passkeys(ctx, bg.Claims); len(list) != 1 {
		t.Fatalf("bob's passkeys: %d", len(list))
	}
}

// TestPasskeysOff: without an RP id every passkey call is not_found, and
// a passkey in the store is no second factor.
func TestPasskeysOff(t *testing.T) {
	f := newFixture(t, nil)
	f.user(t, "alice")
	g := f.login(t, "alice")
	if f.svc.PasskeysEnabled() {
		t.Fatal("passkeys on without an RP id")
	}
	_, err := f.svc.BeginPasskeyRegistration(ctx, g.Claims)
	wantCode(t, err, baton.ENotFound)
	_, err = f.svc.BeginPasskeyLogin(ctx, "")
	wantCode(t, err, baton.ENotFound)
	_, err = f.svc.FinishPasskeyLogin(ctx, session.PasskeyLoginRequest{}, cl)
	wantCode(t, err, baton.ENotFound)
	_, err = f.svc.Passkeys(ctx, g.Claims)
	wantCode(t, err, baton.ENotFound)
	wantCode(t, f.svc.DeletePasskey(ctx, g.Claims, "x", cl), baton.ENotFound)
}

// TestPasskeyWithoutUVAndTOTP: a passkey without user verification is one
// factor, so it does not sign in a user who has TOTP on; with user
// verification it does. Methods list both kinds of factor.
func TestPasskeyWithoutUVAndTOTP(t *testing.T) {
	f := newMFAFixture(t, func(c *session.Config) {
		c.WebAuthn = session.WebAuthnConfig{RPID: rpID, Origins: []string{rpOrigin}}
	})
	pf := &passkeyFixture{fixture: f.fixture}
	noUV := webauthntest.New(webauthntest.Options{})
	withUV := webauthntest.New(webauthntest.Options{UV: true})
	// TOTP is on: enrolling needs a token with mfa.
	_, err := f.svc.BeginPasskeyRegistration(ctx, f.pre.Claims)
	wantCode(t, err, baton.EInsufficientUserAuth)
	m0 := f.mfaLogin(t)
	f.clock.Advance(30 * time.Second)
	withMFA, err := f.complete(m0.Token, ptr(f.code(f.clock.Now())), nil)
	if err != nil {
		t.Fatal(err)
	}
	pf.enrol(t, withMFA, noUV, "")
	pf.enrol(t, withMFA, withUV, "")
	_, err = pf.finish(pf.loginFlow(t, noUV, nil))
	wantCode(t, err, baton.EInvalidCredentials)
	g, err := pf.finish(pf.loginFlow(t, withUV, nil))
	if err != nil || !slices.Equal(g.Claims.AMR, []string{"hwk", "mfa"}) {
		t.Fatalf("a verified passkey of a TOTP user: %v, %+v", err, g)
	}
	_, err = f.svc.Login(ctx, session.LoginRequest{Username: "alice", Password: pw}, cl)
	var m *session.MFARequired
	if !errors.As(err, &m) || !slices.Equal(m.Methods, []string{"totp", "recovery_code", "passkey"}) {
		t.Fatalf("methods: %v, %+v", err, m)
	}
	// Deleting a passkey of a TOTP user needs no mfa: TOTP stays.
	list, _ := f.svc.Passkeys(ctx, f.pre.Claims)
	for _, p := range list {
		if err := f.svc.DeletePasskey(ctx, f.pre.Claims, p.ID, cl); err != nil {
			t.Fatalf("DeletePasskey with TOTP on: %v", err)
		}
	}
}

// TestPasskeyResetMFA: an administrator's reset removes passkeys too, and
// says how many it removed.
func TestPasskeyResetMFA(t *testing.T) {
	f := newPasskeyFixture(t)
	u := f.user(t, "alice")
	a := webauthntest.New(webauthntest.Options{UV: true})
	f.enrol(t, f.login(t, "alice"), a, "")
	r, err := f.svc.ResetMFA(ctx, u.ID, cl)
	if err != nil || r.Removed.Passkeys != 1 {
		t.Fatalf("ResetMFA: %v, %+v", err, r)
	}
	if l := f.login(t, "alice"); !slices.Equal(l.Claims.AMR, []string{"pwd"}) {
		t.Fatalf("amr after the reset: %v", l.Claims.AMR)
	}
	_, err = f.finish(f.loginFlow(t, a, nil))
	wantCode(t, err, baton.EInvalidCredentials)
	if m, err := f.svc.UserMFA(ctx, u.ID); err != nil || m.Any() {
		t.Fatalf("after the reset: %+v, %v", m, err)
	}
}

// TestPasskeyLimit: a user has at most baton.MaxPasskeysPerUser passkeys.
func TestPasskeyLimit(t *testing.T) {
	f := newPasskeyFixture(t)
	u := f.user(t, "alice")
	a := webauthntest.New(webauthntest.Options{UV: true})
	f.enrol(t, f.login(t, "alice"), a, "")
	g, err := f.finish(f.loginFlow(t, a, nil))
	if err != nil {
		t.Fatal(err)
	}
	flow, err := f.svc.BeginPasskeyRegistration(ctx, g.Claims) // room for one more, begun before the rest
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < baton.MaxPasskeysPerUser; i++ {
		if err := f.store.CreatePasskey(ctx, &baton.Passkey{ID: fmt.Sprint("p", i), UserID: u.ID, CredentialID: []byte(fmt.Sprint("c", i)),
			PublicKey: []byte("k"), AAGUID: make([]byte, 16), Name: "x", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = f.svc.BeginPasskeyRegistration(ctx, g.Claims)
	wantCode(t, err, baton.EInvalidRequest)
	// A ceremony begun before the limit was reached stores nothing.
	cred, err := webauthntest.New(webauthntest.Options{}).Register(flow.Options)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.FinishPasskeyRegistration(ctx, g.Claims, flow.FlowID, cred, "", cl)
	wantCode(t, err, baton.EInvalidRequest)
	if list, _ := f.svc.Passkeys(ctx, g.Claims); len(list) != baton.MaxPasskeysPerUser {
		t.Fatalf("passkeys: %d, want %d", len(list), baton.MaxPasskeysPerUser)
	}
}
