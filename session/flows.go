package session

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/httpauth"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/token"
)

// Event types reported to the Observer and the log.
const (
	EventRegister       = "register"
	EventLogin          = "login"
	EventRefresh        = "refresh"
	EventGraceReplay    = "grace_replay"
	EventReuseDetected  = "reuse_detected"
	EventLogout         = "logout"
	EventRevoke         = "revoke"
	EventReauth         = "reauth"
	EventPasswordChange = "password_change"
	EventAccountDeleted = "account_deleted"
)

// Refresh outcomes (Event.Outcome of EventRefresh).
const (
	OutcomeOK              = "ok"
	OutcomeFailed          = "failed"
	OutcomeExpiredIdle     = "expired_idle"
	OutcomeExpiredAbsolute = "expired_absolute"
	OutcomeRevoked         = "revoked"
	OutcomeUnknown         = "unknown"
)

// Event is one security-relevant happening, for metrics and the audit log.
// It never carries a token or a password.
type Event struct {
	Type      string
	Outcome   string
	UserID    string
	SessionID string
	Client    Client
	Detail    string
}

func (s *Service) emit(ctx context.Context, e Event) {
	level := slog.LevelInfo
	if e.Type == EventReuseDetected {
		level = slog.LevelWarn
	}
	s.cfg.Logger.Log(ctx, level, "auth event", "event", e.Type, "outcome", e.Outcome,
		"user_id", e.UserID, "session_id", e.SessionID, "ip", e.Client.IP, "detail", e.Detail)
	if s.cfg.Observer != nil {
		s.cfg.Observer(e)
	}
}

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

// Register creates an account. Outcomes: the new user; EInvalidUsername;
// EWeakPassword; EUsernameTaken.
func (s *Service) Register(ctx context.Context, username, pw string, cl Client) (*baton.User, error) {
	display, canonical, err := NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	if err := password.CheckPassword(display, pw); err != nil {
		return nil, err
	}
	hash, err := s.cfg.Hasher.Hash(ctx, pw)
	if err != nil {
		return nil, err
	}
	u := &baton.User{
		ID:                newID(),
		Username:          display,
		CanonicalUsername: canonical,
		PasswordHash:      hash,
		CreatedAt:         s.Now(),
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Type: EventRegister, Outcome: OutcomeOK, UserID: u.ID, Client: cl})
	return u, nil
}

// LoginRequest is a password login.
type LoginRequest struct {
	Username  string
	Password  string
	Transport string // baton.Transport*; default body
	ClientID  string
	Binding   string // DPoP key thumbprint, if any
}

var errInvalidCredentials = baton.Errorf(baton.EInvalidCredentials, "the username or password is wrong")

// Login verifies a password and creates a session. Unknown users, wrong
// passwords and locked accounts all give EInvalidCredentials after the same
// amount of hashing, so the answer reveals nothing.
func (s *Service) Login(ctx context.Context, req LoginRequest, cl Client) (*Grant, error) {
	u, err := s.checkPassword(ctx, req.Username, req.Password)
	if err != nil {
		// The audit trail names the targeted account when it exists; the
		// caller's answer never does.
		var uid string
		if u != nil {
			uid = u.ID
		}
		s.emit(ctx, Event{Type: EventLogin, Outcome: OutcomeFailed, UserID: uid, Client: cl, Detail: baton.ErrorCode(err)})
		return nil, err
	}
	if !u.LockedAt.IsZero() {
		s.emit(ctx, Event{Type: EventLogin, Outcome: OutcomeFailed, UserID: u.ID, Client: cl, Detail: "locked"})
		return nil, errInvalidCredentials
	}
	g, err := s.createSession(ctx, u, req.Transport, req.ClientID, req.Binding, cl)
	if err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Type: EventLogin, Outcome: OutcomeOK, UserID: u.ID, SessionID: g.Session.ID, Client: cl})
	return g, nil
}

// checkPassword finds the user and verifies the password, rehashing it when
// the hasher's parameters were raised since it was stored. On a wrong
// password it returns the user too, for the audit log.
func (s *Service) checkPassword(ctx context.Context, username, pw string) (*baton.User, error) {
	_, canonical, nerr := NormalizeUsername(username)
	var u *baton.User
	if nerr == nil {
		var err error
		u, err = s.store.UserByName(ctx, canonical)
		if err != nil && baton.ErrorCode(err) != baton.ENotFound {
			return nil, err
		}
	}
	if u == nil || len(pw) > password.MaxBytes {
		// Burn the same time as a real verification: no enumeration by
		// timing.
		if err := s.cfg.Hasher.VerifyDummy(ctx, pw); err != nil {
			return nil, err
		}
		return nil, errInvalidCredentials
	}
	ok, rehash, err := s.cfg.Hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return nil, err
	}
	if !ok {
		return u, errInvalidCredentials
	}
	if rehash {
		if h, err := s.cfg.Hasher.Hash(ctx, pw); err == nil {
			if err := s.store.SetPasswordHash(ctx, u.ID, h); err != nil {
				s.cfg.Logger.Warn("password rehash failed", "user_id", u.ID, "err", err)
			} else {
				u.PasswordHash = h
			}
		}
	}
	return u, nil
}

