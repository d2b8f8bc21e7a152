package session

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/batonauth/baton"
)

// The OpenID provider's authorization step (OpenID Connect Core §3.1.2,
// RFC 6749 §4.1, RFC 7636, RFC 9126, RFC 9207). The engine decides; the
// HTTP layer turns each decision into a redirect or a page.
//
// Three one-time secrets carry a request through the browser, each a
// Challenge stored only as its hash: the pending request (between
// /oauth/authorize and the sign-in or consent page), the pushed request
// (PAR's request_uri) and the authorization code.
const (
	// AuthorizeTTL is how long a pending request waits for the user.
	AuthorizeTTL = 10 * time.Minute
	// CodeTTL is an authorization code's lifetime.
	CodeTTL = 60 * time.Second
	// PARTTL is a pushed request's lifetime (RFC 9126 §2.2 suggests
	// 5–600 s).
	PARTTL = 90 * time.Second

	requestPrefix = "bar_"
	codePrefix    = "bac_"
	// RequestURIPrefix starts every request_uri (RFC 9126 §2.2).
	RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"

	maxParam     = 2048 // state, redirect_uri, login_hint…
	maxNonce     = 512
	maxScopes    = 20
	maxScopeName = 64
)

// AuthorizeParams is an authorization request's parameters.
type AuthorizeParams struct {
	ClientID            string `json:"client_id"`
	RedirectURI         string `json:"redirect_uri,omitempty"`
	ResponseType        string `json:"response_type"`
	Scope               string `json:"scope"`
	State               string `json:"state,omitempty"`
	Nonce               string `json:"nonce,omitempty"`
	CodeChallenge       string `json:"code_challenge"`
	CodeChallengeMethod string `json:"code_challenge_method"`
	Prompt              string `json:"prompt,omitempty"`
	LoginHint           string `json:"login_hint,omitempty"`
	// MaxAge is max_age in seconds; -1 when absent.
	MaxAge     int64  `json:"max_age"`
	RequestURI string `json:"-"`
	// Browser binds the request to the browser that made it: the HTTP
	// layer's keyed hash of the browser's flow cookie (BrowserBinding),
	// never a request parameter. The pages serve a pending request only
	// to that browser, so a sign-in page's address sent to someone else
	// (with the sender's PKCE challenge and state) is worthless.
	Browser string `json:"browser,omitempty"`
	// fromPAR: the request came from a pushed request (RFC 9126).
	fromPAR bool
}

// authorizeNames are the parameters ParseAuthorize reads; each may appear
// once (RFC 6749 §3.1).
var authorizeNames = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "login_hint", "max_age", "request_uri"}

// ParseAuthorize reads an authorization request's parameters. A repeated
// parameter, an over-long value or a malformed max_age is EInvalidRequest;
// everything else is checked by Authorize, which knows the client.
func ParseAuthorize(v url.Values) (*AuthorizeParams, error) {
	for _, n := range authorizeNames {
		if len(v[n]) > 1 {
			return nil, baton.Errorf(baton.EInvalidRequest, "the parameter %s is repeated", n)
		}
		if len(v.Get(n)) > maxParam {
			return nil, baton.Errorf(baton.EInvalidRequest, "the parameter %s is too long", n)
		}
	}
	p := &AuthorizeParams{
		ClientID: v.Get("client_id"), RedirectURI: v.Get("redirect_uri"), ResponseType: v.Get("response_type"),
		Scope: v.Get("scope"), State: v.Get("state"), Nonce: v.Get("nonce"),
		CodeChallenge: v.Get("code_challenge"), CodeChallengeMethod: v.Get("code_challenge_method"),
		Prompt: v.Get("prompt"), LoginHint: v.Get("login_hint"), RequestURI: v.Get("request_uri"), MaxAge: -1,
	}
	if ma := v.Get("max_age"); ma != "" {
		n, err := strconv.ParseInt(ma, 10, 64)
		if err != nil || n < 0 || n > 1<<31 {
			return nil, baton.Errorf(baton.EInvalidRequest, "max_age must be a number of seconds")
		}
		p.MaxAge = n
	}
	return p, nil
}

