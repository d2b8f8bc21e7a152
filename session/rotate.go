package session

import (
	"context"
	"crypto/subtle"
	"slices"
	"strings"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

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
	// anything changes (the HTTP layer's CSRF check for cookies). It needs
	// the session read first: a refresh with one costs a second round trip
	// to the store.
	Precondition func(*baton.Session) error
	// CSRFSession, when not empty, is the session named by the request's
	// verified CSRF token (CSRFSession): the refresh token must be of that
	// session, else ECSRFFailed and nothing changes. Unlike a Precondition
	// it is known before the store is read, so the store's one-statement
	// rotation checks it (RotationGate.SessionID).
	CSRFSession string
	// OAuthClient is the registered client that authenticated at the
	// token endpoint; nil for baton's first-party clients. A session
	// issued through the code flow refreshes only for its own client, and
	// a registered client only its own sessions: another client's token
	// is invalid_grant, not reuse.
	OAuthClient *baton.OAuthClient
	// Scope, when set, narrows the new access token's scope to a subset
	// of the session's (RFC 6749 §6); EInvalidScope otherwise.
	Scope string
	// ProofJKT is the thumbprint of the key of the request's verified DPoP
	// proof, if any. A session bound to a key (RFC 9449 §5) refreshes only
	// with a proof of that key, so a stolen refresh token is useless.
	ProofJKT string
}

var errInvalidGrant = baton.Errorf(baton.EInvalidGrant, "the refresh token is invalid, expired or revoked")

// presented is a refresh token as found in the store, with what the three
// branches of the state machine need.
type presented struct {
	raw  string
	hash []byte
	row  *baton.RefreshToken
	sess *baton.Session
	next string // successor(raw): HMAC(rotation key, raw)
	now  time.Time
	// scope and ttl are the new access token's (the client's lifetime),
	// idle the session's idle lifetime.
	scope     string
	ttl, idle time.Duration
	// rotated: the store already rotated the token (RefreshRotator).
	rotated bool
	// succ is the successor's stored row as read with row, when
	// succKnown (RefreshRotator, or a token that names its session); nil
	// when there is none.
	succ      *baton.RefreshToken
	succKnown bool
	// gen is the generation of a token that names its session (0: a token
	// of the first form), gate what the store's rotation checks.
	gen  int64
	gate baton.RotationGate
}

// Refresh runs the state machine of docs/design.md: rotate an unspent token,
// replay the successor inside the grace window, and otherwise treat a spent
// token as stolen and revoke its whole session (RFC 6819 §5.2.2.3, OAuth 2.0
// Security BCP §4.14.2). Every failure is EInvalidGrant.
func (s *Service) Refresh(ctx context.Context, req RefreshRequest, cl Client) (*Grant, error) {
	if !token.IsRefreshToken(req.RefreshToken) {
		s.emit(ctx, Event{Type: EventRefresh, Outcome: OutcomeUnknown, Client: cl})
		return nil, errInvalidGrant
	}
	sid, err := s.refreshAccessSession(req.AccessToken)
	if err != nil {
		return nil, err
	}
	hash := token.HashRefreshToken(req.RefreshToken)
	// Two passes at most: losing the rotation compare-and-set to a
	// concurrent request sends us round once more, into the spent branch.
	for attempt := 0; attempt < 2; attempt++ {
		p, err := s.lookupRefresh(ctx, req, hash, sid, cl, attempt == 0)
		if err != nil {
			return nil, err
		}
		if p.row.SpentAt.IsZero() {
			g, err := s.rotate(ctx, p, req.ClientID, cl)
			if baton.ErrorCode(err) == baton.EConflict {
				continue
			}
			return g, err
		}
		if g, err := s.graceReplay(ctx, p, req.ClientID, cl); g != nil || err != nil {
			return g, err
		}
		return nil, s.reuseDetected(ctx, p, cl)
	}
	// Lost the compare-and-set twice: only possible if the session was
	// revoked under us, which the next attempt by the client reports.
	return nil, errInvalidGrant
}

