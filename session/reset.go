package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/mail"
	"github.com/batonauth/baton/password"
)

// Password reset events (never holding a token or a link).
const (
	EventResetRequested = "password_reset_requested"
	EventPasswordReset  = "password_reset"
)

// ForgotRequest names the account whose password was forgotten, by address
// or by username (exactly one).
type ForgotRequest struct {
	Email    *string
	Username *string
}

// forgotJob is the payload of an OutboxForgot row: the account as asked
// for, in canonical form.
type forgotJob struct {
	Email    string `json:"email,omitempty"`
	Username string `json:"username,omitempty"`
	// Who asked, for the audit event the dispatcher writes.
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// ForgotPassword accepts a forgot-password request. It does the same work
// whether or not the account exists — it stores the request in the outbox,
// durably, and nothing else — so the answer reveals nothing by its content
// or its timing; ProcessForgot, run by the outbox dispatcher, finds the
// account and sends the link. Outcomes: nil; EInvalidRequest (neither or
// both named); EInvalidEmail, EInvalidUsername (malformed, said at once:
// the format is no secret).
func (s *Service) ForgotPassword(ctx context.Context, req ForgotRequest, cl Client) error {
	job := forgotJob{IP: cl.IP, UserAgent: truncate(cl.UserAgent, 512)}
	switch {
	case (req.Email == nil) == (req.Username == nil):
		return baton.Errorf(baton.EInvalidRequest, "give exactly one of email and username")
	case req.Email != nil:
		_, canonical, err := NormalizeEmail(*req.Email)
		if err != nil {
			return err
		}
		job.Email = canonical
	default:
		_, canonical, err := NormalizeUsername(*req.Username)
		if err != nil {
			return err
		}
		job.Username = canonical
	}
	payload, err := json.Marshal(job)
	if err != nil {
		return err
	}
	now := s.Now()
	if err := s.store.Enqueue(ctx, &baton.OutboxMessage{ID: newID(), Kind: baton.OutboxForgot,
		Payload: payload, CreatedAt: now, NextAttemptAt: now}); err != nil {
		return err
	}
	if s.cfg.WakeMail != nil {
		s.cfg.WakeMail()
	}
	return nil
}

// ProcessForgot resolves a forgot-password request stored by
// ForgotPassword: when the account exists, is not locked and has an
// address under its per-recipient limit, a reset link goes to it. It is
// idempotent — the link's id is the request's, so a request processed
// again after a crash finds its link stored and sends nothing more — and
// returns an error only when the store failed (the dispatcher retries).
func (s *Service) ProcessForgot(ctx context.Context, m *baton.OutboxMessage) error {
	var job forgotJob
	if err := json.Unmarshal(m.Payload, &job); err != nil {
		return &mail.Error{Kind: mail.Invalid, Err: fmt.Errorf("forgot-password request: %w", err)}
	}
	var u *baton.User
	var err error
	if job.Email != "" {
		u, err = s.store.UserByEmail(ctx, job.Email)
	} else {
		u, err = s.store.UserByName(ctx, job.Username)
	}
	cl := Client{IP: job.IP, UserAgent: job.UserAgent}
	fail := func(uid, why string) error {
		s.emit(ctx, Event{Type: EventResetRequested, Outcome: OutcomeFailed, UserID: uid, Client: cl, Detail: why})
		return nil
	}
	switch {
	case baton.ErrorCode(err) == baton.ENotFound:
		return fail("", "no such account")
	case err != nil:
		return err
	case u.Email == "":
		return fail(u.ID, "no email address")
	case !u.LockedAt.IsZero():
		return fail(u.ID, "locked")
	case s.cfg.AllowSend != nil && !s.cfg.AllowSend(ctx, u.CanonicalEmail):
		return fail(u.ID, "recipient limit")
	}
	err = s.newLinkID(ctx, m.ID, u, baton.LinkResetPassword, u.Email, u.CanonicalEmail, mail.ResetPassword, s.cfg.ResetTTL)
	switch baton.ErrorCode(err) {
	case baton.EConflict:
		return nil // processed before a crash: the link and its message are stored
	case baton.ENotFound:
		return fail("", "no such account") // deleted meanwhile
	}
	if err != nil {
		return err
	}
	s.emit(ctx, Event{Type: EventResetRequested, Outcome: OutcomeOK, UserID: u.ID, Client: cl})
	return nil
}

// ResetPassword sets a new password with a reset link's token: every
// session of the user is revoked, every other reset link of the user dies,
// the address counts as verified, and a notice goes to it. Second factors
// are untouched. Outcomes: nil; EInvalidLink (nothing changed);
// EWeakPassword (the link still works).
func (s *Service) ResetPassword(ctx context.Context, tok, newPassword string, cl Client) error {
	if err := checkLinkToken(tok, baton.LinkResetPassword); err != nil {
		return err
	}
	hash := hashSecret(tok)
	l, err := s.store.LinkByHash(ctx, hash)
	if baton.ErrorCode(err) == baton.ENotFound {
		return errInvalidLink
	} else if err != nil {
		return err
	}
	now := s.Now()
	if l.Purpose != baton.LinkResetPassword || !l.SpentAt.IsZero() || !now.Before(l.ExpiresAt) {
		return errInvalidLink
	}
	u, err := s.store.UserByID(ctx, l.UserID)
	if baton.ErrorCode(err) == baton.ENotFound {
		return errInvalidLink
	} else if err != nil {
		return err
	}
	// The policy first: a refused password leaves the link usable.
	if err := password.CheckPassword(u.Username, newPassword); err != nil {
		return err
	}
	pwHash, err := s.cfg.Hasher.Hash(ctx, newPassword)
	if err != nil {
		return err
	}
	notice, err := s.passwordNotice(u)
	if err != nil {
		return err
	}
	// The compare-and-set: of concurrent resets with this link one gets
	// here; the others get EInvalidLink.
	if u, err = s.store.ResetPassword(ctx, hash, now, pwHash, notice); err != nil {
		return err
	}
	s.profiles.drop(u.ID)
	s.wakeMail(notice)
	if _, err := s.revoke(ctx, revocation{UserID: u.ID, Reason: baton.ReasonPasswordReset,
		Event: Event{Type: EventRevoke, Outcome: OutcomeOK, Client: cl, Detail: baton.ReasonPasswordReset}}); err != nil {
		return err
	}
	s.emit(ctx, Event{Type: EventPasswordReset, Outcome: OutcomeOK, UserID: u.ID, Client: cl})
	return nil
}

// passwordNotice is the "your password was changed" message to u's
// address, nil when u has none. Security notices are not held back by the
// per-recipient limit.
func (s *Service) passwordNotice(u *baton.User) (*baton.OutboxMessage, error) {
	return s.notice(u.Email, mail.PasswordChanged, mail.Data{Username: u.Username}, u.ID)
}

// notice builds an outbox message of template tpl to addr (nil for no
// address).
func (s *Service) notice(addr, tpl string, data mail.Data, userID string) (*baton.OutboxMessage, error) {
	if addr == "" {
		return nil, nil
	}
	payload, err := mail.EncodePayload(mail.Payload{Template: tpl, Data: data, UserID: userID})
	if err != nil {
		return nil, err
	}
	now := s.Now()
	return &baton.OutboxMessage{ID: mail.NewMessageID(s.cfg.MailFrom), Kind: baton.OutboxMail, Recipient: addr,
		Payload: payload, CreatedAt: now, NextAttemptAt: now}, nil
}

// wakeMail tells the dispatcher when a message was stored.
func (s *Service) wakeMail(m *baton.OutboxMessage) {
	if m != nil && s.cfg.WakeMail != nil {
		s.cfg.WakeMail()
	}
}

// Mail delivery events: the audit trail of each message, by template and
// outcome (never its text or link).
const (
	EventEmailSent           = "email_sent"
	EventEmailDeliveryFailed = "email_delivery_failed"
)

// ObserveDelivery records a delivery attempt of the outbox's mail in the
// audit log: sent, failed and to be retried, or given up.
func (s *Service) ObserveDelivery(ctx context.Context, d mail.Delivery) {
	e := Event{Type: EventEmailSent, Outcome: OutcomeOK, UserID: d.UserID, Detail: d.Template}
	if d.Outcome != mail.Sent {
		e.Type, e.Outcome = EventEmailDeliveryFailed, d.Outcome
		var me *mail.Error
		if errors.As(d.Err, &me) {
			e.Detail += ": " + me.Kind.String()
		}
	}
	s.emit(ctx, e)
}
