package session

import (
	"context"
	"encoding/json"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// RPLogoutRequest is an RP-initiated logout (OpenID Connect RP-Initiated
// Logout 1.0 §2).
type RPLogoutRequest struct {
	IDTokenHint, ClientID, PostLogoutRedirectURI, State string
}

// RPLogout is a checked logout request.
type RPLogout struct {
	// Client is the relying party, when the request names one.
	Client *baton.OAuthClient
	// Redirect is where the browser goes afterwards: the registered
	// post_logout_redirect_uri with state; empty for baton's signed-out
	// page.
	Redirect string
	// Hinted reports an id_token_hint that verified: the relying party
	// vouches for the request, so no confirmation is asked.
	Hinted bool
	// sid is the hint's session, sub its user.
	sid, sub string
}

// CheckRPLogout validates a logout request without changing anything.
// Errors are *AuthorizeError: they are shown on baton's page, never
// redirected (an unregistered post_logout_redirect_uri must not become an
// open redirect).
func (s *Service) CheckRPLogout(ctx context.Context, req RPLogoutRequest) (*RPLogout, error) {
	// Bounded like an authorization request's parameters: the state comes
	// back in the redirect and all of them on the confirmation page.
	for name, v := range map[string]string{"client_id": req.ClientID, "post_logout_redirect_uri": req.PostLogoutRedirectURI, "state": req.State} {
		if len(v) > maxParam {
			return nil, pageError(baton.EInvalidRequest, "the parameter %s is too long", name)
		}
	}
	if len(req.IDTokenHint) > token.DefaultMaxTokenBytes {
		return nil, pageError(baton.EInvalidRequest, "the parameter id_token_hint is too long")
	}
	out := &RPLogout{}
	clientID := req.ClientID
	// Only typ JWT verifies: a logout token or an access token signed by
	// the same keys is no hint. A hint that does not verify — also one
	// whose key was retired and purged since — counts as none: the user
	// is then asked to confirm, and a redirect needs client_id.
	if claims, _, err := s.VerifyIDToken(req.IDTokenHint); req.IDTokenHint != "" && err == nil {
		iss, _ := claims["iss"].(string)
		sid, _ := claims["sid"].(string)
		sub, _ := claims["sub"].(string)
		aud := audiences(claims["aud"])
		if iss != s.cfg.Issuer || len(aud) != 1 {
			return nil, pageError(baton.EInvalidRequest, "the id_token_hint is not an ID token baton issued")
		}
		if clientID != "" && clientID != aud[0] {
			return nil, pageError(baton.EInvalidRequest, "client_id is not the id_token_hint's audience")
		}
		clientID, out.Hinted, out.sid, out.sub = aud[0], true, sid, sub
	}
	if clientID != "" {
		c, err := s.store.Client(ctx, clientID)
		if baton.ErrorCode(err) == baton.ENotFound {
			return nil, pageError(baton.EInvalidClient, "the application that sent you here is not registered")
		} else if err != nil {
			return nil, err
		}
		out.Client = c
	}
	if req.PostLogoutRedirectURI != "" {
		if out.Client == nil || !PostLogoutURIAllowed(out.Client, req.PostLogoutRedirectURI) {
			return nil, pageError(baton.EInvalidRequest, "the post_logout_redirect_uri is not registered for this application")
		}
		p := &pendingAuth{AuthorizeParams: AuthorizeParams{RedirectURI: req.PostLogoutRedirectURI, State: req.State}}
		out.Redirect = s.redirectTo(p, map[string][]string{})
	}
	return out, nil
}

// Covers reports whether the request may end the browser's single-sign-on
// session sso without asking the user: only a verified hint of the same
// user vouches for it. A hint of another user — an attacker's own ID
// token in a link — does not.
func (lo *RPLogout) Covers(sso *baton.Session) bool {
	return lo.Hinted && (lo.sub == "" || lo.sub == sso.UserID)
}

// audiences reads an aud claim, a string or an array of strings.
func audiences(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		out := make([]string, 0, len(a))
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// EndRPLogout ends the browser's single-sign-on session sso (nil when the
// browser holds none; the caller asked the user unless lo.Covers it) and
// every session it issued, and — with a verified
// hint — the single-sign-on session that issued the hint's session, so a
// logout from a browser whose cookie is gone still ends what the relying
// party knows of. Each goes through the one revocation path, so
// back-channel logout tokens go to the other relying parties.
func (s *Service) EndRPLogout(ctx context.Context, lo *RPLogout, sso *baton.Session, cl Client) error {
	// The roots to end, each with its user for the audit log.
	var roots []string
	users := map[string]string{}
	add := func(id, user string) {
		if _, ok := users[id]; !ok {
			roots = append(roots, id)
			users[id] = user
		}
	}
	if sso != nil {
		add(sso.ID, sso.UserID)
	}
	if lo.Hinted && lo.sid != "" {
		sess, err := s.store.Session(ctx, lo.sid)
		switch {
		case baton.ErrorCode(err) == baton.ENotFound:
		case err != nil:
			return err
		case sess.UserID == lo.sub && sess.Parent != "":
			add(sess.Parent, sess.UserID)
		case sess.UserID == lo.sub:
			add(sess.ID, sess.UserID)
		}
	}
	for _, id := range roots {
		detail := ""
		if lo.Client != nil {
			detail = lo.Client.ID
		}
		if _, err := s.revoke(ctx, revocation{SessionID: id, Tree: true, Reason: baton.ReasonRPLogout,
			Event: Event{Type: EventRPLogout, Outcome: OutcomeOK, UserID: users[id], SessionID: id, Client: cl, Detail: detail}}); err != nil && baton.ErrorCode(err) != baton.ENotFound {
			return err
		}
	}
	return nil
}

// ConsentInfo is a consent as GET /v1/consents lists it.
type ConsentInfo struct {
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name"`
	Scopes     []string  `json:"scopes"`
	GrantedAt  time.Time `json:"granted_at"`
}

// MaxConsentsListed bounds GET /v1/consents.
const MaxConsentsListed = 200

// Consents lists the caller's consents, most recent first.
func (s *Service) Consents(ctx context.Context, c *token.Claims) ([]ConsentInfo, error) {
	cs, err := s.store.Consents(ctx, c.Subject, MaxConsentsListed)
	if err != nil {
		return nil, err
	}
	out := make([]ConsentInfo, 0, len(cs))
	for _, con := range cs {
		name := con.ClientID
		if cli, err := s.store.Client(ctx, con.ClientID); err == nil {
			name = cli.Name
		} else if baton.ErrorCode(err) != baton.ENotFound {
			return nil, err
		}
		out = append(out, ConsentInfo{ClientID: con.ClientID, ClientName: name, Scopes: con.Scopes, GrantedAt: con.GrantedAt})
	}
	return out, nil
}

// WithdrawConsent deletes the caller's consent for the client and revokes
// the caller's sessions of that client (ENotFound when there is none).
func (s *Service) WithdrawConsent(ctx context.Context, c *token.Claims, clientID string, cl Client) error {
	if clientID == "" || len(clientID) > 200 {
		return baton.Errorf(baton.ENotFound, "no consent for that client")
	}
	_, err := s.revoke(ctx, revocation{UserID: c.Subject, ConsentOf: clientID, Reason: baton.ReasonConsentWithdrawn,
		Event: Event{Type: EventRevoke, Outcome: OutcomeOK, UserID: c.Subject, Client: cl, Detail: baton.ReasonConsentWithdrawn + ": " + clientID}})
	if baton.ErrorCode(err) == baton.ENotFound {
		return baton.Errorf(baton.ENotFound, "no consent for that client")
	}
	return err
}

// BackchannelEvent is the events member of a logout token.
const BackchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutTokenTTL is a logout token's lifetime (OpenID Connect
// Back-Channel Logout 1.0 §2.4 recommends at most two minutes).
const LogoutTokenTTL = 2 * time.Minute

// LogoutToken signs the logout token of an OutboxBackchannelLogout
// message, with the client's ID-token algorithm (RS256 when the client is
// gone), its jti the message's id so a receiver can drop a redelivery.
func (s *Service) LogoutToken(ctx context.Context, m *baton.OutboxMessage) (string, error) {
	var p baton.BackchannelLogout
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		return "", err
	}
	alg := baton.AlgRS256
	if c, err := s.store.Client(ctx, p.ClientID); err == nil && c.IDTokenAlg != "" {
		alg = c.IDTokenAlg
	} else if err != nil && baton.ErrorCode(err) != baton.ENotFound {
		return "", err
	}
	now := s.Now()
	return s.SignLogoutToken(ctx, alg, map[string]any{
		"iss":    s.cfg.Issuer,
		"aud":    p.ClientID,
		"iat":    now.Unix(),
		"exp":    now.Add(LogoutTokenTTL).Unix(),
		"jti":    m.ID,
		"sub":    p.UserID,
		"sid":    p.SessionID,
		"events": map[string]any{BackchannelEvent: map[string]any{}},
	})
}
