package session

import (
	"context"
	"sync"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// Profile returns the public part of the user an access token belongs to
// (id, username, email and whether it is verified, creation time: never
// the password hash), from a bounded in-memory cache: GET /v1/me is the
// hottest authenticated route. A cache entry cannot outlive its use:
// deleting a user revokes every session first, and Authenticate refuses
// their tokens before Profile is reached. The email is fixed at
// registration for now; whatever comes to change it or its verification
// must drop the entry (on every instance), or /v1/me would show the old
// state.
func (s *Service) Profile(ctx context.Context, c *token.Claims) (*baton.User, error) {
	if u, ok := s.profiles.get(c.Subject); ok {
		return u, nil
	}
	u, err := s.Me(ctx, c)
	if err != nil {
		return nil, err
	}
	p := &baton.User{ID: u.ID, Username: u.Username, CanonicalUsername: u.CanonicalUsername,
		Email: u.Email, CanonicalEmail: u.CanonicalEmail, EmailVerified: u.EmailVerified, CreatedAt: u.CreatedAt}
	s.profiles.put(p)
	return p, nil
}

// Me returns the user an access token belongs to, read from the store.
func (s *Service) Me(ctx context.Context, c *token.Claims) (*baton.User, error) {
	u, err := s.store.UserByID(ctx, c.Subject)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, baton.Errorf(baton.EInvalidToken, "the user no longer exists")
	}
	return u, err
}

// profileCache maps user ids to their public profile. It is bounded: when
// full it starts over, which costs one store read per user afterwards.
type profileCache struct {
	mu  sync.RWMutex
	m   map[string]*baton.User
	max int
}

func newProfileCache(max int) *profileCache {
	return &profileCache{m: make(map[string]*baton.User), max: max}
}

func (c *profileCache) get(id string) (*baton.User, bool) {
	c.mu.RLock()
	u, ok := c.m[id]
	c.mu.RUnlock()
	return u, ok
}

func (c *profileCache) put(u *baton.User) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = make(map[string]*baton.User)
	}
	c.m[u.ID] = u
	c.mu.Unlock()
}

func (c *profileCache) drop(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