// refreshAccessSession returns the session id of the access token a
// refresh may carry, "" when it carries none. Its signature must verify;
// its expiry does not matter.
func (s *Service) refreshAccessSession(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	c, err := s.keys.Verify(raw, s.Now())
	if c == nil || (err != nil && baton.ErrorCode(err) != baton.ETokenExpired) {
		return "", baton.Errorf(baton.EInvalidGrant, "the access token does not verify")
	}
	return c.SessionID, nil
}

// lookupRefresh finds the presented token and its session and checks
// everything that must hold before any branch may run: the access token's
// session, the caller's precondition, the DPoP binding and the session's
// state.
//
// The first pass of a request without a precondition or a narrowed scope
// also rotates, in the same round trip, when the store's gate (the same
// checks on the same rows) lets it: RotateSession for a token that names
// its session (a forged one is refused before the store is asked), and
// RotateRefresh for a token of the first form on a store that is a
// baton.RefreshRotator. The checks below then run on the rows as they were
// and pass. When the gate did not let it, nothing changed and the branches
// run as after a plain read: an unspent token goes to rotate.
func (s *Service) lookupRefresh(ctx context.Context, req RefreshRequest, hash []byte, sid string, cl Client, first bool) (*presented, error) {
	now := s.Now()
	key := s.secrets.Load().rotation
	next := token.Successor(key, req.RefreshToken)
	var (
		row, succ *baton.RefreshToken
		sess      *baton.Session
		rotated   bool
		succKnown bool
		sr        token.SessionRefresh
		err       error
	)
	// The gate knows one session: the access token's or the CSRF token's.
	// When both are given and differ, one check below fails anyway.
	gateSID, oneStatement := sid, true
	if req.CSRFSession != "" {
		if sid == "" {
			gateSID = req.CSRFSession
		} else {
			oneStatement = sid == req.CSRFSession
		}
	}
	gate := baton.RotationGate{SessionID: gateSID, Binding: req.ProofJKT, ClientID: oauthClientID(req.OAuthClient)}
	oneStatement = oneStatement && first && req.Precondition == nil && req.Scope == ""
	r := s.rotation(hash, next, now, now.Add(idleTTL(s.cfg.IdleTTL, req.OAuthClient)), cl)
	if token.NamesSession(req.RefreshToken) {
		var genuine bool
		if sr, genuine = token.ParseSessionRefresh(key, req.RefreshToken); !genuine {
			err = errUnknownRefresh
		} else if !oneStatement {
			row, succ, sess, err = s.readSessionToken(ctx, sr, hash)
		} else {
			r.SessionID, r.Gen = sr.SessionID, sr.Gen
			if sess, rotated, err = s.store.RotateSession(ctx, r, gate); err == nil {
				if row, succ, genuine = sessionToken(sr, hash, sess); !genuine && rotated {
					return nil, baton.Errorf(baton.EInternal, "the store rotated a refresh token its session does not hold")
				} else if !genuine {
					err = errUnknownRefresh
				}
			}
		}
		succKnown = err == nil
	} else if rr, ok := s.store.(baton.RefreshRotator); ok && oneStatement {
		var out *baton.RefreshRotated
		if out, err = rr.RotateRefresh(ctx, r, gate); err == nil {
			row, sess, rotated, succ, succKnown = out.Token, out.Session, out.Rotated, out.Successor, true
		}
	} else {
		row, sess, err = s.store.RefreshToken(ctx, hash)
	}
	if baton.ErrorCode(err) == baton.ENotFound {
		s.emit(ctx, Event{Type: EventRefresh, Outcome: OutcomeUnknown, Client: cl})
		return nil, errInvalidGrant
	} else if err != nil {
		return nil, err
	}
	p := &presented{raw: req.RefreshToken, hash: hash, row: row, sess: sess, scope: sess.Scope, ttl: s.cfg.AccessTTL, idle: s.cfg.IdleTTL,
		rotated: rotated, succ: succ, succKnown: succKnown, gen: sr.Gen, gate: gate}
	if p.gate.SessionID == "" {
		p.gate.SessionID = sess.ID
	}
	if sid != "" && subtle.ConstantTimeCompare([]byte(sid), []byte(sess.ID)) != 1 {
		s.emit(ctx, Event{Type: EventRefresh, Outcome: OutcomeFailed, UserID: sess.UserID, SessionID: sess.ID, Client: cl, Detail: "access token of another session"})
		return nil, p.refused(baton.Errorf(baton.EInvalidGrant, "the access token belongs to another session"))
	}
	if sess.Transport == baton.TransportSSO {
		// A browser's single-sign-on session is never refreshed: its
		// token is a cookie of baton's pages, not a refresh token.
		s.emit(ctx, Event{Type: EventRefresh, Outcome: OutcomeUnknown, Client: cl})
		return nil, p.refused(errInvalidGrant)
	}
	if err := s.clientBinding(ctx, p, req, cl); err != nil {
		return nil, p.refused(err)
	}
	if req.CSRFSession != "" && subtle.ConstantTimeCompare([]byte(req.CSRFSession), []byte(sess.ID)) != 1 {
		return nil, p.refused(baton.Errorf(baton.ECSRFFailed, "the CSRF token does not match"))
	}
	if req.Precondition != nil {
		if err := req.Precondition(sess); err != nil {
			return nil, p.refused(err)
		}
	}
	if !boundTo(sess, req.ProofJKT) {
		// Not reuse: without the key nothing was obtained, and a thief
		// must not be able to end the session either.
		s.emit(ctx, Event{Type: EventRefresh, Outcome: OutcomeFailed, UserID: sess.UserID, SessionID: sess.ID, Client: cl, Detail: "dpop key mismatch"})
		return nil, p.refused(baton.Errorf(baton.EInvalidGrant, "the refresh token is bound to a DPoP key: send a proof made with it"))
	}
	if outcome := sessionState(sess, now); outcome != OutcomeOK {
		s.emit(ctx, Event{Type: EventRefresh, Outcome: outcome, UserID: sess.UserID, SessionID: sess.ID, Client: cl})
		return nil, p.refused(errInvalidGrant)
	}
	p.next, p.now = next, now
	return p, nil
}

