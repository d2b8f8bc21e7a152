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

// EventMFAReset reports an administrator's removal of a user's second
// factors (Detail "admin"; ", nothing to remove" when the user had none).
const EventMFAReset = "mfa_reset"

// MFAReset is what ResetMFA removed and revoked.
type MFAReset struct {
	// Removed is the user's second-factor state before the reset.
	Removed MFAStatus
	// Revoked lists the sessions the reset revoked.
	Revoked []string
}

// ResetMFA removes every second factor of the user — the TOTP secret, a
// pending enrolment, the recovery codes — and then revokes every session
// through the one revocation path (reason mfa_reset), so the next sign-in
// is with the password alone and nobody stays signed in on the strength of
// a factor the user lost. It is for an administrator helping a user who
// lost their authenticator; nothing here asks for a fresh token.
//
// Sessions are revoked whether or not there was a factor to remove, so the
// end state is always the same (no factor, no session) and running it
// again after a failure finishes the job. Factors go first: a session that
// is still live in between can at most start an enrolment of its own,
// which the revocation then cuts short; revoking first would let a sign-in
// with the old factor slip in and survive. ENotFound (no such user).
func (s *Service) ResetMFA(ctx context.Context, userID string, cl Client) (*MFAReset, error) {
	if _, err := s.store.UserByID(ctx, userID); err != nil {
		return nil, err
	}
	before, err := s.UserMFA(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := s.store.DisableTOTP(ctx, userID); err != nil && baton.ErrorCode(err) != baton.ENotFound {
		return nil, err
	}
	// Recovery codes can outlive the TOTP row (a regeneration racing a
	// disable; later, codes kept for passkeys): an empty set removes them.
	if err := s.store.ReplaceRecoveryCodes(ctx, userID, nil, s.Now()); err != nil {
		return nil, err
	}
	// Every passkey, also while passkeys are off.
	ps, err := s.store.Passkeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if err := s.store.DeletePasskey(ctx, userID, p.ID, false); err != nil && baton.ErrorCode(err) != baton.ENotFound {
			return nil, err
		}
	}
	s.profiles.drop(userID)
	detail := detailAdmin
	if !before.Any() {
		detail += ", nothing to remove"
	}
	ids, err := s.revoke(ctx, revocation{UserID: userID, Reason: baton.ReasonMFAReset,
		Event: Event{Type: EventMFAReset, Outcome: OutcomeOK, Client: cl, Detail: detail}})
	if err != nil {
		return nil, err
	}
	// A notice only when a factor went: a reset of nothing changed nothing.
	if before.Any() {
		s.securityNotice(ctx, userID, changeMFAReset)
	}
	return &MFAReset{Removed: before, Revoked: ids}, nil
}
