package webauthntest

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
)

// creationOptions is the part of a PublicKeyCredentialCreationOptionsJSON
// (WebAuthn L3 §5.4) an authenticator acts on.
type creationOptions struct {
	RP struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	Challenge        string `json:"challenge"`
	PubKeyCredParams []struct {
		Type string `json:"type"`
		Alg  int    `json:"alg"`
	} `json:"pubKeyCredParams"`
	ExcludeCredentials []descriptor `json:"excludeCredentials"`
}

// Attestation is a registration response before it is encoded. A
// RegisterWith hook may change any field to build a response a server must
// refuse; the signature of a packed statement is made after the hook, over
// what the hook left, unless CorruptSignature is set. The authenticator
// keeps the credential whatever the hook does.
type Attestation struct {
	CredentialID   []byte     // id and rawId; the attested credential data keeps the real one
	ClientData     ClientData // encoded into clientDataJSON unless ClientDataJSON is set
	ClientDataJSON []byte     // nil: encode ClientData
	RPIDHash       []byte
	Flags          byte
	Counter        uint32
	Format         string // "none" or "packed"; anything else is sent as is with an empty attStmt
	// CorruptSignature flips a bit of the packed signature.
	CorruptSignature bool
}

// Register answers navigator.credentials.create: optionsJSON is a
// PublicKeyCredentialCreationOptionsJSON, bare or inside {"publicKey": ...};
// the result is a RegistrationResponseJSON (§5.1). The new credential is
// kept as a resident credential; one already held for the same RP ID and
// user handle is replaced, as CTAP2 authenticators do.
//
// It fails when the options do not offer Options.Alg, when they exclude a
// credential this authenticator holds for the RP, or when they are
// malformed.
func (a *Authenticator) Register(optionsJSON []byte) ([]byte, error) {
	return a.RegisterWith(optionsJSON, nil)
}

// RegisterWith is Register with a hook that may change the response before
// it is encoded; edit may be nil.
func (a *Authenticator) RegisterWith(optionsJSON []byte, edit func(*Attestation)) ([]byte, error) {
	var o creationOptions
	if err := parseOptions(optionsJSON, &o); err != nil {
		return nil, err
	}
	chal, err := challenge(o.Challenge)
	if err != nil {
		return nil, err
	}
	rpID, origin, err := a.rpIDs(o.RP.ID)
	if err != nil {
		return nil, err
	}
	userHandle, err := decodeB64(o.User.ID)
	if err != nil || len(userHandle) == 0 {
		return nil, errors.New("options have no valid user.id")
	}
	if !a.offered(o) {
		return nil, fmt.Errorf("options offer no credential parameters with alg %d", a.opt.Alg)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.excluded(rpID, o.ExcludeCredentials) {
		// §6.3.2 step 3: the authenticator already holds an excluded credential.
		return nil, errors.New("InvalidStateError: a credential in excludeCredentials is on this authenticator")
	}

	c := &credential{id: make([]byte, 32), key: newKey(a.opt.Alg), alg: a.opt.Alg, userHandle: userHandle, rpID: rpID}
	randRead(c.id)
	att := Attestation{
		CredentialID: clone(c.id),
		ClientData:   ClientData{Type: "webauthn.create", Challenge: chal, Origin: origin, CrossOrigin: a.opt.CrossOrigin},
		RPIDHash:     rpIDHash(rpID),
		Flags:        a.flags() | FlagAT,
		Format:       a.opt.Attestation,
	}
	if edit != nil {
		edit(&att)
	}

	// attestedCredentialData (§6.5.2): aaguid (zero: no attestation of the
	// model) || credentialIdLength (2, big-endian) || credentialId || the
	// COSE public key.
	cose := coseKey(c.key)
	attested := make([]byte, 16, 16+2+len(c.id)+len(cose))
	attested = append(attested, byte(len(c.id)>>8), byte(len(c.id)))
	attested = append(attested, c.id...)
	attested = append(attested, cose...)
	ad := authData(att.RPIDHash, att.Flags, att.Counter, attested)
	cdj := clientDataJSON(att.ClientData, att.ClientDataJSON)

	stmt := cborMap{}
	if att.Format == "packed" {
		// §8.2 self attestation: alg and sig only, signed with the credential key.
		sig := sign(c.key, ad, cdj)
		if att.CorruptSignature {
			sig = corrupt(sig)
		}
		stmt = cborMap{{"alg", c.alg}, {"sig", sig}}
	}
	attObj := cborEncode(cborMap{{"fmt", att.Format}, {"attStmt", stmt}, {"authData", ad}})

	spki, err := x509.MarshalPKIXPublicKey(c.key.Public())
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	a.store(c)
	return json.Marshal(registrationResponse{
		ID:    b64.EncodeToString(att.CredentialID),
		RawID: b64.EncodeToString(att.CredentialID),
		Type:  "public-key",
		Response: attestationResponse{
			ClientDataJSON:     b64.EncodeToString(cdj),
			AuthenticatorData:  b64.EncodeToString(ad),
			Transports:         []string{"internal"},
			PublicKey:          b64.EncodeToString(spki),
			PublicKeyAlgorithm: c.alg,
			AttestationObject:  b64.EncodeToString(attObj),
		},
		AuthenticatorAttachment: "platform",
		ClientExtensionResults:  struct{}{},
	})
}

// registrationResponse is a RegistrationResponseJSON (§5.1).
type registrationResponse struct {
	ID                      string              `json:"id"`
	RawID                   string              `json:"rawId"`
	Type                    string              `json:"type"`
	Response                attestationResponse `json:"response"`
	AuthenticatorAttachment string              `json:"authenticatorAttachment"`
	ClientExtensionResults  struct{}            `json:"clientExtensionResults"`
}

// attestationResponse is an AuthenticatorAttestationResponseJSON (§5.2.1).
type attestationResponse struct {
	ClientDataJSON     string   `json:"clientDataJSON"`
	AuthenticatorData  string   `json:"authenticatorData"`
	Transports         []string `json:"transports"`
	PublicKey          string   `json:"publicKey"` // SubjectPublicKeyInfo, DER
	PublicKeyAlgorithm int      `json:"publicKeyAlgorithm"`
	AttestationObject  string   `json:"attestationObject"`
}

// offered reports whether the options accept Options.Alg; an empty list
// means ES256 and RS256 (§5.4, pubKeyCredParams).
func (a *Authenticator) offered(o creationOptions) bool {
	if len(o.PubKeyCredParams) == 0 {
		return a.opt.Alg == AlgES256
	}
	for _, p := range o.PubKeyCredParams {
		if p.Type == "public-key" && p.Alg == a.opt.Alg {
			return true
		}
	}
	return false
}

// excluded reports whether a held credential for rpID is in list; a.mu is held.
func (a *Authenticator) excluded(rpID string, list []descriptor) bool {
	for _, d := range list {
		id, err := decodeB64(d.ID)
		if err != nil {
			continue
		}
		for _, c := range a.creds {
			if c.rpID == rpID && bytes.Equal(c.id, id) {
				return true
			}
		}
	}
	return false
}

// store keeps c, replacing a credential for the same RP and user; a.mu is held.
func (a *Authenticator) store(c *credential) {
	kept := a.creds[:0]
	for _, old := range a.creds {
		if old.rpID != c.rpID || !bytes.Equal(old.userHandle, c.userHandle) {
			kept = append(kept, old)
		}
	}
	a.creds = append(kept, c)
}
