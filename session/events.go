package session

import (
	"context"
	"log/slog"
)

// Event types reported to the Observer and the log.
const (
	EventRegister        = "register"
	EventLogin           = "login"
	EventRefresh         = "refresh"
	EventGraceReplay     = "grace_replay"
	EventReuseDetected   = "reuse_detected"
	EventLogout          = "logout"
	EventRevoke          = "revoke"
	EventReauth          = "reauth"
	EventPasswordChange  = "password_change"
	EventAccountDeleted  = "account_deleted"
	EventImplicitRefresh = "implicit_refresh"

	// The OpenID provider's events.
	EventAuthorize         = "authorize"          // a code was issued (Detail: the client)
	EventConsent           = "consent"            // a consent given (ok) or refused (failed)
	EventCodeExchange      = "code_exchange"      // a code redeemed, or refused
	EventClientCredentials = "client_credentials" // a client_credentials token
	EventRPLogout          = "rp_logout"          // RP-initiated logout
)

// Refresh outcomes (Event.Outcome of EventRefresh).
const (
	OutcomeOK              = "ok"
	OutcomeFailed          = "failed"
	OutcomeExpiredIdle     = "expired_idle"
	OutcomeExpiredAbsolute = "expired_absolute"
	OutcomeRevoked         = "revoked"
	OutcomeUnknown         = "unknown"
	// OutcomeMFARequired: the password was right; a second step follows.
	OutcomeMFARequired = "mfa_required"
)

// Event is one security-relevant happening, for metrics and the audit log.
// It never carries a token or a password.
type Event struct {
	Type      string
	Outcome   string
	UserID    string
	SessionID string
	Client    Client
	Detail    string
}

func (s *Service) emit(ctx context.Context, e Event) {
	level := slog.LevelInfo
	switch {
	case e.Type == EventReuseDetected:
		level = slog.LevelWarn
	case e.UserID == "" && e.SessionID == "" && e.Outcome != OutcomeOK:
		// Anonymous failures (junk refresh tokens, unknown users) are what
		// a flood is made of: metrics count each and the audit log folds
		// them per client, so the log keeps them at debug level rather
		// than one line per request.
		level = slog.LevelDebug
	}
	s.cfg.Logger.Log(ctx, level, "auth event", "event", e.Type, "outcome", e.Outcome,
		"user_id", e.UserID, "session_id", e.SessionID, "ip", e.Client.IP, "detail", e.Detail)
	if s.cfg.Observer != nil {
		s.cfg.Observer(e)
	}
}
