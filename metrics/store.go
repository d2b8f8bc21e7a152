package metrics

import (
	"context"
	"time"

	"github.com/batonauth/baton"
	"github.com/prometheus/client_golang/prometheus"
)

// Store methods, the values of baton_store_duration_seconds{method}.
const (
	mCreateUser = iota
	mUserByID
	mUserByName
	mUsers
	mSetPasswordHash
	mRehashPassword
	mSetLocked
	mDeleteUser
	mCreateSession
	mSession
	mRefreshToken
	mRotate
	mSetAuthTime
	mSessions
	mRevokeSession
	mRevokeUserSessions
	mRevokeExcessSessions
	mRevocations
	mKeys
	mInsertKey
	mEnsureKey
	mRetireKey
	mDeleteKey
	mReplaceKeySecrets
	mAppendAudit
	mAuditEvents
	mPing
	mPrune
	mRaiseSetting
	mPruneAudit
	mUserByEmail
	mEnqueue
	mClaimOutbox
	mOutboxDelivered
	mOutboxFailed
	mOutboxBacklog
	mCreateLink
	mRedeemEmailLink
	mLinkByHash
	mResetPassword
	mSetEmail
	mTOTP
	mSetPendingTOTP
	mConfirmTOTP
	mUseTOTPStep
	mDisableTOTP
	mReplaceRecoveryCodes
	mUseRecoveryCode
	mRecoveryCodesLeft
	mCreateChallenge
	mChallenge
	mFailChallenge
	mSpendChallenge
	mCreatePasskey
	mPasskeys
	mPasskeyByCredentialID
	mDeletePasskey
	mUsePasskey
	mCreateClient
	mClient
	mClients
	mUpdateClient
	mSetClientSecret
	mDeleteClient
	mGrantConsent
	mConsent
	mConsents
	mDeleteConsent
	mRevokeSessionTree
	mRotateRefresh
	mRotateSession
	mCount
)

var methodNames = [mCount]string{
	"CreateUser", "UserByID", "UserByName", "Users", "SetPasswordHash", "RehashPassword", "SetLocked", "DeleteUser",
	"CreateSession", "Session", "RefreshToken", "Rotate", "SetAuthTime", "Sessions", "RevokeSession",
	"RevokeUserSessions", "RevokeExcessSessions", "Revocations", "Keys", "InsertKey", "EnsureKey", "RetireKey", "DeleteKey",
	"ReplaceKeySecrets", "AppendAudit", "AuditEvents", "Ping", "Prune", "RaiseSetting", "PruneAudit",
	"UserByEmail", "Enqueue", "ClaimOutbox", "OutboxDelivered", "OutboxFailed", "OutboxBacklog",
	"CreateLink", "RedeemEmailLink", "LinkByHash", "ResetPassword", "SetEmail",
	"TOTP", "SetPendingTOTP", "ConfirmTOTP", "UseTOTPStep", "DisableTOTP", "ReplaceRecoveryCodes", "UseRecoveryCode", "RecoveryCodesLeft", "CreateChallenge", "Challenge", "FailChallenge", "SpendChallenge",
	"CreatePasskey", "Passkeys", "PasskeyByCredentialID", "DeletePasskey", "UsePasskey",
	"CreateClient", "Client", "Clients", "UpdateClient", "SetClientSecret", "DeleteClient",
	"GrantConsent", "Consent", "Consents", "DeleteConsent", "RevokeSessionTree", "RotateRefresh",
	"RotateSession",
}

