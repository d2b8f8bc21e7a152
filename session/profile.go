package session

import (
	"context"
	"sync"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// Profile returns the public part of the user an access token belongs to
// (id, username, email and whether it is verified, creation time: never
// the password hash), from a bounded in-memory cache: GET /v1/me is the
// hottest authenticated route. A cache entry cannot outlive its user:
// deleting a user revokes every session first, and Authenticate refuses
// their tokens before Profile is reached. The address and its verification
// do change: this instance drops the entry when it makes the change, and
// an entry lives profileTTL at most, so another instance shows the change
// within that time too.
func (s *Service) Profile(ctx context.Context, c *token.Claims) (*baton.User, error) {
	now := s.Now()
	if u, ok := s.profiles.get(c.Subject, now); ok {
		return u, nil
	}
	u, err := s.Me(ctx, c)
	if err != nil {
		return nil, err
	}
	p := &baton.User{ID: u.ID, Username: u.Username, CanonicalUsername: u.CanonicalUsername,
		Email: u.Email, CanonicalEmail: u.CanonicalEmail, EmailVerified: u.EmailVerified, CreatedAt: u.CreatedAt}
	s.profiles.put(p, now.Add(profileTTL))
	return p, nil
}

// profileTTL bounds how long another instance's change of a user's address
// goes unseen by GET /v1/me here; a busy client still hits the cache for
// all but one request per period.
const profileTTL = 2 * time.Second

// Me returns the user an access token belongs to, read from the store.
func (s *Service) Me(ctx context.Context, c *token.Claims) (*baton.User, error) {
	u, err := s.store.UserByID(ctx, c.Subject)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, baton.Errorf(baton.EInvalidToken, "the user no longer exists")
	}
	return u, err
}

// profileCache maps user ids to their public profile until a time. It is
// bounded: when full it starts over, which costs one store read per user
// afterwards.
type profileCache struct {
	mu  sync.RWMutex
	m   map[string]profileEntry
	max int
}

type profileEntry struct {
	u     *baton.User
	until time.Time
}

func newProfileCache(max int) *profileCache {
	return &profileCache{m: make(map[string]profileEntry), max: max}
}

func (c *profileCache) get(id string, now time.Time) (*baton.User, bool) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e.u, true
}

func (c *profileCache) put(u *baton.User, until time.Time) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = make(map[string]profileEntry)
	}
	c.m[u.ID] = profileEntry{u: u, until: until}
	c.mu.Unlock()
}

func (c *profileCache) drop(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
