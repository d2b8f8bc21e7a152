package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/httpauth"
	"github.com/batonauth/baton/session"
)

// statusOf maps every error code to its HTTP status: the one place that
// does (STYLE.md, habit 8).
var statusOf = map[string]int{
	baton.EInvalidRequest:       http.StatusBadRequest,
	baton.ERequestTooLarge:      http.StatusRequestEntityTooLarge,
	baton.EUnsupportedMediaType: http.StatusUnsupportedMediaType,
	baton.EUnavailable:          http.StatusServiceUnavailable,
	baton.ETooManyRequests:      http.StatusTooManyRequests,
	baton.EInvalidUsername:      http.StatusBadRequest,
	baton.EWeakPassword:         http.StatusBadRequest,
	baton.EUsernameTaken:        http.StatusConflict,
	baton.EInvalidEmail:         http.StatusBadRequest,
	baton.EEmailTaken:           http.StatusConflict,
	baton.EInvalidLink:          http.StatusBadRequest,
	baton.ENoEmail:              http.StatusBadRequest,
	baton.EAlreadyVerified:      http.StatusConflict,
	baton.EEmailNotVerified:     http.StatusForbidden,
	baton.EInvalidCode:          http.StatusBadRequest,
	baton.EMFARequired:          http.StatusForbidden,
	// The provider's codes reach a client in a redirect, except at the
	// token and PAR endpoints, where RFC 6749 §5.2 makes them 400.
	baton.EInvalidScope:            http.StatusBadRequest,
	baton.EUnauthorizedClient:      http.StatusBadRequest,
	baton.EAccessDenied:            http.StatusForbidden,
	baton.EUnsupportedResponseType: http.StatusBadRequest,
	baton.ELoginRequired:           http.StatusUnauthorized,
	baton.EConsentRequired:         http.StatusForbidden,
	baton.EInvalidRequestURI:       http.StatusBadRequest,
	baton.EInvalidCredentials:      http.StatusUnauthorized,
	baton.EInvalidGrant:            http.StatusUnauthorized,
	baton.EUnsupportedGrantType:    http.StatusBadRequest,
	baton.EUnauthorized:            http.StatusUnauthorized,
	baton.ETokenExpired:            http.StatusUnauthorized,
	baton.EInvalidToken:            http.StatusUnauthorized,
	baton.EInsufficientUserAuth:    http.StatusUnauthorized,
	baton.ECSRFFailed:              http.StatusForbidden,
	baton.ENotFound:                http.StatusNotFound,
	baton.EInvalidClient:           http.StatusUnauthorized,
	baton.EMethodNotAllowed:        http.StatusMethodNotAllowed,
	baton.EInvalidDPoPProof:        http.StatusBadRequest,
	baton.EUseDPoPNonce:            http.StatusBadRequest,
	baton.EInternal:                http.StatusInternalServerError,
	baton.EConflict:                http.StatusServiceUnavailable, // a lost race we could not resolve: retry
}

// oauthStatusOf overrides statuses on the RFC 6749 token endpoint, where
// bad credentials and bad refresh tokens are both 400 invalid_grant (§5.2).
var oauthStatusOf = map[string]int{
	baton.EInvalidGrant:       http.StatusBadRequest,
	baton.EInvalidCredentials: http.StatusBadRequest,
}

// errorBody is every error's JSON shape.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	RequestID   string `json:"request_id,omitempty"`
	// The mfa_required answer's second-step ticket.
	MFAToken  string   `json:"mfa_token,omitempty"`
	Methods   []string `json:"methods,omitempty"`
	ExpiresIn int      `json:"expires_in,omitempty"`
}

// retryAfter is what 503 and 429 answers advise, in seconds, unless the
// error says otherwise.
const retryAfter = 1

// RetryAfterError lets an error say how long the client should wait.
type RetryAfterError interface {
	RetryAfter() int
}

// writeError answers with err mapped to the contract: its code, its safe
// message, its status, and the RFC 6750 / RFC 9470 WWW-Authenticate header
// where one belongs. Internal errors are logged with their cause and
// answered generically with the request id.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := baton.ErrorCode(err)
	msg := baton.ErrorMessage(err)
	status, ok := statusOf[code]
	if !ok {
		code, status = baton.EInternal, http.StatusInternalServerError
	}
	if oauthEndpoint(r) {
		if st, ok := oauthStatusOf[code]; ok {
			status = st
		}
		if code == baton.EInvalidCredentials {
			code = baton.EInvalidGrant
		}
	}
	reqID := requestID(r.Context())
	body := errorBody{Error: code, Description: msg}
	switch {
	case status >= 500 && code != baton.EUnavailable && code != baton.EConflict:
		s.log.ErrorContext(r.Context(), "internal error", "err", err, "path", r.URL.Path)
		body.Description = "internal error; quote the request id when reporting it"
		body.RequestID = reqID
	case code == baton.EUnavailable || code == baton.EConflict:
		s.log.WarnContext(r.Context(), "unavailable", "err", err, "path", r.URL.Path)
		body.Error = baton.EUnavailable
		body.Description = "the service is temporarily unavailable; retry shortly"
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		after := retryAfter
		var ra RetryAfterError
		if errors.As(err, &ra) {
			after = ra.RetryAfter()
		}
		w.Header().Set("Retry-After", strconv.Itoa(after))
	}
	if h := httpauth.Challenge("baton", code, msg, s.svc.Config().FreshTTL); h != "" {
		w.Header().Set("WWW-Authenticate", h)
	}
	if code == baton.EInvalidClient {
		w.Header().Set("WWW-Authenticate", `Basic realm="baton"`)
	}
	if code == baton.EUseDPoPNonce && s.opt.DPoP != nil {
		w.Header().Set("DPoP-Nonce", s.opt.DPoP.Nonce())
	}
	if httpauth.IsChallenge(err) {
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", httpauth.DPoPChallenge("baton", code, msg))
	}
	var mfa *session.MFARequired
	if errors.As(err, &mfa) {
		// The password was right: the answer (403 mfa_required, from the
		// code above) carries the second step's one-time secret.
		body.MFAToken, body.Methods, body.ExpiresIn = mfa.Token, mfa.Methods, int(mfa.ExpiresIn.Seconds())
	}
	if code == baton.EInvalidGrant || code == baton.EInvalidCredentials || code == baton.EUnauthorized || code == baton.ETokenExpired || code == baton.EInvalidToken || mfa != nil {
		w.Header().Set("Cache-Control", "no-store")
	}
	writeJSON(w, status, body)
}
