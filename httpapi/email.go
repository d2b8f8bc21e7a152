package httpapi

import (
	"net/http"
)

// requestVerification is POST /v1/email/verification: a new verification
// link to the caller's address.
func (s *Server) requestVerification(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticate(w, r)
	if err != nil {
		return err
	}
	if err := s.svc.RequestVerification(r.Context(), c, s.client(r)); err != nil {
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
	u, err := s.svc.VerifyEmail(r.Context(), *req.Token, s.client(r))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"email": u.Email, "email_verified": u.EmailVerified})
	return nil
}