// AuthorizeError is an error to show on baton's error page, never sent to
// a redirect URI: the client or the redirect URI could not be trusted
// (OpenID Connect Core §3.1.2.6, RFC 6749 §4.1.2.1).
type AuthorizeError struct{ Err error }

func (e *AuthorizeError) Error() string { return e.Err.Error() }
func (e *AuthorizeError) Unwrap() error { return e.Err }

func pageError(code, format string, args ...any) error {
	return &AuthorizeError{Err: baton.Errorf(code, format, args...)}
}

// AuthorizeOutcome is what the browser is shown next: exactly one of
// Redirect (the client's redirect URI with a code or an error), Login or
// Consent (the pending request's token, for baton's page).
type AuthorizeOutcome struct {
	Redirect string
	Login    string
	Consent  string
}

// pendingAuth is a validated request waiting in a ChallengeAuthorize.
type pendingAuth struct {
	AuthorizeParams
	// Created is when the request was made, in microseconds: a sign-in
	// satisfies prompt=login only if it came after.
	Created int64 `json:"created"`
}

// Authorize runs an authorization request for a browser holding the
// single-sign-on session sso (nil when it holds none); cl is the browser,
// for the audit log. Errors that may
// not go to the redirect URI are *AuthorizeError; other errors are
// internal. Everything the client did wrong after its redirect URI is
// established comes back as a Redirect carrying the error.
func (s *Service) Authorize(ctx context.Context, p *AuthorizeParams, sso *baton.Session, cl Client) (*AuthorizeOutcome, error) {
	if p.RequestURI != "" {
		var err error
		if p, err = s.pushed(ctx, p); err != nil {
			return nil, err
		}
	}
	c, err := s.authorizeClient(ctx, p)
	if err != nil {
		return nil, err
	}
	pend := &pendingAuth{AuthorizeParams: *p, Created: s.Now().UnixMicro()}
	if c.RequirePAR && !p.fromPAR {
		return s.refuse(c, pend, baton.EInvalidRequest, "this client must push its authorization requests (PAR)"), nil
	}
	if code, msg := s.checkAuthorize(c, pend); code != "" {
		return s.refuse(c, pend, code, msg), nil
	}
	return s.decide(ctx, c, pend, "", sso, cl)
}

// pushed replaces an authorization request that names a request_uri by the
// pushed request it stands for, spending it (RFC 9126 §4: one use).
func (s *Service) pushed(ctx context.Context, p *AuthorizeParams) (*AuthorizeParams, error) {
	if !strings.HasPrefix(p.RequestURI, RequestURIPrefix) {
		return nil, pageError(baton.EInvalidRequestURI, "the request_uri is not one baton issued")
	}
	ch, err := s.store.SpendChallenge(ctx, hashSecret(p.RequestURI), baton.ChallengePAR, s.Now(), 1)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, pageError(baton.EInvalidRequestURI, "the request_uri is unknown, used or expired")
	} else if err != nil {
		return nil, err
	}
	var q AuthorizeParams
	if err := json.Unmarshal(ch.Data, &q); err != nil {
		return nil, err
	}
	// RFC 9126 §4: the client_id of the request must be the pushing
	// client's.
	if subtle.ConstantTimeCompare([]byte(q.ClientID), []byte(p.ClientID)) != 1 {
		return nil, pageError(baton.EInvalidRequestURI, "the request_uri was pushed by another client")
	}
	q.Browser, q.fromPAR = p.Browser, true
	return &q, nil
}

