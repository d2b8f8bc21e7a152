package baton

import (
	"context"
	"time"
)

// The OpenID provider's domain (docs/oidc.md): registered clients, the
// consents users gave them, and the one-time secrets of the code flow,
// which are Challenges of their own kinds.

// TransportSSO marks the single-sign-on session a browser holds at baton
// itself (the baton_sso cookie): it is created by a sign-in on baton's
// pages, never refreshed, and it issues the sessions of the clients the
// user signs in to (Session.Parent).
const TransportSSO = "sso"

// Grant types a client may be allowed.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// Scopes baton knows.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
)

// ID-token signing algorithms a client may choose.
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

// Key uses of the ID-token keys, besides KeyUseSigning (Ed25519, which
// signs EdDSA ID tokens too). Their secrets are PKCS #8 DER, their public
// halves PKIX DER.
const (
	KeyUseSigningRSA = "sig_rs256"
	KeyUseSigningEC  = "sig_es256"
)

// Revocation reasons of the provider.
const (
	// ReasonConsentWithdrawn: the user withdrew a client's consent
	// (DELETE /v1/consents/{client_id}).
	ReasonConsentWithdrawn = "consent_withdrawn"
	// ReasonCodeReplay: the authorization code the session was issued
	// from was redeemed again (RFC 6749 §4.1.2).
	ReasonCodeReplay = "code_replay"
	// ReasonClientDeleted: the session's client was deleted.
	ReasonClientDeleted = "client_deleted"
	// ReasonRPLogout: RP-initiated logout (/oauth/logout) ended the
	// single-sign-on session and the sessions it issued.
	ReasonRPLogout = "rp_logout"
)

// Challenge kinds of the code flow.
const (
	// ChallengeAuthorize is an authorization request waiting for the
	// user's sign-in or consent (the pages carry its id).
	ChallengeAuthorize = "authorize"
	// ChallengeCode is an authorization code.
	ChallengeCode = "authorization_code"
	// ChallengePAR is a pushed authorization request (its request_uri).
	ChallengePAR = "par"
)

// OutboxBackchannelLogout is the outbox kind of back-channel logout
// tokens (OpenID Connect Back-Channel Logout 1.0). The stores enqueue one,
// in the revoking transaction, for every session they revoke whose
// client has a BackchannelLogoutURI: Recipient is that URI, the payload
// a BackchannelLogout in JSON, and the message's ID the logout token's
// jti.
const OutboxBackchannelLogout = "backchannel_logout"

// BackchannelLogout is the payload of an OutboxBackchannelLogout message:
// enough to sign the logout token when it is sent.
type BackchannelLogout struct {
	SessionID string `json:"sid"`
	UserID    string `json:"sub"`
	ClientID  string `json:"client_id"`
}

// MaxClientURIs bounds each of a client's URI lists.
const MaxClientURIs = 20

// OAuthClient is a client registered with `baton clients add`.
type OAuthClient struct {
	ID   string
	Name string
	// SecretHash is SHA-256 of the client secret; nil for a public client
	// (token endpoint authentication "none").
	SecretHash []byte
	// RedirectURIs are matched exactly, except that a loopback redirect
	// URI may differ in port only (RFC 8252 §7.3).
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI receives logout tokens; empty for none.
	BackchannelLogoutURI string
	// FirstParty clients get no consent page.
	FirstParty bool
	// RequirePAR refuses authorization requests not pushed first.
	RequirePAR bool
	// Scopes the client may ask for; openid is always among them.
	Scopes []string
	// GrantTypes the client may use (Grant*).
	GrantTypes []string
	// IDTokenAlg signs the client's ID tokens (Alg*).
	IDTokenAlg string
	// Lifetimes of the client's tokens and sessions; zero takes the
	// server's.
	AccessTTL, RefreshTTL, RefreshIdleTTL time.Duration
	CreatedAt                             time.Time
	UpdatedAt                             time.Time
}

// Public reports whether the client has no secret.
func (c *OAuthClient) Public() bool { return len(c.SecretHash) == 0 }

// Consent is a user's remembered permission for a client to have scopes.
type Consent struct {
	UserID   string
	ClientID string
	// Scopes granted so far, sorted.
	Scopes    []string
	GrantedAt time.Time
}

// ClientStore stores registered clients. A change is seen by every
// instance at its next read: nothing is cached.
type ClientStore interface {
	// CreateClient stores c. EConflict when a client with c.ID exists.
	CreateClient(ctx context.Context, c *OAuthClient) error
	// Client returns the client, or ENotFound.
	Client(ctx context.Context, id string) (*OAuthClient, error)
	// Clients lists clients ordered by ID, those after the id after, at
	// most limit of them.
	Clients(ctx context.Context, after string, limit int) ([]*OAuthClient, error)
	// UpdateClient replaces every field of the stored client with c.ID
	// except ID, SecretHash and CreatedAt. ENotFound.
	UpdateClient(ctx context.Context, c *OAuthClient) error
	// SetClientSecret replaces the client's SecretHash (nil makes it
	// public) and sets UpdatedAt to now. ENotFound.
	SetClientSecret(ctx context.Context, id string, hash []byte, now time.Time) error
	// DeleteClient revokes every unrevoked session of the client (all
	// users; appending revocation entries and enqueuing their back-channel
	// logout tokens), appends a revocation entry for the client's own id —
	// the sid of its client_credentials tokens, which have no session —
	// and deletes its consents and the client, in one transaction. It
	// returns the ids of the sessions it revoked. ENotFound (nothing
	// changes).
	DeleteClient(ctx context.Context, id string, r Revoke) ([]string, error)
}

// ConsentStore stores consents.
type ConsentStore interface {
	// GrantConsent stores c, or when the user has a consent for the client
	// already, adds c.Scopes to its scopes and sets its GrantedAt to
	// c.GrantedAt. ENotFound when the user or the client does not exist.
	GrantConsent(ctx context.Context, c *Consent) error
	// Consent returns the user's consent for the client, or ENotFound.
	Consent(ctx context.Context, userID, clientID string) (*Consent, error)
	// Consents lists the user's consents, most recently granted first, at
	// most limit of them.
	Consents(ctx context.Context, userID string, limit int) ([]*Consent, error)
	// DeleteConsent deletes the user's consent for the client and revokes
	// the user's unrevoked sessions of that client (appending revocation
	// entries and enqueuing back-channel logout tokens), in one
	// transaction, and returns the revoked ids. ENotFound when there is no
	// such consent (nothing changes).
	DeleteConsent(ctx context.Context, userID, clientID string, r Revoke) ([]string, error)
}

// ProviderSessionStore is what the provider needs of the session store
// beyond SessionStore.
type ProviderSessionStore interface {
	// RevokeSessionTree revokes the session id and every unrevoked session
	// whose Parent is id (appending revocation entries and enqueuing
	// back-channel logout tokens), in one transaction, and returns the ids
	// it revoked (id among them unless it was revoked already). ENotFound
	// when id does not exist.
	RevokeSessionTree(ctx context.Context, id string, r Revoke) ([]string, error)
}
