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
// hottest authenticated route. A cache entry cannot outlive its use:
// deleting a user revokes every session first, and Authenticate refuses
// their tokens before Profile is reached. A change of the address or its
// verification drops the entry of the instance that made it; other
// instances, and a server beside the admin commands (another process),
// see it once their entry is ProfileTTL old.
func (s *Service) Profile(ctx context.Context, c *token.Claims) (*Profile, error) {
	now := s.Now()
	if p, ok := s.profiles.get(c.Subject, now); ok {
		return p, nil
	}
	u, err := s.Me(ctx, c)
	if err != nil {
		return nil, err
	}
	mfa, err := s.mfaStatus(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	p := &Profile{User: baton.User{ID: u.ID, Username: u.Username, CanonicalUsername: u.CanonicalUsername,
		Email: u.Email, CanonicalEmail: u.CanonicalEmail, EmailVerified: u.EmailVerified, CreatedAt: u.CreatedAt}, MFA: mfa}
	s.profiles.put(p, now.Add(ProfileTTL))
	return p, nil
}

// Profile is what GET /v1/me shows: the user's public fields and the
// state of its second factors.
type Profile struct {
	baton.User
	MFA MFAStatus
}

// MFAStatus says which second factors a user has.
type MFAStatus struct {
	TOTP bool
	// TOTPPending: an enrolment was started and not confirmed (not a
	// factor yet; GET /v1/me does not show it).
	TOTPPending       bool
	Passkeys          int
	RecoveryCodesLeft int
}

// Any reports whether anything second-factor related is stored: a factor,
// a pending enrolment or recovery codes.
func (m MFAStatus) Any() bool {
	return m.TOTP || m.TOTPPending || m.Passkeys > 0 || m.RecoveryCodesLeft > 0
}

func (s *Service) mfaStatus(ctx context.Context, userID string) (MFAStatus, error) {
	var m MFAStatus
	var err error
	if m.TOTP, err = s.totpOn(ctx, userID); err != nil {
		return m, err
	}
	if m.Passkeys, err = s.passkeyCount(ctx, userID); err != nil {
		return m, err
	}
	m.RecoveryCodesLeft, err = s.store.RecoveryCodesLeft(ctx, userID)
	return m, err
}

// UserMFA returns the state of the user's second factors, read from the
// store (not the profile cache), with a pending TOTP enrolment: for
// administrators. An unknown user has none.
func (s *Service) UserMFA(ctx context.Context, userID string) (MFAStatus, error) {
	m, err := s.mfaStatus(ctx, userID)
	if err != nil {
		return m, err
	}
	// Stored passkeys count here even while passkeys are off.
	ps, err := s.store.Passkeys(ctx, userID)
	if err != nil {
		return m, err
	}
	m.Passkeys = len(ps)
	st, err := s.store.TOTP(ctx, userID)
	if baton.ErrorCode(err) == baton.ENotFound {
		return m, nil
	} else if err != nil {
		return m, err
	}
	m.TOTPPending = st.Pending != nil
	return m, nil
}

// Me returns the user an access token belongs to, read from the store.
func (s *Service) Me(ctx context.Context, c *token.Claims) (*baton.User, error) {
	u, err := s.store.UserByID(ctx, c.Subject)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, baton.Errorf(baton.EInvalidToken, "the user no longer exists")
	}
	return u, err
}

// ProfileTTL bounds how long a profile is served from the cache: how
// late an instance shows an address changed or verified elsewhere. Each
// active user then costs one read by primary key per ProfileTTL.
const ProfileTTL = 2 * time.Second

// profileCache maps user ids to their public profile and when it goes
// stale. It is bounded: when full it starts over, which costs one store
// read per user afterwards.
type profileCache struct {
	mu  sync.RWMutex
	m   map[string]profileEntry
	max int
}

type profileEntry struct {
	p     *Profile
	until time.Time
}

func newProfileCache(max int) *profileCache {
	return &profileCache{m: make(map[string]profileEntry), max: max}
}

// get returns the profile of id unless it is missing or stale at now.
func (c *profileCache) get(id string, now time.Time) (*Profile, bool) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e.p, true
}

// put caches p until until.
func (c *profileCache) put(p *Profile, until time.Time) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = make(map[string]profileEntry)
	}
	c.m[p.ID] = profileEntry{p: p, until: until}
	c.mu.Unlock()
}

func (c *profileCache) drop(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
