package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
)

// beginTOTP is POST /v1/mfa/totp: a new pending secret, shown once.
func (s *Server) beginTOTP(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	e, err := s.svc.BeginTOTP(r.Context(), c, s.client(r))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"secret": e.Secret, "otpauth_uri": e.URI})
	return nil
}

// confirmTOTP is POST /v1/mfa/totp/confirm {"code"}: TOTP on, and the
// recovery codes, shown once.
func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	var req struct {
		Code *string `json:"code"`
	}
	if err := decodeJSON(r, &req, "code"); err != nil {
		return err
	}
	codes, err := s.svc.ConfirmTOTP(r.Context(), c, *req.Code, s.client(r))
	if err != nil {
		return err
	}
	writeCodes(w, codes)
	return nil
}

// disableTOTP is DELETE /v1/mfa/totp.
func (s *Server) disableTOTP(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	if err := s.svc.DisableTOTP(r.Context(), c, s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// regenerateRecoveryCodes is POST /v1/mfa/recovery-codes.
func (s *Server) regenerateRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	codes, err := s.svc.RegenerateRecoveryCodes(r.Context(), c, s.client(r))
	if err != nil {
		return err
	}
	writeCodes(w, codes)
	return nil
}

func writeCodes(w http.ResponseWriter, codes []string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string][]string{"recovery_codes": codes})
}

// loginMFA is POST /v1/login/mfa {"mfa_token", "totp" | "recovery_code" |
// "passkey"}:
// the second step of a login or reauth. Wrong codes count toward the
// account's failure budget, as wrong passwords do.
func (s *Server) loginMFA(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Token        *string         `json:"mfa_token"`
		TOTP         *string         `json:"totp"`
		RecoveryCode *string         `json:"recovery_code"`
		Passkey      json.RawMessage `json:"passkey"`
	}
	if err := decodeJSON(r, &req, "mfa_token"); err != nil {
		return err
	}
	cl := s.client(r)
	account := s.svc.MFAAccount(r.Context(), *req.Token)
	perAccount := func(bool) {}
	if s.opt.Limits != nil {
		var err error
		if perAccount, err = s.opt.Limits.AttemptSecondFactor(r.Context(), account); err != nil {
			return err
		}
	}
	var g *session.Grant
	err := s.limited(r.Context(), account, cl.IP, func() (err error) {
		g, err = s.svc.CompleteLogin(r.Context(), session.MFARequest{Token: *req.Token, TOTP: req.TOTP, RecoveryCode: req.RecoveryCode,
			Passkey: rawCredential(req.Passkey)}, cl)
		return err
	})
	perAccount(baton.ErrorCode(err) == baton.EInvalidCredentials)
	if err != nil {
		return err
	}
	s.writeGrant(w, g, g.Session.Transport, http.StatusOK)
	return nil
}
