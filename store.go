package baton

import (
	"context"
	"time"
)

// Store is the persistence every backend (sqlite, postgres) provides. Its
// behaviour is pinned by the conformance suite in storetest, which every
// backend runs.
//
// Errors: every method returns *Error values. ENotFound and EConflict are
// outcomes documented per method; EUnavailable means the store could not be
// reached or was busy (the caller may retry); anything else is internal.
// Methods are safe for concurrent use, also from several processes sharing
// one database.
type Store interface {
	UserStore
	SessionStore
	KeyStore
	AuditStore
	SettingStore
	OutboxStore
	LinkStore
	MFAStore
	ChallengeStore
	PasskeyStore
	ClientStore
	ConsentStore
	ProviderSessionStore

	// Ping reports whether the store is reachable (readiness).
	Ping(ctx context.Context) error
	// Prune deletes, in batches of at most limit rows per table, sessions
	// that expired or were revoked before olderThan (with their refresh
	// tokens), spent refresh tokens spent before olderThan, revocation
	// entries whose Until is before now, outbox messages sent or given up
	// before olderThan, links spent or expired before olderThan, and
	// challenges spent or expired before olderThan. It
	// returns how many rows it deleted; a result below limit means there is
	// nothing left to prune.
	Prune(ctx context.Context, now, olderThan time.Time, limit int) (int, error)
	Close() error
}

// UserStore stores accounts.
type UserStore interface {
	// CreateUser inserts u. EUsernameTaken when a user with the same
	// CanonicalUsername exists; EEmailTaken when u has an email and a user
	// with the same CanonicalEmail exists (EUsernameTaken when both are).
	// Users without an email never collide on it.
	CreateUser(ctx context.Context, u *User) error
	// UserByID returns the user, or ENotFound.
	UserByID(ctx context.Context, id string) (*User, error)
	// UserByName returns the user whose CanonicalUsername is canonical, or
	// ENotFound.
	UserByName(ctx context.Context, canonical string) (*User, error)
	// UserByEmail returns the user whose CanonicalEmail is canonical, or
	// ENotFound (also for an empty canonical).
	UserByEmail(ctx context.Context, canonical string) (*User, error)
	// Users lists users ordered by CanonicalUsername, those after the
	// canonical name after, at most limit of them.
	Users(ctx context.Context, after string, limit int) ([]*User, error)
	// SetPasswordHash replaces the user's password hash and moves its
	// CredentialGen forward, and stores notices (the "your password was
	// changed" message) in the outbox, in one transaction; it returns the
	// new generation. ENotFound (nothing stored).
	SetPasswordHash(ctx context.Context, userID, hash string, notices ...*OutboxMessage) (int64, error)
	// RehashPassword replaces the user's hash oldHash by newHash (the same
	// password under stronger parameters) only if oldHash is still the
	// user's hash; CredentialGen does not move. EConflict when the hash
	// changed meanwhile (a password change wins over a rehash); ENotFound.
	RehashPassword(ctx context.Context, userID, oldHash, newHash string) error
	// SetEmail sets the user's address (email as given, canonical for
	// comparing) and whether it is verified, in one statement; an empty
	// canonical removes the address (and it is then stored unverified).
	// Pending links are left alone: a verification link to an address the
	// user no longer has verifies nothing (RedeemEmailLink). EEmailTaken
	// when another user has canonical (setting a user's own address again
	// is no conflict); ENotFound.
	SetEmail(ctx context.Context, userID, email, canonical string, verified bool) error
	// SetLocked locks the user at lockedAt, or unlocks with a zero time.
	// Locking moves CredentialGen forward, so no login that verified the
	// password before the lock can create a session after it. ENotFound.
	SetLocked(ctx context.Context, userID string, lockedAt time.Time) error
	// DeleteUser revokes every live session of the user (adding revocation
	// entries) and deletes the user, in one transaction, so the username is
	// free again. It returns the ids of the sessions it revoked. ENotFound.
	DeleteUser(ctx context.Context, userID string, r Revoke) ([]string, error)
}

