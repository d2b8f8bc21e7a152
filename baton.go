// Package baton holds the domain of the baton authentication server: users,
// sessions (refresh-token families), refresh tokens, revocations, keys and
// audit events, the storage interfaces every backend implements, and the one
// error type whose codes are the wire contract's vocabulary (docs/api.md).
//
// It imports no database driver and no net/http: backends live in sqlite/ and
// postgres/, the session engine in session/, the HTTP layer in httpapi/.
package baton

import "time"

// Token transports chosen at login and kept by the session for every refresh.
const (
	TransportBody          = "body"
	TransportRefreshCookie = "refresh_cookie"
	TransportCookies       = "cookies"
)

// User is a registered account.
type User struct {
	ID string
	// Username is the name as registered: trimmed and NFC-normalised.
	Username string
	// CanonicalUsername is the case-folded Username; it is unique.
	CanonicalUsername string
	// Email is the user's address as given (without surrounding spaces);
	// empty when the user has none. A user has at most one.
	Email string
	// CanonicalEmail is Email in the form addresses are compared in
	// (NFC, lower-cased); it is unique among users, and empty exactly when
	// Email is.
	CanonicalEmail string
	// EmailVerified reports whether the user has shown they receive mail at
	// Email.
	EmailVerified bool
	// PasswordHash is an argon2id PHC string.
	PasswordHash string
	CreatedAt    time.Time
	// LockedAt is the time the account was locked by an administrator; zero
	// when the account is not locked. A locked user can neither log in nor
	// refresh.
	LockedAt time.Time
	// CredentialGen moves forward on every password change, reset and lock.
	// A session is created only while the user is still at the generation
	// whose credentials the login verified (see Session.CredentialGen).
	CredentialGen int64
}

// Session is a refresh-token family created by one login.
type Session struct {
	ID     string
	UserID string

	CreatedAt  time.Time
	LastUsedAt time.Time
	// ExpiresAt is the absolute expiry fixed at login; it never moves.
	ExpiresAt time.Time
	// IdleExpiresAt slides forward on every rotation, never past ExpiresAt.
	IdleExpiresAt time.Time
	// AuthTime is the last password verification of the session (login,
	// reauth).
	AuthTime time.Time
	// AMR lists the authentication methods (RFC 8176) the session was
	// created with, in AMR's canonical order; every access token of the
	// session carries it. It is fixed at creation; a reauth does not
	// change it.
	AMR []string

	Transport string
	ClientID  string
	// Scope is the space-separated scope a session issued through the
	// authorization code flow was granted (it always holds openid); empty
	// for every other session. Refreshes may narrow it per access token,
	// never widen it.
	Scope string
	// Parent is the single-sign-on session (TransportSSO) that issued
	// this session through the code flow; empty otherwise. Ending the
	// single-sign-on session at /oauth/logout ends its children.
	Parent    string
	UserAgent string
	IP        string
	// Binding is the RFC 7638 thumbprint of the key the session's tokens are
	// bound to (DPoP, RFC 9449); empty for bearer sessions.
	Binding string
	// CredentialGen is the user's CredentialGen that the login verified.
	// The session is created, and rotates, only while the user is unlocked
	// and still at this generation.
	CredentialGen int64

	// RevokedAt is zero while the session is not revoked.
	RevokedAt    time.Time
	RevokeReason string

	// TokenGen is the generation of the session's current refresh token
	// when its tokens are of the form that names the session
	// (token.SessionRefresh): the session row holds the token state and a
	// rotation is a compare-and-set on TokenGen. 0 for a session whose
	// tokens are stored one row each (RefreshToken, Rotate): sessions
	// created before that form existed, which keep it until they end.
	TokenGen int64
	// TokenHash is SHA-256 of the current token (generation TokenGen);
	// PrevHash of the one before it, spent at RotatedAt (nil and zero
	// before the first rotation). Older generations are not stored: the
	// tag their tokens carry proves them genuine.
	TokenHash, PrevHash []byte
	RotatedAt           time.Time
}

// Live reports whether the session is neither revoked nor expired at now.
func (s *Session) Live(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt) && now.Before(s.IdleExpiresAt)
}

// RefreshToken is the stored form of one refresh token: only its hash.
type RefreshToken struct {
	// Hash is SHA-256 of the token string.
	Hash      []byte
	SessionID string
	CreatedAt time.Time
	// SpentAt is zero while the token has not been rotated.
	SpentAt time.Time
}

