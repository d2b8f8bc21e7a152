package session

import (
	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// IsFresh reports whether c was minted from a password verification within
// the freshness window (token.Claims.FreshAt, the rule resource servers
// apply too).
func (s *Service) IsFresh(c *token.Claims) bool {
	return c.FreshAt(s.Now(), s.cfg.FreshTTL)
}

// RequireFresh returns EInsufficientUserAuth unless c is fresh.
func (s *Service) RequireFresh(c *token.Claims) error {
	if s.IsFresh(c) {
		return nil
	}
	return baton.Errorf(baton.EInsufficientUserAuth, "this action needs a recent password confirmation: call /v1/reauth")
}