// authorizeClient establishes the client and the redirect URI, the two
// things an error page must stand in for when they fail.
func (s *Service) authorizeClient(ctx context.Context, p *AuthorizeParams) (*baton.OAuthClient, error) {
	if p.ClientID == "" {
		return nil, pageError(baton.EInvalidRequest, "the request names no client_id")
	}
	c, err := s.store.Client(ctx, p.ClientID)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, pageError(baton.EInvalidClient, "the application that sent you here is not registered")
	} else if err != nil {
		return nil, err
	}
	switch {
	case p.RedirectURI == "":
		// RFC 6749 §3.1.2.3 and OAuth 2.1 would let a client with one
		// registered URI leave it out; OpenID Connect Core §3.1.2.1 makes
		// it REQUIRED in every authentication request, and every request
		// here is one (scope openid): the standard wins over the looser
		// rule. Every relying party sends it, and so the token request
		// must name it too (RFC 6749 §4.1.3).
		return nil, pageError(baton.EInvalidRequest, "the request names no redirect_uri (OpenID Connect requires it)")
	case !RedirectURIAllowed(c, p.RedirectURI):
		return nil, pageError(baton.EInvalidRequest, "the redirect_uri is not registered for this application")
	}
	if !slices.Contains(c.GrantTypes, baton.GrantAuthorizationCode) {
		return nil, pageError(baton.EUnauthorizedClient, "this application may not use the authorization code flow")
	}
	return c, nil
}

// checkAuthorize checks what remains of a request once its redirect URI
// is trusted; the code and message go to the client.
func (s *Service) checkAuthorize(c *baton.OAuthClient, p *pendingAuth) (code, msg string) {
	switch {
	case p.ResponseType != "code":
		return baton.EUnsupportedResponseType, "response_type must be code"
	case p.CodeChallengeMethod != "S256":
		return baton.EInvalidRequest, "PKCE is required: code_challenge_method must be S256"
	case !validChallenge(p.CodeChallenge):
		return baton.EInvalidRequest, "code_challenge must be 43 base64url characters (S256)"
	case len(p.Nonce) > maxNonce:
		return baton.EInvalidRequest, "nonce is too long"
	}
	scopes, ok := parseScope(p.Scope)
	switch {
	case !ok:
		return baton.EInvalidScope, "the scope is malformed"
	case !slices.Contains(scopes, baton.ScopeOpenID):
		return baton.EInvalidScope, "the scope must contain openid"
	}
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return baton.EInvalidScope, "the application may not ask for the scope " + sc
		}
	}
	p.Scope = strings.Join(scopes, " ")
	prompts := strings.Fields(p.Prompt)
	for _, pr := range prompts {
		switch pr {
		case "none", "login", "consent", "select_account":
		default:
			return baton.EInvalidRequest, "prompt may hold none, login, consent or select_account"
		}
	}
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return baton.EInvalidRequest, "prompt=none cannot be combined with another value"
	}
	return "", ""
}

