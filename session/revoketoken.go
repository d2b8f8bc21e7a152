package session

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// RevokeToken revokes the session of an access or refresh token (RFC 7009).
// Unknown and invalid tokens are not an error.
func (s *Service) RevokeToken(ctx context.Context, raw string, cl Client) error {
	var sess *baton.Session
	if token.IsRefreshToken(raw) {
		_, ss, err := s.store.RefreshToken(ctx, token.HashRefreshToken(raw))
		if baton.ErrorCode(err) == baton.ENotFound {
			return nil
		} else if err != nil {
			return err
		}
		sess = ss
	} else {
		c, err := s.verifyAccess(raw)
		if err != nil {
			return nil
		}
		ss, err := s.store.Session(ctx, c.SessionID)
		if baton.ErrorCode(err) == baton.ENotFound {
			return nil
		} else if err != nil {
			return err
		}
		sess = ss
	}
	if !sess.RevokedAt.IsZero() {
		return nil
	}
	_, err := s.revoke(ctx, revocation{SessionID: sess.ID, Reason: baton.ReasonLogout,
		Event: Event{Type: EventRevoke, Outcome: OutcomeOK, UserID: sess.UserID, Client: cl, Detail: "oauth_revoke"}})
	return err
}