// SessionStore stores sessions, their refresh-token hashes and the
// revocation feed.
type SessionStore interface {
	// CreateSession inserts s and its first refresh token (tokenHash) in one
	// transaction — as the session's TokenHash when s.TokenGen is not 0,
	// else as a row of its own (RefreshToken) — as a compare-and-set on the user: only while the user is
	// unlocked and its CredentialGen equals s.CredentialGen, and s.Parent
	// (when set) is not revoked — a RevokeSessionTree of the parent either
	// comes first or revokes s too. ENotFound when s.UserID does not exist;
	// EConflict when the user is locked or at another generation (a lock,
	// password change or reset completed after the caller verified the
	// credentials) or the parent was revoked; nothing is stored then. When
	// s.Parent is set, the parent's LastUsedAt moves forward to
	// s.CreatedAt in the same transaction: a client's sign-in is a use of
	// the single-sign-on session that issued it, so the session cap, which
	// ends the least recently used sessions, does not end it first.
	CreateSession(ctx context.Context, s *Session, tokenHash []byte) error
	// Session returns the session (live or not), or ENotFound.
	Session(ctx context.Context, id string) (*Session, error)
	// RefreshToken returns the refresh token with the given hash and its
	// session, or ENotFound.
	RefreshToken(ctx context.Context, hash []byte) (*RefreshToken, *Session, error)
	// Rotate performs r in one transaction with a compare-and-set on the old
	// token: it marks r.OldHash spent at r.Now only if it is unspent,
	// inserts r.NewHash as an unspent token of the session, and sets the
	// session's LastUsedAt, IdleExpiresAt, UserAgent and IP, only if the
	// session is not revoked and its user is unlocked and still at the
	// session's CredentialGen. Three things might happen: nil (rotated);
	// EConflict when the old token was already spent, its session is
	// revoked or its user locked or moved on (nothing else changed; whether the old token is then marked
	// spent is unspecified: re-read and decide); ENotFound when the old
	// token does not exist. Of any number of concurrent Rotate calls with
	// the same OldHash at most one succeeds.
	Rotate(ctx context.Context, r Rotation) error
	// RotateSession rotates the refresh token of a session that holds its
	// token state (TokenGen > 0) in one compare-and-set on the session
	// row: only when the session r.SessionID has TokenGen r.Gen and
	// TokenHash r.OldHash and g holds (see RotationGate, whose SessionID,
	// when set, must be r.SessionID), it moves TokenGen to r.Gen+1,
	// PrevHash to r.OldHash, TokenHash to r.NewHash and RotatedAt to
	// r.Now, and sets LastUsedAt, IdleExpiresAt (capped at ExpiresAt),
	// UserAgent and IP. It returns the session as it was before, read on
	// the snapshot the compare-and-set decided on, and whether it rotated.
	// Of concurrent calls with the same session and generation at most one
	// rotates; a session revoked meanwhile does not rotate. ENotFound when
	// the session does not exist.
	RotateSession(ctx context.Context, r Rotation, g RotationGate) (*Session, bool, error)
	// SetAuthTime records a new password verification of the session
	// (reauth). ENotFound when the session does not exist or is revoked.
	SetAuthTime(ctx context.Context, sessionID string, at time.Time) error
	// Sessions lists a page of the user's live sessions at now (not
	// revoked, not expired), most recently used first (LastUsedAt, then ID,
	// both descending), starting after page's position.
	Sessions(ctx context.Context, userID string, now time.Time, page SessionPage) ([]*Session, error)
	// RevokeExcessSessions revokes the user's sessions that are live at
	// r.Now beyond the keep most recently used ones (in the order of
	// Sessions), appending a revocation entry for each, in one transaction.
	// It returns the ids it revoked.
	RevokeExcessSessions(ctx context.Context, userID string, keep int, r Revoke) ([]string, error)
	// RevokeSession revokes the session and appends a revocation entry, in
	// one transaction. It returns false, and changes nothing, when the
	// session was already revoked; ENotFound when it does not exist. Once
	// revoked a session is never un-revoked.
	RevokeSession(ctx context.Context, id string, r Revoke) (bool, error)
	// RevokeUserSessions revokes every unrevoked session of the user except
	// the one with id except (may be empty), appending a revocation entry
	// for each, in one transaction. It returns the ids it revoked.
	RevokeUserSessions(ctx context.Context, userID, except string, r Revoke) ([]string, error)
	// Revocations returns revocation entries with Seq > after whose Until is
	// after now, ordered by Seq, at most limit of them.
	Revocations(ctx context.Context, after int64, now time.Time, limit int) ([]Revocation, error)
}