func (s *Service) createSession(ctx context.Context, u *baton.User, transport, clientID, binding string, cl Client) (*Grant, error) {
	switch transport {
	case "":
		transport = baton.TransportBody
	case baton.TransportBody, baton.TransportRefreshCookie, baton.TransportCookies:
	default:
		return nil, baton.Errorf(baton.EInvalidRequest, "transport must be body, refresh_cookie or cookies")
	}
	now := s.Now()
	sess := &baton.Session{
		ID:         newID(),
		UserID:     u.ID,
		CreatedAt:  now,
		LastUsedAt: now,
		ExpiresAt:  now.Add(s.cfg.RefreshTTL),
		AuthTime:   now,
		Transport:  transport,
		ClientID:   clientID,
		UserAgent:  truncate(cl.UserAgent, 512),
		IP:         cl.IP,
		Binding:    binding,
	}
	sess.IdleExpiresAt = minTime(now.Add(s.cfg.IdleTTL), sess.ExpiresAt)
	rt, err := token.NewRefreshToken()
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateSession(ctx, sess, token.HashRefreshToken(rt)); err != nil {
		return nil, err
	}
	return s.grant(sess, now, true, clientID, rt)
}

// grant mints an access token for sess. Its lifetime is capped by the
// session's absolute expiry, so no token outlives its session.
func (s *Service) grant(sess *baton.Session, now time.Time, fresh bool, clientID, refresh string) (*Grant, error) {
	if clientID == "" {
		clientID = sess.ClientID
	}
	// JWT dates are whole seconds: count the lifetime from the truncated
	// issue time so expires_in is exactly the access TTL.
	iat := now.Truncate(time.Second)
	exp := minTime(iat.Add(s.cfg.AccessTTL), sess.ExpiresAt.Truncate(time.Second))
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
	}
	at, err := s.keys.Sign(c)
	if err != nil {
		return nil, err
	}
	return &Grant{AccessToken: at, AccessExpiresAt: exp, Claims: c, RefreshToken: refresh, Session: sess, IssuedAt: iat}, nil
}

// RefreshRequest is a refresh-token grant.
type RefreshRequest struct {
	RefreshToken string
	// AccessToken, when not empty, is the client's last access token; its
	// signature must verify (expiry is ignored) and its session must be the
	// refresh token's.
	AccessToken string
	// ClientID overrides the session's client_id in the new access token.
	ClientID string
	// Precondition, when set, is checked against the token's session before
	// anything changes (the HTTP layer's CSRF check for cookies).
	Precondition func(*baton.Session) error
	// ProofJKT is the thumbprint of the key of the request's verified DPoP
	// proof, if any. A session bound to a key (RFC 9449 §5) refreshes only
	// with a proof of that key, so a stolen refresh token is useless.
	ProofJKT string
}

var errInvalidGrant = baton.Errorf(baton.EInvalidGrant, "the refresh token is invalid, expired or revoked")

