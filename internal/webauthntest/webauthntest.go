// Package webauthntest is a software passkey for tests of a relying party: an
// authenticator with the client (browser) steps folded in. It takes the
// options a server sends to navigator.credentials.create or .get in their
// JSON form and answers with the JSON a browser's toJSON() would send back.
//
// It is written from the W3C WebAuthn Level 3 specification and COSE (RFC
// 9052, RFC 9053) with the standard library alone, independently of any
// server-side WebAuthn library, so that a server test exercises the server's
// parsing and verification rather than one library agreeing with itself.
//
// Credentials are discoverable (resident): the authenticator keeps each one
// with its key, user handle, relying party ID and signature counter, and a
// login with an empty allowCredentials picks the newest one for the RP ID.
// Register and Login never ask for a gesture or check userVerification: the
// flags come from Options so that tests can send what a server must refuse.
//
// An Authenticator is safe for concurrent use.
package webauthntest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
)

// COSE algorithm identifiers (IANA COSE Algorithms registry).
const (
	AlgES256 = -7 // ECDSA with SHA-256 on P-256
	AlgEdDSA = -8 // EdDSA; here always Ed25519
)

// Flags of authenticator data (WebAuthn L3 §6.1).
const (
	FlagUP byte = 0x01 // user present
	FlagUV byte = 0x04 // user verified
	FlagBE byte = 0x08 // backup eligible
	FlagBS byte = 0x10 // backed up
	FlagAT byte = 0x40 // attested credential data included
	FlagED byte = 0x80 // extension data included
)

// Options describe the authenticator and the client around it.
type Options struct {
	// Alg is the COSE algorithm of new credentials: AlgES256 (the default
	// when zero) or AlgEdDSA. Register refuses options that do not offer it.
	Alg int
	// Attestation is the attestation statement format: "none" (the default)
	// or "packed" self attestation (signed with the credential key, no x5c).
	// It is sent whatever the options' attestation conveyance asks for.
	Attestation string
	// Origin goes into clientDataJSON; the default is "https://" followed by
	// the RP ID the options name.
	Origin string
	// RPID, when set, replaces the RP ID the options name (or imply) both for
	// rpIdHash and for finding credentials, to test a wrong relying party.
	RPID string
	// UV sets the user-verified flag.
	UV bool
	// CrossOrigin sets crossOrigin in clientDataJSON.
	CrossOrigin bool
	// BackupEligible and BackedUp set the BE and BS flags, as a synced
	// passkey would; BS without BE is invalid and a server must refuse it.
	BackupEligible, BackedUp bool
	// NoCounter makes the authenticator report a signature counter of zero
	// always, as many passkey providers do; otherwise each login adds one.
	NoCounter bool
}

// Authenticator is a software authenticator holding resident credentials.
type Authenticator struct {
	opt Options

	mu    sync.Mutex
	creds []*credential // oldest first
}

type credential struct {
	id         []byte
	key        crypto.Signer // *ecdsa.PrivateKey or ed25519.PrivateKey
	alg        int
	userHandle []byte
	rpID       string
	counter    uint32
}

// New returns an authenticator with no credentials. It panics on an Alg or
// Attestation it does not support: that is a mistake in the test.
func New(opt Options) *Authenticator {
	if opt.Alg == 0 {
		opt.Alg = AlgES256
	}
	if opt.Attestation == "" {
		opt.Attestation = "none"
	}
	if opt.Alg != AlgES256 && opt.Alg != AlgEdDSA {
		panic(fmt.Sprintf("webauthntest: unsupported alg %d", opt.Alg))
	}
	if opt.Attestation != "none" && opt.Attestation != "packed" {
		panic(fmt.Sprintf("webauthntest: unsupported attestation %q", opt.Attestation))
	}
	return &Authenticator{opt: opt}
}

// Credential is a copy of what the authenticator holds for one credential.
type Credential struct {
	ID         []byte
	UserHandle []byte
	RPID       string
	Alg        int
	PublicKey  crypto.PublicKey // *ecdsa.PublicKey or ed25519.PublicKey
	COSEKey    []byte           // the public key as it appeared in authData
	Counter    uint32           // the stored signature counter: the last one reported, or what SetCounter set
}

func (c *credential) export() Credential {
	return Credential{
		ID:         clone(c.id),
		UserHandle: clone(c.userHandle),
		RPID:       c.rpID,
		Alg:        c.alg,
		PublicKey:  c.key.Public(),
		COSEKey:    coseKey(c.key),
		Counter:    c.counter,
	}
}

// Credential returns the newest credential, or the zero Credential when
// none was registered.
func (a *Authenticator) Credential() Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.creds) == 0 {
		return Credential{}
	}
	return a.creds[len(a.creds)-1].export()
}

// Credentials returns every credential, oldest first.
func (a *Authenticator) Credentials() []Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Credential, len(a.creds))
	for i, c := range a.creds {
		out[i] = c.export()
	}
	return out
}

// SetCounter sets the stored counter of the newest credential, so that the
// next Login reports n+1 (or 0 with NoCounter): set it below a value already
// reported to test a regression, which may mean a cloned authenticator.
func (a *Authenticator) SetCounter(n uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.creds) > 0 {
		a.creds[len(a.creds)-1].counter = n
	}
}

// ClientData is the client data a response carries in clientDataJSON
// (WebAuthn L3 §5.8.1). Its fields are encoded in this order, the one the
// limited verification algorithm of §5.8.1.2 expects.
type ClientData struct {
	Type        string `json:"type"`
	Challenge   string `json:"challenge"` // base64url without padding
	Origin      string `json:"origin"`
	CrossOrigin bool   `json:"crossOrigin"`
	TopOrigin   string `json:"topOrigin,omitempty"`
}

