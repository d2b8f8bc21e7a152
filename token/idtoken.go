package token

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/batonauth/baton"
	"github.com/golang-jwt/jwt/v5"
)

// Header types of the tokens an IDSigner signs.
const (
	// TypIDToken is the typ of ID tokens: "JWT", as OpenID Connect Core
	// §2 allows, which every relying party library accepts.
	TypIDToken = "JWT"
	// TypLogoutToken is the typ of back-channel logout tokens (OpenID
	// Connect Back-Channel Logout 1.0 §2.4).
	TypLogoutToken = "logout+jwt"
)

// msgInvalidIDToken is the safe message of IDSigner.Verify's errors.
const msgInvalidIDToken = "the ID token is invalid"

// idAlgs are the algorithms an IDSigner signs and verifies with; anything
// else, none and HS256 above all, is refused before a key is looked up.
var idAlgs = []string{baton.AlgRS256, baton.AlgES256, baton.AlgEdDSA}

// IDSigner signs the OpenID provider's ID tokens and logout tokens, each
// with the algorithm its client chose: RS256 with the RSA key
// (baton.KeyUseSigningRSA), ES256 with the P-256 key
// (baton.KeyUseSigningEC), EdDSA with the access tokens' Ed25519 key
// (baton.KeyUseSigning). It also verifies the ID tokens it signed, for
// id_token_hint.
//
// Access tokens never pass as ID tokens nor the other way round, although
// an EdDSA ID token and an access token are signed by one key: Keyring
// requires typ at+jwt and its own audience, Verify here requires typ JWT.
//
// It is safe for concurrent use; like Keyring, it keeps its keys in an
// immutable snapshot that SetKeys replaces whole. Signing is not on a hot
// path (one ID token per code redeemed), so it goes through golang-jwt's
// signing methods. Make one with NewIDSigner.
type IDSigner struct {
	snap atomic.Pointer[idSnapshot]
}

type idSnapshot struct {
	// sign holds the signing key of each algorithm.
	sign map[string]*idKey
	// verify maps kid to every key, retired or not.
	verify map[string]*idKey
}

type idKey struct {
	kid    string
	method jwt.SigningMethod
	// priv is what method.Sign takes (*rsa.PrivateKey, *ecdsa.PrivateKey or
	// ed25519.PrivateKey); nil for a key without secret.
	priv any
	// pub is what method.Verify takes.
	pub any
}

// NewIDSigner returns a signer without keys: Sign fails with
// ErrNoSigningKey and Verify rejects everything until SetKeys.
func NewIDSigner() *IDSigner {
	s := &IDSigner{}
	s.snap.Store(&idSnapshot{sign: map[string]*idKey{}, verify: map[string]*idKey{}})
	return s
}

// SetKeys replaces the signer's keys with the signing keys among keys (the
// three uses above; HMAC keys are ignored), as returned by the store with
// their secrets unsealed. The key that signs for each algorithm is chosen
// as Keyring.SetKeys chooses (SigningKey): the newest unretired active key
// of its use, else the oldest unretired one. Every key verifies, retired or
// not, until the store deletes it.
//
// It returns an error, and changes nothing, when a key is malformed (an
// RSA key under 2048 bits or a curve other than P-256 among them) or two
// share an ID.
func (s *IDSigner) SetKeys(keys []*baton.Key, now time.Time) error {
	snap := &idSnapshot{sign: make(map[string]*idKey, len(idAlgs)), verify: make(map[string]*idKey, len(keys))}
	chosen := map[*baton.Key]bool{}
	for _, use := range []string{baton.KeyUseSigning, baton.KeyUseSigningRSA, baton.KeyUseSigningEC} {
		if k := SigningKey(keys, use, now); k != nil {
			chosen[k] = true
		}
	}
	for _, key := range keys {
		if key == nil {
			continue
		}
		alg, ok := algOfUse(key.Use)
		if !ok {
			continue
		}
		k, err := decodeSigningKey(key)
		if err != nil {
			return fmt.Errorf("token: %s key %q: %w", key.Use, key.ID, err)
		}
		if _, dup := snap.verify[key.ID]; dup {
			return fmt.Errorf("token: two signing keys with id %q", key.ID)
		}
		snap.verify[key.ID] = k
		if chosen[key] {
			snap.sign[alg] = k
		}
	}
	s.snap.Store(snap)
	return nil
}

// decodeSigningKey decodes a store key of any signing use.
func decodeSigningKey(key *baton.Key) (*idKey, error) {
	if key.Use == baton.KeyUseSigning {
		pub, priv, err := decodeKey(key)
		if err != nil {
			return nil, err
		}
		k := &idKey{kid: key.ID, method: jwt.SigningMethodEdDSA, pub: pub}
		if priv != nil {
			k.priv = priv
		}
		return k, nil
	}
	pub, err := decodeIDPublic(key)
	if err != nil {
		return nil, err
	}
	priv, err := decodeIDPrivate(key, pub)
	if err != nil {
		return nil, err
	}
	alg, _ := algOfUse(key.Use)
	k := &idKey{kid: key.ID, method: jwt.GetSigningMethod(alg), pub: pub}
	if priv != nil {
		k.priv = priv
	}
	return k, nil
}

