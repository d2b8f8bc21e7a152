package session

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// RevokeToken revokes the session of an access or refresh token (RFC 7009).
// Unknown and invalid tokens are not an error. precondition, when set, is
// checked against the token's live session before it is revoked (the HTTP
// layer's demand for a proof of a DPoP-bound session's key); its error is
// returned and nothing changes.
func (s *Service) RevokeToken(ctx context.Context, raw string, precondition func(*baton.Session) error, cl Client) error {
	var sess *baton.Session
	if token.IsRefreshToken(raw) {
		_, ss, err := s.refreshToken(ctx, raw)
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
	if precondition != nil {
		if err := precondition(sess); err != nil {
			return err
		}
	}
	_, err := s.revoke(ctx, revocation{SessionID: sess.ID, Reason: baton.ReasonLogout,
		Event: Event{Type: EventRevoke, Outcome: OutcomeOK, UserID: sess.UserID, Client: cl, Detail: "oauth_revoke"}})
	return err
}
