package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// Cookie names (the contract's).
const (
	cookieAccess  = "baton_access"
	cookieRefresh = "baton_refresh"
	cookieCSRF    = "baton_csrf"
	headerCSRF    = "X-CSRF-Token"
)

// credential is the token a request presents and where it came from.
type credential struct {
	token     string
	viaCookie bool
	dpop      bool // presented with the DPoP scheme (RFC 9449 §7.1)
}

// authorization splits an Authorization header into its token and whether
// the scheme is DPoP; "" when there is none, or an error for a malformed
// header or another scheme.
func authorization(r *http.Request) (tok string, isDPoP bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	isDPoP = strings.EqualFold(scheme, "DPoP")
	if !ok || !(isDPoP || strings.EqualFold(scheme, "Bearer")) || tok == "" {
		return "", false, baton.Errorf(baton.EInvalidToken, "the Authorization header must be \"Bearer <token>\" or \"DPoP <token>\"")
	}
	return tok, isDPoP, nil
}

// bearer returns the token of an Authorization header of either scheme.
func bearer(r *http.Request) (string, error) {
	tok, _, err := authorization(r)
	return tok, err
}

// accessCredential finds the access token: the Authorization header first,
// then the access cookie.
func accessCredential(r *http.Request) (credential, error) {
	tok, isDPoP, err := authorization(r)
	if err != nil {
		return credential{}, err
	}
	if tok != "" {
		return credential{token: tok, dpop: isDPoP}, nil
	}
	if c, err := r.Cookie(cookieAccess); err == nil && c.Value != "" {
		return credential{token: c.Value, viaCookie: true}, nil
	}
	return credential{}, baton.Errorf(baton.EUnauthorized, "an access token is required")
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
	if o := r.Header.Get("Origin"); o != "" && !s.allowedOrigin(o) {
		return baton.Errorf(baton.ECSRFFailed, "cross-origin request refused")
	}
	h := r.Header.Get(headerCSRF)
	c, err := r.Cookie(cookieCSRF)
	if h == "" || err != nil {
		return baton.Errorf(baton.ECSRFFailed, "the X-CSRF-Token header must repeat the baton_csrf cookie")
	}
	want := s.svc.CSRFToken(sessionID)
	if subtle.ConstantTimeCompare([]byte(h), []byte(c.Value)) != 1 || subtle.ConstantTimeCompare([]byte(h), []byte(want)) != 1 {
		return baton.Errorf(baton.ECSRFFailed, "the CSRF token does not match")
	}
	return nil
}

func (s *Server) allowedOrigin(origin string) bool {
	if origin == s.issuer.Scheme+"://"+s.issuer.Host {
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
	c, err := s.svc.Authenticate(cred.token)
	if err != nil {
		return nil, err
	}
	if err := s.checkBinding(r, cred, c.JKT); err != nil {
		return nil, err
	}
	if cred.viaCookie {
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

// checkBinding enforces sender-constrained tokens (RFC 9449 §7): a token
// bound to a key (cnf.jkt) is only accepted with the DPoP scheme and a
// proof of that key for this request and this token; a DPoP-scheme request
// must present a bound token.
func (s *Server) checkBinding(r *http.Request, cred credential, jkt string) error {
	if jkt == "" {
		if cred.dpop {
			return &resourceDPoPError{baton.Errorf(baton.EInvalidToken, "the token is not bound to a DPoP key: use the Bearer scheme")}
		}
		return nil
	}
	if !cred.dpop && !cred.viaCookie {
		return &resourceDPoPError{baton.Errorf(baton.EInvalidToken, "the token is bound to a DPoP key: use the DPoP scheme with a proof")}
	}
	proof, err := s.dpopProof(r, cred.token)
	if err != nil {
		return &resourceDPoPError{err}
	}
	if proof == nil {
		return &resourceDPoPError{baton.Errorf(baton.EInvalidDPoPProof, "a DPoP proof is required")}
	}
	if subtle.ConstantTimeCompare([]byte(proof.JKT), []byte(jkt)) != 1 {
		return &resourceDPoPError{baton.Errorf(baton.EInvalidToken, "the DPoP proof was made with another key than the token is bound to")}
	}
	return nil
}
