package session

import (
	"context"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// TokenInfo is what introspection tells a resource server about an active
// token.
type TokenInfo struct {
	UserID, Username, SessionID, ClientID string
	TokenType                             string // Bearer or DPoP
	TokenUse                              string // access_token or refresh_token
	IssuedAt, ExpiresAt                   time.Time
	// AMR is the access token's amr, or for a refresh token its session's:
	// how the user authenticated (RFC 8176).
	AMR []string
	// Scope is an access token's scope (a registered client's tokens).
	Scope string
}

// Introspect returns what is known of an active token, or nil for a token
// that is unknown, expired, spent or of a revoked session (RFC 7662 §2.2).
func (s *Service) Introspect(ctx context.Context, raw string) (*TokenInfo, error) {
	now := s.Now()
	if token.IsRefreshToken(raw) {
		row, sess, err := s.refreshToken(ctx, raw)
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
			ExpiresAt: minTime(sess.ExpiresAt, sess.IdleExpiresAt), AMR: sess.AMR}, nil
	}
	c, err := s.Authenticate(raw)
	if err != nil {
		return nil, nil
	}
	if c.Subject == c.ClientID && c.SessionID == c.ClientID {
		// A client_credentials token has no session: it is active while
		// its client is registered, so deleting the client ends it here.
		if _, err := s.store.Client(ctx, c.ClientID); baton.ErrorCode(err) == baton.ENotFound {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		return &TokenInfo{UserID: c.Subject, SessionID: c.SessionID, ClientID: c.ClientID, TokenType: tokenType(c.JKT),
			TokenUse: "access_token", IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt, Scope: c.Scope}, nil
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
		TokenType: tokenType(c.JKT), TokenUse: "access_token", IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt, AMR: c.AMR, Scope: c.Scope}, nil
}

func tokenType(binding string) string {
	if binding != "" {
		return "DPoP"
	}
	return "Bearer"
}
