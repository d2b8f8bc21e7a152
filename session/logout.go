package session

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// Logout scopes.
const (
	ScopeLocal  = "local"
	ScopeGlobal = "global"
	ScopeOthers = "others"
)

// LogoutRequest names the session by an access token's claims or by a
// refresh token.
type LogoutRequest struct {
	Claims       *token.Claims // verified, possibly of a revoked session
	RefreshToken string
	Scope        string
	// Precondition, when set, is checked against the session first.
	Precondition func(*baton.Session) error
}

// VerifyForLogout verifies an access token like Authenticate but accepts a
// revoked session's token: logging out twice is not an error.
func (s *Service) VerifyForLogout(raw string) (*token.Claims, error) { return s.verifyAccess(raw) }

// Logout revokes the caller's session (local), all the user's sessions
// (global) or all but the caller's (others). A session that is already
// revoked makes it a no-op. Outcomes: nil; EInvalidRequest for a bad scope
// (a registered client's session may end only itself); EInvalidToken for
// an unknown refresh token.
func (s *Service) Logout(ctx context.Context, req LogoutRequest, cl Client) error {
	switch req.Scope {
	case "":
		req.Scope = ScopeLocal
	case ScopeLocal, ScopeGlobal, ScopeOthers:
	default:
		return baton.Errorf(baton.EInvalidRequest, "scope must be local, global or others")
	}
	sess, err := s.logoutSession(ctx, req)
	if err != nil || sess == nil {
		return err
	}
	if req.Precondition != nil {
		if err := req.Precondition(sess); err != nil {
			return err
		}
	}
	if !sess.RevokedAt.IsZero() {
		s.revoked.add(sess.ID, s.revokedUntil(s.Now()))
		return nil
	}
	if sess.Scope != "" && req.Scope != ScopeLocal {
		// A registered client's token speaks for its own session, not for
		// the account: it may not end the user's other sessions.
		return baton.Errorf(baton.EInvalidRequest, "a session issued to an application can end only itself: scope must be local")
	}
	r := revocation{Reason: baton.ReasonLogout,
		Event: Event{Type: EventLogout, Outcome: OutcomeOK, UserID: sess.UserID, SessionID: sess.ID, Client: cl, Detail: req.Scope}}
	switch req.Scope {
	case ScopeLocal:
		r.SessionID = sess.ID
	case ScopeGlobal:
		r.UserID = sess.UserID
	case ScopeOthers:
		r.UserID, r.Except = sess.UserID, sess.ID
	}
	_, err = s.revoke(ctx, r)
	return err
}

// logoutSession finds the session a logout names; nil, nil when it and its
// user are gone (nothing to end).
func (s *Service) logoutSession(ctx context.Context, req LogoutRequest) (*baton.Session, error) {
	if req.Claims != nil {
		sess, err := s.store.Session(ctx, req.Claims.SessionID)
		if baton.ErrorCode(err) == baton.ENotFound {
			return nil, nil
		}
		return sess, err
	}
	if !token.IsRefreshToken(req.RefreshToken) {
		return nil, baton.Errorf(baton.EInvalidToken, "the token is not a valid refresh or access token")
	}
	_, sess, err := s.refreshToken(ctx, req.RefreshToken)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, baton.Errorf(baton.EInvalidToken, "the refresh token is unknown")
	}
	return sess, err
}