// validChallenge reports whether c can be an S256 code challenge: the
// base64url form of 32 bytes.
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// parseScope splits a scope into its distinct tokens (RFC 6749 §3.3), in
// order. false when it is empty, too long or holds a character a scope
// token may not.
func parseScope(scope string) ([]string, bool) {
	var out []string
	for _, sc := range strings.Split(scope, " ") {
		if sc == "" {
			continue
		}
		if len(sc) > maxScopeName {
			return nil, false
		}
		for i := 0; i < len(sc); i++ {
			if ch := sc[i]; ch < 0x21 || ch == '"' || ch == '\\' || ch > 0x7e {
				return nil, false
			}
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, len(out) > 0 && len(out) <= maxScopes
}

// refuse sends the error to the client's redirect URI.
func (s *Service) refuse(c *baton.OAuthClient, p *pendingAuth, code, msg string) *AuthorizeOutcome {
	q := url.Values{"error": {code}, "error_description": {msg}}
	return &AuthorizeOutcome{Redirect: s.redirectTo(p, q)}
}

// redirectTo is the client's redirect URI with q, state and iss (RFC 9207)
// added to its query.
func (s *Service) redirectTo(p *pendingAuth, q url.Values) string {
	if p.State != "" {
		q.Set("state", p.State)
	}
	q.Set("iss", s.cfg.Issuer)
	u, err := url.Parse(p.RedirectURI)
	if err != nil {
		return p.RedirectURI // registered URIs parse; cannot happen
	}
	if u.RawQuery != "" {
		u.RawQuery += "&" + q.Encode()
	} else {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// decide picks the next step of a valid request: the sign-in page, the
// consent page, or a code. tok is the pending request's token when it is
// stored already ("" when not yet).
func (s *Service) decide(ctx context.Context, c *baton.OAuthClient, p *pendingAuth, tok string, sso *baton.Session, cl Client) (*AuthorizeOutcome, error) {
	prompts := strings.Fields(p.Prompt)
	if sso != nil && sso.UserID != "" && !s.satisfies(sso, p, prompts) {
		sso = nil
	}
	if sso == nil {
		if slices.Contains(prompts, "none") {
			return s.refuse(c, p, baton.ELoginRequired, "the user is not signed in"), nil
		}
		tok, err := s.keepPending(ctx, p, tok)
		if err != nil {
			return nil, err
		}
		return &AuthorizeOutcome{Login: tok}, nil
	}
	if !c.FirstParty {
		need := slices.Contains(prompts, "consent")
		if !need {
			var err error
			if need, err = s.needsConsent(ctx, sso.UserID, c.ID, p.Scope); err != nil {
				return nil, err
			}
		}
		if need {
			if slices.Contains(prompts, "none") {
				return s.refuse(c, p, baton.EConsentRequired, "the user has not allowed this application yet"), nil
			}
			tok, err := s.keepPending(ctx, p, tok)
			if err != nil {
				return nil, err
			}
			return &AuthorizeOutcome{Consent: tok}, nil
		}
	}
	return s.issueCode(ctx, c, p, tok, sso, cl)
}

// satisfies reports whether the single-sign-on session may answer the
// request without a new sign-in: prompt=login wants one made after the
// request, max_age one recent enough (OpenID Connect Core §3.1.2.1); a
// sign-in made after the request satisfies both, even max_age=0.
func (s *Service) satisfies(sso *baton.Session, p *pendingAuth, prompts []string) bool {
	if sso.AuthTime.UnixMicro() >= p.Created {
		return true // the user signed in for this very request
	}
	if slices.Contains(prompts, "login") {
		return false
	}
	if p.MaxAge >= 0 && s.Now().Sub(sso.AuthTime) > time.Duration(p.MaxAge)*time.Second {
		return false
	}
	return true
}

// needsConsent reports whether the user has yet to allow the client some
// of the scope.
func (s *Service) needsConsent(ctx context.Context, userID, clientID, scope string) (bool, error) {
	con, err := s.store.Consent(ctx, userID, clientID)
	if baton.ErrorCode(err) == baton.ENotFound {
		return true, nil
	} else if err != nil {
		return false, err
	}
	for _, sc := range strings.Fields(scope) {
		if !slices.Contains(con.Scopes, sc) {
			return true, nil
		}
	}
	return false, nil
}

// keepPending stores the request for the pages (once) and returns its
// token.
func (s *Service) keepPending(ctx context.Context, p *pendingAuth, tok string) (string, error) {
	if tok != "" {
		return tok, nil
	}
	tok, err := newSecret(requestPrefix)
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	now := s.Now()
	if err := s.store.CreateChallenge(ctx, &baton.Challenge{ID: newID(), Hash: hashSecret(tok), Kind: baton.ChallengeAuthorize,
		Data: data, CreatedAt: now, ExpiresAt: now.Add(AuthorizeTTL)}); err != nil {
		return "", err
	}
	return tok, nil
}

// errDeadRequest: the pending request is unknown, used or expired.
var errDeadRequest = pageError(baton.EInvalidRequest, "this sign-in request is no longer valid: go back to the application and start again")

// PendingAuthorization is a live stored request, as the pages show it
// and as ContinueAuthorize and Consent go on with it.
type PendingAuthorization struct {
	Client *baton.OAuthClient
	Params AuthorizeParams
	Scopes []string
	tok    string
	p      *pendingAuth
}

// Pending returns the live pending request with token tok, made by the
// browser whose flow cookie holds browser; *AuthorizeError when it is
// unknown, used or expired, or another browser's (whoever finished it
// would get a code for the other browser's PKCE challenge and state).
func (s *Service) Pending(ctx context.Context, tok, browser string) (*PendingAuthorization, error) {
	if !strings.HasPrefix(tok, requestPrefix) || len(tok) > 100 {
		return nil, errDeadRequest
	}
	ch, err := s.store.Challenge(ctx, hashSecret(tok), baton.ChallengeAuthorize)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, errDeadRequest
	} else if err != nil {
		return nil, err
	}
	if !ch.SpentAt.IsZero() || !s.Now().Before(ch.ExpiresAt) {
		return nil, errDeadRequest
	}
	var p pendingAuth
	if err := json.Unmarshal(ch.Data, &p); err != nil {
		return nil, err
	}
	if !s.CheckFormToken("browser", browser, p.Browser) {
		return nil, pageError(baton.EInvalidRequest, "this sign-in request was started in another browser: go back to the application and start again")
	}
	c, err := s.store.Client(ctx, p.ClientID)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, errDeadRequest // deleted meanwhile
	} else if err != nil {
		return nil, err
	}
	return &PendingAuthorization{Client: c, Params: p.AuthorizeParams, Scopes: strings.Fields(p.Scope), tok: tok, p: &p}, nil
}

// ContinueAuthorize goes on with the pending request after the user
// signed in to sso on baton's page.
func (s *Service) ContinueAuthorize(ctx context.Context, pend *PendingAuthorization, sso *baton.Session, cl Client) (*AuthorizeOutcome, error) {
	return s.decide(ctx, pend.Client, pend.p, pend.tok, sso, cl)
}

// Consent records the user's answer on the consent page of the pending
// request: allow remembers the scopes and issues the code, deny sends
// access_denied to the client. Either spends the request by
// compare-and-set, so of two answers racing only one goes on.
func (s *Service) Consent(ctx context.Context, pend *PendingAuthorization, sso *baton.Session, allow bool, cl Client) (*AuthorizeOutcome, error) {
	c, p, tok := pend.Client, pend.p, pend.tok
	if sso == nil {
		// Signed out meanwhile (another tab): sign in again first.
		return s.decide(ctx, c, p, tok, nil, cl)
	}
	if !allow {
		if _, err := s.store.SpendChallenge(ctx, hashSecret(tok), baton.ChallengeAuthorize, s.Now(), 1); baton.ErrorCode(err) == baton.ENotFound {
			return nil, errDeadRequest
		} else if err != nil {
			return nil, err
		}
		s.emit(ctx, Event{Type: EventConsent, Outcome: OutcomeFailed, UserID: sso.UserID, Client: cl, Detail: "denied: " + c.ID})
		return s.refuse(c, p, baton.EAccessDenied, "the user did not allow the application"), nil
	}
	if err := s.store.GrantConsent(ctx, &baton.Consent{UserID: sso.UserID, ClientID: c.ID,
		Scopes: strings.Fields(p.Scope), GrantedAt: s.Now()}); err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Type: EventConsent, Outcome: OutcomeOK, UserID: sso.UserID, Client: cl, Detail: c.ID + ": " + p.Scope})
	return s.issueCode(ctx, c, p, tok, sso, cl)
}

