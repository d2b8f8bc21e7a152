package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// CSRFToken is the CSRF value bound to a session (the signed double-submit
// pattern): an HMAC of the session id, so a cookie planted by an attacker
// for another session does not pass.
func (s *Service) CSRFToken(sessionID string) string {
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
