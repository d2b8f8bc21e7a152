package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/pages"
	"github.com/batonauth/baton/session"
	"github.com/batonauth/baton/token"
)

// The OpenID provider's browser side: /oauth/authorize, baton's sign-in
// and consent pages, and RP-initiated logout. The engine (package
// session) decides each step; this file turns decisions into redirects,
// pages and cookies.

const (
	// cookieSSO holds the browser's single-sign-on session (its token).
	cookieSSO = "baton_sso"
	// cookieFlow is a random value naming the browser, to which the CSRF
	// tokens of the provider's forms are bound. Over HTTPS it is
	// cookieFlowHost: a __Host- cookie cannot be set by a sibling
	// subdomain (RFC 6265bis §4.1.3.2), so nobody can plant a known value
	// in a victim's browser and forge its forms.
	cookieFlow     = "baton_flow"
	cookieFlowHost = "__Host-baton_flow"
)

// flowCookie is the flow cookie's name: __Host- whenever cookies are
// Secure (the prefix needs Secure, Path=/ and no Domain).
func (s *Server) flowCookie() string {
	if s.opt.CookieSecure {
		return cookieFlowHost
	}
	return cookieFlow
}

// providerOn wraps the provider's handlers: without pages there is no
// provider.
func (s *Server) providerOn(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.opt.ProviderPages == nil {
			return baton.Errorf(baton.ENotFound, "no such endpoint")
		}
		return h(w, r)
	}
}

// page wraps a handler of the provider's browser side: its errors are
// shown on baton's error page, never as JSON and never redirected.
func (s *Server) page(h handlerFunc) handlerFunc {
	return s.providerOn(func(w http.ResponseWriter, r *http.Request) error {
		if err := h(w, r); err != nil {
			s.providerError(w, r, err)
		}
		return nil
	})
}

// browser returns the browser's flow value, setting the cookie when it
// has none.
func (s *Server) browser(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(s.flowCookie()); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	// A session cookie: it lives as long as the browser's window does.
	http.SetCookie(w, &http.Cookie{Name: s.flowCookie(), Value: v, Path: "/", HttpOnly: true,
		Secure: s.opt.CookieSecure, SameSite: http.SameSiteLaxMode})
	return v
}

func (s *Server) flowValue(r *http.Request) string {
	if c, err := r.Cookie(s.flowCookie()); err == nil {
		return c.Value
	}
	return ""
}

// ssoSession returns the live single-sign-on session of the browser.
func (s *Server) ssoSession(r *http.Request) (*baton.Session, error) {
	c, err := r.Cookie(cookieSSO)
	if err != nil {
		return nil, nil
	}
	return s.svc.SSOSession(r.Context(), c.Value)
}

func (s *Server) setSSOCookie(w http.ResponseWriter, g *session.Grant) {
	http.SetCookie(w, s.cookie(cookieSSO, g.RefreshToken, s.cookieRoot(), g.Session.ExpiresAt.Sub(g.IssuedAt), true, http.SameSiteLaxMode))
}

func (s *Server) clearSSOCookie(w http.ResponseWriter) {
	c := s.cookie(cookieSSO, "", s.cookieRoot(), 0, true, http.SameSiteLaxMode)
	c.MaxAge, c.Expires = -1, time.Unix(1, 0)
	http.SetCookie(w, c)
}

// requestValues reads a provider request's parameters: the query of a
// GET, the form body of a POST. A repeated parameter is EInvalidRequest
// either way, so that no two readers can take different copies.
func requestValues(r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		q := r.URL.Query()
		for k, vs := range q {
			if len(vs) > 1 {
				return nil, baton.Errorf(baton.EInvalidRequest, "the parameter %q is repeated", k)
			}
		}
		return q, nil
	}
	p, err := readParams(r)
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	for k, x := range p {
		v.Set(k, x)
	}
	return v, nil
}