// CanSign reports whether the signer has a key that signs with alg.
func (s *IDSigner) CanSign(alg string) bool {
	return s.snap.Load().sign[alg] != nil
}

// Sign signs claims, which must marshal to a JSON object, with the signing
// key of alg (baton.AlgRS256, AlgES256 or AlgEdDSA); the header is
// {"alg":…,"kid":…,"typ":…} with typ TypIDToken or TypLogoutToken.
// ErrNoSigningKey when the signer has no key for alg. The claims are
// signed as given: exp, aud and the others are the caller's.
func (s *IDSigner) Sign(alg string, claims any, typ string) (string, error) {
	if typ != TypIDToken && typ != TypLogoutToken {
		// Above all not at+jwt: an EdDSA token would be an access token.
		return "", fmt.Errorf("token: sign: typ %q is neither %q nor %q", typ, TypIDToken, TypLogoutToken)
	}
	if !slices.Contains(idAlgs, alg) {
		return "", fmt.Errorf("token: sign: algorithm %q is not one of %v", alg, idAlgs)
	}
	k := s.snap.Load().sign[alg]
	if k == nil {
		return "", ErrNoSigningKey
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	if len(payload) == 0 || payload[0] != '{' {
		return "", errors.New("token: sign: the claims are not a JSON object")
	}
	h := appendString([]byte(`{"alg":`), alg)
	h = append(h, `,"kid":`...)
	h = appendString(h, k.kid)
	h = append(h, `,"typ":`...)
	h = appendString(h, typ)
	h = append(h, '}')
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(payload)
	sig, err := k.method.Sign(input, k.priv)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	tok := input + "." + enc.EncodeToString(sig)
	if len(tok) > DefaultMaxTokenBytes {
		// Verify would refuse it as an id_token_hint.
		return "", fmt.Errorf("token: sign: the token would be %d bytes, over %d", len(tok), DefaultMaxTokenBytes)
	}
	return tok, nil
}

// Verify checks the signature of an ID token this signer's keys signed and
// returns its claims (JSON numbers as float64) and its algorithm. The
// algorithm must be the one of the key its kid names (an RS256 header on
// an EC key's kid is refused, and none or HS256 never get as far as a
// key), typ must be JWT, and the header must have neither duplicate
// parameters nor crit. It checks no claim: exp, iss and aud are the
// caller's, because an id_token_hint may have expired. Errors are a
// *baton.Error with code baton.EInvalidToken, whose cause says what
// failed.
func (s *IDSigner) Verify(raw string) (map[string]any, string, error) {
	if len(raw) > DefaultMaxTokenBytes {
		return nil, "", baton.WrapError(baton.EInvalidToken, msgInvalidIDToken, fmt.Errorf("%d bytes, limit %d", len(raw), DefaultMaxTokenBytes))
	}
	snap := s.snap.Load()
	claims := jwt.MapClaims{}
	tok, err := jwt.NewParser(
		jwt.WithValidMethods(idAlgs),
		jwt.WithStrictDecoding(),
		jwt.WithoutClaimsValidation(),
	).ParseWithClaims(raw, claims, snap.key)
	if err != nil {
		return nil, "", baton.WrapError(baton.EInvalidToken, msgInvalidIDToken, err)
	}
	return claims, tok.Method.Alg(), nil
}

// key is Verify's jwt.Keyfunc.
func (s *idSnapshot) key(t *jwt.Token) (any, error) {
	typ, _ := t.Header["typ"].(string)
	if !strings.EqualFold(typ, TypIDToken) && !strings.EqualFold(typ, "application/jwt") {
		return nil, fmt.Errorf("typ %.32q is not JWT", typ)
	}
	kid, _ := t.Header["kid"].(string)
	k := s.verify[kid]
	if k == nil {
		return nil, fmt.Errorf("unknown kid %.64q", kid)
	}
	// The algorithm is pinned to the key: golang-jwt would refuse an RSA
	// key for ES256 too, but not by design.
	if t.Method.Alg() != k.method.Alg() {
		return nil, fmt.Errorf("alg %s for a %s key", t.Method.Alg(), k.method.Alg())
	}
	if err := checkHeader(t.Raw); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	return k.pub, nil
}

// AtHash returns the at_hash of an access token for an ID token signed
// with alg (OpenID Connect Core §3.1.3.6): the left half of the hash of its
// ASCII octets, base64url without padding, SHA-256 for RS256 and ES256 and
// SHA-512 for EdDSA (the hash Ed25519 uses, as the contract says). It is
// empty for an algorithm baton does not sign ID tokens with.
func AtHash(alg, accessToken string) string {
	var half []byte
	switch alg {
	case baton.AlgRS256, baton.AlgES256:
		sum := sha256.Sum256([]byte(accessToken))
		half = sum[:len(sum)/2]
	case baton.AlgEdDSA:
		sum := sha512.Sum512([]byte(accessToken))
		half = sum[:len(sum)/2]
	default:
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(half)
}
