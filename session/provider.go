package session

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// SSOSession returns the live single-sign-on session whose token (the
// baton_sso cookie) is raw; nil, nil when raw is not one (absent, unknown,
// revoked, expired, or a token of another kind).
func (s *Service) SSOSession(ctx context.Context, raw string) (*baton.Session, error) {
	if !token.IsRefreshToken(raw) {
		return nil, nil
	}
	row, sess, err := s.refreshToken(ctx, raw)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if sess.Transport != baton.TransportSSO || !row.SpentAt.IsZero() || !sess.Live(s.Now()) || s.revoked.has(sess.ID) {
		return nil, nil
	}
	return sess, nil
}

// ClientToken reports whether the access token c was issued to a
// registered client rather than by baton's first-party API: the code flow
// and client_credentials grant a scope (the first party's tokens carry
// none), and a client_credentials token without one names its client as
// subject and session.
func ClientToken(c *token.Claims) bool {
	return c.Scope != "" || c.Subject == c.ClientID && c.SessionID == c.ClientID
}

// ClientGrant is the answer of the token endpoint to a registered client.
type ClientGrant struct {
	*Grant
	IDToken string
	Scope   string
}

var errBadCode = baton.Errorf(baton.EInvalidGrant, "the authorization code is invalid, expired or used, or was issued to another client or redirect URI")

// ExchangeCode redeems an authorization code for client c (already
// authenticated): PKCE verifier, redirect URI and client must match what
// the code was issued for. The session it opens takes the code's id, so
// that its creation is the compare-and-set that makes the code single-use
// and a second redemption can find and revoke it (RFC 6749 §4.1.2): the
// code is spent only after its session exists, so whoever sees it spent
// finds the session to revoke. Outcomes: the grant; EInvalidGrant.
func (s *Service) ExchangeCode(ctx context.Context, c *baton.OAuthClient, code, redirectURI, verifier string, cl Client) (*ClientGrant, error) {
	if !slices.Contains(c.GrantTypes, baton.GrantAuthorizationCode) {
		return nil, baton.Errorf(baton.EUnauthorizedClient, "this client may not use the authorization_code grant")
	}
	if !strings.HasPrefix(code, codePrefix) || len(code) > 100 {
		return nil, errBadCode
	}
	hash := hashSecret(code)
	ch, err := s.store.Challenge(ctx, hash, baton.ChallengeCode)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, errBadCode
	} else if err != nil {
		return nil, err
	}
	var d codeData
	if err := json.Unmarshal(ch.Data, &d); err != nil {
		return nil, err
	}
	fail := func(detail string) (*ClientGrant, error) {
		s.emit(ctx, Event{Type: EventCodeExchange, Outcome: OutcomeFailed, UserID: ch.UserID, Client: cl, Detail: c.ID + ": " + detail})
		return nil, errBadCode
	}
	if subtle.ConstantTimeCompare([]byte(d.ClientID), []byte(c.ID)) != 1 {
		return fail("issued to another client")
	}
	if !ch.SpentAt.IsZero() {
		return nil, s.codeReplayed(ctx, ch, cl)
	}
	now := s.Now()
	if !now.Before(ch.ExpiresAt) {
		return fail("expired")
	}
	if redirectURI != d.RedirectURI {
		return fail("redirect_uri differs")
	}
	if !verifierMatches(verifier, d.Challenge) {
		return fail("code_verifier does not match")
	}
	u, err := s.store.UserByID(ctx, ch.UserID)
	if baton.ErrorCode(err) == baton.ENotFound {
		return fail("user gone")
	} else if err != nil {
		return nil, err
	}
	// The sign-in that issued the code must still hold: a logout ends the
	// single sign-on and the sessions it issued, and a session opened
	// after it would escape that.
	if parent, err := s.store.Session(ctx, d.Parent); baton.ErrorCode(err) == baton.ENotFound || err == nil && !parent.RevokedAt.IsZero() {
		return fail("signed out since the sign-in")
	} else if err != nil {
		return nil, err
	}
	refreshTTL, idleTTL := s.cfg.RefreshTTL, s.cfg.IdleTTL
	if c.RefreshTTL > 0 {
		refreshTTL = c.RefreshTTL
	}
	if c.RefreshIdleTTL > 0 {
		idleTTL = c.RefreshIdleTTL
	}
	sess := &baton.Session{
		ID: ch.ID, UserID: u.ID, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(refreshTTL), AuthTime: time.UnixMicro(d.AuthTime).UTC(), AMR: d.AMR,
		Transport: baton.TransportBody, ClientID: c.ID, Scope: d.Scope, Parent: d.Parent,
		UserAgent: truncate(cl.UserAgent, 512), IP: cl.IP, CredentialGen: d.Gen,
	}
	sess.IdleExpiresAt = minTime(now.Add(idleTTL), sess.ExpiresAt)
	rt, err := s.newRefreshToken(sess)
	if err != nil {
		return nil, err
	}
	// The session is created for the credentials the sign-in verified: a
	// password change, reset or lock since then wins.
	if err := s.store.CreateSession(ctx, sess, token.HashRefreshToken(rt)); baton.ErrorCode(err) == baton.EConflict {
		if _, err := s.store.Session(ctx, ch.ID); err == nil {
			return nil, s.codeReplayed(ctx, ch, cl) // a concurrent redemption won
		}
		return fail("credentials changed since the sign-in")
	} else if err != nil {
		return nil, err
	}
	if _, err := s.store.SpendChallenge(ctx, hash, baton.ChallengeCode, now, 1<<30); err != nil {
		// Expired between the check and now (or the store failed): the
		// session must not outlive the failed answer.
		if _, rerr := s.revoke(ctx, revocation{SessionID: sess.ID, Reason: baton.ReasonCodeReplay,
			Event: Event{Type: EventRevoke, Outcome: OutcomeOK, UserID: u.ID, SessionID: sess.ID, Client: cl, Detail: "code not spent"}}); rerr != nil {
			return nil, rerr
		}
		if baton.ErrorCode(err) == baton.ENotFound {
			return fail("expired")
		}
		return nil, err
	}
	if s.cfg.MaxSessionsPerUser > 0 {
		if _, err := s.revoke(ctx, revocation{UserID: u.ID, Keep: s.cfg.MaxSessionsPerUser, Reason: baton.ReasonSessionLimit,
			Event: Event{Type: EventRevoke, Outcome: OutcomeOK, SessionID: sess.ID, Client: cl, Detail: baton.ReasonSessionLimit}}); err != nil {
			return nil, err
		}
	}
	if !slices.Contains(c.GrantTypes, baton.GrantRefreshToken) {
		rt = "" // the session exists for sid and revocation; no token refreshes it
	}
	g, err := s.grantScoped(ctx, sess, now, false, c.ID, rt, sess.Scope, clientAccessTTL(c, s.cfg.AccessTTL))
	if err != nil {
		return nil, err
	}
	idt, err := s.idToken(ctx, c, u, sess, d.Nonce, g)
	if err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Type: EventCodeExchange, Outcome: OutcomeOK, UserID: u.ID, SessionID: sess.ID, Client: cl, Detail: c.ID})
	return &ClientGrant{Grant: g, IDToken: idt, Scope: sess.Scope}, nil
}

