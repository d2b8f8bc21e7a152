package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
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
	next := m.Sum(sum[:0])
	if sr, _, ok := parseSessionRefresh(tok); ok && sr.Gen < maxGen {
		return encodeSessionRefresh(rotationKey, sr.SessionID, sr.Gen+1, next)
	}
	return encodeRefresh(next)
}

// HashRefreshToken returns SHA-256 of tok, the only form in which a refresh
// token is stored. A plain hash is enough: the token has 256 bits of
// entropy, so there is nothing to brute-force.
func HashRefreshToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// IsRefreshToken reports whether tok has one of the exact forms
// NewRefreshToken, NewSessionRefreshToken and Successor produce: the prefix
// and 43 base64url characters encoding 32 bytes, or the prefix and a
// session-naming payload (its tag is not checked here: see
// ParseSessionRefresh). It lets callers tell a refresh token from an access token, and
// refuse garbage, before touching the store. It does not allocate.
func IsRefreshToken(tok string) bool {
	if len(tok) != refreshLen {
		_, _, ok := parseSessionRefresh(tok)
		return ok
	}
	if tok[:len(RefreshPrefix)] != RefreshPrefix {
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

// A refresh token of the second form names its session and generation, so
// that the session row can hold the whole token state and a rotation is one
// compare-and-set on it (docs/design.md, "One row per session"):
//
//	brt_ base64url( 0x02 | gen (8 bytes, big endian) | secret (32) | tag (16) | session id )
//
// secret is 32 bytes from crypto/rand for generation 1 and HMAC(rotation
// key, previous token) after (Successor), so only the hash of a token is
// ever stored and a retry inside the grace window gets the same successor.
// tag is HMAC(rotation key, domain | gen | session id) cut to 128 bits: it
// proves that baton issued a token of that generation of that session, so
// a spent generation presented again is known genuine — reuse, which
// revokes the session — although its hash is no longer stored, while a
// forged one (the session id is no secret: access tokens carry it) is
// merely unknown and cannot end anybody's session.
const (
	sessionForm  = 0x02
	tagBytes     = 16
	maxSessionID = 64
	// sessionHead is the payload before the session id.
	sessionHead = 1 + 8 + refreshBytes + tagBytes
	// maxGen keeps generations far from overflow; no session rotates
	// 2^62 times.
	maxGen = 1 << 62
)

var tagDomain = []byte("baton refresh tag v2\x00")

// SessionRefresh is what a refresh token of the second form names.
type SessionRefresh struct {
	SessionID string
	Gen       int64
}

// NewSessionRefreshToken returns the first refresh token (generation 1) of
// the session sessionID: a random secret, named and tagged under the
// rotation key (see SessionRefresh). sessionID must be 1 to 64 characters
// of [A-Za-z0-9_-], as session ids are.
func NewSessionRefreshToken(rotationKey []byte, sessionID string) (string, error) {
	if len(rotationKey) < 32 {
		panic("token: NewSessionRefreshToken: rotation key shorter than 32 bytes")
	}
	if !validSessionID(sessionID) {
		return "", fmt.Errorf("token: new refresh token: session id %q cannot be named in a token", sessionID)
	}
	var b [refreshBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token: new refresh token: %w", err)
	}
	return encodeSessionRefresh(rotationKey, sessionID, 1, b[:]), nil
}

func encodeSessionRefresh(key []byte, sid string, gen int64, secret []byte) string {
	p := make([]byte, 0, sessionHead+len(sid))
	p = append(p, sessionForm)
	p = binary.BigEndian.AppendUint64(p, uint64(gen))
	p = append(p, secret[:refreshBytes]...)
	p = append(p, refreshTag(key, sid, gen)...)
	p = append(p, sid...)
	out := make([]byte, 0, len(RefreshPrefix)+base64.RawURLEncoding.EncodedLen(len(p)))
	out = append(out, RefreshPrefix...)
	return string(base64.RawURLEncoding.AppendEncode(out, p))
}

func refreshTag(key []byte, sid string, gen int64) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(tagDomain)
	var g [8]byte
	binary.BigEndian.PutUint64(g[:], uint64(gen))
	m.Write(g[:])
	m.Write([]byte(sid))
	return m.Sum(nil)[:tagBytes]
}

// parseSessionRefresh decodes a token of the second form without checking
// its tag.
func parseSessionRefresh(tok string) (sr SessionRefresh, tag []byte, ok bool) {
	maxLen := len(RefreshPrefix) + base64.RawURLEncoding.EncodedLen(sessionHead+maxSessionID)
	if !NamesSession(tok) || len(tok) > maxLen {
		return SessionRefresh{}, nil, false
	}
	// Strict refuses non-zero padding bits: one spelling per token.
	p, err := base64.RawURLEncoding.Strict().DecodeString(tok[len(RefreshPrefix):])
	if err != nil || len(p) <= sessionHead || p[0] != sessionForm {
		return SessionRefresh{}, nil, false
	}
	gen := binary.BigEndian.Uint64(p[1:9])
	sid := string(p[sessionHead:])
	if gen == 0 || gen > maxGen || !validSessionID(sid) {
		return SessionRefresh{}, nil, false
	}
	return SessionRefresh{SessionID: sid, Gen: int64(gen)}, p[1+8+refreshBytes : sessionHead], true
}

// NamesSession reports whether tok can only be a refresh token of the
// second form, if any: it has the prefix and is longer than the first
// form. Such a token is never looked up by its hash alone; whether it is
// well formed and genuine is ParseSessionRefresh's question. It does not
// decode tok.
func NamesSession(tok string) bool {
	return len(tok) > refreshLen && tok[:len(RefreshPrefix)] == RefreshPrefix
}

// ParseSessionRefresh returns the session and generation a refresh token of
// the second form names, when its tag is genuine under the rotation key;
// false for a token of the first form, a malformed one or a forged one.
func ParseSessionRefresh(rotationKey []byte, tok string) (SessionRefresh, bool) {
	sr, tag, ok := parseSessionRefresh(tok)
	if !ok || !hmac.Equal(tag, refreshTag(rotationKey, sr.SessionID, sr.Gen)) {
		return SessionRefresh{}, false
	}
	return sr, true
}

func validSessionID(sid string) bool {
	if len(sid) == 0 || len(sid) > maxSessionID {
		return false
	}
	for i := 0; i < len(sid); i++ {
		if b64URLValue[sid[i]] == 0xff {
			return false
		}
	}
	return true
}