// authorize is the authorization endpoint (GET and POST, OpenID Connect
// Core §3.1.2.1).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) error {
	v, err := requestValues(r)
	if err != nil {
		return err
	}
	p, err := session.ParseAuthorize(v)
	if err != nil {
		return err
	}
	p.Browser = s.svc.BrowserBinding(s.browser(w, r))
	sso, err := s.ssoSession(r)
	if err != nil {
		return err
	}
	if sso == nil && s.opt.Limits != nil {
		// Without a session the request is stored for the sign-in page:
		// anyone can ask, so it is counted per client IP like the other
		// unauthenticated ceremonies, and a flood cannot fill the store.
		if err := s.opt.Limits.AllowCeremony(r.Context(), s.client(r).IP); err != nil {
			return err
		}
	}
	out, err := s.svc.Authorize(r.Context(), p, sso, s.client(r))
	return s.proceed(w, r, out, err)
}

// proceed sends the browser where the engine said.
func (s *Server) proceed(w http.ResponseWriter, r *http.Request, out *session.AuthorizeOutcome, err error) error {
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case out.Redirect != "":
		http.Redirect(w, r, out.Redirect, http.StatusSeeOther)
	case out.Login != "":
		http.Redirect(w, r, s.basePath+"/login?request="+url.QueryEscape(out.Login), http.StatusSeeOther)
	case out.Consent != "":
		http.Redirect(w, r, s.basePath+"/consent?request="+url.QueryEscape(out.Consent), http.StatusSeeOther)
	}
	return nil
}

// providerError shows err on baton's error page; internal errors are
// logged and shown generically.
func (s *Server) providerError(w http.ResponseWriter, r *http.Request, err error) {
	code := baton.ErrorCode(err)
	status, ok := statusOf[code]
	title, msg := "This request cannot go on", baton.ErrorMessage(err)
	if !ok || status >= 500 {
		if code == baton.EUnavailable || code == baton.EConflict {
			status, msg = http.StatusServiceUnavailable, "The service is busy. Try again in a moment."
		} else {
			s.log.ErrorContext(r.Context(), "internal error", "err", err, "path", r.URL.Path)
			status, msg = http.StatusInternalServerError, "Something went wrong on our side."
		}
		title = "Something went wrong"
	}
	s.opt.ProviderPages.Error(w, status, pages.ErrorPage{Title: title, Message: msg, RequestID: requestID(r.Context())})
}

// pendingForm returns the pending request a page's form (a POST) or
// link (a GET) names, after the form's CSRF token: both are bound to this
// browser.
func (s *Server) pendingForm(r *http.Request, v url.Values) (*session.PendingAuthorization, error) {
	tok := v.Get("request")
	if r.Method == http.MethodPost && !s.svc.CheckFormToken(tok, s.flowValue(r), v.Get("csrf")) {
		return nil, baton.Errorf(baton.ECSRFFailed, "the form expired or came from another site: go back to the application and start again")
	}
	return s.svc.Pending(r.Context(), tok, s.flowValue(r))
}