// Refresh runs the state machine of DESIGN.md: rotate an unspent token,
// replay the successor inside the grace window, and otherwise treat a spent
// token as stolen and revoke its whole session (RFC 6819 §5.2.2.3, OAuth 2.0
// Security BCP §4.14.2). Every failure is EInvalidGrant.
func (s *Service) Refresh(ctx context.Context, req RefreshRequest, cl Client) (*Grant, error) {
	if !token.IsRefreshToken(req.RefreshToken) {
		s.emit(ctx, Event{Type: EventRefresh, Outcome: OutcomeUnknown, Client: cl})
		return nil, errInvalidGrant
	}
	var sid string
	if req.AccessToken != "" {
		c, err := s.keys.Verify(req.AccessToken, s.Now())
		if c == nil || (err != nil && baton.ErrorCode(err) != baton.ETokenExpired) {
			return nil, baton.Errorf(baton.EInvalidGrant, "the access token does not verify")
		}
		sid = c.SessionID
	}
	hash := token.HashRefreshToken(req.RefreshToken)
	// Two passes at most: losing the rotation compare-and-set to a
	// concurrent request sends us round once more, into the spent branch.
	for attempt := 0; attempt < 2; attempt++ {
		row, sess, err := s.store.RefreshToken(ctx, hash)
		if baton.ErrorCode(err) == baton.ENotFound {
			s.emit(ctx, Event{Type: EventRefresh, Outcome: OutcomeUnknown, Client: cl})
			return nil, errInvalidGrant
		} else if err != nil {
			return nil, err
		}
		if sid != "" && subtle.ConstantTimeCompare([]byte(sid), []byte(sess.ID)) != 1 {
			s.emit(ctx, Event{Type: EventRefresh, Outcome: OutcomeFailed, UserID: sess.UserID, SessionID: sess.ID, Client: cl, Detail: "access token of another session"})
			return nil, baton.Errorf(baton.EInvalidGrant, "the access token belongs to another session")
		}
		if req.Precondition != nil {
			if err := req.Precondition(sess); err != nil {
				return nil, err
			}
		}
		if sess.Binding != "" && subtle.ConstantTimeCompare([]byte(sess.Binding), []byte(req.ProofJKT)) != 1 {
			// Not reuse: without the key nothing was obtained, and a thief
			// must not be able to end the session either.
			s.emit(ctx, Event{Type: EventRefresh, Outcome: OutcomeFailed, UserID: sess.UserID, SessionID: sess.ID, Client: cl, Detail: "dpop key mismatch"})
			return nil, baton.Errorf(baton.EInvalidGrant, "the refresh token is bound to a DPoP key: send a proof made with it")
		}
		now := s.Now()
		if outcome := sessionState(sess, now); outcome != OutcomeOK {
			s.emit(ctx, Event{Type: EventRefresh, Outcome: outcome, UserID: sess.UserID, SessionID: sess.ID, Client: cl})
			return nil, errInvalidGrant
		}
		next := token.Successor(s.secrets.Load().rotation, req.RefreshToken)
		if row.SpentAt.IsZero() {
			err := s.store.Rotate(ctx, baton.Rotation{
				SessionID:     sess.ID,
				OldHash:       hash,
				NewHash:       token.HashRefreshToken(next),
				Now:           now,
				IdleExpiresAt: minTime(now.Add(s.cfg.IdleTTL), sess.ExpiresAt),
				UserAgent:     truncate(cl.UserAgent, 512),
				IP:            cl.IP,
			})
			if baton.ErrorCode(err) == baton.EConflict {
				continue
			} else if err != nil {
				return nil, err
			}
			sess.LastUsedAt = now
			sess.IdleExpiresAt = minTime(now.Add(s.cfg.IdleTTL), sess.ExpiresAt)
			s.emit(ctx, Event{Type: EventRefresh, Outcome: OutcomeOK, UserID: sess.UserID, SessionID: sess.ID, Client: cl})
			return s.grant(sess, now, false, req.ClientID, next)
		}
		if s.cfg.ReuseGrace > 0 && now.Sub(row.SpentAt) <= s.cfg.ReuseGrace {
			succ, _, err := s.store.RefreshToken(ctx, token.HashRefreshToken(next))
			if err != nil && baton.ErrorCode(err) != baton.ENotFound {
				return nil, err
			}
			if err == nil && succ.SpentAt.IsZero() {
				s.emit(ctx, Event{Type: EventGraceReplay, Outcome: OutcomeOK, UserID: sess.UserID, SessionID: sess.ID, Client: cl})
				return s.grant(sess, now, false, req.ClientID, next)
			}
		}
		// A spent token presented again: someone holds a copy. Revoke the
		// whole family so neither copy works (RFC 9700 §4.14.2).
		if _, err := s.revoke(ctx, sess.ID, baton.ReasonReuse); err != nil {
			return nil, err
		}
		s.emit(ctx, Event{Type: EventReuseDetected, Outcome: OutcomeRevoked, UserID: sess.UserID, SessionID: sess.ID, Client: cl})
		return nil, errInvalidGrant
	}
	// Lost the compare-and-set twice: only possible if the session was
	// revoked under us, which the next attempt by the client reports.
	return nil, errInvalidGrant
}

// sessionState tells whether a session can still be refreshed at now.
func sessionState(sess *baton.Session, now time.Time) string {
	switch {
	case !sess.RevokedAt.IsZero():
		return OutcomeRevoked
	case !now.Before(sess.ExpiresAt):
		return OutcomeExpiredAbsolute
	case !now.Before(sess.IdleExpiresAt):
		return OutcomeExpiredIdle
	}
	return OutcomeOK
}

// revoke revokes one session in the store and in this instance's revoked
// set at once.
func (s *Service) revoke(ctx context.Context, sid, reason string) (bool, error) {
	now := s.Now()
	ok, err := s.store.RevokeSession(ctx, sid, baton.Revoke{Now: now, Until: s.revokedUntil(now), Reason: reason})
	if err != nil {
		return false, err
	}
	s.revoked.add(sid, s.revokedUntil(now))
	return ok, nil
}

func (s *Service) revokeUser(ctx context.Context, userID, except, reason string) ([]string, error) {
	now := s.Now()
	ids, err := s.store.RevokeUserSessions(ctx, userID, except, baton.Revoke{Now: now, Until: s.revokedUntil(now), Reason: reason})
	for _, id := range ids {
		s.revoked.add(id, s.revokedUntil(now))
	}
	return ids, err
}