// KeyStore stores the server's keys, shared by every instance.
type KeyStore interface {
	// Keys returns every key, oldest first.
	Keys(ctx context.Context) ([]*Key, error)
	// InsertKey stores k. EConflict when a key with k.ID exists.
	InsertKey(ctx context.Context, k *Key) error
	// EnsureKey stores k unless an unretired key with k.Use exists, and
	// returns the unretired key of that use that is then stored (k or the
	// older one). Atomic across processes: instances starting together on
	// an empty store end up with the same single key.
	EnsureKey(ctx context.Context, k *Key) (*Key, error)
	// RetireKey sets the key's RetiredAt to at unless it is already
	// retired. ENotFound.
	RetireKey(ctx context.Context, id string, at time.Time) error
	// DeleteKey removes a key. ENotFound.
	DeleteKey(ctx context.Context, id string) error
	// ReplaceKeySecrets sets the secret of every key named in changes, in
	// one transaction, each only if the key still holds its Old secret
	// (sealing keys at start-up and re-sealing them under a new master key
	// must never lose a change another process made meanwhile). nil: every
	// secret replaced; EConflict: a key's secret is no longer Old;
	// ENotFound: a key does not exist. On error nothing changes. No other
	// column changes; an empty changes is a no-op.
	ReplaceKeySecrets(ctx context.Context, changes []KeySecret) error
}

// KeySecret is one change made by KeyStore.ReplaceKeySecrets: the key
// whose id is ID goes from the secret Old to New.
type KeySecret struct {
	ID       string
	Old, New []byte
}

// SettingStore keeps server-wide values that must outlive a change of
// configuration, such as the longest access-token lifetime any instance was
// ever configured with.
type SettingStore interface {
	// RaiseSetting stores value under name unless a larger value is stored
	// already, and returns the value stored afterwards (the larger one).
	// Atomic across processes: the stored value never decreases.
	RaiseSetting(ctx context.Context, name string, value int64) (int64, error)
}

// OutboxStore is the durable outbox (docs/design.md): what must leave the
// process after a request — an email, later a back-channel logout token —
// is stored, then delivered by a background sender in each instance that
// claims messages with a lease. Delivery is at least once: a message whose
// lease ran out while its sender was still at work may be delivered again,
// under the same ID (the Message-ID or jti), so receivers can drop
// duplicates.
type OutboxStore interface {
	// Enqueue stores m, a message that no other state change goes with
	// (notices, test messages); flows that change state and send a message
	// store both in one transaction through their own methods. EConflict
	// when a message with m.ID exists. A zero NextAttemptAt means due at
	// CreatedAt.
	Enqueue(ctx context.Context, m *OutboxMessage) error
	// ClaimOutbox leases up to limit messages of kind that are due at now
	// — neither sent nor given up, NextAttemptAt not after now, and no
	// lease running past now — oldest first, by setting their lease to
	// now+lease, and returns them. Concurrent claimers, also in other
	// processes, never get the same message while its lease holds.
	ClaimOutbox(ctx context.Context, kind string, now time.Time, lease time.Duration, limit int) ([]*OutboxMessage, error)
	// OutboxDelivered marks the message sent at at and ends its lease.
	// ENotFound.
	OutboxDelivered(ctx context.Context, id string, at time.Time) error
	// OutboxFailed records a failed attempt at now: Attempts grows by one,
	// LastError becomes reason (cut to 1,000 bytes), the lease ends, and
	// the message is due again at next — or, with a zero next, given up
	// (GaveUpAt = now). ENotFound.
	OutboxFailed(ctx context.Context, id string, now, next time.Time, reason string) error
	// OutboxBacklog returns how many messages of kind are queued (neither
	// sent nor given up) and the CreatedAt of the oldest (zero when none).
	OutboxBacklog(ctx context.Context, kind string) (queued int64, oldest time.Time, err error)
}

