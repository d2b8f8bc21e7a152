package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Prover makes DPoP proofs with one key, for Go clients and tests. It is
// safe for concurrent use once Now is set.
type Prover struct {
	// Now is the clock proofs take iat from; nil means time.Now. Set it
	// before the first Proof.
	Now func() time.Time

	method jwt.SigningMethod
	key    crypto.Signer
	jkt    string
	header string // base64url JOSE header, the same for every proof
}

// NewProver returns a Prover with a new key for alg: "ES256" (P-256) or
// "EdDSA" (Ed25519).
func NewProver(alg string) (*Prover, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case jwt.SigningMethodES256.Alg():
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwt.SigningMethodEdDSA.Alg():
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("dpop: new prover: algorithm %q is not supported (want ES256 or EdDSA)", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("dpop: new prover: %w", err)
	}
	return NewProverFromKey(key)
}

// NewProverFromKey returns a Prover that signs with key, a P-256
// *ecdsa.PrivateKey (ES256) or an ed25519.PrivateKey (EdDSA): for clients
// that keep their key across restarts, which tokens bound to it require.
func NewProverFromKey(key crypto.Signer) (*Prover, error) {
	var k jwk
	var method jwt.SigningMethod
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		b, err := pub.Bytes()
		if err != nil || pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("dpop: new prover: ECDSA key is not on P-256")
		}
		k = jwk{kty: "EC", crv: "P-256", x: b64(b[1:33]), y: b64(b[33:])}
		method = jwt.SigningMethodES256
	case ed25519.PublicKey:
		k = jwk{kty: "OKP", crv: "Ed25519", x: b64(pub)}
		method = jwt.SigningMethodEdDSA
	default:
		return nil, fmt.Errorf("dpop: new prover: unsupported key type %T", pub)
	}
	h, err := json.Marshal(struct {
		Typ string         `json:"typ"`
		Alg string         `json:"alg"`
		JWK map[string]any `json:"jwk"`
	}{"dpop+jwt", method.Alg(), k.members()})
	if err != nil {
		return nil, fmt.Errorf("dpop: new prover: %w", err)
	}
	return &Prover{method: method, key: key, jkt: k.thumbprint(), header: b64(h)}, nil
}

// members returns the JWK's members for encoding.
func (k *jwk) members() map[string]any {
	m := map[string]any{"kty": k.kty, "crv": k.crv, "x": k.x}
	if k.y != "" {
		m["y"] = k.y
	}
	return m
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// JKT returns the RFC 7638 thumbprint of the Prover's public key: the
// binding Verify reports as Proof.JKT.
func (p *Prover) JKT() string { return p.jkt }

// proofClaims are the claims Proof writes (RFC 9449 §4.2).
type proofClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// Proof returns a proof for a request with method to url: a fresh random
// jti, iat now, htu url without its query and fragment, and, when not
// empty, ath for accessToken and the server's nonce.
func (p *Prover) Proof(method, url, accessToken, nonce string) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("dpop: proof: %w", err)
	}
	if i := strings.IndexAny(url, "?#"); i >= 0 {
		url = url[:i]
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	c := proofClaims{JTI: b64(jti[:]), HTM: method, HTU: url, IAT: now().Unix(), Nonce: nonce}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		c.ATH = b64(sum[:])
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("dpop: proof: %w", err)
	}
	input := p.header + "." + b64(payload)
	sig, err := p.method.Sign(input, p.key)
	if err != nil {
		return "", fmt.Errorf("dpop: proof: %w", err)
	}
	return input + "." + b64(sig), nil
}
