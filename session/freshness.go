package session

import (
	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// IsFresh reports whether c was minted from a password verification within
// the freshness window.
func (s *Service) IsFresh(c *token.Claims) bool {
	if !c.Fresh {
		return false
	}
	return s.cfg.FreshTTL == 0 || s.Now().Sub(c.AuthTime) <= s.cfg.FreshTTL
}

// RequireFresh returns EInsufficientUserAuth unless c is fresh.
func (s *Service) RequireFresh(c *token.Claims) error {
	if s.IsFresh(c) {
		return nil
	}
	return baton.Errorf(baton.EInsufficientUserAuth, "this action needs a recent password confirmation: call /v1/reauth")
}