// InstrumentStore wraps s so that every method's latency lands in
// baton_store_duration_seconds{method} and every failure other than a
// documented outcome (not found, conflict, username or email taken, invalid
// link) in
// baton_store_errors_total{method}. The observers are resolved once here,
// so a call costs two clock reads and no allocation. Optional capabilities
// of s (RevocationWatcher, SessionCounter, and RefreshRotator, timed like
// the methods) are kept: the engine finds them by type assertion, and a
// lost RefreshRotator would quietly cost every refresh a round trip.
func InstrumentStore(s baton.Store, reg *prometheus.Registry) baton.Store {
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "baton_store_duration_seconds",
		Help:    "Latency of store calls by method.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
	}, []string{"method"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "baton_store_errors_total",
		Help: "Store calls that failed (not counting not-found and conflict outcomes) by method.",
	}, []string{"method"})
	reg.MustRegister(dur, errs)
	is := &instrumented{s: s}
	for i, name := range methodNames {
		is.obs[i] = dur.WithLabelValues(name)
		is.errs[i] = errs.WithLabelValues(name)
	}
	w, isWatcher := s.(baton.RevocationWatcher)
	c, isCounter := s.(baton.SessionCounter)
	rr, isRotator := s.(baton.RefreshRotator)
	r := rotator{is, rr}
	// One type per combination: a method set cannot be assembled at run
	// time, and an embedded nil interface would still pass the assertion.
	switch [3]bool{isWatcher, isCounter, isRotator} {
	case [3]bool{true, true, true}:
		return &struct {
			*instrumented
			baton.RevocationWatcher
			baton.SessionCounter
			rotator
		}{is, w, c, r}
	case [3]bool{true, true, false}:
		return &struct {
			*instrumented
			baton.RevocationWatcher
			baton.SessionCounter
		}{is, w, c}
	case [3]bool{true, false, true}:
		return &struct {
			*instrumented
			baton.RevocationWatcher
			rotator
		}{is, w, r}
	case [3]bool{false, true, true}:
		return &struct {
			*instrumented
			baton.SessionCounter
			rotator
		}{is, c, r}
	case [3]bool{true, false, false}:
		return &struct {
			*instrumented
			baton.RevocationWatcher
		}{is, w}
	case [3]bool{false, true, false}:
		return &struct {
			*instrumented
			baton.SessionCounter
		}{is, c}
	case [3]bool{false, false, true}:
		return &struct {
			*instrumented
			rotator
		}{is, r}
	}
	return is
}

// rotator is the timed RefreshRotator of an instrumented store.
type rotator struct {
	is *instrumented
	r  baton.RefreshRotator
}

func (x rotator) RotateRefresh(ctx context.Context, r baton.Rotation, g baton.RotationGate) (*baton.RefreshRotated, error) {
	t := time.Now()
	out, err := x.r.RotateRefresh(ctx, r, g)
	x.is.done(mRotateRefresh, t, err)
	return out, err
}

type instrumented struct {
	s    baton.Store
	obs  [mCount]prometheus.Observer
	errs [mCount]prometheus.Counter
}

var _ baton.Store = (*instrumented)(nil)

func (is *instrumented) done(m int, start time.Time, err error) {
	is.obs[m].Observe(time.Since(start).Seconds())
	if err != nil {
		switch baton.ErrorCode(err) {
		case baton.ENotFound, baton.EConflict, baton.EUsernameTaken, baton.EEmailTaken, baton.EInvalidLink:
		default:
			is.errs[m].Inc()
		}
	}
}

func (is *instrumented) CreateUser(ctx context.Context, u *baton.User) error {
	t := time.Now()
	err := is.s.CreateUser(ctx, u)
	is.done(mCreateUser, t, err)
	return err
}

func (is *instrumented) UserByID(ctx context.Context, id string) (*baton.User, error) {
	t := time.Now()
	u, err := is.s.UserByID(ctx, id)
	is.done(mUserByID, t, err)
	return u, err
}

func (is *instrumented) UserByName(ctx context.Context, canonical string) (*baton.User, error) {
	t := time.Now()
	u, err := is.s.UserByName(ctx, canonical)
	is.done(mUserByName, t, err)
	return u, err
}

func (is *instrumented) UserByEmail(ctx context.Context, canonical string) (*baton.User, error) {
	t := time.Now()
	u, err := is.s.UserByEmail(ctx, canonical)
	is.done(mUserByEmail, t, err)
	return u, err
}

func (is *instrumented) Users(ctx context.Context, after string, limit int) ([]*baton.User, error) {
	t := time.Now()
	us, err := is.s.Users(ctx, after, limit)
	is.done(mUsers, t, err)
	return us, err
}

func (is *instrumented) SetPasswordHash(ctx context.Context, userID, hash string, notices ...*baton.OutboxMessage) (int64, error) {
	t := time.Now()
	gen, err := is.s.SetPasswordHash(ctx, userID, hash, notices...)
	is.done(mSetPasswordHash, t, err)
	return gen, err
}

