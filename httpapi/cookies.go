package httpapi

import (
	"net/http"
	"time"

	"github.com/batonauth/baton/session"
)

// refreshCookiePaths are the endpoints that read the refresh cookie; the
// cookie is set once per path so no other endpoint ever receives it.
func (s *Server) refreshCookiePaths() []string {
	return []string{s.basePath + "/v1/refresh", s.basePath + "/v1/logout"}
}

func (s *Server) cookie(name, value, path string, maxAge time.Duration, httpOnly bool, sameSite http.SameSite) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: httpOnly, Secure: s.opt.CookieSecure, SameSite: sameSite}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
		c.Expires = time.Now().Add(maxAge)
	} else {
		c.MaxAge = -1
	}
	return c
}

func (s *Server) cookieRoot() string {
	if s.basePath == "" {
		return "/"
	}
	return s.basePath + "/"
}

// setAccessCookie stores the access token for server-rendered sites. It is
// SameSite=Lax rather than Strict so a link from another site still opens
// a signed-in page; every unsafe method needs the CSRF header anyway.
func (s *Server) setAccessCookie(w http.ResponseWriter, g *session.Grant) {
	http.SetCookie(w, s.cookie(cookieAccess, g.AccessToken, s.cookieRoot(), g.AccessExpiresAt.Sub(g.IssuedAt), true, http.SameSiteLaxMode))
}

func (s *Server) setRefreshCookies(w http.ResponseWriter, g *session.Grant) {
	life := g.Session.ExpiresAt.Sub(g.IssuedAt)
	for _, p := range s.refreshCookiePaths() {
		http.SetCookie(w, s.cookie(cookieRefresh, g.RefreshToken, p, life, true, http.SameSiteStrictMode))
	}
	// Readable by the page's script, which repeats it in X-CSRF-Token.
	http.SetCookie(w, s.cookie(cookieCSRF, s.svc.CSRFToken(g.Session.ID), s.cookieRoot(), life, false, http.SameSiteStrictMode))
}

// clearCookies expires every cookie baton sets.
func (s *Server) clearCookies(w http.ResponseWriter) {
	http.SetCookie(w, s.cookie(cookieAccess, "", s.cookieRoot(), 0, true, http.SameSiteLaxMode))
	for _, p := range s.refreshCookiePaths() {
		http.SetCookie(w, s.cookie(cookieRefresh, "", p, 0, true, http.SameSiteStrictMode))
	}
	http.SetCookie(w, s.cookie(cookieCSRF, "", s.cookieRoot(), 0, false, http.SameSiteStrictMode))
}
