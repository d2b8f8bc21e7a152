package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/dpop"
	"github.com/batonauth/baton/httpauth"
	"github.com/batonauth/baton/session"
	"github.com/batonauth/baton/token"
)

// tokenResponse is the contract's token response. With cookie transports
// the tokens that travel in cookies are left out of the body.
type tokenResponse struct {
	AccessToken           string `json:"access_token,omitempty"`
	TokenType             string `json:"token_type"`
	ExpiresIn             int64  `json:"expires_in"`
	RefreshToken          string `json:"refresh_token,omitempty"`
	RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in,omitempty"`
	SessionID             string `json:"session_id"`
}

// writeGrant answers with a token response in the session's transport.
func (s *Server) writeGrant(w http.ResponseWriter, g *session.Grant, transport string, status int) {
	resp := tokenResponse{
		AccessToken: g.AccessToken,
		TokenType:   "Bearer",
		ExpiresIn:   g.ExpiresIn(),
		SessionID:   g.Session.ID,
	}
	if g.Claims.JKT != "" {
		resp.TokenType = "DPoP"
	}
	if g.RefreshToken != "" {
		resp.RefreshToken = g.RefreshToken
		resp.RefreshTokenExpiresIn = g.RefreshExpiresIn()
	}
	switch transport {
	case baton.TransportRefreshCookie:
		if g.RefreshToken != "" {
			s.setRefreshCookies(w, g)
			resp.RefreshToken = ""
		}
	case baton.TransportCookies:
		s.setAccessCookie(w, g)
		resp.AccessToken = ""
		if g.RefreshToken != "" {
			s.setRefreshCookies(w, g)
			resp.RefreshToken = ""
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, status, resp)
}

type userResponse struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	// Email is null for a user without an address.
	Email         *string   `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	CreatedAt     time.Time `json:"created_at"`
	SessionID     string    `json:"session_id,omitempty"`
	// MFA is in GET /v1/me only.
	MFA *mfaResponse `json:"mfa,omitempty"`
}

type mfaResponse struct {
	TOTP              bool `json:"totp"`
	Passkeys          int  `json:"passkeys"`
	RecoveryCodesLeft int  `json:"recovery_codes_left"`
}

func toUserResponse(u *baton.User, sessionID string) userResponse {
	resp := userResponse{ID: u.ID, Username: u.Username, EmailVerified: u.EmailVerified, CreatedAt: u.CreatedAt, SessionID: sessionID}
	if u.Email != "" {
		resp.Email = &u.Email
	}
	return resp
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Username *string `json:"username"`
		Password *string `json:"password"`
		// Email is optional: absent or null gives none (or the username
		// when it is an address).
		Email *string `json:"email"`
	}
	if err := decodeJSON(r, &req, "username", "password"); err != nil {
		return err
	}
	cl := s.client(r)
	if s.opt.Limits != nil {
		if err := s.opt.Limits.AllowRegistration(r.Context(), cl.IP); err != nil {
			return err
		}
	}
	u, err := s.svc.Register(r.Context(), session.RegisterRequest{Username: *req.Username, Password: *req.Password, Email: req.Email}, cl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toUserResponse(u, ""))
	return nil
}

// limited runs f, a password check for account or a refresh (account
// empty), under the failure limits: refused when failures (earlier ones,
// or attempts still running, which each hold one) used up the budget;
// counted when it fails with bad credentials or a bad grant. Successes
// and other errors give their hold back.
func (s *Server) limited(ctx context.Context, account, ip string, f func() error) error {
	if s.opt.Limits == nil {
		return f()
	}
	done, err := s.opt.Limits.Attempt(ctx, account, ip)
	if err != nil {
		return err
	}
	err = f()
	c := baton.ErrorCode(err)
	done(c == baton.EInvalidCredentials || c == baton.EInvalidGrant || c == baton.EInvalidLink)
	return err
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Username  *string `json:"username"`
		Password  *string `json:"password"`
		Transport *string `json:"transport"`
		ClientID  *string `json:"client_id"`
	}
	if err := decodeJSON(r, &req, "username", "password"); err != nil {
		return err
	}
	transport := str(req.Transport)
	if transport == "" {
		transport = baton.TransportBody
	}
	proof, err := s.checkProof(r, "")
	if err != nil {
		return err
	}
	cl := s.client(r)
	var g *session.Grant
	err = s.limited(r.Context(), accountKey(*req.Username), cl.IP, func() (err error) {
		// Spent past the failure limits: a client that keeps failing is
		// refused before its proofs take room in the replay cache.
		if err := s.spend(r, proof); err != nil {
			return err
		}
		g, err = s.svc.Login(r.Context(), session.LoginRequest{
			Username: *req.Username, Password: *req.Password, Transport: transport, ClientID: str(req.ClientID),
			Binding: jkt(proof),
		}, cl)
		return err
	})
	if err != nil {
		return err
	}
	s.writeGrant(w, g, g.Session.Transport, http.StatusOK)
	return nil
}

func jkt(p *dpop.Proof) string {
	if p == nil {
		return ""
	}
	return p.JKT
}

func accountKey(username string) string {
	_, canonical, err := session.NormalizeUsername(username)
	if err != nil {
		return ""
	}
	return canonical
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RefreshToken *string `json:"refresh_token"`
		AccessToken  *string `json:"access_token"`
		ClientID     *string `json:"client_id"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	rr := session.RefreshRequest{RefreshToken: str(req.RefreshToken), AccessToken: str(req.AccessToken), ClientID: str(req.ClientID)}
	if rr.RefreshToken == "" {
		tok, err := bearer(r)
		if err != nil {
			return baton.Errorf(baton.EInvalidGrant, "the Authorization header is malformed")
		}
		rr.RefreshToken = tok
	}
	if rr.RefreshToken == "" {
		if c, err := r.Cookie(cookieRefresh); err == nil && c.Value != "" {
			rr.RefreshToken = c.Value
			if rr.CSRFSession = s.csrfSession(r); rr.CSRFSession == "" {
				rr.Precondition = func(sess *baton.Session) error { return s.checkCSRF(r, sess.ID) }
			}
		}
	}
	if rr.RefreshToken == "" {
		return baton.Errorf(baton.EInvalidRequest, "a refresh token is required (body, Bearer header or cookie)")
	}
	proof, err := s.checkProof(r, "")
	if err != nil {
		return err
	}
	rr.ProofJKT = jkt(proof)
	// The proof is spent once the refresh token turned out to be of a
	// session bound to its key; the engine refuses any other.
	rr.Precondition = both(rr.Precondition, s.keyProof(r, proof, false))
	cl := s.client(r)
	var g *session.Grant
	err = s.limited(r.Context(), "", cl.IP, func() (err error) {
		g, err = s.svc.Refresh(r.Context(), rr, cl)
		return err
	})
	if err != nil {
		if baton.ErrorCode(err) == baton.EInvalidGrant {
			s.clearCookiesIfPresent(w, r)
		}
		return err
	}
	s.writeGrant(w, g, g.Session.Transport, http.StatusOK)
	return nil
}

