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

// SetEmail sets the user's email address, checked and canonicalised as
// at registration, and whether it counts as verified; an empty raw removes
// the address (verified must then be false). No message is sent: the
// administrator vouches for the address or leaves it to POST
// /v1/email/verification. This instance's cached profile goes at once;
// other processes' within ProfileTTL. EInvalidEmail; EEmailTaken (another
// user has it, in any letter case); ENotFound.
func (s *Service) SetEmail(ctx context.Context, userID, raw string, verified bool) error {
	var addr, canonical string
	if raw != "" {
		var err error
		if addr, canonical, err = NormalizeEmail(raw); err != nil {
			return err
		}
	} else if verified {
		return baton.Errorf(baton.EInvalidRequest, "no address to mark verified")
	}
	if err := s.store.SetEmail(ctx, userID, addr, canonical, verified); err != nil {
		return err
	}
	s.profiles.drop(userID)
	return nil
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
