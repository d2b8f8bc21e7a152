package session

import (
	"time"

	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/token"
)

// Reauth verifies the password of the session's user again and returns a
// fresh access token for the same session (no new refresh token). The
// session's auth time moves to now, so later refreshed tokens carry it.
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
	now := s.Now()
	if err := s.store.SetAuthTime(ctx, sess.ID, now); err != nil {
		return nil, err
	}
	sess.AuthTime = now
	s.emit(ctx, Event{Type: EventReauth, Outcome: OutcomeOK, UserID: u.ID, SessionID: sess.ID, Client: cl})
	return s.grant(sess, now, true, c.ClientID, "")
}

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
	if err := s.store.SetPasswordHash(ctx, u.ID, hash); err != nil {
		return nil, err
	}
	if _, err := s.revokeUser(ctx, u.ID, "", baton.ReasonPasswordChange); err != nil {
		return nil, err
	}
	g, err := s.createSession(ctx, u, sess.Transport, sess.ClientID, sess.Binding, cl)
	if err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Type: EventPasswordChange, Outcome: OutcomeOK, UserID: u.ID, SessionID: g.Session.ID, Client: cl})
	return g, nil
}

// DeleteAccount needs a fresh token; it revokes every session and deletes
// the user, freeing the username. Outcomes: nil; EInsufficientUserAuth.
func (s *Service) DeleteAccount(ctx context.Context, c *token.Claims, cl Client) error {
	if err := s.RequireFresh(c); err != nil {
		return err
	}
	return s.deleteUser(ctx, c.Subject, c.SessionID, cl)
}

func (s *Service) deleteUser(ctx context.Context, userID, sessionID string, cl Client) error {
	now := s.Now()
	ids, err := s.store.DeleteUser(ctx, userID, baton.Revoke{Now: now, Until: s.revokedUntil(now), Reason: baton.ReasonAccountDeleted})
	if err != nil {
		return err
	}
	s.profiles.drop(userID)
	for _, id := range ids {
		s.revoked.add(id, s.revokedUntil(now))
	}
	s.emit(ctx, Event{Type: EventAccountDeleted, Outcome: OutcomeOK, UserID: userID, SessionID: sessionID, Client: cl})
	return nil
}

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
	if _, err := s.revoke(ctx, id, baton.ReasonUser); err != nil {
		return err
	}
	s.emit(ctx, Event{Type: EventRevoke, Outcome: OutcomeOK, UserID: c.Subject, SessionID: id, Client: cl, Detail: baton.ReasonUser})
	return nil
}

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

// Admin operations, used by the CLI and by operators embedding baton.

// LockUser locks the account and revokes its sessions; a locked user can
// neither log in nor refresh.
func (s *Service) LockUser(ctx context.Context, userID string) error {
	if err := s.store.SetLocked(ctx, userID, s.Now()); err != nil {
		return err
	}
	_, err := s.revokeUser(ctx, userID, "", baton.ReasonLocked)
	return err
}

// UnlockUser lets a locked user log in again.
func (s *Service) UnlockUser(ctx context.Context, userID string) error {
	return s.store.SetLocked(ctx, userID, time.Time{})
}

// DeleteUser deletes an account as an administrator.
func (s *Service) DeleteUser(ctx context.Context, userID string) error {
	return s.deleteUser(ctx, userID, "", Client{})
}

// RevokeSession revokes one session as an administrator.
func (s *Service) RevokeSession(ctx context.Context, id, reason string) (bool, error) {
	return s.revoke(ctx, id, reason)
}

// RevokeUserSessions revokes every session of a user as an administrator.
func (s *Service) RevokeUserSessions(ctx context.Context, userID, reason string) ([]string, error) {
	return s.revokeUser(ctx, userID, "", reason)
}
