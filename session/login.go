package session

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/token"
)

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
	transport, err := normalizeTransport(req.Transport)
	if err != nil {
		return nil, err
	}
	return s.login(ctx, req, transport, cl)
}

// SignIn is a password sign-in on baton's own page: like Login, but the
// session it creates (after a second step, when the user has a factor) is
// the browser's single-sign-on session (baton.TransportSSO), whose
// refresh token becomes the baton_sso cookie.
func (s *Service) SignIn(ctx context.Context, username, password string, cl Client) (*Grant, error) {
	return s.login(ctx, LoginRequest{Username: username, Password: password}, baton.TransportSSO, cl)
}

func (s *Service) login(ctx context.Context, req LoginRequest, transport string, cl Client) (*Grant, error) {
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
	if s.cfg.RequireVerifiedEmail && !u.EmailVerified {
		// The password was right, so saying why reveals nothing new.
		s.emit(ctx, Event{Type: EventLogin, Outcome: OutcomeFailed, UserID: u.ID, Client: cl, Detail: baton.EEmailNotVerified})
		return nil, baton.Errorf(baton.EEmailNotVerified, "the account's email address is not verified yet")
	}
	if err := s.secondStep(ctx, u, mfaState{Purpose: mfaLogin, Transport: transport, ClientID: req.ClientID, Binding: req.Binding}); err != nil {
		if _, ok := err.(*MFARequired); ok {
			s.emit(ctx, Event{Type: EventLogin, Outcome: OutcomeMFARequired, UserID: u.ID, Client: cl})
		}
		return nil, err
	}
	g, err := s.createSession(ctx, u, baton.AMR(baton.AMRPassword), transport, req.ClientID, req.Binding, cl)
	if baton.ErrorCode(err) == baton.EConflict {
		// The account was locked, or its password changed, while this
		// login was verifying the old one.
		s.emit(ctx, Event{Type: EventLogin, Outcome: OutcomeFailed, UserID: u.ID, Client: cl, Detail: "credentials changed"})
		return nil, errInvalidCredentials
	} else if err != nil {
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
			// A compare-and-set on the old hash: a password change that
			// completed meanwhile must not be overwritten by the old
			// password.
			if err := s.store.RehashPassword(ctx, u.ID, u.PasswordHash, h); err != nil {
				s.cfg.Logger.Warn("password rehash failed", "user_id", u.ID, "err", err)
			} else {
				u.PasswordHash = h
			}
		}
	}
	return u, nil
}

// createSession stores a new session of u with its first refresh token and
// mints its first (fresh) access token. amr names the methods the caller
// verified, in baton.AMR's form (with "mfa" when they were two independent
// factors); every token of the session carries it. The store creates the
// session only while u is unlocked and at u.CredentialGen, the generation
// whose credentials the caller verified; EConflict otherwise.
func (s *Service) createSession(ctx context.Context, u *baton.User, amr []string, transport, clientID, binding string, cl Client) (*Grant, error) {
	return s.openSession(ctx, u, amr, true, transport, clientID, binding, cl)
}

// openSession is createSession whose first access token is fresh only
// when fresh is set (a passkey without user verification verified
// possession, not the user).
func (s *Service) openSession(ctx context.Context, u *baton.User, amr []string, fresh bool, transport, clientID, binding string, cl Client) (*Grant, error) {
	// The single-sign-on transport comes from baton's own pages only;
	// the API's entry points have refused it already.
	if transport != baton.TransportSSO {
		var err error
		if transport, err = normalizeTransport(transport); err != nil {
			return nil, err
		}
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
		AMR:        amr,

		CredentialGen: u.CredentialGen,
	}
	sess.IdleExpiresAt = minTime(now.Add(s.cfg.IdleTTL), sess.ExpiresAt)
	rt, err := s.newRefreshToken(sess)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateSession(ctx, sess, token.HashRefreshToken(rt)); err != nil {
		return nil, err
	}
	// Bound the user's live sessions: the least recently used go first.
	// A concurrent login may briefly leave one more; the next one trims.
	if s.cfg.MaxSessionsPerUser > 0 {
		if _, err := s.revoke(ctx, revocation{UserID: u.ID, Keep: s.cfg.MaxSessionsPerUser, Reason: baton.ReasonSessionLimit,
			Event: Event{Type: EventRevoke, Outcome: OutcomeOK, SessionID: sess.ID, Client: cl, Detail: baton.ReasonSessionLimit}}); err != nil {
			return nil, err
		}
	}
	return s.grant(sess, now, fresh, clientID, rt)
}

// normalizeTransport checks a session transport; empty means body.
func normalizeTransport(transport string) (string, error) {
	switch transport {
	case "":
		return baton.TransportBody, nil
	case baton.TransportBody, baton.TransportRefreshCookie, baton.TransportCookies:
		return transport, nil
	}
	return "", baton.Errorf(baton.EInvalidRequest, "transport must be body, refresh_cookie or cookies")
}
