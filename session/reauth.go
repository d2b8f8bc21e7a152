package session

import (
	"context"

	"github.com/batonauth/baton/token"
)

// Reauth verifies the password of the session's user again and returns a
// fresh access token for the same session (no new refresh token). The
// session's auth time moves to now, so later refreshed tokens carry it; its
// amr stays what the session was created with.
// Outcomes: the grant; EInvalidCredentials (nothing changes); EInvalidToken
// when the session or user is gone.
func (s *Service) Reauth(ctx context.Context, c *token.Claims, pw string, cl Client) (*Grant, error) {
	u, sess, err := s.userSession(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := s.verifyUserPassword(ctx, u, pw); err != nil {
		s.emit(ctx, Event{Type: EventReauth, Outcome: OutcomeFailed, UserID: u.ID, SessionID: sess.ID, Client: cl})
		return nil, err
	}
	// A user with a second factor gives it again: a fresh token of that
	// user always has mfa in amr.
	if err := s.secondStep(ctx, u, mfaState{Purpose: mfaReauth, SessionID: sess.ID, ClientID: c.ClientID}); err != nil {
		if _, ok := err.(*MFARequired); ok {
			s.emit(ctx, Event{Type: EventReauth, Outcome: OutcomeMFARequired, UserID: u.ID, SessionID: sess.ID, Client: cl})
		}
		return nil, err
	}
	now := s.Now()
	if err := s.store.SetAuthTime(ctx, sess.ID, now); err != nil {
		return nil, err
	}
	sess.AuthTime = now
	s.emit(ctx, Event{Type: EventReauth, Outcome: OutcomeOK, UserID: u.ID, SessionID: sess.ID, Client: cl})
	return s.grant(sess, now, true, c.ClientID, "")
}
