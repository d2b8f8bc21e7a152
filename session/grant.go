package session

import (
	"context"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// Grant is the result of a login, refresh, reauth or password change.
type Grant struct {
	AccessToken     string
	AccessExpiresAt time.Time
	Claims          *token.Claims
	// RefreshToken is empty for a reauth, which keeps the session's.
	RefreshToken string
	Session      *baton.Session
	IssuedAt     time.Time
}

// ExpiresIn is the access token's lifetime in whole seconds.
func (g *Grant) ExpiresIn() int64 { return seconds(g.AccessExpiresAt.Sub(g.IssuedAt)) }

// RefreshExpiresIn is the time left until the session's absolute expiry in
// whole seconds: it shrinks across rotations.
func (g *Grant) RefreshExpiresIn() int64 { return seconds(g.Session.ExpiresAt.Sub(g.IssuedAt)) }

func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(d / time.Second)
}

// grant mints an access token for sess. Its lifetime is capped by the
// session's absolute expiry, so no token outlives its session.
func (s *Service) grant(sess *baton.Session, now time.Time, fresh bool, clientID, refresh string) (*Grant, error) {
	return s.mint(sess, now, fresh, clientID, refresh, sess.Scope, s.cfg.AccessTTL)
}

// grantScoped is grant for a registered client's token: scope (the
// session's or narrower) and the client's access-token lifetime. A
// lifetime longer than any configured so far is recorded first, so the
// revocations of its session outlive its tokens on every instance.
func (s *Service) grantScoped(ctx context.Context, sess *baton.Session, now time.Time, fresh bool, clientID, refresh, scope string, ttl time.Duration) (*Grant, error) {
	if ttl > s.MaxAccessTTL() {
		if _, err := s.store.RaiseSetting(ctx, settingMaxAccessTTL, ttl.Microseconds()); err != nil {
			return nil, err
		}
		s.maxAccessTTL.Store(int64(ttl))
	}
	return s.mint(sess, now, fresh, clientID, refresh, scope, ttl)
}

func (s *Service) mint(sess *baton.Session, now time.Time, fresh bool, clientID, refresh, scope string, ttl time.Duration) (*Grant, error) {
	if clientID == "" {
		clientID = sess.ClientID
	}
	// JWT dates are whole seconds: count the lifetime from the truncated
	// issue time so expires_in is exactly the access TTL.
	iat := now.Truncate(time.Second)
	exp := minTime(iat.Add(ttl), sess.ExpiresAt.Truncate(time.Second))
	c := &token.Claims{
		Issuer:    s.cfg.Issuer,
		Subject:   sess.UserID,
		Audience:  s.cfg.Audience,
		IssuedAt:  iat,
		NotBefore: iat,
		ExpiresAt: exp,
		AuthTime:  sess.AuthTime.Truncate(time.Second),
		ID:        newID(),
		SessionID: sess.ID,
		ClientID:  clientID,
		Fresh:     fresh,
		JKT:       sess.Binding,
		AMR:       sess.AMR,
		Scope:     scope,
	}
	at, err := s.keys.Sign(c)
	if err != nil {
		return nil, err
	}
	return &Grant{AccessToken: at, AccessExpiresAt: exp, Claims: c, RefreshToken: refresh, Session: sess, IssuedAt: iat}, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut at a rune boundary so the stored value stays valid UTF-8.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