func (is *instrumented) RehashPassword(ctx context.Context, userID, oldHash, newHash string) error {
	t := time.Now()
	err := is.s.RehashPassword(ctx, userID, oldHash, newHash)
	is.done(mRehashPassword, t, err)
	return err
}

func (is *instrumented) SetEmail(ctx context.Context, userID, email, canonical string, verified bool) error {
	t := time.Now()
	err := is.s.SetEmail(ctx, userID, email, canonical, verified)
	is.done(mSetEmail, t, err)
	return err
}

func (is *instrumented) SetLocked(ctx context.Context, userID string, lockedAt time.Time) error {
	t := time.Now()
	err := is.s.SetLocked(ctx, userID, lockedAt)
	is.done(mSetLocked, t, err)
	return err
}

func (is *instrumented) DeleteUser(ctx context.Context, userID string, r baton.Revoke) ([]string, error) {
	t := time.Now()
	ids, err := is.s.DeleteUser(ctx, userID, r)
	is.done(mDeleteUser, t, err)
	return ids, err
}

func (is *instrumented) CreateSession(ctx context.Context, s *baton.Session, tokenHash []byte) error {
	t := time.Now()
	err := is.s.CreateSession(ctx, s, tokenHash)
	is.done(mCreateSession, t, err)
	return err
}

func (is *instrumented) Session(ctx context.Context, id string) (*baton.Session, error) {
	t := time.Now()
	s, err := is.s.Session(ctx, id)
	is.done(mSession, t, err)
	return s, err
}

func (is *instrumented) RefreshToken(ctx context.Context, hash []byte) (*baton.RefreshToken, *baton.Session, error) {
	t := time.Now()
	rt, s, err := is.s.RefreshToken(ctx, hash)
	is.done(mRefreshToken, t, err)
	return rt, s, err
}

func (is *instrumented) Rotate(ctx context.Context, r baton.Rotation) error {
	t := time.Now()
	err := is.s.Rotate(ctx, r)
	is.done(mRotate, t, err)
	return err
}

func (is *instrumented) RotateSession(ctx context.Context, r baton.Rotation, g baton.RotationGate) (*baton.Session, bool, error) {
	t := time.Now()
	s, rotated, err := is.s.RotateSession(ctx, r, g)
	is.done(mRotateSession, t, err)
	return s, rotated, err
}

func (is *instrumented) SetAuthTime(ctx context.Context, sessionID string, at time.Time) error {
	t := time.Now()
	err := is.s.SetAuthTime(ctx, sessionID, at)
	is.done(mSetAuthTime, t, err)
	return err
}

func (is *instrumented) Sessions(ctx context.Context, userID string, now time.Time, page baton.SessionPage) ([]*baton.Session, error) {
	t := time.Now()
	ss, err := is.s.Sessions(ctx, userID, now, page)
	is.done(mSessions, t, err)
	return ss, err
}

func (is *instrumented) RevokeExcessSessions(ctx context.Context, userID string, keep int, r baton.Revoke) ([]string, error) {
	t := time.Now()
	ids, err := is.s.RevokeExcessSessions(ctx, userID, keep, r)
	is.done(mRevokeExcessSessions, t, err)
	return ids, err
}

func (is *instrumented) RevokeSession(ctx context.Context, id string, r baton.Revoke) (bool, error) {
	t := time.Now()
	ok, err := is.s.RevokeSession(ctx, id, r)
	is.done(mRevokeSession, t, err)
	return ok, err
}

func (is *instrumented) RevokeUserSessions(ctx context.Context, userID, except string, r baton.Revoke) ([]string, error) {
	t := time.Now()
	ids, err := is.s.RevokeUserSessions(ctx, userID, except, r)
	is.done(mRevokeUserSessions, t, err)
	return ids, err
}

func (is *instrumented) Revocations(ctx context.Context, after int64, now time.Time, limit int) ([]baton.Revocation, error) {
	t := time.Now()
	rs, err := is.s.Revocations(ctx, after, now, limit)
	is.done(mRevocations, t, err)
	return rs, err
}