// signInPage is GET and POST /login.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) error {
	v, err := requestValues(r)
	if err != nil {
		return err
	}
	tok := v.Get("request")
	pend, err := s.pendingForm(r, v)
	if err != nil {
		return err
	}
	if r.Method != http.MethodPost {
		s.renderLogin(w, r, http.StatusOK, tok, pend, pend.Params.LoginHint, "")
		return nil
	}
	cl := s.client(r)
	var g *session.Grant
	switch {
	case v.Get("mfa_token") != "":
		g, err = s.pageSecondFactor(r, v, cl)
	case v.Get("method") == "passkey":
		cred := []byte(v.Get("credential"))
		err = s.limited(r.Context(), s.svc.PasskeyAccount(r.Context(), cred), cl.IP, func() (err error) {
			g, err = s.svc.PasskeySignIn(r.Context(), v.Get("flow_id"), cred, cl)
			return err
		})
	default:
		username, password := v.Get("username"), v.Get("password")
		if username == "" || password == "" {
			s.renderLogin(w, r, http.StatusBadRequest, tok, pend, username, "Enter your username and password.")
			return nil
		}
		err = s.limited(r.Context(), accountKey(username), cl.IP, func() (err error) {
			g, err = s.svc.SignIn(r.Context(), username, password, cl)
			return err
		})
	}
	var mfa *session.MFARequired
	switch {
	case errors.As(err, &mfa):
		s.renderSecondFactor(w, r, http.StatusOK, tok, pend, mfa.Token, mfa.Methods, "")
		return nil
	case err != nil && v.Get("mfa_token") != "" && baton.ErrorCode(err) == baton.EInvalidCredentials:
		s.renderSecondFactor(w, r, http.StatusUnauthorized, tok, pend, v.Get("mfa_token"), s.svc.MFAMethods(r.Context(), v.Get("mfa_token")),
			"That code is not right. Try again.")
		return nil
	case err != nil:
		status, ok := statusOf[baton.ErrorCode(err)]
		if !ok || status >= 500 {
			return err
		}
		s.renderLogin(w, r, status, tok, pend, v.Get("username"), signInMessage(err))
		return nil
	}
	// The browser's previous sign-in (another user's, or one too old for
	// prompt=login or max_age) ends: a logout of that session by its
	// cookie, audited as one.
	if old, err := r.Cookie(cookieSSO); err == nil && old.Value != g.RefreshToken {
		_ = s.svc.Logout(r.Context(), session.LogoutRequest{RefreshToken: old.Value, Scope: session.ScopeLocal}, cl)
	}
	s.setSSOCookie(w, g)
	out, err := s.svc.ContinueAuthorize(r.Context(), pend, g.Session, cl)
	return s.proceed(w, r, out, err)
}

// pageSecondFactor checks the second-factor form: a code (TOTP or
// recovery code, told apart by their shapes) or a passkey, limited like
// POST /v1/login/mfa.
func (s *Server) pageSecondFactor(r *http.Request, v url.Values, cl session.Client) (*session.Grant, error) {
	req := session.MFARequest{Token: v.Get("mfa_token")}
	if v.Get("method") == "passkey" {
		req.Passkey = []byte(v.Get("credential"))
	} else {
		code := strings.TrimSpace(v.Get("code"))
		if code == "" {
			return nil, baton.Errorf(baton.EInvalidCode, "enter the code")
		}
		if session.LooksLikeTOTP(code) {
			req.TOTP = &code
		} else {
			req.RecoveryCode = &code
		}
	}
	account := s.svc.MFAAccount(r.Context(), req.Token)
	perAccount := func(bool) {}
	if s.opt.Limits != nil {
		var err error
		if perAccount, err = s.opt.Limits.AttemptSecondFactor(r.Context(), account); err != nil {
			return nil, err
		}
	}
	var g *session.Grant
	err := s.limited(r.Context(), account, cl.IP, func() (err error) {
		g, err = s.svc.CompleteLogin(r.Context(), req, cl)
		return err
	})
	perAccount(baton.ErrorCode(err) == baton.EInvalidCredentials)
	return g, err
}

// signInMessage is what the sign-in page says about a failure.
func signInMessage(err error) string {
	switch baton.ErrorCode(err) {
	case baton.EInvalidCredentials:
		return "The username or password is wrong."
	case baton.EInvalidGrant:
		return "The sign-in took too long. Start again."
	case baton.ETooManyRequests:
		return "Too many attempts. Wait a while and try again."
	case baton.EEmailNotVerified:
		return "Confirm your email address first: open the link we sent you."
	}
	return baton.ErrorMessage(err)
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, tok string, pend *session.PendingAuthorization, username, msg string) {
	s.opt.ProviderPages.Login(w, status, pages.LoginPage{
		Action: s.basePath + "/login", Request: tok, CSRF: s.svc.FormToken(tok, s.browser(w, r)),
		ClientName: pend.Client.Name, Username: username, Error: msg, Passkeys: s.svc.PasskeysEnabled(),
		RedirectURI: pend.Params.RedirectURI,
	})
}

