package webauthntest

import (
	"bytes"
	"encoding/json"
	"errors"
)

// requestOptions is the part of a PublicKeyCredentialRequestOptionsJSON
// (WebAuthn L3 §5.5) an authenticator acts on.
type requestOptions struct {
	Challenge        string       `json:"challenge"`
	RPID             string       `json:"rpId"`
	AllowCredentials []descriptor `json:"allowCredentials"`
}

// Assertion is an authentication response before it is encoded. A LoginWith
// hook may change any field to build a response a server must refuse; the
// signature is made after the hook, over what the hook left, unless
// CorruptSignature is set.
type Assertion struct {
	CredentialID   []byte     // id and rawId
	ClientData     ClientData // encoded into clientDataJSON unless ClientDataJSON is set
	ClientDataJSON []byte     // nil: encode ClientData
	RPIDHash       []byte
	Flags          byte
	Counter        uint32 // what is reported; the stored counter has already moved
	UserHandle     []byte // nil: no userHandle in the response
	// CorruptSignature flips a bit of the signature.
	CorruptSignature bool
}

// Login answers navigator.credentials.get: optionsJSON is a
// PublicKeyCredentialRequestOptionsJSON, bare or inside {"publicKey": ...};
// the result is an AuthenticationResponseJSON (§5.1).
//
// With allowCredentials it uses the first listed credential it holds for the
// RP ID; without, the newest resident credential for the RP ID. Each login
// adds one to that credential's counter unless Options.NoCounter. It fails
// when no credential fits or the options are malformed.
func (a *Authenticator) Login(optionsJSON []byte) ([]byte, error) {
	return a.LoginWith(optionsJSON, nil)
}

// LoginWith is Login with a hook that may change the response before it is
// signed and encoded; edit may be nil.
func (a *Authenticator) LoginWith(optionsJSON []byte, edit func(*Assertion)) ([]byte, error) {
	var o requestOptions
	if err := parseOptions(optionsJSON, &o); err != nil {
		return nil, err
	}
	chal, err := challenge(o.Challenge)
	if err != nil {
		return nil, err
	}
	rpID, origin, err := a.rpIDs(o.RPID)
	if err != nil {
		return nil, err
	}

	a.mu.Lock()
	c := a.pick(rpID, o.AllowCredentials)
	if c == nil {
		a.mu.Unlock()
		return nil, errors.New("NotAllowedError: no credential for this RP ID on this authenticator")
	}
	if !a.opt.NoCounter {
		c.counter++
	}
	counter := c.counter
	a.mu.Unlock()

	as := Assertion{
		CredentialID: clone(c.id),
		ClientData:   ClientData{Type: "webauthn.get", Challenge: chal, Origin: origin, CrossOrigin: a.opt.CrossOrigin},
		RPIDHash:     rpIDHash(rpID),
		Flags:        a.flags(),
		Counter:      counter,
		UserHandle:   clone(c.userHandle),
	}
	if edit != nil {
		edit(&as)
	}
	ad := authData(as.RPIDHash, as.Flags, as.Counter, nil)
	cdj := clientDataJSON(as.ClientData, as.ClientDataJSON)
	sig := sign(c.key, ad, cdj)
	if as.CorruptSignature {
		sig = corrupt(sig)
	}
	resp := assertionResponse{
		ClientDataJSON:    b64.EncodeToString(cdj),
		AuthenticatorData: b64.EncodeToString(ad),
		Signature:         b64.EncodeToString(sig),
	}
	if as.UserHandle != nil {
		resp.UserHandle = b64.EncodeToString(as.UserHandle)
	}
	return json.Marshal(authenticationResponse{
		ID:                      b64.EncodeToString(as.CredentialID),
		RawID:                   b64.EncodeToString(as.CredentialID),
		Type:                    "public-key",
		Response:                resp,
		AuthenticatorAttachment: "platform",
		ClientExtensionResults:  struct{}{},
	})
}

// authenticationResponse is an AuthenticationResponseJSON (§5.1).
type authenticationResponse struct {
	ID                      string            `json:"id"`
	RawID                   string            `json:"rawId"`
	Type                    string            `json:"type"`
	Response                assertionResponse `json:"response"`
	AuthenticatorAttachment string            `json:"authenticatorAttachment"`
	ClientExtensionResults  struct{}          `json:"clientExtensionResults"`
}

// assertionResponse is an AuthenticatorAssertionResponseJSON (§5.2.2).
type assertionResponse struct {
	ClientDataJSON    string `json:"clientDataJSON"`
	AuthenticatorData string `json:"authenticatorData"`
	Signature         string `json:"signature"`
	UserHandle        string `json:"userHandle,omitempty"`
}

// pick chooses the credential for a login; a.mu is held.
func (a *Authenticator) pick(rpID string, allow []descriptor) *credential {
	if len(allow) == 0 {
		for i := len(a.creds) - 1; i >= 0; i-- {
			if a.creds[i].rpID == rpID {
				return a.creds[i]
			}
		}
		return nil
	}
	for _, d := range allow {
		id, err := decodeB64(d.ID)
		if err != nil {
			continue
		}
		for _, c := range a.creds {
			if c.rpID == rpID && bytes.Equal(c.id, id) {
				return c
			}
		}
	}
	return nil
}
