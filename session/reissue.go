package session

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// ReissueAccess mints a new, never fresh, access token for the session of
// c: the implicit refresh of the cookies transport, for server-rendered
// sites that never call /v1/refresh. It returns nil, nil — and the current
// token simply runs out — when the session is no longer live, or when it
// was not created with the cookies transport: a token taken from a body or
// refresh_cookie session and replayed in a cookie must not be kept alive
// without its refresh token, rotation and reuse detection. Each reissue is
// an audit event.
func (s *Service) ReissueAccess(ctx context.Context, c *token.Claims, cl Client) (*Grant, error) {
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
	if sess.Transport != baton.TransportCookies {
		return nil, nil
	}
	g, err := s.grant(sess, now, false, c.ClientID, "")
	if err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Type: EventImplicitRefresh, Outcome: OutcomeOK, UserID: sess.UserID, SessionID: sess.ID, Client: cl})
	return g, nil
}
