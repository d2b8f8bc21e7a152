package session

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/password"
)

// RegisterRequest is what a registration gives.
type RegisterRequest struct {
	Username string
	Password string
	// Email is the user's address; nil when none was given, and then the
	// username is also the email when it is an address (local@domain, the
	// domain with a dot).
	Email *string
}

// Register creates an account. Outcomes: the new user; EInvalidUsername;
// EInvalidEmail; EWeakPassword; EUsernameTaken; EEmailTaken (no two users
// share an address, compared case-insensitively). A new address is not
// verified.
func (s *Service) Register(ctx context.Context, req RegisterRequest, cl Client) (*baton.User, error) {
	display, canonical, err := NormalizeUsername(req.Username)
	if err != nil {
		return nil, err
	}
	email, canonicalEmail, err := emailOf(req.Email, display)
	if err != nil {
		return nil, err
	}
	if err := password.CheckPassword(display, req.Password); err != nil {
		return nil, err
	}
	hash, err := s.cfg.Hasher.Hash(ctx, req.Password)
	if err != nil {
		return nil, err
	}
	u := &baton.User{
		ID:                newID(),
		Username:          display,
		CanonicalUsername: canonical,
		Email:             email,
		CanonicalEmail:    canonicalEmail,
		PasswordHash:      hash,
		CreatedAt:         s.Now(),
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Type: EventRegister, Outcome: OutcomeOK, UserID: u.ID, Client: cl})
	if u.Email != "" {
		// The account exists whatever happens to the message: a failure
		// here is logged, and the user can ask for another link.
		if err := s.sendVerification(ctx, u, cl); err != nil {
			s.cfg.Logger.Warn("verification message not queued", "user_id", u.ID, "err", err)
		}
	}
	return u, nil
}