// LinkStore stores one-time links (only their hashes) and spends them by
// compare-and-set, with the change each one makes, in one transaction.
type LinkStore interface {
	// CreateLink stores l and, in the same transaction, ms, the outbox
	// messages that go with it (the one carrying it, and notices; nil
	// entries are skipped). ENotFound when l.UserID does not exist;
	// EConflict when l.ID or l.Hash exists, or a message's ID does; nothing
	// is stored then.
	CreateLink(ctx context.Context, l *Link, ms ...*OutboxMessage) error
	// LinkByHash returns the link whose token hashes to hash, spent or
	// not, or ENotFound.
	LinkByHash(ctx context.Context, hash []byte) (*Link, error)
	// ResetPassword spends the link whose token hashes to hash — only if
	// it is unspent, not expired at now, and its purpose is
	// LinkResetPassword — and in the same transaction sets its user's
	// password hash to passwordHash (moving CredentialGen forward, so no
	// session of the old password rotates again), marks the user's address
	// verified when it is still the link's address, spends every other
	// unspent reset link of the user at now, and stores notices in the
	// outbox. It returns the user afterwards. EInvalidLink (unknown,
	// spent, expired, another purpose); on any error nothing changes. Of
	// concurrent redemptions of one link at most one succeeds.
	ResetPassword(ctx context.Context, hash []byte, now time.Time, passwordHash string, notices ...*OutboxMessage) (*User, error)
	// RedeemEmailLink spends the link whose token hashes to hash — only if
	// it is unspent, not expired at now, and its purpose is
	// LinkVerifyEmail or LinkChangeEmail — and in the same transaction
	// applies it to its user: verification marks the user's address
	// verified, provided it is still the link's address; an email change
	// sets the user's address to the link's, verified. It returns the
	// user afterwards. Outcomes: EInvalidLink (unknown, spent, expired,
	// another purpose, or a verification of an address the user no longer
	// has), EEmailTaken (another user took the new address meanwhile);
	// on any error nothing changes, the link included. Of concurrent
	// redemptions of one link at most one succeeds.
	RedeemEmailLink(ctx context.Context, hash []byte, now time.Time) (*User, error)
}

// MFAStore stores second factors: TOTP secrets and recovery codes (only
// their hashes).
type MFAStore interface {
	// TOTP returns the user's TOTP state; ENotFound when the user never
	// began an enrolment (or disabled it since).
	TOTP(ctx context.Context, userID string) (*TOTP, error)
	// SetPendingTOTP stores secret as the user's pending enrolment at now,
	// replacing a pending one; a confirmed secret stays in force until the
	// pending one is confirmed. ENotFound when the user does not exist.
	SetPendingTOTP(ctx context.Context, userID string, secret []byte, now time.Time) error
	// ConfirmTOTP makes the pending secret the user's secret — only if it
	// is still pending (the same bytes) — with step as its last used step,
	// and replaces the user's recovery codes by codes (hashes), in one
	// transaction. EConflict when the pending secret changed or is gone;
	// nothing changes then.
	ConfirmTOTP(ctx context.Context, userID string, pending []byte, step int64, codes [][]byte, now time.Time) error
	// UseTOTPStep records that the code of step was accepted: a
	// compare-and-set that succeeds only while TOTP is on and step is
	// after the last used step. EConflict otherwise (a replay, or a step
	// before one used). Of concurrent calls with one step at most one
	// succeeds.
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	// DisableTOTP removes the user's TOTP secret, a pending one and every
	// recovery code. ENotFound when there was no TOTP state.
	DisableTOTP(ctx context.Context, userID string) error
	// ReplaceRecoveryCodes replaces every recovery code of the user by
	// codes (hashes) created at now. ENotFound when the user does not
	// exist.
	ReplaceRecoveryCodes(ctx context.Context, userID string, codes [][]byte, now time.Time) error
	// UseRecoveryCode spends the user's unused code with the given hash by
	// compare-and-set, and returns how many unused codes are left.
	// ENotFound when the user has no such unused code. Of concurrent
	// calls with one code at most one succeeds.
	UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) (int, error)
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
}

