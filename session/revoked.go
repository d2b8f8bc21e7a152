package session

import (
	"sync"
	"time"
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
