package dpop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/batonauth/baton/internal/strictjson"
	"github.com/golang-jwt/jwt/v5"
)

// strictBase64 refuses non-canonical encodings (set trailing bits), which
// would give one key several spellings and so several thumbprints.
var strictBase64 = base64.RawURLEncoding.Strict()

// maxHeaderBytes bounds the decoded JOSE header. A header with a P-256 jwk
// takes about 200 bytes; WebCrypto exports add key_ops and ext.
const maxHeaderBytes = 1024

// header is a proof's JOSE header as read by the strict decoder.
type header struct {
	typ, alg string
	key      jwk
}

// headerNames are the parameters the decoder reads; names that differ
// from them only in case are refused.
var headerNames = [...]string{"typ", "alg", "jwk", "crit"}

// keyfunc is the jwt.Keyfunc: golang-jwt has already required alg to be
// one of the verifier's, from a header decoded into a map (where the last
// of two "alg" members wins). It reads the header again strictly and
// returns the public key in it, which must fit alg.
func (h *header) keyfunc(t *jwt.Token) (any, error) {
	seg, _, _ := strings.Cut(t.Raw, ".")
	if err := h.decode(seg); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	// RFC 9449 §4.3 check 4. Media types are case-insensitive and the
	// "application/" prefix may be spelt out (RFC 7515 §4.1.9).
	if !strings.EqualFold(h.typ, "dpop+jwt") && !strings.EqualFold(h.typ, "application/dpop+jwt") {
		return nil, fmt.Errorf("typ %.32q is not dpop+jwt", h.typ)
	}
	if h.alg != t.Method.Alg() {
		return nil, errors.New("alg changed between readings")
	}
	if h.key.kty == "" {
		return nil, errors.New("no jwk")
	}
	// The key type must be the algorithm's: golang-jwt would also refuse
	// the wrong Go type, but saying so here keeps the rule visible.
	switch {
	case h.alg == jwt.SigningMethodES256.Alg() && h.key.kty == "EC" && h.key.crv == "P-256":
	case h.alg == jwt.SigningMethodEdDSA.Alg() && h.key.kty == "OKP" && h.key.crv == "Ed25519":
	default:
		return nil, fmt.Errorf("jwk %.8s/%.16s does not fit alg %s", h.key.kty, h.key.crv, h.alg)
	}
	return h.key.publicKey()
}

// decode reads the base64url header segment seg.
func (h *header) decode(seg string) error {
	if strictBase64.DecodedLen(len(seg)) > maxHeaderBytes {
		return errors.New("header too large")
	}
	b, err := strictBase64.DecodeString(seg)
	if err != nil {
		return err
	}
	s := strictjson.New(b)
	o, err := s.Object(headerNames[:])
	if err != nil {
		return err
	}
	for {
		name, ok, err := o.Next()
		if err != nil {
			return fmt.Errorf("parameter %.32q: %w", name, err)
		}
		if !ok {
			break
		}
		switch string(name) {
		case "typ":
			h.typ, err = s.StringValue()
		case "alg":
			h.alg, err = s.StringValue()
		case "jwk":
			err = h.key.read(&s)
		case "crit":
			// Extensions we cannot honour: RFC 7515 §4.1.11 says reject.
			err = errors.New("crit is not supported")
		default:
			err = s.Skip(1)
		}
		if err != nil {
			return fmt.Errorf("parameter %.32q: %w", name, err)
		}
	}
	return s.End()
}

// jwk is a public key as a JWK (RFC 7517): the members RFC 7638 hashes for
// the two key types we accept.
type jwk struct {
	kty, crv, x, y string
}

// jwkNames are the members read, and the private-key members of every key
// type (RFC 7518 §6): a proof carrying any of them is refused (RFC 9449
// §4.3 check 7), whatever the key type, since a client that leaks its
// private key in every request has no proof of possession left to give.
var (
	jwkNames       = [...]string{"kty", "crv", "x", "y", "d", "p", "q", "dp", "dq", "qi", "oth", "k"}
	jwkPrivateKeys = jwkNames[4:]
)