// clientDataJSON returns raw when a hook set it, else data encoded.
func clientDataJSON(data ClientData, raw []byte) []byte {
	if raw != nil {
		return raw
	}
	b, err := json.Marshal(data)
	if err != nil {
		panic(err) // strings and a bool always encode
	}
	return b
}

// authData is rpIdHash || flags || signCount || attestedCredentialData
// (WebAuthn L3 §6.1); attested is empty in an assertion.
func authData(rpIDHash []byte, flags byte, counter uint32, attested []byte) []byte {
	b := make([]byte, 0, len(rpIDHash)+5+len(attested))
	b = append(b, rpIDHash...)
	b = append(b, flags)
	b = binary.BigEndian.AppendUint32(b, counter)
	return append(b, attested...)
}

func rpIDHash(rpID string) []byte {
	h := sha256.Sum256([]byte(rpID))
	return h[:]
}

// sign signs authData || SHA-256(clientDataJSON), the message of both a
// packed attestation (§8.2) and an assertion (§6.3.3): ES256 as an ASN.1 DER
// ECDSA signature over the SHA-256 of the message, Ed25519 over the message
// itself (RFC 8032, no prehash).
func sign(key crypto.Signer, authData, clientDataJSON []byte) []byte {
	cdh := sha256.Sum256(clientDataJSON)
	msg := append(clone(authData), cdh[:]...)
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		h := sha256.Sum256(msg)
		sig, err := ecdsa.SignASN1(rand.Reader, k, h[:])
		if err != nil {
			panic(err) // crypto/rand does not fail
		}
		return sig
	case ed25519.PrivateKey:
		return ed25519.Sign(k, msg)
	}
	panic("webauthntest: unknown key type")
}

func newKey(alg int) crypto.Signer {
	var (
		key crypto.Signer
		err error
	)
	switch alg {
	case AlgES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgEdDSA:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		panic(err)
	}
	return key
}

// coseKey encodes the public key as a COSE_Key (RFC 9052 §7, RFC 9053 §7):
// EC2 {1:2, 3:-7, -1:1 (P-256), -2:x, -3:y} with 32-byte coordinates, or
// OKP {1:1, 3:-8, -1:6 (Ed25519), -2:x}.
func coseKey(key crypto.Signer) []byte {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		p, err := k.PublicKey.Bytes() // 0x04 || x || y
		if err != nil {
			panic(err)
		}
		return cborEncode(cborMap{
			{1, 2}, {3, AlgES256}, {-1, 1}, {-2, p[1:33]}, {-3, p[33:65]},
		})
	case ed25519.PrivateKey:
		return cborEncode(cborMap{
			{1, 1}, {3, AlgEdDSA}, {-1, 6}, {-2, []byte(k.Public().(ed25519.PublicKey))},
		})
	}
	panic("webauthntest: unknown key type")
}

var b64 = base64.RawURLEncoding

// decodeB64 accepts base64url with or without padding, as servers send both.
func decodeB64(s string) ([]byte, error) {
	return b64.DecodeString(strings.TrimRight(s, "="))
}

// parseOptions decodes the options inside {"publicKey": {...}} (the shape
// of a CredentialCreationOptions or CredentialRequestOptions) or the bare
// options into v.
func parseOptions(optionsJSON []byte, v any) error {
	var w struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(optionsJSON, &w); err != nil {
		return fmt.Errorf("options: %w", err)
	}
	if len(w.PublicKey) > 0 && string(w.PublicKey) != "null" {
		optionsJSON = w.PublicKey
	}
	if err := json.Unmarshal(optionsJSON, v); err != nil {
		return fmt.Errorf("options: %w", err)
	}
	return nil
}

// descriptor is a PublicKeyCredentialDescriptorJSON (§5.10.3).
type descriptor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// challenge checks the options' challenge and returns it re-encoded the way
// clientDataJSON carries it: base64url without padding.
func challenge(s string) (string, error) {
	c, err := decodeB64(s)
	if err != nil {
		return "", fmt.Errorf("challenge: %w", err)
	}
	if len(c) == 0 {
		return "", errors.New("options have no challenge")
	}
	return b64.EncodeToString(c), nil
}

// rpIDs returns the RP ID the authenticator uses (Options.RPID, else the
// options' own, else the origin's host as a browser would) and the origin
// the client reports.
func (a *Authenticator) rpIDs(optionsRPID string) (rpID, origin string, err error) {
	origin = a.opt.Origin
	if origin == "" {
		if optionsRPID == "" {
			return "", "", errors.New("options have no RP ID and Options.Origin is empty")
		}
		origin = "https://" + optionsRPID
	}
	rpID = optionsRPID
	if rpID == "" {
		u, err := url.Parse(origin)
		if err != nil || u.Hostname() == "" {
			return "", "", fmt.Errorf("no RP ID in options and none in origin %q", origin)
		}
		rpID = u.Hostname()
	}
	if a.opt.RPID != "" {
		rpID = a.opt.RPID
	}
	return rpID, origin, nil
}

func (a *Authenticator) flags() byte {
	f := FlagUP
	if a.opt.UV {
		f |= FlagUV
	}
	if a.opt.BackupEligible {
		f |= FlagBE
	}
	if a.opt.BackedUp {
		f |= FlagBS
	}
	return f
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// corrupt flips a bit of a signature so it no longer verifies but still
// parses (the last byte of a DER signature is inside s).
func corrupt(sig []byte) []byte {
	sig = clone(sig)
	sig[len(sig)-1] ^= 0x01
	return sig
}

func randRead(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail
	}
}
