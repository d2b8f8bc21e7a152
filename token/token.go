// Package token mints and verifies baton's tokens: access tokens, which are
// Ed25519-signed JWTs in the RFC 9068 profile, the JWKS document that
// publishes their keys, refresh tokens, which are opaque random strings
// with a recognisable prefix (refresh.go), and the OpenID provider's ID
// tokens and logout tokens, signed RS256, ES256 or EdDSA (IDSigner,
// idtoken.go; their keys in idkeys.go).
//
// Access tokens are verified without the store, on every request, so
// verification is the hot path: a Keyring keeps its keys in an immutable
// snapshot behind an atomic pointer, and Verify takes no lock. Parsing goes
// through github.com/golang-jwt/jwt/v5 with the algorithm pinned to EdDSA;
// the claim set is decoded with internal/strictjson (claims.go) because
// encoding/json accepts duplicate and case-folded member names, which would
// let two readers of one token disagree about what it says.
package token

import (
	"errors"
	"time"

	"github.com/batonauth/baton"
)

// Defaults of Options.
const (
	// DefaultLeeway is the clock skew tolerated on exp, nbf and iat; the
	// contract (API.md, Protected endpoints) promises no more than 5 s.
	DefaultLeeway = 5 * time.Second
	// DefaultMaxTokenBytes bounds what Verify reads before it decodes
	// anything; baton's own tokens are well under 1 KiB.
	DefaultMaxTokenBytes = 8192
)

// Options configure a Keyring.
type Options struct {
	// Issuer is the iss of minted tokens and the only iss Verify accepts.
	// Verify rejects every token while it is empty.
	Issuer string
	// Audience is the aud of minted tokens and the audience Verify requires.
	// Verify rejects every token while it is empty.
	Audience string
	// Leeway is the tolerated clock skew; zero or negative means
	// DefaultLeeway.
	Leeway time.Duration
	// MaxTokenBytes is the longest token Verify will look at; zero or
	// negative means DefaultMaxTokenBytes.
	MaxTokenBytes int
}

func (o Options) withDefaults() Options {
	if o.Leeway <= 0 {
		o.Leeway = DefaultLeeway
	}
	if o.MaxTokenBytes <= 0 {
		o.MaxTokenBytes = DefaultMaxTokenBytes
	}
	return o
}

// Claims is the claim set of an access token (RFC 9068 plus baton's sid,
// fresh and auth_time). Times travel as whole seconds (NumericDate).
type Claims struct {
	Issuer    string // iss; Sign uses Options.Issuer when empty
	Subject   string // sub: the user id
	Audience  string // aud; Sign uses Options.Audience when empty
	IssuedAt  time.Time
	NotBefore time.Time // nbf; Sign uses IssuedAt when zero
	ExpiresAt time.Time
	// AuthTime is the session's last password verification; zero when the
	// token carries none.
	AuthTime time.Time
	ID       string // jti
	// SessionID (sid) names the session, which is what revocation works on.
	SessionID string
	// ClientID is the OAuth client the token was issued to; omitted when
	// empty.
	ClientID string
	// Scope is the space-separated scopes granted (RFC 9068 §2.2.3);
	// omitted when empty. Verify returns it as sent.
	Scope string
	// Fresh is true only on tokens minted straight from a password
	// verification (API.md, Freshness).
	Fresh bool
	// JKT is the RFC 7638 thumbprint of the key the token is bound to
	// (cnf.jkt, RFC 9449); omitted when empty.
	JKT string
	// AMR is the session's authentication methods (RFC 8176; baton's are
	// pwd, otp, hwk and mfa, see baton.AMR); omitted when empty. Verify
	// returns them as sent, whatever the names.
	AMR []string
}

// ErrNoSigningKey is returned by Sign when the keyring holds no key it may
// sign with: none was given, all are retired, or it is verify-only.
var ErrNoSigningKey = errors.New("token: no signing key")

// Safe messages of Verify's errors. The cause, which may name the exact
// check that failed, is wrapped for the log only: telling a prober which
// check it tripped helps nobody else.
const (
	msgInvalid  = "the access token is invalid"
	msgExpired  = "the access token expired"
	msgTooLarge = "the access token is too large"
	msgRefresh  = "a refresh token is not an access token"
)

func invalid(msg string, cause error) error {
	return baton.WrapError(baton.EInvalidToken, msg, cause)
}
