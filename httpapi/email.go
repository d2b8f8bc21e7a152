package httpapi

import (
	"net/http"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
)

// requestVerification is POST /v1/email/verification: a new verification
// link to the caller's address.
func (s *Server) requestVerification(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	cl := s.client(r)
	if err := s.allowEmailRequest(r, cl); err != nil {
		return err
	}
	if err := s.svc.RequestVerification(r.Context(), c, cl); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// verifyEmail is POST /v1/email/verify {"token"}: the link's token is the
// only authentication.
func (s *Server) verifyEmail(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Token *string `json:"token"`
	}
	if err := decodeJSON(r, &req, "token"); err != nil {
		return err
	}
	cl := s.client(r)
	var u *baton.User
	err := s.limited(r.Context(), "", cl.IP, func() (err error) {
		u, err = s.svc.VerifyEmail(r.Context(), *req.Token, cl)
		return err
	})
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"email": u.Email, "email_verified": u.EmailVerified})
	return nil
}

// allowEmailRequest applies the per-IP budget of requests that may send
// mail (BATON_LIMIT_IP_EMAIL_REQUESTS).
func (s *Server) allowEmailRequest(r *http.Request, cl session.Client) error {
	if s.opt.Limits == nil {
		return nil
	}
	return s.opt.Limits.AllowEmailRequest(r.Context(), cl.IP)
}

// forgotPassword is POST /v1/password/forgot {"email"} or {"username"}:
// always 202 with an empty body, whether or not the account exists.
func (s *Server) forgotPassword(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email    *string `json:"email"`
		Username *string `json:"username"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	cl := s.client(r)
	if err := s.allowEmailRequest(r, cl); err != nil {
		return err
	}
	if err := s.svc.ForgotPassword(r.Context(), session.ForgotRequest{Email: req.Email, Username: req.Username}, cl); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// resetPassword is POST /v1/password/reset {"token", "new_password"}: the
// link's token is the only authentication.
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Token       *string `json:"token"`
		NewPassword *string `json:"new_password"`
	}
	if err := decodeJSON(r, &req, "token", "new_password"); err != nil {
		return err
	}
	cl := s.client(r)
	err := s.limited(r.Context(), "", cl.IP, func() error {
		return s.svc.ResetPassword(r.Context(), *req.Token, *req.NewPassword, cl)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// changeEmail is POST /v1/email {"email"} with a fresh token: a
// confirmation link to the new address, a notice to the old.
func (s *Server) changeEmail(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	var req struct {
		Email *string `json:"email"`
	}
	if err := decodeJSON(r, &req, "email"); err != nil {
		return err
	}
	if err := s.svc.ChangeEmail(r.Context(), c, *req.Email, s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