// read reads a JWK object. Members other than jwkNames (kid, use, alg,
// key_ops, ext…) are skipped, since WebCrypto and other libraries add
// them, but may appear only once.
func (k *jwk) read(s *strictjson.Scanner) error {
	o, err := s.Object(jwkNames[:])
	if err != nil {
		return err
	}
	for {
		name, ok, err := o.Next()
		if err != nil {
			return fmt.Errorf("member %.32q: %w", name, err)
		}
		if !ok {
			break
		}
		switch n := string(name); {
		case n == "kty":
			k.kty, err = s.StringValue()
		case n == "crv":
			k.crv, err = s.StringValue()
		case n == "x":
			k.x, err = s.StringValue()
		case n == "y":
			k.y, err = s.StringValue()
		case isPrivateMember(n):
			err = errors.New("private key member")
		default:
			err = s.Skip(2)
		}
		if err != nil {
			return fmt.Errorf("member %.32q: %w", name, err)
		}
	}
	if k.kty == "" {
		return errors.New("jwk has no kty")
	}
	return nil
}

func isPrivateMember(name string) bool {
	for _, p := range jwkPrivateKeys {
		if name == p {
			return true
		}
	}
	return false
}

// publicKey checks the key's members and returns it in the form
// golang-jwt's verifiers take: *ecdsa.PublicKey or ed25519.PublicKey.
func (k *jwk) publicKey() (any, error) {
	switch {
	case k.kty == "EC" && k.crv == "P-256":
		x, err := coordinate(k.x, 32)
		if err != nil {
			return nil, fmt.Errorf("jwk x: %w", err)
		}
		y, err := coordinate(k.y, 32)
		if err != nil {
			return nil, fmt.Errorf("jwk y: %w", err)
		}
		var point [65]byte
		point[0] = 4 // uncompressed (SEC 1 §2.3.3)
		copy(point[1:], x)
		copy(point[33:], y)
		// Refuses points off the curve and the point at infinity.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point[:])
		if err != nil {
			return nil, fmt.Errorf("jwk: %w", err)
		}
		return pub, nil
	case k.kty == "OKP" && k.crv == "Ed25519":
		if k.y != "" {
			return nil, errors.New("jwk: OKP key with y")
		}
		x, err := coordinate(k.x, ed25519.PublicKeySize)
		if err != nil {
			return nil, fmt.Errorf("jwk x: %w", err)
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("jwk: unsupported key %.8s/%.16s", k.kty, k.crv)
}

// coordinate decodes a base64url key member that must be exactly n bytes
// (RFC 7518 §6.2.1.2 and RFC 8037 §2 fix the length). Together with strict
// decoding that makes the encoding canonical, so the thumbprint, which
// hashes the text, has one value per key.
func coordinate(s string, n int) ([]byte, error) {
	if len(s) != base64.RawURLEncoding.EncodedLen(n) {
		return nil, fmt.Errorf("%d characters, want %d", len(s), base64.RawURLEncoding.EncodedLen(n))
	}
	return strictBase64.DecodeString(s)
}

// thumbprint returns the RFC 7638 thumbprint of a key publicKey accepted:
// SHA-256 over the required members in lexicographic order, without
// whitespace. The values are canonical base64url, which JSON needs no
// escape for, so the text is assembled directly.
func (k *jwk) thumbprint() string {
	var buf [160]byte
	b := buf[:0]
	switch k.kty {
	case "EC":
		b = append(b, `{"crv":"`...)
		b = append(b, k.crv...)
		b = append(b, `","kty":"EC","x":"`...)
		b = append(b, k.x...)
		b = append(b, `","y":"`...)
		b = append(b, k.y...)
		b = append(b, `"}`...)
	case "OKP":
		b = append(b, `{"crv":"`...)
		b = append(b, k.crv...)
		b = append(b, `","kty":"OKP","x":"`...)
		b = append(b, k.x...)
		b = append(b, `"}`...)
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint, base64url, of a
// public key given as a JWK: an EC P-256 key or an OKP Ed25519 key (RFC
// 8037 §2), of at most 1 KiB. It fails on other key types, invalid keys,
// private keys, duplicate members and malformed JSON, as Verify does for a
// proof's jwk.
func Thumbprint(jwkJSON []byte) (string, error) {
	if len(jwkJSON) > maxHeaderBytes {
		return "", errors.New("dpop: thumbprint: JWK too large")
	}
	var k jwk
	s := strictjson.New(jwkJSON)
	err := k.read(&s)
	if err == nil {
		err = s.End()
	}
	if err == nil {
		_, err = k.publicKey()
	}
	if err != nil {
		return "", fmt.Errorf("dpop: thumbprint: %w", err)
	}
	return k.thumbprint(), nil
}