// ChallengeStore stores the one-time challenges of multi-step ceremonies,
// shared by every instance, so a ceremony begun on one may finish on
// another.
type ChallengeStore interface {
	// CreateChallenge stores c. ENotFound when c.UserID is set and does
	// not exist; EConflict when c.ID or c.Hash exists.
	CreateChallenge(ctx context.Context, c *Challenge) error
	// Challenge returns the challenge of kind with the given hash, live or
	// not; ENotFound when there is none.
	Challenge(ctx context.Context, hash []byte, kind string) (*Challenge, error)
	// FailChallenge counts a wrong answer to the live challenge (unspent,
	// not expired at now) and returns its failures afterwards. ENotFound
	// when there is no live challenge of kind with the hash.
	FailChallenge(ctx context.Context, hash []byte, kind string, now time.Time) (int, error)
	// SpendChallenge spends the challenge of kind with the given hash by
	// compare-and-set — only if it is unspent, not expired at now and has
	// fewer than maxFailures failures — and returns it. ENotFound
	// otherwise. Of concurrent calls at most one succeeds.
	SpendChallenge(ctx context.Context, hash []byte, kind string, now time.Time, maxFailures int) (*Challenge, error)
}

// PasskeyStore stores users' WebAuthn credentials.
type PasskeyStore interface {
	// CreatePasskey stores p. ENotFound when p.UserID does not exist;
	// EConflict when p.ID or p.CredentialID exists, or when the user has
	// MaxPasskeysPerUser passkeys already (of concurrent creations for one
	// user, no more than the limit succeed).
	CreatePasskey(ctx context.Context, p *Passkey) error
	// Passkeys lists the user's passkeys, oldest first (none for an
	// unknown user).
	Passkeys(ctx context.Context, userID string) ([]*Passkey, error)
	// PasskeyByCredentialID returns the passkey with the credential id, or
	// ENotFound.
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*Passkey, error)
	// DeletePasskey deletes the user's passkey id. With keepOne it does so
	// only while the user has another passkey, and returns EConflict
	// otherwise (of concurrent deletions with keepOne, at least one
	// passkey stays). ENotFound when the user has no passkey id (also when
	// another user has).
	DeletePasskey(ctx context.Context, userID, id string, keepOne bool) error
	// UsePasskey records a sign-in with the passkey at now whose signature
	// counter was count: a compare-and-set that succeeds only when count
	// is after the stored counter, or when both are 0 (an authenticator
	// that keeps no counter). EConflict otherwise — a counter that did not
	// move forward, the sign of a cloned authenticator or a replay — and
	// ENotFound when there is no passkey id. Of concurrent calls with one
	// count (not 0) at most one succeeds.
	UsePasskey(ctx context.Context, id string, count uint32, now time.Time) error
}

// AuditStore stores the audit log.
type AuditStore interface {
	// AppendAudit stores e, assigning e.Seq.
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// AuditEvents returns events oldest first: with after > 0 the first
	// limit events with Seq > after; with after == 0 the newest limit
	// events.
	AuditEvents(ctx context.Context, after int64, limit int) ([]*AuditEvent, error)
	// PruneAudit deletes at most limit events whose Time is before before,
	// oldest first, and returns how many it deleted; a result below limit
	// means none that old is left. Housekeeping calls it in a loop, so no
	// call holds the store for long.
	PruneAudit(ctx context.Context, before time.Time, limit int) (int, error)
}

// Optional capabilities. A backend provides each when it can; consumers
// find them by type assertion, and storetest.Run tests every one a backend
// has. SQLite, a single process, needs none of the shared ones.

// AuditBatchAppender appends several audit events in one transaction (the
// audit writer drains its queue in batches).
type AuditBatchAppender interface {
	// AppendAudits stores es in order, assigning each its Seq; all or none.
	AppendAudits(ctx context.Context, es []*AuditEvent) error
}

