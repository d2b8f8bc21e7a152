package session

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/token"
)

// ChangePassword needs a fresh token and the current password; it revokes
// every session of the user and returns a grant for a new session with the
// caller's transport. Outcomes: the grant; EInsufficientUserAuth;
// EInvalidCredentials; EWeakPassword.
func (s *Service) ChangePassword(ctx context.Context, c *token.Claims, current, next string, cl Client) (*Grant, error) {
	if err := s.RequireFresh(c); err != nil {
		return nil, err
	}
	u, sess, err := s.userSession(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := s.verifyUserPassword(ctx, u, current); err != nil {
		s.emit(ctx, Event{Type: EventPasswordChange, Outcome: OutcomeFailed, UserID: u.ID, SessionID: sess.ID, Client: cl})
		return nil, err
	}
	if err := password.CheckPassword(u.Username, next); err != nil {
		return nil, err
	}
	hash, err := s.cfg.Hasher.Hash(ctx, next)
	if err != nil {
		return nil, err
	}
	notice, err := s.passwordNotice(u)
	if err != nil {
		return nil, err
	}
	gen, err := s.store.SetPasswordHash(ctx, u.ID, hash, notice)
	if err != nil {
		return nil, err
	}
	s.wakeMail(notice)
	u.CredentialGen = gen
	if _, err := s.revoke(ctx, revocation{UserID: u.ID, Reason: baton.ReasonPasswordChange,
		Event: Event{Type: EventRevoke, Outcome: OutcomeOK, SessionID: sess.ID, Client: cl, Detail: baton.ReasonPasswordChange}}); err != nil {
		return nil, err
	}
	// The new session replaces the caller's, whose fresh token shows the
	// user just passed its checks, so it keeps its amr.
	g, err := s.createSession(ctx, u, sess.AMR, sess.Transport, sess.ClientID, sess.Binding, cl)
	if err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Type: EventPasswordChange, Outcome: OutcomeOK, UserID: u.ID, SessionID: g.Session.ID, Client: cl})
	return g, nil
}

// verifyUserPassword checks pw against u's hash, burning the same time for
// an oversized password as for a real verification.
func (s *Service) verifyUserPassword(ctx context.Context, u *baton.User, pw string) error {
	if len(pw) > password.MaxBytes {
		if err := s.cfg.Hasher.VerifyDummy(ctx, pw); err != nil {
			return err
		}
		return errInvalidCredentials
	}
	ok, _, err := s.cfg.Hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		return errInvalidCredentials
	}
	return nil
}