// codeReplayed handles a code redeemed a second time: the session issued
// from the first redemption is revoked, since whoever holds the code now
// may be an attacker (RFC 6749 §4.1.2, RFC 9700 §4.5).
func (s *Service) codeReplayed(ctx context.Context, ch *baton.Challenge, cl Client) error {
	_, err := s.revoke(ctx, revocation{SessionID: ch.ID, Reason: baton.ReasonCodeReplay,
		Event: Event{Type: EventCodeExchange, Outcome: OutcomeRevoked, UserID: ch.UserID, SessionID: ch.ID, Client: cl, Detail: "code redeemed twice"}})
	if err != nil && baton.ErrorCode(err) != baton.ENotFound {
		return err
	}
	return errBadCode
}

// verifierMatches checks a PKCE code_verifier against its S256 challenge
// (RFC 7636 §4.6): 43–128 unreserved characters whose SHA-256 is the
// challenge.
func verifierMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for i := 0; i < len(verifier); i++ {
		ch := verifier[i]
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

func clientAccessTTL(c *baton.OAuthClient, def time.Duration) time.Duration {
	if c.AccessTTL > 0 {
		return c.AccessTTL
	}
	return def
}

// RefreshClient is the refresh_token grant of a registered client: v1's
// rotation, grace and reuse detection, for the client's own sessions
// only, with an optionally narrowed scope. No ID token comes with it
// (OpenID Connect Core §12.2 makes it optional): signing one with RSA
// costs more than the rest of a refresh, and the identity does not
// change.
func (s *Service) RefreshClient(ctx context.Context, c *baton.OAuthClient, refreshToken, scope string, cl Client) (*ClientGrant, error) {
	if !slices.Contains(c.GrantTypes, baton.GrantRefreshToken) {
		return nil, baton.Errorf(baton.EUnauthorizedClient, "this client may not use the refresh_token grant")
	}
	g, err := s.Refresh(ctx, RefreshRequest{RefreshToken: refreshToken, OAuthClient: c, Scope: scope, ClientID: c.ID}, cl)
	if err != nil {
		return nil, err
	}
	return &ClientGrant{Grant: g, Scope: g.Claims.Scope}, nil
}

// ClientCredentials is the client_credentials grant (RFC 6749 §4.4) of a
// confidential client: an access token whose subject is the client, for
// the scopes asked (default: the client's scopes that are not OpenID
// Connect's), with no refresh token and no ID token. Its sid is the
// client's id.
func (s *Service) ClientCredentials(ctx context.Context, c *baton.OAuthClient, scope string, cl Client) (*ClientGrant, error) {
	if c.Public() || !slices.Contains(c.GrantTypes, baton.GrantClientCredentials) {
		return nil, baton.Errorf(baton.EUnauthorizedClient, "this client may not use the client_credentials grant")
	}
	var scopes []string
	if scope == "" {
		for _, sc := range c.Scopes {
			if !oidcScope(sc) {
				scopes = append(scopes, sc)
			}
		}
	} else {
		var ok bool
		if scopes, ok = parseScope(scope); !ok {
			return nil, baton.Errorf(baton.EInvalidScope, "the scope is malformed")
		}
		for _, sc := range scopes {
			if oidcScope(sc) || !slices.Contains(c.Scopes, sc) {
				return nil, baton.Errorf(baton.EInvalidScope, "the client may not ask for the scope %s", sc)
			}
		}
	}
	now := s.Now()
	ttl := clientAccessTTL(c, s.cfg.AccessTTL)
	// A token without a session: it lives as its session would, for its
	// lifetime only.
	sess := &baton.Session{ID: c.ID, UserID: c.ID, ClientID: c.ID, ExpiresAt: now.Add(ttl + time.Second)}
	g, err := s.grantScoped(ctx, sess, now, false, c.ID, "", strings.Join(scopes, " "), ttl)
	if err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Type: EventClientCredentials, Outcome: OutcomeOK, Client: cl, Detail: c.ID})
	return &ClientGrant{Grant: g, Scope: g.Claims.Scope}, nil
}

