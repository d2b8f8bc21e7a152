package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
)

// Passkeys: enrolment and sign-in ceremonies (WebAuthn), each an options
// request and an answer. The credentials pass through as raw JSON; the
// engine parses them (a malformed one is invalid_request).

var errPasskeysOff = baton.Errorf(baton.ENotFound, "passkeys are not enabled on this server")

type passkeyResponse struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func newPasskeyResponse(p *baton.Passkey) passkeyResponse {
	r := passkeyResponse{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt}
	if !p.LastUsedAt.IsZero() {
		r.LastUsedAt = &p.LastUsedAt
	}
	return r
}

// writeFlow answers the first half of a ceremony: its one-time handle and
// the options for navigator.credentials.
func writeFlow(w http.ResponseWriter, f *session.PasskeyFlow) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, struct {
		FlowID  string          `json:"flow_id"`
		Options json.RawMessage `json:"options"`
	}{f.FlowID, f.Options})
}

// passkeysOn answers 404 for h while passkeys are off (no RP id), before
// any authentication.
func (s *Server) passkeysOn(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !s.svc.PasskeysEnabled() {
			return errPasskeysOff
		}
		return h(w, r)
	}
}

// rawCredential is a credential member as the engine takes it: nil when
// absent or null.
func rawCredential(m json.RawMessage) []byte {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	return m
}

// passkeyRegisterOptions is POST /v1/passkeys/register/options (fresh
// token).
func (s *Server) passkeyRegisterOptions(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	var req struct{}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	f, err := s.svc.BeginPasskeyRegistration(r.Context(), c)
	if err != nil {
		return err
	}
	writeFlow(w, f)
	return nil
}

// passkeyRegister is POST /v1/passkeys/register {"flow_id", "credential",
// "name"?} (fresh token): the new passkey.
func (s *Server) passkeyRegister(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	var req struct {
		FlowID     *string         `json:"flow_id"`
		Credential json.RawMessage `json:"credential"`
		Name       *string         `json:"name"`
	}
	if err := decodeJSON(r, &req, "flow_id"); err != nil {
		return err
	}
	cred := rawCredential(req.Credential)
	if cred == nil {
		return baton.Errorf(baton.EInvalidRequest, "the field %q is required", "credential")
	}
	p, err := s.svc.FinishPasskeyRegistration(r.Context(), c, *req.FlowID, cred, str(req.Name), s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newPasskeyResponse(p))
	return nil
}

// passkeys is GET /v1/passkeys.
func (s *Server) passkeys(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	list, err := s.svc.Passkeys(r.Context(), c)
	if err != nil {
		return err
	}
	out := make([]passkeyResponse, 0, len(list))
	for _, p := range list {
		out = append(out, newPasskeyResponse(p))
	}
	writeJSON(w, http.StatusOK, map[string][]passkeyResponse{"passkeys": out})
	return nil
}

// deletePasskey is DELETE /v1/passkeys/{id} (fresh token; with mfa for
// the last second factor).
func (s *Server) deletePasskey(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if len(id) > 64 {
		return baton.Errorf(baton.ENotFound, "no such passkey")
	}
	if err := s.svc.DeletePasskey(r.Context(), c, id, s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// passkeyLoginOptions is POST /v1/passkeys/login/options {} (usernameless)
// or {"mfa_token"} (the second step of a login).
func (s *Server) passkeyLoginOptions(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		MFAToken *string `json:"mfa_token"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	// A usernameless start stores a challenge for anyone who asks; the
	// second-step form needs a live mfa_token (a password) already.
	if req.MFAToken == nil && s.opt.Limits != nil {
		if err := s.opt.Limits.AllowCeremony(r.Context(), s.client(r).IP); err != nil {
			return err
		}
	}
	f, err := s.svc.BeginPasskeyLogin(r.Context(), str(req.MFAToken))
	if err != nil {
		return err
	}
	writeFlow(w, f)
	return nil
}

// passkeyLogin is POST /v1/passkeys/login {"flow_id", "credential",
// "transport"?}: a token response like login's. Failures count toward the
// client's failure budget, and toward the account's when the credential
// names a registered passkey.
func (s *Server) passkeyLogin(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		FlowID     *string         `json:"flow_id"`
		Credential json.RawMessage `json:"credential"`
		Transport  *string         `json:"transport"`
		ClientID   *string         `json:"client_id"`
	}
	if err := decodeJSON(r, &req, "flow_id"); err != nil {
		return err
	}
	cred := rawCredential(req.Credential)
	if cred == nil {
		return baton.Errorf(baton.EInvalidRequest, "the field %q is required", "credential")
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
	err = s.limited(r.Context(), s.svc.PasskeyAccount(r.Context(), cred), cl.IP, func() (err error) {
		if err := s.spend(r, proof); err != nil {
			return err
		}
		g, err = s.svc.FinishPasskeyLogin(r.Context(), session.PasskeyLoginRequest{
			FlowID: *req.FlowID, Credential: cred, Transport: transport, ClientID: str(req.ClientID), Binding: jkt(proof),
		}, cl)
		return err
	})
	if err != nil {
		return err
	}
	s.writeGrant(w, g, g.Session.Transport, http.StatusOK)
	return nil
}
