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
// resource server fetch it first (docs/design.md, Keys). Secret holds the 32-byte
// seed and ID a random kid (16 bytes, base64url), which says nothing about
// the key or when it was made.
func NewSigningKey(now, activateAt time.Time) (*baton.Key, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("token: new signing key: %w", err)
	}
	return newKey(baton.KeyUseSigning, jwt.SigningMethodEdDSA.Alg(), priv.Seed(), pub, now, activateAt)
}

// NewSecretKey returns a new 32-byte HMAC-SHA256 key for use (such as
// baton.KeyUseRotation or baton.KeyUseCSRF), active from now. Signing keys
// come from NewSigningKey, NewRSAKey and NewECKey instead.
func NewSecretKey(use string, now time.Time) (*baton.Key, error) {
	if use == "" || IsSigningUse(use) {
		return nil, fmt.Errorf("token: new secret key: use %q is not an HMAC key use", use)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("token: new secret key: %w", err)
	}
	return newKey(use, "HS256", secret, nil, now, now)
}

// newKey returns a key with a random kid (16 bytes, base64url), which says
// nothing about the key or when it was made.
func newKey(use, alg string, secret, public []byte, now, activateAt time.Time) (*baton.Key, error) {
	kid, err := randomID()
	if err != nil {
		return nil, err
	}
	return &baton.Key{
		ID:         kid,
		Use:        use,
		Algorithm:  alg,
		Secret:     secret,
		Public:     public,
		CreatedAt:  now,
		ActivateAt: activateAt,
	}, nil
}

func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token: new key id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
