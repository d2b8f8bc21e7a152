package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// CSRFToken is the CSRF value bound to a session (the signed double-submit
// pattern): the session id and an HMAC of it, so a cookie planted by an
// attacker for another session does not pass. The id is in the clear so
// that a cookie refresh can name its session before the store is read, and
// the rotation's single statement can refuse a token of another session
// (RefreshRequest.CSRFSession); it is no secret (the access token's sid
// claim carries it too).
func (s *Service) CSRFToken(sessionID string) string {
	return sessionID + "." + s.csrfMAC(sessionID)
}

// CSRFTokenMatches reports whether v is the CSRF value of the session, in
// its current form or in the form before 1.1 (the HMAC alone), which
// cookies set by an older version still carry.
func (s *Service) CSRFTokenMatches(v, sessionID string) bool {
	mac := s.csrfMAC(sessionID)
	cur := subtle.ConstantTimeCompare([]byte(v), []byte(sessionID+"."+mac))
	old := subtle.ConstantTimeCompare([]byte(v), []byte(mac))
	return cur|old == 1
}

// maxCSRFValue bounds the CSRF values CSRFSession will MAC: a session id
// and a base64 HMAC-SHA256 are well under it, and a request cannot make the
// server hash a header's worth of bytes.
const maxCSRFValue = 256

// CSRFSession returns the session that a CSRF value in the current form
// names, when its HMAC verifies; "" otherwise (an older form, or a forgery).
func (s *Service) CSRFSession(v string) string {
	if len(v) > maxCSRFValue {
		return ""
	}
	i := strings.LastIndexByte(v, '.')
	if i <= 0 {
		return ""
	}
	sid, mac := v[:i], v[i+1:]
	if subtle.ConstantTimeCompare([]byte(mac), []byte(s.csrfMAC(sid))) != 1 {
		return ""
	}
	return sid
}

func (s *Service) csrfMAC(sessionID string) string {
	m := hmac.New(sha256.New, s.secrets.Load().csrf)
	m.Write([]byte("baton-csrf\x00"))
	m.Write([]byte(sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// DeriveKey returns a 32-byte key for another purpose (e.g. DPoP nonces),
// derived from the shared CSRF key so every instance derives the same one.
func (s *Service) DeriveKey(label string) []byte {
	m := hmac.New(sha256.New, s.secrets.Load().csrf)
	m.Write([]byte("baton-derive\x00"))
	m.Write([]byte(label))
	return m.Sum(nil)
}
