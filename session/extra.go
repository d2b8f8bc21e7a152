package session

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// CSRFToken is the CSRF value bound to a session (the signed double-submit
// pattern): an HMAC of the session id, so a cookie planted by an attacker
// for another session does not pass.
func (s *Service) CSRFToken(sessionID string) string {
	m := hmac.New(sha256.New, s.secrets.Load().csrf)
	m.Write([]byte("baton-csrf\x00"))
	m.Write([]byte(sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// DeriveKey returns a 32-byte key for another purpose (e.g. DPoP nonces),
// derived from the shared CSRF key so every instance derives the same one.
func (s *Service) DeriveKey(label string) []byte {
	m := hmac.New(sha256.New, s.secrets.Load().csrf)
	m.Write([]byte("baton-derive\x00"))
	m.Write([]byte(label))
	return m.Sum(nil)
}

// ReissueAccess mints a new, never fresh, access token for the session of
// c (implicit refresh of the cookies transport). It returns nil, nil when
// the session is no longer live (the current token then simply runs out).
func (s *Service) ReissueAccess(ctx context.Context, c *token.Claims) (*Grant, error) {
	sess, err := s.store.Session(ctx, c.SessionID)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	now := s.Now()
	if !sess.Live(now) {
		return nil, nil
	}
	return s.grant(sess, now, false, c.ClientID, "")
}

// RevokeToken revokes the session of an access or refresh token (RFC 7009).
// Unknown and invalid tokens are not an error. precondition, when set, is
// checked against the token's live session before it is revoked (the HTTP
// layer's demand for a proof of a DPoP-bound session's key); its error is
// returned and nothing changes.
func (s *Service) RevokeToken(ctx context.Context, raw string, precondition func(*baton.Session) error, cl Client) error {
	var sess *baton.Session
	if token.IsRefreshToken(raw) {
		_, ss, err := s.store.RefreshToken(ctx, token.HashRefreshToken(raw))
		if baton.ErrorCode(err) == baton.ENotFound {
			return nil
		} else if err != nil {
			return err
		}
		sess = ss
	} else {
		c, err := s.verifyAccess(raw)
		if err != nil {
			return nil
		}
		ss, err := s.store.Session(ctx, c.SessionID)
		if baton.ErrorCode(err) == baton.ENotFound {
			return nil
		} else if err != nil {
			return err
		}
		sess = ss
	}
	if !sess.RevokedAt.IsZero() {
		return nil
	}
	if precondition != nil {
		if err := precondition(sess); err != nil {
			return err
		}
	}
	if _, err := s.revoke(ctx, sess.ID, baton.ReasonLogout); err != nil {
		return err
	}
	s.emit(ctx, Event{Type: EventRevoke, Outcome: OutcomeOK, UserID: sess.UserID, SessionID: sess.ID, Client: cl, Detail: "oauth_revoke"})
	return nil
}

// TokenInfo is what introspection tells a resource server about an active
// token.
type TokenInfo struct {
	UserID, Username, SessionID, ClientID string
	TokenType                             string // Bearer or DPoP
	TokenUse                              string // access_token or refresh_token
	IssuedAt, ExpiresAt                   time.Time
}

// Introspect returns what is known of an active token, or nil for a token
// that is unknown, expired, spent or of a revoked session (RFC 7662 §2.2).
func (s *Service) Introspect(ctx context.Context, raw string) (*TokenInfo, error) {
	now := s.Now()
	if token.IsRefreshToken(raw) {
		row, sess, err := s.store.RefreshToken(ctx, token.HashRefreshToken(raw))
		if baton.ErrorCode(err) == baton.ENotFound {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		if !row.SpentAt.IsZero() || !sess.Live(now) {
			return nil, nil
		}
		u, err := s.store.UserByID(ctx, sess.UserID)
		if err != nil {
			return nil, nil
		}
		return &TokenInfo{UserID: sess.UserID, Username: u.Username, SessionID: sess.ID, ClientID: sess.ClientID,
			TokenType: tokenType(sess.Binding), TokenUse: "refresh_token", IssuedAt: row.CreatedAt,
			ExpiresAt: minTime(sess.ExpiresAt, sess.IdleExpiresAt)}, nil
	}
	c, err := s.Authenticate(raw)
	if err != nil {
		return nil, nil
	}
	// The in-memory set may lag another instance by up to a second; the
	// store does not.
	sess, err := s.store.Session(ctx, c.SessionID)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if !sess.RevokedAt.IsZero() {
		return nil, nil
	}
	u, err := s.store.UserByID(ctx, c.Subject)
	if err != nil {
		return nil, nil
	}
	return &TokenInfo{UserID: c.Subject, Username: u.Username, SessionID: c.SessionID, ClientID: c.ClientID,
		TokenType: tokenType(c.JKT), TokenUse: "access_token", IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt}, nil
}

func tokenType(binding string) string {
	if binding != "" {
		return "DPoP"
	}
	return "Bearer"
}