func (s *Server) clearCookiesIfPresent(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(cookieRefresh); err == nil {
		s.clearCookies(w)
	}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Scope        *string `json:"scope"`
		RefreshToken *string `json:"refresh_token"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	lr := session.LogoutRequest{Scope: str(req.Scope), RefreshToken: str(req.RefreshToken)}
	// A session bound to a DPoP key ends only with a proof of the key: by
	// access token as on every protected endpoint (httpauth.CheckBinding),
	// by refresh token as on refresh. Either is checked once the engine
	// found the session, and skipped when it is already revoked.
	var cred httpauth.Presented
	if lr.RefreshToken == "" {
		tok, isDPoP, err := authorization(r)
		if err != nil {
			return err
		}
		switch {
		case token.IsRefreshToken(tok):
			lr.RefreshToken = tok
		case tok != "":
			c, err := s.svc.VerifyForLogout(tok)
			if err != nil {
				return err
			}
			lr.Claims, cred = c, httpauth.Presented{Token: tok, DPoP: isDPoP}
		}
	}
	if lr.RefreshToken == "" && lr.Claims == nil {
		if c, err := r.Cookie(cookieAccess); err == nil && c.Value != "" {
			claims, err := s.svc.VerifyForLogout(c.Value)
			if err == nil {
				if err := s.checkCSRF(r, claims.SessionID); err != nil {
					return err
				}
				lr.Claims, cred = claims, httpauth.Presented{Token: c.Value, Cookie: true}
			}
		}
	}
	if lr.RefreshToken == "" && lr.Claims == nil {
		if c, err := r.Cookie(cookieRefresh); err == nil && c.Value != "" {
			lr.RefreshToken = c.Value
			lr.Precondition = func(sess *baton.Session) error { return s.checkCSRF(r, sess.ID) }
		}
	}
	switch {
	case lr.Claims != nil:
		lr.Precondition = func(sess *baton.Session) error {
			if !sess.RevokedAt.IsZero() {
				return nil
			}
			return httpauth.CheckBinding(r.Context(), cred, lr.Claims.JKT, s.binding(r))
		}
	case lr.RefreshToken != "":
		proof, err := s.checkProof(r, "")
		if err != nil {
			return err
		}
		lr.Precondition = both(lr.Precondition, s.keyProof(r, proof, true))
	default:
		return baton.Errorf(baton.EUnauthorized, "an access or refresh token is required")
	}
	if err := s.svc.Logout(r.Context(), lr, s.client(r)); err != nil {
		return err
	}
	s.clearCookies(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	p, err := s.svc.Profile(r.Context(), c)
	if err != nil {
		return err
	}
	resp := toUserResponse(&p.User, c.SessionID)
	resp.MFA = &mfaResponse{TOTP: p.MFA.TOTP, Passkeys: p.MFA.Passkeys, RecoveryCodesLeft: p.MFA.RecoveryCodesLeft}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) deleteMe(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	if err := s.svc.RequireFresh(c); err != nil {
		return err
	}
	if err := s.svc.DeleteAccount(r.Context(), c, s.client(r)); err != nil {
		return err
	}
	s.clearCookies(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) reauth(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	var req struct {
		Password *string `json:"password"`
	}
	if err := decodeJSON(r, &req, "password"); err != nil {
		return err
	}
	cl := s.client(r)
	var g *session.Grant
	err = s.limited(r.Context(), c.Subject, cl.IP, func() (err error) {
		g, err = s.svc.Reauth(r.Context(), c, *req.Password, cl)
		return err
	})
	if err != nil {
		return err
	}
	s.writeGrant(w, g, g.Session.Transport, http.StatusOK)
	return nil
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	var req struct {
		Current *string `json:"current_password"`
		New     *string `json:"new_password"`
	}
	if err := decodeJSON(r, &req, "current_password", "new_password"); err != nil {
		return err
	}
	if err := s.svc.RequireFresh(c); err != nil {
		return err
	}
	cl := s.client(r)
	var g *session.Grant
	err = s.limited(r.Context(), c.Subject, cl.IP, func() (err error) {
		g, err = s.svc.ChangePassword(r.Context(), c, *req.Current, *req.New, cl)
		return err
	})
	if err != nil {
		return err
	}
	s.writeGrant(w, g, g.Session.Transport, http.StatusOK)
	return nil
}

type sessionResponse struct {
	ID            string    `json:"id"`
	CreatedAt     time.Time `json:"created_at"`
	LastUsedAt    time.Time `json:"last_used_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	UserAgent     string    `json:"user_agent"`
	IP            string    `json:"ip"`
	// AMR is how the session's user authenticated (RFC 8176); an array
	// even when empty.
	AMR     []string `json:"amr"`
	Current bool     `json:"current"`
}

func (s *Server) sessions(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return baton.Errorf(baton.EInvalidRequest, "limit must be a whole number from 1 to %d", session.MaxSessionsPage)
		}
		limit = n
	}
	list, next, err := s.svc.Sessions(r.Context(), c, q.Get("cursor"), limit)
	if err != nil {
		return err
	}
	out := make([]sessionResponse, 0, len(list))
	for _, ss := range list {
		amr := ss.AMR
		if amr == nil {
			amr = []string{}
		}
		out = append(out, sessionResponse{
			ID: ss.ID, CreatedAt: ss.CreatedAt, LastUsedAt: ss.LastUsedAt, ExpiresAt: ss.ExpiresAt,
			IdleExpiresAt: ss.IdleExpiresAt, UserAgent: ss.UserAgent, IP: ss.IP, AMR: amr, Current: ss.ID == c.SessionID,
		})
	}
	body := map[string]any{"sessions": out}
	if next != "" {
		body["next_cursor"] = next
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if len(id) > 64 {
		return baton.Errorf(baton.ENotFound, "no such session")
	}
	if err := s.svc.RevokeOwnSession(r.Context(), c, id, s.client(r)); err != nil {
		return err
	}
	if id == c.SessionID {
		s.clearCookies(w)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
