package session

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// Sessions lists the live sessions of the token's user.
func (s *Service) Sessions(ctx context.Context, c *token.Claims) ([]*baton.Session, error) {
	return s.store.Sessions(ctx, c.Subject, s.Now())
}

// RevokeOwnSession revokes one of the caller's live sessions. Any id that is
// not one of them is ENotFound, so ids of other users reveal nothing.
func (s *Service) RevokeOwnSession(ctx context.Context, c *token.Claims, id string, cl Client) error {
	sess, err := s.store.Session(ctx, id)
	if err != nil {
		return err
	}
	if sess.UserID != c.Subject || !sess.Live(s.Now()) {
		return baton.Errorf(baton.ENotFound, "no such session")
	}
	_, err = s.revoke(ctx, revocation{SessionID: id, Reason: baton.ReasonUser,
		Event: Event{Type: EventRevoke, Outcome: OutcomeOK, UserID: c.Subject, Client: cl, Detail: baton.ReasonUser}})
	return err
}