func (is *instrumented) Keys(ctx context.Context) ([]*baton.Key, error) {
	t := time.Now()
	ks, err := is.s.Keys(ctx)
	is.done(mKeys, t, err)
	return ks, err
}

func (is *instrumented) InsertKey(ctx context.Context, k *baton.Key) error {
	t := time.Now()
	err := is.s.InsertKey(ctx, k)
	is.done(mInsertKey, t, err)
	return err
}

func (is *instrumented) EnsureKey(ctx context.Context, k *baton.Key) (*baton.Key, error) {
	t := time.Now()
	out, err := is.s.EnsureKey(ctx, k)
	is.done(mEnsureKey, t, err)
	return out, err
}

func (is *instrumented) RetireKey(ctx context.Context, id string, at time.Time) error {
	t := time.Now()
	err := is.s.RetireKey(ctx, id, at)
	is.done(mRetireKey, t, err)
	return err
}

func (is *instrumented) DeleteKey(ctx context.Context, id string) error {
	t := time.Now()
	err := is.s.DeleteKey(ctx, id)
	is.done(mDeleteKey, t, err)
	return err
}

func (is *instrumented) ReplaceKeySecrets(ctx context.Context, changes []baton.KeySecret) error {
	t := time.Now()
	err := is.s.ReplaceKeySecrets(ctx, changes)
	is.done(mReplaceKeySecrets, t, err)
	return err
}

func (is *instrumented) AppendAudit(ctx context.Context, e *baton.AuditEvent) error {
	t := time.Now()
	err := is.s.AppendAudit(ctx, e)
	is.done(mAppendAudit, t, err)
	return err
}

func (is *instrumented) AuditEvents(ctx context.Context, after int64, limit int) ([]*baton.AuditEvent, error) {
	t := time.Now()
	es, err := is.s.AuditEvents(ctx, after, limit)
	is.done(mAuditEvents, t, err)
	return es, err
}

func (is *instrumented) Ping(ctx context.Context) error {
	t := time.Now()
	err := is.s.Ping(ctx)
	is.done(mPing, t, err)
	return err
}

func (is *instrumented) Prune(ctx context.Context, now, olderThan time.Time, limit int) (int, error) {
	t := time.Now()
	n, err := is.s.Prune(ctx, now, olderThan, limit)
	is.done(mPrune, t, err)
	return n, err
}

func (is *instrumented) PruneAudit(ctx context.Context, before time.Time, limit int) (int, error) {
	t := time.Now()
	n, err := is.s.PruneAudit(ctx, before, limit)
	is.done(mPruneAudit, t, err)
	return n, err
}

func (is *instrumented) Close() error { return is.s.Close() }

func (is *instrumented) RaiseSetting(ctx context.Context, name string, value int64) (int64, error) {
	t := time.Now()
	v, err := is.s.RaiseSetting(ctx, name, value)
	is.done(mRaiseSetting, t, err)
	return v, err
}

func (is *instrumented) Enqueue(ctx context.Context, m *baton.OutboxMessage) error {
	t := time.Now()
	err := is.s.Enqueue(ctx, m)
	is.done(mEnqueue, t, err)
	return err
}

func (is *instrumented) ClaimOutbox(ctx context.Context, kind string, now time.Time, lease time.Duration, limit int) ([]*baton.OutboxMessage, error) {
	t := time.Now()
	ms, err := is.s.ClaimOutbox(ctx, kind, now, lease, limit)
	is.done(mClaimOutbox, t, err)
	return ms, err
}

func (is *instrumented) OutboxDelivered(ctx context.Context, id string, at time.Time) error {
	t := time.Now()
	err := is.s.OutboxDelivered(ctx, id, at)
	is.done(mOutboxDelivered, t, err)
	return err
}

func (is *instrumented) OutboxFailed(ctx context.Context, id string, now, next time.Time, reason string) error {
	t := time.Now()
	err := is.s.OutboxFailed(ctx, id, now, next, reason)
	is.done(mOutboxFailed, t, err)
	return err
}

func (is *instrumented) OutboxBacklog(ctx context.Context, kind string) (int64, time.Time, error) {
	t := time.Now()
	n, oldest, err := is.s.OutboxBacklog(ctx, kind)
	is.done(mOutboxBacklog, t, err)
	return n, oldest, err
}

