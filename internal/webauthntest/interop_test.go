package webauthntest_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/batonauth/baton/internal/webauthntest"
)

// These tests prove interoperability: go-webauthn, the library the server
// uses, accepts what this authenticator sends and refuses what the tamper
// hooks break. They are not how the authenticator checks itself (see
// webauthntest_test.go).

const (
	interopRPID   = "localhost"
	interopOrigin = "http://localhost:8080"
)

type interopUser struct {
	id    []byte
	creds []webauthn.Credential
}

func (u *interopUser) WebAuthnID() []byte                         { return u.id }
func (u *interopUser) WebAuthnName() string                       { return "alice" }
func (u *interopUser) WebAuthnDisplayName() string                { return "Alice" }
func (u *interopUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func newRP(t *testing.T) *webauthn.WebAuthn {
	t.Helper()
	w, err := webauthn.New(&webauthn.Config{
		RPID:          interopRPID,
		RPDisplayName: "baton",
		RPOrigins:     []string{interopOrigin},
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// register runs a registration ceremony through go-webauthn and returns the
// user holding the new credential.
func register(t *testing.T, w *webauthn.WebAuthn, a *webauthntest.Authenticator) *interopUser {
	t.Helper()
	u := &interopUser{id: make([]byte, 32)}
	rand.Read(u.id)
	creation, session, err := w.BeginRegistration(u,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Register(mustJSON(t, creation))
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(bytes.NewReader(resp))
	if err != nil {
		t.Fatalf("ParseCredentialCreationResponseBody: %v", err)
	}
	cred, err := w.CreateCredential(u, *session, parsed)
	if err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	if got := a.Credential().ID; !bytes.Equal(cred.ID, got) {
		t.Fatalf("credential id: go-webauthn has %x, authenticator %x", cred.ID, got)
	}
	u.creds = append(u.creds, *cred)
	return u
}

// login runs a discoverable login through go-webauthn.
func login(t *testing.T, w *webauthn.WebAuthn, a *webauthntest.Authenticator, u *interopUser, edit func(*webauthntest.Assertion)) (*webauthn.Credential, error) {
	t.Helper()
	assertion, session, err := w.BeginDiscoverableLogin()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.LoginWith(mustJSON(t, assertion), edit)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(bytes.NewReader(resp))
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	return w.ValidateDiscoverableLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
		if !bytes.Equal(userHandle, u.id) {
			return nil, fmt.Errorf("unknown user handle %x", userHandle)
		}
		return u, nil
	}, *session, parsed)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoWebAuthnAccepts(t *testing.T) {
	for _, alg := range []int{webauthntest.AlgES256, webauthntest.AlgEdDSA} {
		for _, att := range []string{"none", "packed"} {
			t.Run(fmt.Sprintf("alg%d/%s", alg, att), func(t *testing.T) {
				w := newRP(t)
				a := webauthntest.New(webauthntest.Options{Alg: alg, Attestation: att, Origin: interopOrigin, UV: true})
				u := register(t, w, a)
				if got := u.creds[0].AttestationFormat; got != att {
					t.Errorf("attestation format: got %q, want %q", got, att)
				}
				for want := uint32(1); want <= 2; want++ {
					cred, err := login(t, w, a, u, nil)
					if err != nil {
						t.Fatalf("login %d: %v", want, err)
					}
					if cred.Authenticator.SignCount != want {
						t.Errorf("sign count: got %d, want %d", cred.Authenticator.SignCount, want)
					}
					if !cred.Flags.UserVerified {
						t.Error("user verified flag lost")
					}
					u.creds[0] = *cred
				}
			})
		}
	}
}

// refusal returns what go-webauthn says about err, to check it refused for
// the reason a test meant and not some other.
func refusal(t *testing.T, err error) string {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return err.Error()
	}
	return pe.Details + ": " + pe.DevInfo
}

func TestGoWebAuthnRefusesTamperedAssertion(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*webauthntest.Assertion)
		want string
	}{
		{"Origin", func(a *webauthntest.Assertion) { a.ClientData.Origin = "http://evil.example:8080" }, "origin"},
		{"Challenge", func(a *webauthntest.Assertion) {
			a.ClientData.Challenge = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		}, "challenge"},
		{"Type", func(a *webauthntest.Assertion) { a.ClientData.Type = "webauthn.create" }, "ceremony type"},
		{"RPIDHash", func(a *webauthntest.Assertion) { a.RPIDHash = make([]byte, 32) }, "RP Hash mismatch"},
		{"Signature", func(a *webauthntest.Assertion) { a.CorruptSignature = true }, "assertion signature"},
		{"NotPresent", func(a *webauthntest.Assertion) { a.Flags &^= webauthntest.FlagUP }, "User presence"},
		{"BackedUpNotEligible", func(a *webauthntest.Assertion) { a.Flags |= webauthntest.FlagBS }, "Backup State"},
	} {
		for _, alg := range []int{webauthntest.AlgES256, webauthntest.AlgEdDSA} {
			t.Run(fmt.Sprintf("%s/alg%d", tc.name, alg), func(t *testing.T) {
				w := newRP(t)
				a := webauthntest.New(webauthntest.Options{Alg: alg, Origin: interopOrigin})
				u := register(t, w, a)
				if _, err := login(t, w, a, u, nil); err != nil {
					t.Fatalf("untampered login: %v", err)
				}
				_, err := login(t, w, a, u, tc.edit)
				if err == nil {
					t.Fatal("tampered login accepted")
				}
				if got := refusal(t, err); !strings.Contains(got, tc.want) {
					t.Errorf("refused with %q, want it about %q", got, tc.want)
				}
			})
		}
	}
}

func TestGoWebAuthnRefusesTamperedAttestation(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  webauthntest.Options
		edit func(*webauthntest.Attestation)
		want string
	}{
		{"WrongRPID", webauthntest.Options{RPID: "evil.example"}, nil, "RP Hash mismatch"},
		{"Origin", webauthntest.Options{}, func(a *webauthntest.Attestation) { a.ClientData.Origin = "http://evil.example:8080" }, "origin"},
		{"Type", webauthntest.Options{}, func(a *webauthntest.Attestation) { a.ClientData.Type = "webauthn.get" }, "ceremony type"},
		{"PackedSignature", webauthntest.Options{Attestation: "packed"}, func(a *webauthntest.Attestation) { a.CorruptSignature = true }, "ignature"},
	} {
		for _, alg := range []int{webauthntest.AlgES256, webauthntest.AlgEdDSA} {
			t.Run(fmt.Sprintf("%s/alg%d", tc.name, alg), func(t *testing.T) {
				w := newRP(t)
				opt := tc.opt
				opt.Alg, opt.Origin = alg, interopOrigin
				a := webauthntest.New(opt)
				u := &interopUser{id: []byte("user-1")}
				creation, session, err := w.BeginRegistration(u)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := a.RegisterWith(mustJSON(t, creation), tc.edit)
				if err != nil {
					t.Fatal(err)
				}
				parsed, err := protocol.ParseCredentialCreationResponseBody(bytes.NewReader(resp))
				if err == nil {
					_, err = w.CreateCredential(u, *session, parsed)
				}
				if err == nil {
					t.Fatal("tampered registration accepted")
				}
				if got := refusal(t, err); !strings.Contains(got, tc.want) {
					t.Errorf("refused with %q, want it about %q", got, tc.want)
				}
			})
		}
	}
}

