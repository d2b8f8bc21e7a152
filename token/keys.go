package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/batonauth/baton"
	"github.com/golang-jwt/jwt/v5"
)

// NewSigningKey returns a new Ed25519 signing key, created at now, that
// starts signing at activateAt: publishing a key before it signs lets every
// resource server fetch it first (DESIGN.md, Keys). Secret holds the 32-byte
// seed and ID a random kid (16 bytes, base64url), which says nothing about
// the key or when it was made.
func NewSigningKey(now, activateAt time.Time) (*baton.Key, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("token: new signing key: %w", err)
	}
	kid, err := randomID()
	if err != nil {
		return nil, err
	}
	return &baton.Key{
		ID:         kid,
		Use:        baton.KeyUseSigning,
		Algorithm:  jwt.SigningMethodEdDSA.Alg(),
		Secret:     priv.Seed(),
		Public:     pub,
		CreatedAt:  now,
		ActivateAt: activateAt,
	}, nil
}

// NewSecretKey returns a new 32-byte HMAC-SHA256 key for use (such as
// baton.KeyUseRotation or baton.KeyUseCSRF), active from now. Signing keys
// come from NewSigningKey instead.
func NewSecretKey(use string, now time.Time) (*baton.Key, error) {
	if use == "" || use == baton.KeyUseSigning {
		return nil, fmt.Errorf("token: new secret key: use %q is not an HMAC key use", use)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("token: new secret key: %w", err)
	}
	kid, err := randomID()
	if err != nil {
		return nil, err
	}
	return &baton.Key{
		ID:         kid,
		Use:        use,
		Algorithm:  "HS256",
		Secret:     secret,
		CreatedAt:  now,
		ActivateAt: now,
	}, nil
}

func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token: new key id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
