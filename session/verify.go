package session

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/mail"
	"github.com/batonauth/baton/token"
)

// Email verification events (the audit log never holds a token or link).
const (
	EventVerificationRequested = "email_verification_requested"
	EventEmailVerified         = "email_verified"
)

// sendVerification sends u a verification link for its address, unless
// the address had more messages than the per-recipient limit allows this
// hour (then nothing is sent, silently: the limit protects the recipient).
func (s *Service) sendVerification(ctx context.Context, u *baton.User, cl Client) error {
	if s.cfg.AllowSend != nil && !s.cfg.AllowSend(ctx, u.CanonicalEmail) {
		s.emit(ctx, Event{Type: EventVerificationRequested, Outcome: OutcomeFailed, UserID: u.ID, Client: cl, Detail: "recipient limit"})
		return nil
	}
	if err := s.newLink(ctx, u, baton.LinkVerifyEmail, u.Email, u.CanonicalEmail, mail.VerifyEmail, s.cfg.VerifyTTL); err != nil {
		return err
	}
	s.emit(ctx, Event{Type: EventVerificationRequested, Outcome: OutcomeOK, UserID: u.ID, Client: cl})
	return nil
}

// RequestVerification sends a new verification link to the address of the
// token's user. Outcomes: nil (sent, or silently held back by the
// per-recipient limit); ENoEmail; EAlreadyVerified.
func (s *Service) RequestVerification(ctx context.Context, c *token.Claims, cl Client) error {
	u, err := s.Me(ctx, c)
	if err != nil {
		return err
	}
	switch {
	case u.Email == "":
		return baton.Errorf(baton.ENoEmail, "the account has no email address")
	case u.EmailVerified:
		return baton.Errorf(baton.EAlreadyVerified, "the email address is verified already")
	}
	return s.sendVerification(ctx, u, cl)
}

// VerifyEmail redeems a verification or email-change link: the address
// becomes verified (for a change, it becomes the user's address first).
// Outcomes: the user; EInvalidLink (unknown, used, expired, another
// purpose; nothing changes); EEmailTaken (an email change to an address
// another account took meanwhile).
func (s *Service) VerifyEmail(ctx context.Context, tok string, cl Client) (*baton.User, error) {
	if err := checkLinkToken(tok, baton.LinkVerifyEmail, baton.LinkChangeEmail); err != nil {
		return nil, err
	}
	u, err := s.store.RedeemEmailLink(ctx, hashSecret(tok), s.Now())
	if err != nil {
		return nil, err
	}
	s.profiles.drop(u.ID)
	ev := EventEmailVerified
	if checkLinkToken(tok, baton.LinkChangeEmail) == nil {
		ev = EventEmailChanged
	}
	s.emit(ctx, Event{Type: ev, Outcome: OutcomeOK, UserID: u.ID, Client: cl})
	return u, nil
}