func (is *instrumented) CreateLink(ctx context.Context, l *baton.Link, ms ...*baton.OutboxMessage) error {
	t := time.Now()
	err := is.s.CreateLink(ctx, l, ms...)
	is.done(mCreateLink, t, err)
	return err
}

func (is *instrumented) LinkByHash(ctx context.Context, hash []byte) (*baton.Link, error) {
	t := time.Now()
	l, err := is.s.LinkByHash(ctx, hash)
	is.done(mLinkByHash, t, err)
	return l, err
}

func (is *instrumented) ResetPassword(ctx context.Context, hash []byte, now time.Time, passwordHash string, notices ...*baton.OutboxMessage) (*baton.User, error) {
	t := time.Now()
	u, err := is.s.ResetPassword(ctx, hash, now, passwordHash, notices...)
	is.done(mResetPassword, t, err)
	return u, err
}

func (is *instrumented) RedeemEmailLink(ctx context.Context, hash []byte, now time.Time) (*baton.User, error) {
	t := time.Now()
	u, err := is.s.RedeemEmailLink(ctx, hash, now)
	is.done(mRedeemEmailLink, t, err)
	return u, err
}

func (is *instrumented) TOTP(ctx context.Context, userID string) (*baton.TOTP, error) {
	t := time.Now()
	v, err := is.s.TOTP(ctx, userID)
	is.done(mTOTP, t, err)
	return v, err
}

func (is *instrumented) SetPendingTOTP(ctx context.Context, userID string, secret []byte, now time.Time) error {
	t := time.Now()
	err := is.s.SetPendingTOTP(ctx, userID, secret, now)
	is.done(mSetPendingTOTP, t, err)
	return err
}

func (is *instrumented) ConfirmTOTP(ctx context.Context, userID string, pending []byte, step int64, codes [][]byte, now time.Time) error {
	t := time.Now()
	err := is.s.ConfirmTOTP(ctx, userID, pending, step, codes, now)
	is.done(mConfirmTOTP, t, err)
	return err
}

func (is *instrumented) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	t := time.Now()
	err := is.s.UseTOTPStep(ctx, userID, step)
	is.done(mUseTOTPStep, t, err)
	return err
}

func (is *instrumented) DisableTOTP(ctx context.Context, userID string) error {
	t := time.Now()
	err := is.s.DisableTOTP(ctx, userID)
	is.done(mDisableTOTP, t, err)
	return err
}

func (is *instrumented) ReplaceRecoveryCodes(ctx context.Context, userID string, codes [][]byte, now time.Time) error {
	t := time.Now()
	err := is.s.ReplaceRecoveryCodes(ctx, userID, codes, now)
	is.done(mReplaceRecoveryCodes, t, err)
	return err
}

func (is *instrumented) UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) (int, error) {
	t := time.Now()
	v, err := is.s.UseRecoveryCode(ctx, userID, hash, now)
	is.done(mUseRecoveryCode, t, err)
	return v, err
}

func (is *instrumented) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	t := time.Now()
	v, err := is.s.RecoveryCodesLeft(ctx, userID)
	is.done(mRecoveryCodesLeft, t, err)
	return v, err
}

func (is *instrumented) CreateChallenge(ctx context.Context, c *baton.Challenge) error {
	t := time.Now()
	err := is.s.CreateChallenge(ctx, c)
	is.done(mCreateChallenge, t, err)
	return err
}

func (is *instrumented) Challenge(ctx context.Context, hash []byte, kind string) (*baton.Challenge, error) {
	t := time.Now()
	v, err := is.s.Challenge(ctx, hash, kind)
	is.done(mChallenge, t, err)
	return v, err
}

func (is *instrumented) FailChallenge(ctx context.Context, hash []byte, kind string, now time.Time) (int, error) {
	t := time.Now()
	v, err := is.s.FailChallenge(ctx, hash, kind, now)
	is.done(mFailChallenge, t, err)
	return v, err
}

