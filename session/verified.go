package session

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/batonauth/baton/token"
)

// verifiedCache remembers access tokens whose signature and claims were
// verified, keyed by the token's SHA-256: a client presents the same token
// many times during its short life, and the Ed25519 verification is most of
// the cost of a protected request. A hit still has its expiry checked (and
// the caller checks revocation); the cache is emptied whenever the key set
// changes, so a removed key takes its tokens with it at once. Bounded: when
// full it starts over.
type verifiedCache struct {
	mu  sync.RWMutex
	m   map[[sha256.Size]byte]*token.Claims
	max int
}

func newVerifiedCache(max int) *verifiedCache {
	return &verifiedCache{m: make(map[[sha256.Size]byte]*token.Claims), max: max}
}

func (c *verifiedCache) get(key [sha256.Size]byte) *token.Claims {
	c.mu.RLock()
	cl := c.m[key]
	c.mu.RUnlock()
	return cl
}

func (c *verifiedCache) put(key [sha256.Size]byte, cl *token.Claims) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = make(map[[sha256.Size]byte]*token.Claims)
	}
	c.m[key] = cl
	c.mu.Unlock()
}

func (c *verifiedCache) reset() {
	c.mu.Lock()
	c.m = make(map[[sha256.Size]byte]*token.Claims)
	c.mu.Unlock()
}

// expiredAt reports whether a cached token has expired at now, with the
// same leeway Verify allows.
func expiredAt(cl *token.Claims, now time.Time, leeway time.Duration) bool {
	return now.After(cl.ExpiresAt.Add(leeway))
}
