package session

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/internal/webauthntest"
)

// BenchmarkPasskeyVerify is the assertion check alone, with the relying
// party baton configures (newWebAuthn) and a credential as baton hands it
// over (credential): Validate is go-webauthn's ValidateLogin, the call
// checkPasskeyFactor makes (client data, RP id hash, flags, counter and
// the signature); ParseValidate adds the parsing of the
// AuthenticationResponseJSON that every answer pays first. No store, no
// session. cpu-µs/op is the process's user+system CPU per op (getrusage),
// garbage collection on other threads included, which ns/op does not see.
func BenchmarkPasskeyVerify(b *testing.B) {
	for _, alg := range []struct {
		name string
		alg  int
	}{{"ES256", webauthntest.AlgES256}, {"EdDSA", webauthntest.AlgEdDSA}} {
		b.Run(alg.name, func(b *testing.B) {
			wa, user, sd, answer := passkeyAssertion(b, alg.alg)
			parsed, err := protocol.ParseCredentialRequestResponseBytes(answer)
			if err != nil {
				b.Fatalf("parse: %v", err)
			}
			b.Run("Validate", func(b *testing.B) {
				b.ReportAllocs()
				cpu := startCPU(b)
				for b.Loop() {
					if _, err := wa.ValidateLogin(user, sd, parsed); err != nil {
						b.Fatalf("ValidateLogin: %v", err)
					}
				}
				cpu.report(b)
			})
			b.Run("ParseValidate", func(b *testing.B) {
				b.ReportAllocs()
				cpu := startCPU(b)
				for b.Loop() {
					p, err := protocol.ParseCredentialRequestResponseBytes(answer)
					if err != nil {
						b.Fatalf("parse: %v", err)
					}
					if _, err := wa.ValidateLogin(user, sd, p); err != nil {
						b.Fatalf("ValidateLogin: %v", err)
					}
				}
				cpu.report(b)
			})
		})
	}
}

// passkeyAssertion registers a credential of alg with a software
// authenticator (user verification on) and returns the relying party, the
// user as checkPasskeyFactor builds it from the stored passkey, the
// ceremony's session data as takeCeremony gives it back (no expiry: the
// store's) and the authenticator's answer to it.
func passkeyAssertion(b *testing.B, alg int) (*webauthn.WebAuthn, *waUser, webauthn.SessionData, []byte) {
	b.Helper()
	wa, err := newWebAuthn(WebAuthnConfig{RPID: "example.com", Origins: []string{"https://example.com"}})
	if err != nil {
		b.Fatal(err)
	}
	a := webauthntest.New(webauthntest.Options{Alg: alg, UV: true})
	user := &waUser{u: &baton.User{ID: "0123456789abcdef0123456789abcdef", Username: "alice"}}
	creation, rsd, err := wa.BeginRegistration(user)
	if err != nil {
		b.Fatal(err)
	}
	answer, err := a.Register(mustJSON(b, creation.Response))
	if err != nil {
		b.Fatal(err)
	}
	parsedReg, err := protocol.ParseCredentialCreationResponseBytes(answer)
	if err != nil {
		b.Fatal(err)
	}
	cred, err := wa.CreateCredential(user, *rsd, parsedReg)
	if err != nil {
		b.Fatal(err)
	}
	user.creds = []webauthn.Credential{credential(&baton.Passkey{
		CredentialID: cred.ID, PublicKey: cred.PublicKey, AAGUID: cred.Authenticator.AAGUID,
		Flags: baton.PasskeyFlags{UserVerified: cred.Flags.UserVerified},
	})}
	assertion, sd, err := wa.BeginLogin(user)
	if err != nil {
		b.Fatal(err)
	}
	sd.Expires = time.Time{}
	answer, err = a.Login(mustJSON(b, assertion.Response))
	if err != nil {
		b.Fatal(err)
	}
	return wa, user, *sd, answer
}

func mustJSON(b *testing.B, v any) []byte {
	b.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// cpuClock is the process's CPU time at a benchmark's start.
type cpuClock struct {
	start time.Duration
	ok    bool
}

func startCPU(*testing.B) cpuClock {
	d, _, ok := ProcessCPU()
	return cpuClock{d, ok}
}

// report adds cpu-µs/op; call it right after the b.Loop loop.
func (c cpuClock) report(b *testing.B) {
	if d, _, ok := ProcessCPU(); ok && c.ok {
		b.ReportMetric(float64(d-c.start)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	}
}