func (is *instrumented) SpendChallenge(ctx context.Context, hash []byte, kind string, now time.Time, maxFailures int) (*baton.Challenge, error) {
	t := time.Now()
	v, err := is.s.SpendChallenge(ctx, hash, kind, now, maxFailures)
	is.done(mSpendChallenge, t, err)
	return v, err
}

func (is *instrumented) CreatePasskey(ctx context.Context, p *baton.Passkey) error {
	t := time.Now()
	err := is.s.CreatePasskey(ctx, p)
	is.done(mCreatePasskey, t, err)
	return err
}

func (is *instrumented) Passkeys(ctx context.Context, userID string) ([]*baton.Passkey, error) {
	t := time.Now()
	v, err := is.s.Passkeys(ctx, userID)
	is.done(mPasskeys, t, err)
	return v, err
}

func (is *instrumented) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*baton.Passkey, error) {
	t := time.Now()
	v, err := is.s.PasskeyByCredentialID(ctx, credentialID)
	is.done(mPasskeyByCredentialID, t, err)
	return v, err
}

func (is *instrumented) DeletePasskey(ctx context.Context, userID, id string, keepOne bool) error {
	t := time.Now()
	err := is.s.DeletePasskey(ctx, userID, id, keepOne)
	is.done(mDeletePasskey, t, err)
	return err
}

func (is *instrumented) UsePasskey(ctx context.Context, id string, count uint32, now time.Time) error {
	t := time.Now()
	err := is.s.UsePasskey(ctx, id, count, now)
	is.done(mUsePasskey, t, err)
	return err
}

func (is *instrumented) CreateClient(ctx context.Context, c *baton.OAuthClient) error {
	t := time.Now()
	err := is.s.CreateClient(ctx, c)
	is.done(mCreateClient, t, err)
	return err
}

func (is *instrumented) Client(ctx context.Context, id string) (*baton.OAuthClient, error) {
	t := time.Now()
	v, err := is.s.Client(ctx, id)
	is.done(mClient, t, err)
	return v, err
}

func (is *instrumented) Clients(ctx context.Context, after string, limit int) ([]*baton.OAuthClient, error) {
	t := time.Now()
	v, err := is.s.Clients(ctx, after, limit)
	is.done(mClients, t, err)
	return v, err
}

func (is *instrumented) UpdateClient(ctx context.Context, c *baton.OAuthClient) error {
	t := time.Now()
	err := is.s.UpdateClient(ctx, c)
	is.done(mUpdateClient, t, err)
	return err
}

func (is *instrumented) SetClientSecret(ctx context.Context, id string, hash []byte, now time.Time) error {
	t := time.Now()
	err := is.s.SetClientSecret(ctx, id, hash, now)
	is.done(mSetClientSecret, t, err)
	return err
}

func (is *instrumented) DeleteClient(ctx context.Context, id string, r baton.Revoke) ([]string, error) {
	t := time.Now()
	v, err := is.s.DeleteClient(ctx, id, r)
	is.done(mDeleteClient, t, err)
	return v, err
}

func (is *instrumented) GrantConsent(ctx context.Context, c *baton.Consent) error {
	t := time.Now()
	err := is.s.GrantConsent(ctx, c)
	is.done(mGrantConsent, t, err)
	return err
}

func (is *instrumented) Consent(ctx context.Context, userID, clientID string) (*baton.Consent, error) {
	t := time.Now()
	v, err := is.s.Consent(ctx, userID, clientID)
	is.done(mConsent, t, err)
	return v, err
}

func (is *instrumented) Consents(ctx context.Context, userID string, limit int) ([]*baton.Consent, error) {
	t := time.Now()
	v, err := is.s.Consents(ctx, userID, limit)
	is.done(mConsents, t, err)
	return v, err
}

func (is *instrumented) DeleteConsent(ctx context.Context, userID, clientID string, r baton.Revoke) ([]string, error) {
	t := time.Now()
	v, err := is.s.DeleteConsent(ctx, userID, clientID, r)
	is.done(mDeleteConsent, t, err)
	return v, err
}

func (is *instrumented) RevokeSessionTree(ctx context.Context, id string, r baton.Revoke) ([]string, error) {
	t := time.Now()
	v, err := is.s.RevokeSessionTree(ctx, id, r)
	is.done(mRevokeSessionTree, t, err)
	return v, err
}
