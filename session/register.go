package session

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/password"
)

// Register creates an account. Outcomes: the new user; EInvalidUsername;
// EWeakPassword; EUsernameTaken.
func (s *Service) Register(ctx context.Context, username, pw string, cl Client) (*baton.User, error) {
	display, canonical, err := NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	if err := password.CheckPassword(display, pw); err != nil {
		return nil, err
	}
	hash, err := s.cfg.Hasher.Hash(ctx, pw)
	if err != nil {
		return nil, err
	}
	u := &baton.User{
		ID:                newID(),
		Username:          display,
		CanonicalUsername: canonical,
		PasswordHash:      hash,
		CreatedAt:         s.Now(),
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Type: EventRegister, Outcome: OutcomeOK, UserID: u.ID, Client: cl})
	return u, nil
}