// RefreshRotator looks up a presented refresh token and rotates it in one
// round trip. A networked store otherwise costs a refresh two: the read of
// the token with its session, which the engine checks, then Rotate. Here
// the checks that need only the stored rows travel with the rotation as a
// RotationGate; the engine still checks the returned rows itself and falls
// back to Rotate whenever the gate did not let the rotation happen.
type RefreshRotator interface {
	// RotateRefresh finds the token with hash r.OldHash and its session
	// and, only when the token is unspent and g holds, performs r as
	// Rotate does (r.SessionID is ignored: the token's own session is
	// rotated, and its IdleExpiresAt is capped at the session's
	// ExpiresAt). Token and Session are as they were before the
	// statement, read on one snapshot with Successor. Nothing changes
	// unless Rotated, except as with Rotate when the session is revoked
	// (or its user locked) while the call runs: the token may be left
	// spent. Of concurrent calls with the same OldHash at most one
	// rotates. ENotFound when the token does not exist.
	RotateRefresh(ctx context.Context, r Rotation, g RotationGate) (*RefreshRotated, error)
}

// RotationGate is what must hold for RotateRefresh to rotate, besides the
// token being unspent: the session is not revoked, neither expired nor
// idle at the rotation's Now, not a single-sign-on session
// (TransportSSO), and its user is unlocked and at the session's
// CredentialGen.
type RotationGate struct {
	// SessionID, when not empty, is the session the token must belong to
	// (the session of the access token the client sent along).
	SessionID string
	// Binding is the thumbprint of the request's DPoP key ("" for none):
	// the session must be unbound or bound to it.
	Binding string
	// ClientID is the registered client refreshing ("" for baton's own
	// clients): a session issued through the code flow (with a Scope)
	// rotates only for its client, a session without one only for baton's.
	ClientID string
}

// RefreshRotated is what RotateRefresh found and did.
type RefreshRotated struct {
	Token   *RefreshToken
	Session *Session
	// Rotated tells whether the token was spent and Rotation.NewHash
	// stored.
	Rotated bool
	// Successor is the stored token with Rotation.NewHash, nil when there
	// is none: the grace branch answers it again while it is unspent.
	Successor *RefreshToken
}

// SessionCounter counts sessions for the metrics.
type SessionCounter interface {
	// CountLiveSessions returns how many sessions are live at now: neither
	// revoked nor expired.
	CountLiveSessions(ctx context.Context, now time.Time) (int64, error)
}

// RateStore keeps rate-limit budgets that every instance of a deployment
// shares (GCRA: one theoretical arrival time, TAT, per key), so a limit
// holds for the deployment, not per process. Keys are opaque to the store
// (the rate limiter hands it hashes).
type RateStore interface {
	// TakeRate spends one event of key's budget if it fits: the key's TAT
	// becomes max(TAT, now) + interval unless that is more than window
	// ahead of now, in which case nothing changes. It reports whether the
	// event fit and the key's TAT afterwards. Check and spend are one
	// atomic step: concurrent callers never both spend the last event.
	TakeRate(ctx context.Context, key string, now time.Time, interval, window time.Duration) (ok bool, tat time.Time, err error)
	// ReturnRate gives back one event spent by TakeRate.
	ReturnRate(ctx context.Context, key string, interval time.Duration) error
}

// RevocationWatcher is an optional capability of stores shared by several
// instances (PostgreSQL): it reports revocations made by other processes as
// they happen, so access tokens of a revoked session fail everywhere within
// a second. Watch blocks until ctx ends, calling notify for each revoked
// session id it hears of; it returns an error when its connection fails, and
// the caller starts it again. Missed notifications are caught up through
// Revocations.
type RevocationWatcher interface {
	WatchRevocations(ctx context.Context, notify func(sessionID string)) error
}

// DPoPReplayStore is an optional capability of stores shared by several
// instances (PostgreSQL): it remembers the DPoP proofs (RFC 9449) that any
// instance accepted, so a proof replayed to another instance within its
// window is refused there too (§11.1). A single-process store needs none:
// the verifier's own cache sees every proof.
type DPoPReplayStore interface {
	// SpendDPoPProof records id, which identifies one proof (at most 32
	// bytes), as used until expires. It returns EConflict, and changes
	// nothing, when id is recorded with an expiry after now; a record that
	// expired is replaced. Of concurrent calls with the same id at most one
	// succeeds. Prune deletes the records that expired before its now.
	SpendDPoPProof(ctx context.Context, id []byte, now, expires time.Time) error
}
