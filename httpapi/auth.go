package httpapi

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/httpauth"
	"github.com/batonauth/baton/session"
	"github.com/batonauth/baton/token"
)

// Cookie names (the contract's).
const (
	cookieAccess  = "baton_access"
	cookieRefresh = "baton_refresh"
	cookieCSRF    = "baton_csrf"
	headerCSRF    = "X-CSRF-Token"
)

// authorization splits the request's Authorization header (httpauth's
// rule): its token and whether the scheme is DPoP.
func authorization(r *http.Request) (tok string, isDPoP bool, err error) {
	return httpauth.Authorization(r.Header.Get("Authorization"))
}

// bearer returns the token of an Authorization header of either scheme.
func bearer(r *http.Request) (string, error) {
	tok, _, err := authorization(r)
	return tok, err
}

// accessCredential finds the access token: the Authorization header first,
// then the access cookie.
func accessCredential(r *http.Request) (httpauth.Presented, error) {
	tok, isDPoP, err := authorization(r)
	if err != nil {
		return httpauth.Presented{}, err
	}
	if tok != "" {
		return httpauth.Presented{Token: tok, DPoP: isDPoP}, nil
	}
	if c, err := r.Cookie(cookieAccess); err == nil && c.Value != "" {
		return httpauth.Presented{Token: c.Value, Cookie: true}, nil
	}
	return httpauth.Presented{}, baton.Errorf(baton.EUnauthorized, "an access token is required")
}

// unsafe reports whether the method can change state (RFC 9110 §9.2.1).
func unsafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// checkCSRF enforces the signed double-submit pattern (OWASP) on a
// cookie-authenticated unsafe request: X-CSRF-Token must equal the
// baton_csrf cookie and be the value bound to the session. A cross-site
// Origin is refused outright.
func (s *Server) checkCSRF(r *http.Request, sessionID string) error {
	if !unsafe(r.Method) {
		return nil
	}
	h, err := s.submittedCSRF(r)
	if err != nil {
		return err
	}
	if !s.svc.CSRFTokenMatches(h, sessionID) {
		return errCSRFMismatch
	}
	return nil
}

// csrfSession returns the session that a cookie refresh's CSRF token names
// when everything checkCSRF checks, but the session itself, passes: the
// engine then checks that session against the refresh token's inside the
// store's one-statement rotation. "" when not; the caller then falls back
// to checkCSRF as a precondition, which reports what failed.
func (s *Server) csrfSession(r *http.Request) string {
	if !unsafe(r.Method) {
		return ""
	}
	h, err := s.submittedCSRF(r)
	if err != nil {
		return ""
	}
	return s.svc.CSRFSession(h)
}

var errCSRFMismatch = baton.Errorf(baton.ECSRFFailed, "the CSRF token does not match")

// submittedCSRF returns the CSRF value a request submits, once the checks
// that need no session pass: an allowed (or no) Origin, and X-CSRF-Token
// present and equal to the baton_csrf cookie.
func (s *Server) submittedCSRF(r *http.Request) (string, error) {
	if o := r.Header.Get("Origin"); o != "" && !s.allowedOrigin(o) {
		return "", baton.Errorf(baton.ECSRFFailed, "cross-origin request refused")
	}
	h := r.Header.Get(headerCSRF)
	c, err := r.Cookie(cookieCSRF)
	if h == "" || err != nil {
		return "", baton.Errorf(baton.ECSRFFailed, "the X-CSRF-Token header must repeat the baton_csrf cookie")
	}
	if subtle.ConstantTimeCompare([]byte(h), []byte(c.Value)) != 1 {
		return "", errCSRFMismatch
	}
	return h, nil
}

func (s *Server) allowedOrigin(origin string) bool {
	if origin == s.issuer.Scheme+"://"+s.issuer.Host || origin == loopbackAlias(s.issuer) {
		return true
	}
	for _, o := range s.opt.CORSOrigins {
		if o == origin {
			return true
		}
	}
	return false
}

// authenticate verifies the request's access token for a protected
// endpoint, enforces CSRF for cookies, and with the cookies transport
// re-issues an access cookie that is close to expiry (implicit refresh).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*token.Claims, error) {
	cred, err := accessCredential(r)
	if err != nil {
		return nil, err
	}
	c, err := s.svc.Authenticate(cred.Token)
	if err != nil {
		return nil, err
	}
	if err := httpauth.CheckBinding(r.Context(), cred, c.JKT, s.binding(r)); err != nil {
		return nil, err
	}
	if cred.Cookie {
		if err := s.checkCSRF(r, c.SessionID); err != nil {
			return nil, err
		}
		if c.ExpiresAt.Sub(s.svc.Now()) < s.opt.ImplicitRefreshWindow {
			g, err := s.svc.ReissueAccess(r.Context(), c, s.client(r))
			if err != nil {
				return nil, err
			}
			if g != nil {
				s.setAccessCookie(w, g)
				w.Header().Set("Cache-Control", "no-store")
				c = g.Claims
			}
		}
	}
	return c, nil
}

// authenticateAccount is authenticate for baton's own account API
// (/v1/…): an access token issued to a registered client is refused. Such
// a token is the user's consent to the client's scopes — UserInfo and the
// client's resource servers — not a key to the account: with it a third
// party could read the address it was not granted, list the user's
// sessions with their addresses, end them, or withdraw other consents.
//
// A client registered --first-party is one of the operator's own
// applications (it gets no consent page either), so its users' tokens are
// accepted like baton's own; finding that out costs a client read, on
// client tokens only.
func (s *Server) authenticateAccount(w http.ResponseWriter, r *http.Request) (*token.Claims, error) {
	c, err := s.authenticate(w, r)
	if err != nil {
		return nil, err
	}
	if !session.ClientToken(c) {
		return c, nil
	}
	if c.Scope != "" && c.Subject != c.ClientID { // a user's token, not client_credentials
		cl, err := s.svc.Client(r.Context(), c.ClientID)
		if err != nil && baton.ErrorCode(err) != baton.ENotFound {
			return nil, err
		}
		if err == nil && cl.FirstParty {
			return c, nil
		}
	}
	return nil, baton.Errorf(baton.EInvalidToken, "an access token issued to a third-party application is not accepted by the account API")
}

// loopbackAlias is the issuer's origin under the name localhost when the
// issuer is a loopback address (as by default), else "". It is the same
// listener, and the name pages must use for passkeys, since WebAuthn takes
// no IP address as the relying party (config: the RP id is then
// localhost): the demo at http://localhost:8080 with the default issuer
// http://127.0.0.1:8080 must pass the Origin check with its cookies.
func loopbackAlias(issuer *url.URL) string {
	addr, err := netip.ParseAddr(issuer.Hostname())
	if err != nil || !addr.IsLoopback() {
		return ""
	}
	host := "localhost"
	if p := issuer.Port(); p != "" {
		host = net.JoinHostPort(host, p)
	}
	return issuer.Scheme + "://" + host
}