func oidcScope(sc string) bool {
	switch sc {
	case baton.ScopeOpenID, baton.ScopeProfile, baton.ScopeEmail, baton.ScopeOfflineAccess:
		return true
	}
	return false
}

// UserInfo returns the claims the access token's scope allows (OpenID
// Connect Core §5.3): sub always; preferred_username with profile; email
// and email_verified with email. The token must carry openid.
// EInvalidToken when it does not or its user is gone.
func (s *Service) UserInfo(ctx context.Context, c *token.Claims) (map[string]any, error) {
	scopes := strings.Fields(c.Scope)
	if !slices.Contains(scopes, baton.ScopeOpenID) {
		return nil, baton.Errorf(baton.EInvalidToken, "the access token was not issued with the openid scope")
	}
	u, err := s.store.UserByID(ctx, c.Subject)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, baton.Errorf(baton.EInvalidToken, "the access token's user no longer exists")
	} else if err != nil {
		return nil, err
	}
	return userClaims(u, scopes, map[string]any{"sub": u.ID}), nil
}

// userClaims adds the user's claims the scopes allow to m.
func userClaims(u *baton.User, scopes []string, m map[string]any) map[string]any {
	if slices.Contains(scopes, baton.ScopeProfile) {
		m["preferred_username"] = u.Username
	}
	if slices.Contains(scopes, baton.ScopeEmail) && u.Email != "" {
		m["email"] = u.Email
		m["email_verified"] = u.EmailVerified
	}
	return m
}

// idToken signs the ID token of a code exchange with the client's
// algorithm (OpenID Connect Core §2, §3.1.3.6).
func (s *Service) idToken(ctx context.Context, c *baton.OAuthClient, u *baton.User, sess *baton.Session, nonce string, g *Grant) (string, error) {
	alg := c.IDTokenAlg
	if alg == "" {
		alg = baton.AlgRS256
	}
	claims := map[string]any{
		"iss":       s.cfg.Issuer,
		"sub":       u.ID,
		"aud":       c.ID,
		"iat":       g.IssuedAt.Unix(),
		"exp":       g.AccessExpiresAt.Unix(),
		"auth_time": sess.AuthTime.Unix(),
		"sid":       sess.ID,
		"at_hash":   token.AtHash(alg, g.AccessToken),
	}
	if len(sess.AMR) > 0 {
		claims["amr"] = sess.AMR
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	userClaims(u, strings.Fields(sess.Scope), claims)
	return s.SignIDToken(ctx, alg, claims)
}