// Rotation is one refresh-token rotation: spend Old, store New as the
// session's current token and slide the session's idle expiry.
type Rotation struct {
	SessionID string
	// Gen is the generation of the token OldHash hashes, for
	// SessionStore.RotateSession (tokens that name their session); Rotate
	// ignores it.
	Gen     int64
	OldHash []byte
	NewHash []byte
	Now     time.Time
	// IdleExpiresAt is the session's new idle expiry (already capped at its
	// absolute expiry by the caller).
	IdleExpiresAt time.Time
	UserAgent     string
	IP            string
}

// SessionPage is a position in a user's session list, which runs from the
// most recently used session to the least: the page holds at most Limit
// sessions that come after the session (AfterUsed, AfterID), all from the
// start when AfterID is empty.
type SessionPage struct {
	AfterUsed time.Time
	AfterID   string
	Limit     int
}

// Revoke describes a revocation of one or more sessions.
type Revoke struct {
	Now time.Time
	// Until is when every access token of the revoked sessions has expired;
	// the revocation-feed entry is kept until then.
	Until  time.Time
	Reason string
}

// Revocation reasons, stored with the session and sent to the audit log.
const (
	ReasonLogout         = "logout"
	ReasonReuse          = "reuse_detected"
	ReasonPasswordChange = "password_change"
	ReasonPasswordReset  = "password_reset"
	ReasonAccountDeleted = "account_deleted"
	ReasonAdmin          = "admin"
	ReasonUser           = "user"
	ReasonLocked         = "locked"
	// ReasonSessionLimit: a login beyond BATON_MAX_SESSIONS_PER_USER ended
	// the user's least recently used session.
	ReasonSessionLimit = "session_limit"
	// ReasonMFAReset: an administrator removed the user's second factors
	// (baton users reset-mfa).
	ReasonMFAReset = "mfa_reset"
)

// Revocation is one entry of the revocation feed.
type Revocation struct {
	// Seq orders the feed; it is the cursor resource servers resume from.
	Seq       int64
	SessionID string
	RevokedAt time.Time
	// Until is when the revoked session's last access token expires.
	Until time.Time
}

// Key uses.
const (
	KeyUseSigning  = "sig"      // Ed25519 access-token signing key
	KeyUseRotation = "rotation" // HMAC key deriving refresh-token successors
	KeyUseCSRF     = "csrf"     // HMAC key binding CSRF tokens to sessions
)

// Key is a server key shared by every instance through the store.
type Key struct {
	ID        string // the JWK "kid" for signing keys
	Use       string
	Algorithm string // "EdDSA" for signing keys, "HS256" for HMAC keys
	// Secret is the private key or HMAC secret, sealed with the master key
	// when one is configured; the store treats it as opaque bytes.
	Secret []byte
	// Public is the public key of a signing key; nil for HMAC keys.
	Public    []byte
	CreatedAt time.Time
	// ActivateAt is when the key starts signing; it is published before.
	ActivateAt time.Time
	// RetiredAt is zero while the key may sign; a retired signing key stays
	// published until the tokens it signed have expired.
	RetiredAt time.Time
}

// AuditEvent is one entry of the audit log. It never holds a token, a
// password or a hash.
type AuditEvent struct {
	Seq       int64
	Time      time.Time
	Type      string
	UserID    string
	SessionID string
	IP        string
	UserAgent string
	Outcome   string
	Detail    string
}

// Outbox message kinds.
const (
	OutboxMail = "mail"
	// OutboxForgot is a forgot-password request, resolved off the request
	// path (so the answer takes the same time whether the account exists)
	// into a reset link and its message.
	OutboxForgot = "password_forgot"
)

// OutboxMessage is one message waiting in the durable outbox.
type OutboxMessage struct {
	// ID is stable across retries: the Message-ID of an email.
	ID        string
	Kind      string
	Recipient string
	// Payload is what the sender needs to build the message (for mail: the
	// template and its data). It never holds a usable secret: a link's
	// token is derived at send time from the link's id with a server key,
	// so a copy of the database yields no working link.
	Payload   []byte
	CreatedAt time.Time
	// NextAttemptAt is when the message is due (again).
	NextAttemptAt time.Time
	Attempts      int
	LastError     string
	// LeaseUntil is when the claim of the sender at work on it ends.
	LeaseUntil time.Time
	SentAt     time.Time
	GaveUpAt   time.Time
}

// MaxOutboxError bounds OutboxMessage.LastError, in bytes: a failing
// server's reply is kept for the operator, not an unbounded copy of it.
const MaxOutboxError = 1000