func (s *Server) renderSecondFactor(w http.ResponseWriter, r *http.Request, status int, tok string, pend *session.PendingAuthorization, mfaToken string, methods []string, msg string) {
	s.opt.ProviderPages.SecondFactor(w, status, pages.SecondFactorPage{
		Action: s.basePath + "/login", Request: tok, CSRF: s.svc.FormToken(tok, s.browser(w, r)),
		ClientName: pend.Client.Name, MFAToken: mfaToken, Methods: methods, Error: msg,
		RedirectURI: pend.Params.RedirectURI,
	})
}

// consentPage is GET and POST /consent.
func (s *Server) consentPage(w http.ResponseWriter, r *http.Request) error {
	v, err := requestValues(r)
	if err != nil {
		return err
	}
	tok := v.Get("request")
	pend, err := s.pendingForm(r, v)
	if err != nil {
		return err
	}
	sso, err := s.ssoSession(r)
	if err != nil {
		return err
	}
	if r.Method != http.MethodPost {
		if sso == nil {
			http.Redirect(w, r, s.basePath+"/login?request="+url.QueryEscape(tok), http.StatusSeeOther)
			return nil
		}
		// The page names the account, so whoever grants sees as whom.
		u, err := s.svc.Me(r.Context(), &token.Claims{Subject: sso.UserID})
		if err != nil {
			return err
		}
		s.opt.ProviderPages.Consent(w, http.StatusOK, pages.ConsentPage{
			Action: s.basePath + "/consent", Request: tok, CSRF: s.svc.FormToken(tok, s.browser(w, r)),
			ClientName: pend.Client.Name, Scopes: pend.Scopes, RedirectURI: pend.Params.RedirectURI, Username: u.Username,
		})
		return nil
	}
	var allow bool
	switch v.Get("decision") {
	case "allow":
		allow = true
	case "deny":
	default:
		return baton.Errorf(baton.EInvalidRequest, "decision must be allow or deny")
	}
	out, err := s.svc.Consent(r.Context(), pend, sso, allow, s.client(r))
	return s.proceed(w, r, out, err)
}

// rpLogout is /oauth/logout (OpenID Connect RP-Initiated Logout 1.0). With
// an id_token_hint that verifies and names the browser's user, the relying
// party vouches for the request and the sessions end at once; otherwise
// the user confirms on a page first, so a link on another site cannot sign
// anyone out.
func (s *Server) rpLogout(w http.ResponseWriter, r *http.Request) error {
	v, err := requestValues(r)
	if err != nil {
		return err
	}
	req := session.RPLogoutRequest{IDTokenHint: v.Get("id_token_hint"), ClientID: v.Get("client_id"),
		PostLogoutRedirectURI: v.Get("post_logout_redirect_uri"), State: v.Get("state")}
	lo, err := s.svc.CheckRPLogout(r.Context(), req)
	if err != nil {
		return err
	}
	sso, err := s.ssoSession(r)
	if err != nil {
		return err
	}
	confirmed := r.Method == http.MethodPost && s.svc.CheckFormToken("logout", s.flowValue(r), v.Get("csrf"))
	name := ""
	if lo.Client != nil {
		name = lo.Client.Name
	}
	if sso != nil && !confirmed && !lo.Covers(sso) {
		s.opt.ProviderPages.LogoutConfirm(w, http.StatusOK, pages.LogoutPage{
			Action: s.basePath + "/oauth/logout", CSRF: s.svc.FormToken("logout", s.browser(w, r)), ClientName: name,
			IDTokenHint: req.IDTokenHint, ClientID: req.ClientID, PostLogoutRedirectURI: req.PostLogoutRedirectURI, State: req.State,
			RedirectURI: lo.Redirect,
		})
		return nil
	}
	if err := s.svc.EndRPLogout(r.Context(), lo, sso, s.client(r)); err != nil {
		return err
	}
	s.clearSSOCookie(w)
	w.Header().Set("Cache-Control", "no-store")
	if lo.Redirect != "" {
		http.Redirect(w, r, lo.Redirect, http.StatusSeeOther)
		return nil
	}
	s.opt.ProviderPages.SignedOut(w, http.StatusOK, pages.SignedOutPage{ClientName: name})
	return nil
}
