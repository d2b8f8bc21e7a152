package session

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// ReissueAccess mints a new, never fresh, access token for the session of
// c (implicit refresh of the cookies transport). It returns nil, nil when
// the session is no longer live (the current token then simply runs out).
func (s *Service) ReissueAccess(ctx context.Context, c *token.Claims) (*Grant, error) {
	sess, err := s.store.Session(ctx, c.SessionID)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	now := s.Now()
	if !sess.Live(now) {
		return nil, nil
	}
	return s.grant(sess, now, false, c.ClientID, "")
}