// CutOutboxError returns reason cut to MaxOutboxError bytes at a rune
// boundary, so what the stores keep stays valid UTF-8.
func CutOutboxError(reason string) string {
	n := MaxOutboxError
	if len(reason) <= n {
		return reason
	}
	for n > 0 && reason[n]&0xC0 == 0x80 {
		n--
	}
	return reason[:n]
}

// OutboxDue is when a message to be enqueued is first due: NextAttemptAt,
// or CreatedAt when that is zero.
func OutboxDue(m *OutboxMessage) time.Time {
	if m.NextAttemptAt.IsZero() {
		return m.CreatedAt
	}
	return m.NextAttemptAt
}

// One-time link purposes.
const (
	LinkVerifyEmail   = "verify_email"
	LinkResetPassword = "reset_password"
	LinkChangeEmail   = "change_email"
)

// Link is a one-time link of account recovery. Its token is never stored:
// it is derived from ID with a server key when the message is sent, and
// only its SHA-256 (Hash) is kept, to find the link when it comes back.
type Link struct {
	ID      string
	Hash    []byte
	Purpose string
	UserID  string
	// Email is the address the link was sent to: the user's address for
	// verification and reset, the new address for an email change.
	Email          string
	CanonicalEmail string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	// SpentAt is zero until the link is used.
	SpentAt time.Time
}

// TOTP is a user's time-based one-time password state (RFC 6238). Secrets
// are stored as the engine gives them (sealed with the master key when one
// is configured).
type TOTP struct {
	UserID string
	// Secret is the confirmed secret; nil while TOTP is off.
	Secret []byte
	// Pending is an enrolment awaiting its first code; nil when none.
	Pending   []byte
	PendingAt time.Time
	EnabledAt time.Time
	// LastStep is the last time step whose code was accepted: each step
	// is accepted once, and never one before it.
	LastStep int64
}

// Challenge kinds.
const (
	// ChallengeMFA is the second step of a login (the mfa_token).
	ChallengeMFA = "mfa"
)

// Challenge is a one-time secret of a multi-step ceremony — the mfa_token
// of a login's second step, later a WebAuthn challenge — stored only as its
// hash, with what the ceremony needs to finish on any instance (Data).
type Challenge struct {
	ID   string
	Hash []byte
	Kind string
	// UserID is the user the ceremony is for; empty when it is not known
	// yet (a usernameless passkey sign-in).
	UserID    string
	Data      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	// Failures counts wrong answers; at the kind's limit the challenge
	// is dead.
	Failures int
	SpentAt  time.Time
}

// Challenge kinds of the WebAuthn ceremonies: the library's session data
// of an enrolment and of a sign-in.
const (
	ChallengeWebAuthnRegister = "webauthn_register"
	ChallengeWebAuthnLogin    = "webauthn_login"
)

// MaxPasskeysPerUser bounds a user's passkeys, and so the allowCredentials
// list of a second step and the work of every listing.
const MaxPasskeysPerUser = 20

// Passkey is a user's WebAuthn credential. The public key is stored as it
// is: it authenticates nothing on its own.
type Passkey struct {
	ID     string
	UserID string
	// CredentialID is the authenticator's id of the credential (at most
	// 1,023 bytes, WebAuthn §5.1); unique across users.
	CredentialID []byte
	// PublicKey is the COSE_Key of the credential.
	PublicKey []byte
	// SignCount is the authenticator's signature counter at the last use;
	// 0 when the authenticator keeps none.
	SignCount uint32
	AAGUID    []byte
	// Transports are the authenticator's hints ("usb", "internal", …).
	Transports []string
	Flags      PasskeyFlags
	Name       string
	CreatedAt  time.Time
	// LastUsedAt is zero until the first sign-in with the passkey.
	LastUsedAt time.Time
}

// PasskeyFlags are the credential's flags from its registration.
type PasskeyFlags struct {
	UserVerified   bool
	BackupEligible bool
	BackupState    bool
}

// Bits packs the flags as the stores keep them: 1 user verified, 2 backup
// eligible, 4 backed up.
func (f PasskeyFlags) Bits() int32 {
	var n int32
	for i, on := range []bool{f.UserVerified, f.BackupEligible, f.BackupState} {
		if on {
			n |= 1 << i
		}
	}
	return n
}

// PasskeyFlagsFromBits unpacks Bits.
func PasskeyFlagsFromBits(n int32) PasskeyFlags {
	return PasskeyFlags{UserVerified: n&1 != 0, BackupEligible: n&2 != 0, BackupState: n&4 != 0}
}