// TestGoWebAuthnCounters checks that go-webauthn sees a counter that goes
// back (SetCounter) as a possible clone, and one that stays at zero
// (NoCounter) as an authenticator that does not count.
func TestGoWebAuthnCounters(t *testing.T) {
	t.Run("Regression", func(t *testing.T) {
		w := newRP(t)
		a := webauthntest.New(webauthntest.Options{Origin: interopOrigin})
		u := register(t, w, a)
		for range 3 {
			cred, err := login(t, w, a, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			u.creds[0] = *cred
		}
		a.SetCounter(1)
		cred, err := login(t, w, a, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		// go-webauthn keeps the stored count on a regression and warns.
		if !cred.Authenticator.CloneWarning {
			t.Errorf("counter 2 after 3: no clone warning")
		}
	})
	t.Run("NoCounter", func(t *testing.T) {
		w := newRP(t)
		a := webauthntest.New(webauthntest.Options{Origin: interopOrigin, NoCounter: true})
		u := register(t, w, a)
		for range 2 {
			cred, err := login(t, w, a, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			if cred.Authenticator.SignCount != 0 || cred.Authenticator.CloneWarning {
				t.Errorf("got count %d clone warning %v, want 0 false", cred.Authenticator.SignCount, cred.Authenticator.CloneWarning)
			}
			u.creds[0] = *cred
		}
	})
}