// codeData is what an authorization code is bound to (the Challenge's
// Data); the session it is redeemed for takes the code's Challenge ID.
type codeData struct {
	ClientID    string   `json:"client_id"`
	RedirectURI string   `json:"redirect_uri"`
	Challenge   string   `json:"code_challenge"`
	Nonce       string   `json:"nonce,omitempty"`
	Scope       string   `json:"scope"`
	Parent      string   `json:"parent"`
	AuthTime    int64    `json:"auth_time"` // microseconds
	AMR         []string `json:"amr"`
	Gen         int64    `json:"gen"`
}

// issueCode spends the pending request (when stored) and answers a code
// bound to the client, the redirect URI, the challenge, the nonce and the
// sign-in.
func (s *Service) issueCode(ctx context.Context, c *baton.OAuthClient, p *pendingAuth, tok string, sso *baton.Session, cl Client) (*AuthorizeOutcome, error) {
	now := s.Now()
	if tok != "" {
		// One request, one code: a second tab finishing it gets the error
		// page.
		if _, err := s.store.SpendChallenge(ctx, hashSecret(tok), baton.ChallengeAuthorize, now, 1); baton.ErrorCode(err) == baton.ENotFound {
			return nil, errDeadRequest
		} else if err != nil {
			return nil, err
		}
	}
	code, err := newSecret(codePrefix)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(codeData{ClientID: c.ID, RedirectURI: p.RedirectURI,
		Challenge: p.CodeChallenge, Nonce: p.Nonce, Scope: p.Scope, Parent: sso.ID,
		AuthTime: sso.AuthTime.UnixMicro(), AMR: sso.AMR, Gen: sso.CredentialGen})
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateChallenge(ctx, &baton.Challenge{ID: newID(), Hash: hashSecret(code), Kind: baton.ChallengeCode,
		UserID: sso.UserID, Data: data, CreatedAt: now, ExpiresAt: now.Add(CodeTTL)}); err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Type: EventAuthorize, Outcome: OutcomeOK, UserID: sso.UserID, SessionID: sso.ID, Client: cl, Detail: c.ID})
	return &AuthorizeOutcome{Redirect: s.redirectTo(p, url.Values{"code": {code}})}, nil
}