// revokedUntil is when the last access token of a session revoked at now
// expires, leeway included.
func (s *Service) revokedUntil(now time.Time) time.Time {
	return now.Add(s.cfg.AccessTTL + s.cfg.Leeway)
}

// Authenticate verifies an access token for a protected endpoint: signature,
// claims and that its session is not revoked. Outcomes: the claims;
// ETokenExpired; EInvalidToken. It never touches the store.
func (s *Service) Authenticate(raw string) (*token.Claims, error) {
	c, err := s.verifyAccess(raw)
	if err != nil {
		return nil, err
	}
	if s.revoked.has(c.SessionID) {
		return nil, baton.Errorf(baton.EInvalidToken, "the session was revoked")
	}
	return c, nil
}

func (s *Service) verifyAccess(raw string) (*token.Claims, error) {
	if token.IsRefreshToken(raw) {
		return nil, baton.Errorf(baton.EInvalidToken, "a refresh token is not an access token")
	}
	now := s.Now()
	key := sha256.Sum256([]byte(raw))
	if c := s.verified.get(key); c != nil {
		if expiredAt(c, now, s.cfg.Leeway) {
			return nil, baton.Errorf(baton.ETokenExpired, "the access token expired")
		}
		return c, nil
	}
	c, err := s.keys.Verify(raw, now)
	if err != nil {
		return nil, err
	}
	s.verified.put(key, c)
	return c, nil
}

// IsFresh reports whether c was minted from a password verification within
// the freshness window (httpauth.Fresh, the rule resource servers apply).
func (s *Service) IsFresh(c *token.Claims) bool {
	return httpauth.Fresh(c, s.cfg.FreshTTL, s.Now())
}

// RequireFresh returns EInsufficientUserAuth unless c is fresh.
func (s *Service) RequireFresh(c *token.Claims) error {
	if s.IsFresh(c) {
		return nil
	}
	return baton.Errorf(baton.EInsufficientUserAuth, "this action needs a recent password confirmation: call /v1/reauth")
}

// Profile returns the public part of the user an access token belongs to
// (id, username, creation time: never the password hash), from a bounded
// in-memory cache: GET /v1/me is the hottest authenticated route. A cache
// entry cannot outlive its use: deleting a user revokes every session
// first, and Authenticate refuses their tokens before Profile is reached.
func (s *Service) Profile(ctx context.Context, c *token.Claims) (*baton.User, error) {
	if u, ok := s.profiles.get(c.Subject); ok {
		return u, nil
	}
	u, err := s.Me(ctx, c)
	if err != nil {
		return nil, err
	}
	p := &baton.User{ID: u.ID, Username: u.Username, CanonicalUsername: u.CanonicalUsername, CreatedAt: u.CreatedAt}
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
// revoked makes it a no-op. Outcomes: nil; EInvalidRequest for a bad scope;
// EInvalidToken for an unknown refresh token.
func (s *Service) Logout(ctx context.Context, req LogoutRequest, cl Client) error {
	switch req.Scope {
	case "":
		req.Scope = ScopeLocal
	case ScopeLocal, ScopeGlobal, ScopeOthers:
	default:
		return baton.Errorf(baton.EInvalidRequest, "scope must be local, global or others")
	}
	var sess *baton.Session
	if req.Claims != nil {
		var err error
		sess, err = s.store.Session(ctx, req.Claims.SessionID)
		if baton.ErrorCode(err) == baton.ENotFound {
			return nil // the session and its user are gone: nothing to end
		} else if err != nil {
			return err
		}
	} else {
		if !token.IsRefreshToken(req.RefreshToken) {
			return baton.Errorf(baton.EInvalidToken, "the token is not a valid refresh or access token")
		}
		var err error
		_, sess, err = s.store.RefreshToken(ctx, token.HashRefreshToken(req.RefreshToken))
		if baton.ErrorCode(err) == baton.ENotFound {
			return baton.Errorf(baton.EInvalidToken, "the refresh token is unknown")
		} else if err != nil {
			return err
		}
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
	var err error
	switch req.Scope {
	case ScopeLocal:
		_, err = s.revoke(ctx, sess.ID, baton.ReasonLogout)
	case ScopeGlobal:
		_, err = s.revokeUser(ctx, sess.UserID, "", baton.ReasonLogout)
	case ScopeOthers:
		_, err = s.revokeUser(ctx, sess.UserID, sess.ID, baton.ReasonLogout)
	}
	if err != nil {
		return err
	}
	s.emit(ctx, Event{Type: EventLogout, Outcome: OutcomeOK, UserID: sess.UserID, SessionID: sess.ID, Client: cl, Detail: req.Scope})
	return nil
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
