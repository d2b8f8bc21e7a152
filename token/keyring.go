package token

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/batonauth/baton"
	"github.com/golang-jwt/jwt/v5"
)

// Keyring signs and verifies access tokens with a set of Ed25519 keys.
//
// It is safe for concurrent use. Its keys live in an immutable snapshot that
// SetKeys and SetPublicKeys replace whole, so Sign and Verify read one atomic
// pointer and take no lock; a token being verified while the keys change is
// checked entirely against the old set or entirely against the new one.
// Make one with NewKeyring; the zero value is not usable.
type Keyring struct {
	opts Options
	// parserOpts are the golang-jwt options every Verify shares; only the
	// clock differs per call.
	parserOpts []jwt.ParserOption
	snap       atomic.Pointer[snapshot]
}

// snapshot is one immutable generation of a keyring's keys.
type snapshot struct {
	// verify maps kid to the public key, stored as `any` holding an
	// ed25519.PublicKey so handing it to golang-jwt does not allocate.
	verify map[string]any
	signer *signer // nil when no key may sign
	jwks   []byte
}

type signer struct {
	kid  string
	priv ed25519.PrivateKey
	// header is the base64url-encoded protected header, computed once.
	header []byte
}

// NewKeyring returns a keyring without keys: until SetKeys or SetPublicKeys
// is called Sign fails with ErrNoSigningKey and Verify rejects every token.
func NewKeyring(o Options) *Keyring {
	o = o.withDefaults()
	k := &Keyring{
		opts: o,
		parserOpts: []jwt.ParserOption{
			// Pinning the algorithm to the key type defeats alg=none and
			// the HS256-with-the-public-key confusion before any key is
			// looked up.
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			// Non-canonical base64 would let one signature have several
			// spellings.
			jwt.WithStrictDecoding(),
			jwt.WithLeeway(o.Leeway),
			jwt.WithIssuer(o.Issuer),
			jwt.WithAudience(o.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
		},
	}
	k.snap.Store(&snapshot{verify: map[string]any{}, jwks: encodeJWKS(nil)})
	return k
}

// SetKeys replaces the keyring's keys with the signing keys among keys
// (Use == baton.KeyUseSigning), as returned by the store with their secrets
// unsealed. The ID-token keys (baton.KeyUseSigningRSA and
// baton.KeyUseSigningEC) never verify access tokens, but their public
// halves join the JWKS, so that one document publishes every key baton
// signs with; other keys are ignored.
//
// Every signing key verifies, retired or not: a retired key stays published
// until the tokens it signed have expired, and it is the store that decides
// when to delete it. The key that signs is the newest unretired key, by
// ActivateAt then CreatedAt, whose ActivateAt is not after now; when none is
// active yet, the oldest unretired key signs, so that a fresh deployment
// whose first key was created with a future ActivateAt can still log users
// in (SigningKey). A key without Secret verifies only. The signing key is
// chosen here, not per token: call SetKeys again when a key's ActivateAt
// passes.
//
// It returns an error, and changes nothing, when a key is malformed or two
// share an ID.
func (k *Keyring) SetKeys(keys []*baton.Key, now time.Time) error {
	var sig []*baton.Key
	for _, key := range keys {
		if key != nil && key.Use == baton.KeyUseSigning {
			sig = append(sig, key)
		}
	}
	slices.SortFunc(sig, keyOrder)
	verify := make(map[string]any, len(sig))
	taken := make(map[string]bool, len(keys))
	jwks := make([]jwk, 0, len(keys))
	var signWith ed25519.PrivateKey
	chosen := SigningKey(sig, baton.KeyUseSigning, now)
	for _, key := range sig {
		pub, priv, err := decodeKey(key)
		if err != nil {
			return fmt.Errorf("token: signing key %q: %w", key.ID, err)
		}
		if taken[key.ID] {
			return fmt.Errorf("token: two signing keys with id %q", key.ID)
		}
		taken[key.ID] = true
		verify[key.ID] = pub
		jwks = append(jwks, newJWK(key.ID, pub))
		if key == chosen {
			signWith = priv
		}
	}
	idJWKs, err := idPublicJWKs(keys, taken)
	if err != nil {
		return err
	}

	snap := &snapshot{verify: verify, jwks: encodeJWKS(append(jwks, idJWKs...))}
	if signWith != nil {
		snap.signer = newSigner(chosen.ID, signWith)
	}
	k.snap.Store(snap)
	return nil
}

// decodeKey checks a store key and returns its key pair; priv is nil for a
// key without secret.
func decodeKey(key *baton.Key) (ed25519.PublicKey, ed25519.PrivateKey, error) {
	if key.ID == "" {
		return nil, nil, errors.New("empty id")
	}
	if key.Algorithm != "" && key.Algorithm != jwt.SigningMethodEdDSA.Alg() {
		return nil, nil, fmt.Errorf("algorithm %q is not EdDSA", key.Algorithm)
	}
	var priv ed25519.PrivateKey
	pub := ed25519.PublicKey(key.Public)
	if len(key.Secret) > 0 {
		if len(key.Secret) != ed25519.SeedSize {
			return nil, nil, fmt.Errorf("secret is %d bytes, want a %d-byte Ed25519 seed (is it still sealed?)", len(key.Secret), ed25519.SeedSize)
		}
		priv = ed25519.NewKeyFromSeed(key.Secret)
		derived := priv.Public().(ed25519.PublicKey)
		// A mismatch would publish a key that verifies nothing we sign.
		if len(pub) > 0 && !bytes.Equal(pub, derived) {
			return nil, nil, errors.New("public key does not match the secret")
		}
		pub = derived
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, nil, fmt.Errorf("public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	return slices.Clone(pub), priv, nil
}

func newSigner(kid string, priv ed25519.PrivateKey) *signer {
	h := appendString([]byte(`{"alg":"EdDSA","kid":`), kid)
	h = append(h, `,"typ":"at+jwt"}`...)
	return &signer{
		kid:    kid,
		priv:   priv,
		header: base64.RawURLEncoding.AppendEncode(nil, h),
	}
}

// jwk is a published public key, fields in the order they are published:
// an Ed25519 key in the RFC 8037 form (kty OKP, crv, x), an RSA key (kty
// RSA, n, e) or a P-256 key (kty EC, crv, x, y) in the RFC 7518 §6 forms.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

func newJWK(kid string, pub ed25519.PublicKey) jwk {
	return jwk{
		Kty: "OKP",
		Crv: "Ed25519",
		X:   base64.RawURLEncoding.EncodeToString(pub),
		Kid: kid,
		Use: "sig",
		Alg: jwt.SigningMethodEdDSA.Alg(),
	}
}

func encodeJWKS(keys []jwk) []byte {
	if keys == nil {
		keys = []jwk{}
	}
	b, err := json.Marshal(struct {
		Keys []jwk `json:"keys"`
	}{keys})
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return b
}

// JWKS returns the RFC 7517 key set publishing every verification key:
// the Ed25519 keys, then the RSA and P-256 keys of ID tokens (for a
// keyring loaded with SetPublicKeys, the Ed25519 keys alone). It is
// computed when the keys are set; the caller must not modify it.
func (k *Keyring) JWKS() []byte {
	return k.snap.Load().jwks
}

// SetPublicKeys replaces the keyring's keys with the Ed25519 keys of a JWKS
// document, making it verify-only: this is how a resource server checks
// tokens with the keys the server publishes. Keys of other types, curves or
// uses are skipped; a malformed Ed25519 key, two keys with one kid, or a
// private key published by mistake is an error, and then nothing changes.
func (k *Keyring) SetPublicKeys(jwks []byte) error {
	var set struct {
		Keys []struct {
			Kty    string   `json:"kty"`
			Crv    string   `json:"crv"`
			X      string   `json:"x"`
			D      string   `json:"d"`
			Kid    string   `json:"kid"`
			Use    string   `json:"use"`
			Alg    string   `json:"alg"`
			KeyOps []string `json:"key_ops"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return fmt.Errorf("token: JWKS: %w", err)
	}
	if set.Keys == nil {
		return errors.New(`token: JWKS: no "keys" array`)
	}
	verify := make(map[string]any, len(set.Keys))
	var published []jwk
	for i, key := range set.Keys {
		if key.Kty != "OKP" || key.Crv != "Ed25519" {
			continue
		}
		if key.Use != "" && key.Use != "sig" ||
			key.Alg != "" && key.Alg != jwt.SigningMethodEdDSA.Alg() ||
			key.KeyOps != nil && !slices.Contains(key.KeyOps, "verify") {
			continue
		}
		if key.D != "" {
			return fmt.Errorf("token: JWKS key %d (%q) includes its private key", i, key.Kid)
		}
		if key.Kid == "" {
			return fmt.Errorf("token: JWKS key %d has no kid", i)
		}
		pub, err := base64.RawURLEncoding.Strict().DecodeString(key.X)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return fmt.Errorf("token: JWKS key %q: x is not a base64url Ed25519 public key", key.Kid)
		}
		if _, dup := verify[key.Kid]; dup {
			return fmt.Errorf("token: JWKS: two keys with kid %q", key.Kid)
		}
		verify[key.Kid] = ed25519.PublicKey(pub)
		published = append(published, newJWK(key.Kid, pub))
	}
	k.snap.Store(&snapshot{verify: verify, jwks: encodeJWKS(published)})
	return nil
}
