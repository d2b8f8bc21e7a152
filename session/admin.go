package session

import (
	"context"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/password"
)

// Admin operations, used by the CLI and by operators embedding baton. Their
// revocations go through the same path as every other cause, so they are
// audited and reach every instance.

// detailAdmin marks the events of revocations an administrator caused.
const detailAdmin = "admin"

// LockUser locks the account and revokes its sessions; a locked user can
// neither log in nor refresh.
func (s *Service) LockUser(ctx context.Context, userID string, cl Client) error {
	if err := s.store.SetLocked(ctx, userID, s.Now()); err != nil {
		return err
	}
	_, err := s.revoke(ctx, revocation{UserID: userID, Reason: baton.ReasonLocked,
		Event: Event{Type: EventRevoke, Outcome: OutcomeOK, Client: cl, Detail: baton.ReasonLocked}})
	return err
}

// SetPassword replaces the user's password (checked against the password
// policy) and revokes every session, as a password change does, without
// asking for the current one; the user's address gets the same notice.
func (s *Service) SetPassword(ctx context.Context, u *baton.User, pw string, cl Client) error {
	if err := password.CheckPassword(u.Username, pw); err != nil {
		return err
	}
	hash, err := s.cfg.Hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	notice, err := s.passwordNotice(u)
	if err != nil {
		return err
	}
	if _, err := s.store.SetPasswordHash(ctx, u.ID, hash, notice); err != nil {
		return err
	}
	s.wakeMail(notice)
	_, err = s.revoke(ctx, revocation{UserID: u.ID, Reason: baton.ReasonPasswordChange,
		Event: Event{Type: EventPasswordChange, Outcome: OutcomeOK, Client: cl, Detail: detailAdmin}})
	return err
}

// UnlockUser lets a locked user log in again.
func (s *Service) UnlockUser(ctx context.Context, userID string) error {
	return s.store.SetLocked(ctx, userID, time.Time{})
}

// DeleteUser deletes an account as an administrator.
func (s *Service) DeleteUser(ctx context.Context, userID string, cl Client) error {
	return s.deleteUser(ctx, userID, "", cl)
}

// RevokeSession revokes one session as an administrator.
// ENotFound.
func (s *Service) RevokeSession(ctx context.Context, id, reason string, cl Client) (bool, error) {
	sess, err := s.store.Session(ctx, id)
	if err != nil {
		return false, err
	}
	ids, err := s.revoke(ctx, revocation{SessionID: id, Reason: reason,
		Event: Event{Type: EventRevoke, Outcome: OutcomeOK, UserID: sess.UserID, Client: cl, Detail: detailAdmin}})
	return len(ids) == 1, err
}

// RevokeUserSessions revokes every session of a user as an administrator.
func (s *Service) RevokeUserSessions(ctx context.Context, userID, reason string, cl Client) ([]string, error) {
	return s.revoke(ctx, revocation{UserID: userID, Reason: reason,
		Event: Event{Type: EventRevoke, Outcome: OutcomeOK, Client: cl, Detail: detailAdmin}})
}
