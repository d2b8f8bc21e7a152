package baton

import (
	"errors"
	"fmt"
)

// Error codes. The exported codes are the wire contract's vocabulary; the
// HTTP layer maps each to a status in one table. EConflict and ENotFound are
// also what stores return for their outcomes.
const (
	EInvalidRequest       = "invalid_request"
	ERequestTooLarge      = "request_too_large"
	EUnsupportedMediaType = "unsupported_media_type"
	EUnavailable          = "unavailable"
	ETooManyRequests      = "too_many_requests"
	EInvalidUsername      = "invalid_username"
	EWeakPassword         = "weak_password"
	EUsernameTaken        = "username_taken"
	EInvalidEmail         = "invalid_email"
	EEmailTaken           = "email_taken"
	EInvalidCredentials   = "invalid_credentials"
	EInvalidGrant         = "invalid_grant"
	EUnsupportedGrantType = "unsupported_grant_type"
	EUnauthorized         = "unauthorized"
	ETokenExpired         = "token_expired"
	EInvalidToken         = "invalid_token"
	EInsufficientUserAuth = "insufficient_user_authentication"
	ECSRFFailed           = "csrf_failed"
	ENotFound             = "not_found"
	EInvalidClient        = "invalid_client"
	EMethodNotAllowed     = "method_not_allowed"
	EInternal             = "internal_error"
	EConflict             = "conflict" // store: a compare-and-set lost
	EInvalidDPoPProof     = "invalid_dpop_proof"
	EUseDPoPNonce         = "use_dpop_nonce"
	EInvalidLink          = "invalid_link"
	ENoEmail              = "no_email"
	EAlreadyVerified      = "already_verified"
	EEmailNotVerified     = "email_not_verified"
	EInvalidCode          = "invalid_code"
	EMFARequired          = "mfa_required"

	// The OpenID provider's codes (RFC 6749 §4.1.2.1 and §5.2, OpenID
	// Connect Core §3.1.2.6, RFC 9126 §2.3).
	EInvalidScope            = "invalid_scope"
	EUnauthorizedClient      = "unauthorized_client"
	EAccessDenied            = "access_denied"
	EUnsupportedResponseType = "unsupported_response_type"
	ELoginRequired           = "login_required"
	EConsentRequired         = "consent_required"
	EInvalidRequestURI       = "invalid_request_uri"
)

// Error is baton's one error type: a code from the contract's vocabulary, a
// message safe to show to the caller, and an optional cause that is only
// logged.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error with code and message whose cause is err.
func WrapError(code, message string, err error) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the safe message of the first *Error in err's chain,
// or a generic message for any other error.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
