package session

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// DeleteAccount needs a fresh token; it revokes every session and deletes
// the user, freeing the username. Outcomes: nil; EInsufficientUserAuth.
func (s *Service) DeleteAccount(ctx context.Context, c *token.Claims, cl Client) error {
	if err := s.RequireFresh(c); err != nil {
		return err
	}
	return s.deleteUser(ctx, c.Subject, c.SessionID, cl)
}

func (s *Service) deleteUser(ctx context.Context, userID, sessionID string, cl Client) error {
	_, err := s.revoke(ctx, revocation{UserID: userID, DeleteUser: true, Reason: baton.ReasonAccountDeleted,
		Event: Event{Type: EventAccountDeleted, Outcome: OutcomeOK, SessionID: sessionID, Client: cl}})
	return err
}

// userSession returns the user and the live session of an access token.
func (s *Service) userSession(ctx context.Context, c *token.Claims) (*baton.User, *baton.Session, error) {
	u, err := s.Me(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	sess, err := s.store.Session(ctx, c.SessionID)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, nil, baton.Errorf(baton.EInvalidToken, "the session no longer exists")
	} else if err != nil {
		return nil, nil, err
	}
	if !sess.Live(s.Now()) {
		return nil, nil, baton.Errorf(baton.EInvalidToken, "the session was revoked or expired")
	}
	return u, sess, nil
}
