package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// RefreshPrefix starts every refresh token, so secret scanners can spot a
// leaked one and an access-token parser can refuse one at a glance.
const RefreshPrefix = "brt_"

// refreshBytes is the entropy of a refresh token: 256 bits (API.md, Tokens).
// Successors are HMAC-SHA256 outputs, the same length.
const refreshBytes = 32

// refreshLen is the length of a refresh token: the prefix and 43 base64url
// characters.
var refreshLen = len(RefreshPrefix) + base64.RawURLEncoding.EncodedLen(refreshBytes)

// NewRefreshToken returns a new random refresh token: RefreshPrefix and 32
// bytes from crypto/rand, base64url without padding.
func NewRefreshToken() (string, error) {
	var b [refreshBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token: new refresh token: %w", err)
	}
	return encodeRefresh(b[:]), nil
}

func encodeRefresh(b []byte) string {
	out := make([]byte, 0, refreshLen)
	out = append(out, RefreshPrefix...)
	return string(base64.RawURLEncoding.AppendEncode(out, b))
}

// Successor returns the refresh token that replaces tok when it is rotated:
// HMAC-SHA256 of tok under the rotation key. Being derived, it is the same
// every time, so a request retried inside the reuse grace window gets the
// very token the first attempt was given without the server ever storing a
// token (docs/design.md, "Refresh: one state machine"). The key is what keeps a leaked spent token
// (from a log, a backup) from yielding its live successor: with it, an
// attacker could skip the spent token and present the successor, and reuse
// detection would never fire.
//
// rotationKey must hold at least 32 bytes (NewSecretKey makes such keys);
// Successor panics on a shorter one, which is a wiring bug (a key never
// loaded), rather than mint guessable successors.
func Successor(rotationKey []byte, tok string) string {
	if len(rotationKey) < 32 {
		panic("token: Successor: rotation key shorter than 32 bytes")
	}
	m := hmac.New(sha256.New, rotationKey)
	m.Write([]byte(tok))
	var sum [sha256.Size]byte
	return encodeRefresh(m.Sum(sum[:0]))
}

// HashRefreshToken returns SHA-256 of tok, the only form in which a refresh
// token is stored. A plain hash is enough: the token has 256 bits of
// entropy, so there is nothing to brute-force.
func HashRefreshToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// IsRefreshToken reports whether tok has the exact form NewRefreshToken and
// Successor produce: the prefix and 43 base64url characters encoding 32
// bytes. It lets callers tell a refresh token from an access token, and
// refuse garbage, before touching the store. It does not allocate.
func IsRefreshToken(tok string) bool {
	if len(tok) != refreshLen || tok[:len(RefreshPrefix)] != RefreshPrefix {
		return false
	}
	body := tok[len(RefreshPrefix):]
	var last byte
	for i := 0; i < len(body); i++ {
		v := b64URLValue[body[i]]
		if v == 0xff {
			return false
		}
		last = v
	}
	// 43 characters carry 258 bits; the 2 beyond the 256 are zero in a
	// canonical encoding, so each token has a single spelling.
	return last&0x3 == 0
}

// b64URLValue maps a byte to its base64url value, or 0xff.
var b64URLValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()
