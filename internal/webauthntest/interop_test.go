package webauthntest_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
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

func TestGoWebAuthnRefusesTampered(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*webauthntest.Assertion)
	}{
		{"Origin", func(a *webauthntest.Assertion) { a.ClientData.Origin = "http://evil.example:8080" }},
		{"Challenge", func(a *webauthntest.Assertion) { a.ClientData.Challenge = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }},
		{"Type", func(a *webauthntest.Assertion) { a.ClientData.Type = "webauthn.create" }},
		{"RPIDHash", func(a *webauthntest.Assertion) { a.RPIDHash = make([]byte, 32) }},
		{"Signature", func(a *webauthntest.Assertion) { a.CorruptSignature = true }},
		{"NotPresent", func(a *webauthntest.Assertion) { a.Flags &^= webauthntest.FlagUP }},
		{"BackedUpNotEligible", func(a *webauthntest.Assertion) { a.Flags |= webauthntest.FlagBS }},
	} {
		for _, alg := range []int{webauthntest.AlgES256, webauthntest.AlgEdDSA} {
			t.Run(fmt.Sprintf("%s/alg%d", tc.name, alg), func(t *testing.T) {
				w := newRP(t)
				a := webauthntest.New(webauthntest.Options{Alg: alg, Origin: interopOrigin})
				u := register(t, w, a)
				if _, err := login(t, w, a, u, nil); err != nil {
					t.Fatalf("untampered login: %v", err)
				}
				if _, err := login(t, w, a, u, tc.edit); err == nil {
					t.Fatal("tampered login accepted")
				}
			})
		}
	}
}