// refused returns err, the answer of a check that failed; if the store
// rotated anyway its gate let through what the engine refuses, a bug
// reported as such rather than as the client's fault.
func (p *presented) refused(err error) error {
	if p.rotated {
		return baton.WrapError(baton.EInternal, "the store rotated a refresh token the engine refuses", err)
	}
	return err
}

// rotation is the store's rotation of the token with hash into next's, at
// now, with the session's idle expiry slid to idle (the store caps it at
// the absolute expiry).
func (s *Service) rotation(hash []byte, next string, now, idle time.Time, cl Client) baton.Rotation {
	return baton.Rotation{OldHash: hash, NewHash: token.HashRefreshToken(next), Now: now,
		IdleExpiresAt: idle, UserAgent: truncate(cl.UserAgent, 512), IP: cl.IP}
}

// idleTTL is the idle lifetime of a session refreshed by c (nil: baton's
// own clients): the client's, when it sets one.
func idleTTL(def time.Duration, c *baton.OAuthClient) time.Duration {
	if c != nil && c.RefreshIdleTTL > 0 {
		return c.RefreshIdleTTL
	}
	return def
}

// oauthClientID is c's id, "" for baton's own clients.
func oauthClientID(c *baton.OAuthClient) string {
	if c == nil {
		return ""
	}
	return c.ID
}

