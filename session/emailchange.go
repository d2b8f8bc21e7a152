package session

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/mail"
	"github.com/batonauth/baton/token"
)

// Email change events.
const (
	EventEmailChangeRequested = "email_change_requested"
	EventEmailChanged         = "email_changed"
)

// ChangeEmail asks to move the token's user to a new address. It needs a
// fresh token; the address changes only when the confirmation link sent to
// the new address is used (VerifyEmail), and a notice goes to the old one
// at once, so whoever holds a stolen session cannot quietly take the
// account's recovery address. Outcomes: nil; EInsufficientUserAuth;
// EInvalidEmail; EEmailTaken (another account has the address).
func (s *Service) ChangeEmail(ctx context.Context, c *token.Claims, raw string, cl Client) error {
	if err := s.RequireFresh(c); err != nil {
		return err
	}
	addr, canonical, err := NormalizeEmail(raw)
	if err != nil {
		return err
	}
	u, err := s.Me(ctx, c)
	if err != nil {
		return err
	}
	if other, err := s.store.UserByEmail(ctx, canonical); err == nil && other.ID != u.ID {
		return baton.Errorf(baton.EEmailTaken, "another account uses this email address")
	} else if err != nil && baton.ErrorCode(err) != baton.ENotFound {
		return err
	}
	var notice *baton.OutboxMessage
	if u.CanonicalEmail != canonical {
		if notice, err = s.notice(u.Email, mail.EmailChanged, mail.Data{Username: u.Username, NewEmail: addr}, u.ID); err != nil {
			return err
		}
	}
	if s.cfg.AllowSend != nil && !s.cfg.AllowSend(ctx, canonical) {
		// The new address had its share of messages: the confirmation is
		// held back, the old address still hears of the attempt.
		s.emit(ctx, Event{Type: EventEmailChangeRequested, Outcome: OutcomeFailed, UserID: u.ID, SessionID: c.SessionID, Client: cl, Detail: "recipient limit"})
		if notice == nil {
			return nil
		}
		if err := s.store.Enqueue(ctx, notice); err != nil {
			return err
		}
		s.wakeMail(notice)
		return nil
	}
	if err := s.newLink(ctx, u, baton.LinkChangeEmail, addr, canonical, mail.ConfirmEmail, s.cfg.VerifyTTL, notice); err != nil {
		return err
	}
	s.emit(ctx, Event{Type: EventEmailChangeRequested, Outcome: OutcomeOK, UserID: u.ID, SessionID: c.SessionID, Client: cl})
	return nil
}
