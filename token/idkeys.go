package token

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/batonauth/baton"
)

// The ID-token keys: RSA-2048 for RS256 and P-256 for ES256, which is what
// relying parties support (RS256 is the only algorithm OpenID Connect Core
// §15.1 requires of them). EdDSA ID tokens use the access tokens' Ed25519
// key. Their secrets are PKCS #8 DER and their public halves PKIX DER, so
// the store keeps them as opaque bytes like every other key.

// rsaBits is the size of new RSA keys; a stored key smaller than that is
// refused (RFC 7518 §3.3 requires at least 2048).
const rsaBits = 2048

// NewRSAKey returns a new RSA-2048 key for RS256 ID tokens
// (baton.KeyUseSigningRSA), created at now, that starts signing at
// activateAt. Like NewSigningKey's, its kid is random. Generating it takes
// tens to hundreds of milliseconds: create it when it is first needed.
func NewRSAKey(now, activateAt time.Time) (*baton.Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, fmt.Errorf("token: new RSA key: %w", err)
	}
	return newIDKey(baton.KeyUseSigningRSA, baton.AlgRS256, priv, now, activateAt)
}

// NewECKey returns a new P-256 key for ES256 ID tokens
// (baton.KeyUseSigningEC), created at now, that starts signing at
// activateAt, with a random kid.
func NewECKey(now, activateAt time.Time) (*baton.Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("token: new EC key: %w", err)
	}
	return newIDKey(baton.KeyUseSigningEC, baton.AlgES256, priv, now, activateAt)
}

func newIDKey(use, alg string, priv crypto.Signer, now, activateAt time.Time) (*baton.Key, error) {
	secret, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("token: new %s key: %w", alg, err)
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("token: new %s key: %w", alg, err)
	}
	return newKey(use, alg, secret, pub, now, activateAt)
}

// IsSigningUse reports whether keys of use sign tokens and are published
// in the JWKS (the Ed25519, RSA and P-256 keys), as opposed to the HMAC
// keys, which are never published.
func IsSigningUse(use string) bool {
	_, ok := algOfUse(use)
	return ok
}

// algOfUse is the JWS algorithm of a signing key use.
func algOfUse(use string) (string, bool) {
	switch use {
	case baton.KeyUseSigning:
		return baton.AlgEdDSA, true
	case baton.KeyUseSigningRSA:
		return baton.AlgRS256, true
	case baton.KeyUseSigningEC:
		return baton.AlgES256, true
	}
	return "", false
}