// PushAuthorization stores an authenticated client's pushed request
// (RFC 9126) after the checks Authorize would make, and returns its
// request_uri. Errors: EInvalidRequest, EInvalidScope,
// EUnsupportedResponseType, EUnauthorizedClient.
func (s *Service) PushAuthorization(ctx context.Context, c *baton.OAuthClient, p *AuthorizeParams) (string, time.Duration, error) {
	if p.RequestURI != "" {
		return "", 0, baton.Errorf(baton.EInvalidRequest, "a pushed request may not carry request_uri")
	}
	if p.ClientID != "" && p.ClientID != c.ID {
		return "", 0, baton.Errorf(baton.EInvalidRequest, "client_id is not the authenticated client's")
	}
	p.ClientID = c.ID
	if _, err := s.authorizeClient(ctx, p); err != nil {
		// At this endpoint the client reads the error itself (JSON).
		var ae *AuthorizeError
		if errors.As(err, &ae) {
			return "", 0, ae.Err
		}
		return "", 0, err
	}
	pend := &pendingAuth{AuthorizeParams: *p}
	if code, msg := s.checkAuthorize(c, pend); code != "" {
		return "", 0, baton.Errorf(code, "%s", msg)
	}
	data, err := json.Marshal(pend.AuthorizeParams)
	if err != nil {
		return "", 0, err
	}
	uri, err := newSecret(RequestURIPrefix)
	if err != nil {
		return "", 0, err
	}
	now := s.Now()
	if err := s.store.CreateChallenge(ctx, &baton.Challenge{ID: newID(), Hash: hashSecret(uri), Kind: baton.ChallengePAR,
		Data: data, CreatedAt: now, ExpiresAt: now.Add(PARTTL)}); err != nil {
		return "", 0, err
	}
	return uri, PARTTL, nil
}

// newSecret returns prefix and 32 random bytes in base64url.
func newSecret(prefix string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// FormToken is the CSRF token of baton's provider pages: bound to what the
// form is for (a pending request's token, or "logout") and to the
// browser, through the random value of its baton_flow cookie, so a form
// posted from another site — a login CSRF signing the victim in as the
// attacker — fails.
func (s *Service) FormToken(purpose, browser string) string {
	m := hmac.New(sha256.New, s.DeriveKey("provider-form"))
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(browser))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// BrowserBinding is the value of AuthorizeParams.Browser for the browser
// whose flow cookie holds browser.
func (s *Service) BrowserBinding(browser string) string {
	return s.FormToken("browser", browser)
}

// CheckFormToken reports whether tok is FormToken(purpose, browser).
func (s *Service) CheckFormToken(purpose, browser, tok string) bool {
	if browser == "" || tok == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(s.FormToken(purpose, browser)), []byte(tok)) == 1
}