// clientBinding checks that the refresh token is presented by the client
// it was issued to, and sets what that client's tokens get.
func (s *Service) clientBinding(ctx context.Context, p *presented, req RefreshRequest, cl Client) error {
	c, sess := req.OAuthClient, p.sess
	issued := sess.Scope != "" // through the code flow, to a registered client
	if issued != (c != nil) || c != nil && subtle.ConstantTimeCompare([]byte(c.ID), []byte(sess.ClientID)) != 1 {
		s.emit(ctx, Event{Type: EventRefresh, Outcome: OutcomeFailed, UserID: sess.UserID, SessionID: sess.ID, Client: cl, Detail: "another client's refresh token"})
		return baton.Errorf(baton.EInvalidGrant, "the refresh token was issued to another client")
	}
	if c == nil {
		return nil
	}
	if req.Scope != "" {
		scopes, ok := parseScope(req.Scope)
		if !ok {
			return baton.Errorf(baton.EInvalidScope, "the scope is malformed")
		}
		granted := strings.Fields(sess.Scope)
		for _, sc := range scopes {
			if !slices.Contains(granted, sc) {
				return baton.Errorf(baton.EInvalidScope, "the scope %s was not granted to this refresh token", sc)
			}
		}
		p.scope = strings.Join(scopes, " ")
	}
	if c.AccessTTL > 0 {
		p.ttl = c.AccessTTL
	}
	p.idle = idleTTL(p.idle, c)
	return nil
}

// boundTo reports whether a request with a DPoP proof of the key jkt ("" for
// none) may use sess: bearer sessions take any request, bound sessions only
// proofs of their key.
func boundTo(sess *baton.Session, jkt string) bool {
	return sess.Binding == "" || subtle.ConstantTimeCompare([]byte(sess.Binding), []byte(jkt)) == 1
}

// rotate spends an unspent token by compare-and-set and answers its
// successor, unless the store already did (p.rotated). EConflict: a
// concurrent request spent it first.
func (s *Service) rotate(ctx context.Context, p *presented, clientID string, cl Client) (*Grant, error) {
	idle := minTime(p.now.Add(p.idle), p.sess.ExpiresAt)
	if !p.rotated {
		r := s.rotation(p.hash, p.next, p.now, idle, cl)
		r.SessionID = p.sess.ID
		if p.gen > 0 {
			// The compare-and-set on the generation; lost (a concurrent
			// refresh, or a revocation since the read): go round again.
			r.Gen = p.gen
			if _, ok, err := s.store.RotateSession(ctx, r, p.gate); err != nil {
				return nil, err
			} else if !ok {
				return nil, baton.Errorf(baton.EConflict, "the session moved on")
			}
		} else if err := s.store.Rotate(ctx, r); err != nil {
			return nil, err
		}
	}
	p.sess.LastUsedAt = p.now
	p.sess.IdleExpiresAt = idle
	s.emit(ctx, Event{Type: EventRefresh, Outcome: OutcomeOK, UserID: p.sess.UserID, SessionID: p.sess.ID, Client: cl})
	return s.grantScoped(ctx, p.sess, p.now, false, clientID, p.next, p.scope, p.ttl)
}

// graceReplay answers the same successor again when a spent token comes
// back inside the grace window and its successor is still unspent (racing
// tabs, a retried request whose answer was lost). nil, nil: not a replay.
func (s *Service) graceReplay(ctx context.Context, p *presented, clientID string, cl Client) (*Grant, error) {
	if s.cfg.ReuseGrace <= 0 || p.now.Sub(p.row.SpentAt) > s.cfg.ReuseGrace {
		return nil, nil
	}
	succ := p.succ
	if !p.succKnown {
		var err error
		succ, _, err = s.store.RefreshToken(ctx, token.HashRefreshToken(p.next))
		if baton.ErrorCode(err) == baton.ENotFound {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
	}
	if succ == nil || !succ.SpentAt.IsZero() {
		return nil, nil
	}
	s.emit(ctx, Event{Type: EventGraceReplay, Outcome: OutcomeOK, UserID: p.sess.UserID, SessionID: p.sess.ID, Client: cl})
	return s.grantScoped(ctx, p.sess, p.now, false, clientID, p.next, p.scope, p.ttl)
}

// reuseDetected handles a spent token presented again: someone holds a
// copy. The whole family is revoked so neither copy works (RFC 9700
// §4.14.2).
func (s *Service) reuseDetected(ctx context.Context, p *presented, cl Client) error {
	_, err := s.revoke(ctx, revocation{SessionID: p.sess.ID, Reason: baton.ReasonReuse,
		Event: Event{Type: EventReuseDetected, Outcome: OutcomeRevoked, UserID: p.sess.UserID, Client: cl}})
	if err != nil {
		return err
	}
	return errInvalidGrant
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