// keyOrder sorts keys oldest first by activation, creation and then id, so
// the choice of signer and the JWKS are the same on every instance
// whatever order the store returned.
func keyOrder(a, b *baton.Key) int {
	return cmp.Or(a.ActivateAt.Compare(b.ActivateAt), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
}

// SigningKey returns the key of use that signs at now among keys: the
// newest unretired key with a secret whose ActivateAt is not after now
// (newest by ActivateAt, then CreatedAt, then ID); when none is active yet,
// the oldest unretired one, so that a fresh deployment whose first key was
// created with a future ActivateAt can still sign. nil when no key
// qualifies. Keyring.SetKeys and IDSigner.SetKeys choose with it, and
// `baton keys list` shows its choice.
func SigningKey(keys []*baton.Key, use string, now time.Time) *baton.Key {
	var chosen, oldest *baton.Key
	for _, k := range keys {
		if k == nil || k.Use != use || !k.RetiredAt.IsZero() || len(k.Secret) == 0 {
			continue
		}
		if oldest == nil || keyOrder(k, oldest) < 0 {
			oldest = k
		}
		if !k.ActivateAt.After(now) && (chosen == nil || keyOrder(k, chosen) > 0) {
			chosen = k
		}
	}
	if chosen == nil {
		return oldest
	}
	return chosen
}

// decodeIDPublic checks an RSA or P-256 store key's id, algorithm and
// public half, and returns the public key (*rsa.PublicKey or
// *ecdsa.PublicKey). The secret is not looked at: the JWKS needs only the
// public half.
func decodeIDPublic(key *baton.Key) (crypto.PublicKey, error) {
	alg, _ := algOfUse(key.Use)
	switch {
	case key.ID == "":
		return nil, errors.New("empty id")
	case key.Algorithm != "" && key.Algorithm != alg:
		return nil, fmt.Errorf("algorithm %q is not %s", key.Algorithm, alg)
	case len(key.Public) == 0:
		return nil, errors.New("no public key")
	}
	pub, err := x509.ParsePKIXPublicKey(key.Public)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if err := checkIDPublic(key.Use, pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// checkIDPublic refuses a public key of the wrong type for use, an RSA key
// under 2048 bits and any curve but P-256.
func checkIDPublic(use string, pub crypto.PublicKey) error {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if use != baton.KeyUseSigningRSA {
			break
		}
		if p.N.BitLen() < rsaBits {
			return fmt.Errorf("RSA key of %d bits, want at least %d", p.N.BitLen(), rsaBits)
		}
		return nil
	case *ecdsa.PublicKey:
		if use != baton.KeyUseSigningEC {
			break
		}
		if p.Curve != elliptic.P256() {
			return fmt.Errorf("EC key on %s, want P-256", p.Curve.Params().Name)
		}
		return nil
	}
	return fmt.Errorf("a %T is not a key for %s", pub, use)
}

// decodeIDPrivate returns the private key of an RSA or P-256 store key
// whose public half is pub (from decodeIDPublic); nil for a key without
// secret.
func decodeIDPrivate(key *baton.Key, pub crypto.PublicKey) (crypto.Signer, error) {
	if len(key.Secret) == 0 {
		return nil, nil
	}
	p, err := x509.ParsePKCS8PrivateKey(key.Secret)
	if err != nil {
		return nil, fmt.Errorf("secret is not a PKCS #8 key (is it still sealed?): %w", err)
	}
	priv, ok := p.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("secret is a %T", p)
	}
	// A mismatch would publish a key that verifies nothing we sign.
	if eq, ok := priv.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub) {
		return nil, errors.New("public key does not match the secret")
	}
	return priv, nil
}

// newIDJWK publishes an RSA key (RFC 7518 §6.3.1) or a P-256 key (§6.2.1,
// x and y at their full 32 bytes).
func newIDJWK(kid string, pub crypto.PublicKey) jwk {
	enc := base64.RawURLEncoding
	j := jwk{Kid: kid, Use: "sig"}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		j.Kty, j.Alg = "RSA", baton.AlgRS256
		j.N = enc.EncodeToString(p.N.Bytes())
		j.E = enc.EncodeToString(big.NewInt(int64(p.E)).Bytes())
	case *ecdsa.PublicKey:
		// Bytes is the uncompressed point, 0x04 || x || y, each coordinate
		// at its full length; checkIDPublic has made sure of the curve.
		b, err := p.Bytes()
		if err != nil {
			panic(fmt.Sprintf("token: a checked P-256 key does not encode: %v", err))
		}
		n := (len(b) - 1) / 2
		j.Kty, j.Crv, j.Alg = "EC", "P-256", baton.AlgES256
		j.X = enc.EncodeToString(b[1 : 1+n])
		j.Y = enc.EncodeToString(b[1+n:])
	default:
		panic(fmt.Sprintf("token: no JWK for a %T", pub))
	}
	return j
}

// idPublicJWKs returns the JWKs of the RSA and P-256 keys among keys, RSA
// first, each use oldest first, and fails on a malformed key or a kid that
// is in taken already (the kids a JWKS holds must differ, whatever the
// key type).
func idPublicJWKs(keys []*baton.Key, taken map[string]bool) ([]jwk, error) {
	var out []jwk
	for _, use := range []string{baton.KeyUseSigningRSA, baton.KeyUseSigningEC} {
		var of []*baton.Key
		for _, k := range keys {
			if k != nil && k.Use == use {
				of = append(of, k)
			}
		}
		slices.SortFunc(of, keyOrder)
		for _, k := range of {
			pub, err := decodeIDPublic(k)
			if err != nil {
				return nil, fmt.Errorf("token: %s key %q: %w", use, k.ID, err)
			}
			if taken[k.ID] {
				return nil, fmt.Errorf("token: two signing keys with id %q", k.ID)
			}
			taken[k.ID] = true
			out = append(out, newIDJWK(k.ID, pub))
		}
	}
	return out, nil
}
