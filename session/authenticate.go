package session

import (
	"crypto/sha256"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// Authenticate verifies an access token for a protected endpoint: signature,
// claims and that its session is not revoked. Outcomes: the claims;
// ETokenExpired; EInvalidToken. It never touches the store.
func (s *Service) Authenticate(raw string) (*token.Claims, error) {
	c, err := s.verifyAccess(raw)
	if err != nil {
		return nil, err
	}
	if s.revoked.has(c.SessionID) {
		return nil, baton.Errorf(baton.EInvalidToken, "the session was revoked")
	}
	return c, nil
}

// verifyAccess checks an access token's signature and claims, through the
// verified-token cache; it does not look at revocation.
func (s *Service) verifyAccess(raw string) (*token.Claims, error) {
	if token.IsRefreshToken(raw) {
		return nil, baton.Errorf(baton.EInvalidToken, "a refresh token is not an access token")
	}
	now := s.Now()
	key := sha256.Sum256([]byte(raw))
	if c := s.verified.get(key); c != nil {
		if expiredAt(c, now, s.cfg.Leeway) {
			return nil, baton.Errorf(baton.ETokenExpired, "the access token expired")
		}
		return c, nil
	}
	c, err := s.keys.Verify(raw, now)
	if err != nil {
		return nil, err
	}
	s.verified.put(key, c)
	return c, nil
}
