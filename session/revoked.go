package session

import (
	"sync"
	"time"

	"github.com/batonauth/baton"
)

// revokedSet holds the ids of revoked sessions whose access tokens might
// still be alive, so access-token checks stay a map lookup with no store
// round trip. An entry is dropped once every token it covers has expired.
type revokedSet struct {
	mu sync.RWMutex
	m  map[string]time.Time // session id → until
}

func newRevokedSet() *revokedSet { return &revokedSet{m: make(map[string]time.Time)} }

// add records sid as revoked until until; a later until wins.
func (s *revokedSet) add(sid string, until time.Time) {
	s.mu.Lock()
	if cur, ok := s.m[sid]; !ok || until.After(cur) {
		s.m[sid] = until
	}
	s.mu.Unlock()
}

func (s *revokedSet) has(sid string) bool {
	s.mu.RLock()
	_, ok := s.m[sid]
	s.mu.RUnlock()
	return ok
}

// expire drops the entries whose until has passed at now.
func (s *revokedSet) expire(now time.Time) {
	s.mu.Lock()
	for sid, until := range s.m {
		if now.After(until) {
			delete(s.m, sid)
		}
	}
	s.mu.Unlock()
}

func (s *revokedSet) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
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
