package httpapi

import (
	"context"
	"net/http"

	"github.com/batonauth/baton/token"
)

const claimsKey ctxKey = 100

// ClaimsFrom returns the verified access-token claims that RequireAuth or
// RequireFresh put into the request context: the user (Subject) and the
// session (SessionID) among them.
func ClaimsFrom(ctx context.Context) (*token.Claims, bool) {
	c, ok := ctx.Value(claimsKey).(*token.Claims)
	return c, ok
}

// RequireAuth is middleware for an application's own routes, when baton is
// embedded in it: the request needs a valid access token of a live session,
// from the Authorization header or the access cookie (with the CSRF check
// on unsafe methods, and implicit refresh of a cookie close to expiry),
// exactly as on baton's own endpoints. Failures get the contract's 401/403
// answers.
func (s *Server) RequireAuth(next http.Handler) http.Handler {
	return s.requireAuth(next, false)
}

// RequireFresh is RequireAuth for critical routes: the token must also be
// fresh (minted from a password verification within BATON_FRESH_TTL), or
// the answer is the RFC 9470 step-up challenge, which /v1/reauth cures.
func (s *Server) RequireFresh(next http.Handler) http.Handler {
	return s.requireAuth(next, true)
}

func (s *Server) requireAuth(next http.Handler, fresh bool) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.authenticate(w, r)
		if err == nil && fresh {
			err = s.svc.RequireFresh(c)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey, c)))
	})
	// The request id and client address come from baton's middleware.
	return s.middleware(h)
}
