// Package storetest is the conformance suite of baton.Store: every backend
// runs it from its own tests, so the outcomes documented in store.go mean
// the same thing on SQLite and PostgreSQL, races included.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) baton.Store { return mustOpen(t) })
//	}
//
// The suite passes times as callers do: UTC, truncated to microseconds
// (PostgreSQL's precision), and expects exactly those instants back, in UTC,
// with the zero time for the optional ones that are unset (NULL in SQL).
// Where the contract leaves a choice to the backend, the test accepts every
// allowed answer and says so.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Run runs the conformance suite. open returns a fresh, empty, migrated
// store and registers its own cleanup (closing it, dropping its data); every
// subtest opens its own, so tests never see each other's rows.
func Run(t *testing.T, open func(t *testing.T) baton.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s baton.Store)
	}{
		{"Ping", testPing},

		{"CreateUser/RoundTrip", testCreateUserRoundTrip},
		{"CreateUser/UsernameTaken", testCreateUserUsernameTaken},
		{"UserByID/NotFound", testUserByIDNotFound},
		{"UserByName/NotFound", testUserByNameNotFound},
		{"Email/RoundTrip", testEmailRoundTrip},
		{"Email/Taken", testEmailTaken},
		{"Email/TakenConcurrent", testEmailTakenConcurrent},
		{"Email/None", testEmailNone},
		{"UserByEmail/NotFound", testUserByEmailNotFound},
		{"SetEmail", testSetEmail},
		{"SetEmail/Concurrent", testSetEmailConcurrent},
		{"Users/Paging", testUsersPaging},
		{"SetPasswordHash/OK", testSetPasswordHash},
		{"SetPasswordHash/NotFound", testSetPasswordHashNotFound},
		{"SetLocked/LockAndUnlock", testSetLocked},
		{"SetLocked/NotFound", testSetLockedNotFound},
		{"RehashPassword", testRehashPassword},
		{"CreateSession/CredentialCAS", testCreateSessionCredentialCAS},
		{"CreateSession/RacesLock", testCreateSessionRacesLock},
		{"Rotate/CredentialCAS", testRotateCredentialCAS},
		{"DeleteUser/OK", testDeleteUser},
		{"DeleteUser/NotFound", testDeleteUserNotFound},

		{"CreateSession/RoundTrip", testCreateSessionRoundTrip},
		{"CreateSession/UserNotFound", testCreateSessionUserNotFound},
		{"CreateSession/BadAMR", testCreateSessionBadAMR},
		{"Session/NotFound", testSessionNotFound},
		{"RefreshToken/NotFound", testRefreshTokenNotFound},
		{"SetAuthTime", testSetAuthTime},
		{"Rotate/OK", testRotate},
		{"Rotate/Chain", testRotateChain},
		{"Rotate/Spent", testRotateSpent},
		{"Rotate/Revoked", testRotateRevoked},
		{"Rotate/NotFound", testRotateNotFound},
		{"Rotate/Concurrent", testRotateConcurrent},
		{"RotateSession/Create", testCreateTokenSession},
		{"RotateSession/OK", testRotateSession},
		{"RotateSession/Gate", testRotateSessionGate},
		{"RotateSession/Concurrent", testRotateSessionConcurrent},
		{"RotateSession/RacesRevoke", testRotateSessionRacesRevoke},
		{"Sessions/LiveMostRecentlyUsedFirst", testSessions},
		{"Sessions/Paging", testSessionsPaging},
		{"RevokeExcessSessions", testRevokeExcessSessions},
		{"RevokeSession/OK", testRevokeSession},
		{"RevokeSession/Idempotent", testRevokeSessionIdempotent},
		{"RevokeSession/NotFound", testRevokeSessionNotFound},
		{"RevokeSession/Concurrent", testRevokeSessionConcurrent},
		{"RevokeUserSessions/All", testRevokeUserSessionsAll},
		{"RevokeUserSessions/Except", testRevokeUserSessionsExcept},
		{"RevokeUserSessions/None", testRevokeUserSessionsNone},
		{"Revocations/Feed", testRevocations},
		{"Revocations/Empty", testRevocationsEmpty},
		{"Prune/Empty", testPruneEmpty},
		{"Prune/Drain", testPruneDrain},

		{"InsertKey/RoundTrip", testInsertKeyRoundTrip},
		{"InsertKey/Conflict", testInsertKeyConflict},
		{"RetireKey/OK", testRetireKey},
		{"RetireKey/NotFound", testRetireKeyNotFound},
		{"DeleteKey/OK", testDeleteKey},
		{"DeleteKey/NotFound", testDeleteKeyNotFound},
		{"EnsureKey/Empty", testEnsureKeyEmpty},
		{"EnsureKey/Existing", testEnsureKeyExisting},
		{"EnsureKey/OnlyRetired", testEnsureKeyOnlyRetired},
		{"EnsureKey/OtherUse", testEnsureKeyOtherUse},
		{"EnsureKey/Concurrent", testEnsureKeyConcurrent},
		{"ReplaceKeySecrets/OK", testReplaceKeySecrets},
		{"ReplaceKeySecrets/Conflict", testReplaceKeySecretsConflict},
		{"ReplaceKeySecrets/NotFound", testReplaceKeySecretsNotFound},
		{"ReplaceKeySecrets/Concurrent", testReplaceKeySecretsConcurrent},

		{"RaiseSetting", testRaiseSetting},
		{"RaiseSetting/Concurrent", testRaiseSettingConcurrent},

		{"AppendAudit/RoundTrip", testAppendAudit},
		{"AuditEvents/Newest", testAuditEventsNewest},
		{"AuditEvents/After", testAuditEventsAfter},
		{"AuditEvents/Empty", testAuditEventsEmpty},
		{"PruneAudit", testPruneAudit},

		{"Outbox/RoundTrip", testOutboxRoundTrip},
		{"Outbox/Conflict", testOutboxConflict},
		{"Outbox/ClaimFilter", testOutboxClaimFilter},
		{"Outbox/Lease", testOutboxLease},
		{"Outbox/Delivered", testOutboxDelivered},
		{"Outbox/Failed", testOutboxFailed},
		{"Outbox/NotFound", testOutboxNotFound},
		{"Outbox/Backlog", testOutboxBacklog},
		{"Outbox/ClaimConcurrent", testOutboxClaimConcurrent},
		{"Outbox/Prune", testOutboxPrune},

		{"Link/Create", testLinkCreate},
		{"Link/CreateUserNotFound", testLinkCreateUserNotFound},
		{"Link/CreateConflict", testLinkCreateConflict},
		{"Link/RedeemRefused", testLinkRedeemRefused},
		{"Link/RedeemVerify", testLinkRedeemVerify},
		{"Link/RedeemVerifyStale", testLinkRedeemVerifyStale},
		{"Link/RedeemChange", testLinkRedeemChange},
		{"Link/RedeemChangeTaken", testLinkRedeemChangeTaken},
		{"Link/RedeemConcurrent", testLinkRedeemConcurrent},
		{"Link/DeleteUser", testLinkDeleteUser},
		{"Link/Prune", testLinkPrune},
		{"Link/ByHash", testLinkByHash},
		{"Link/MessagesWithWrites", testMessagesWithWrites},
		{"Reset/Apply", testResetApply},
		{"Reset/KeepsOthers", testResetKeepsOthers},
		{"Reset/Refused", testResetRefused},
		{"Reset/StaleAddress", testResetStaleAddress},
		{"Reset/Concurrent", testResetConcurrent},
		{"TOTP/Enrol", testTOTPEnrol},
		{"TOTP/Steps", testTOTPSteps},
		{"TOTP/Disable", testTOTPDisable},
		{"MFA/RecoveryCodes", testRecoveryCodes},
		{"MFA/Challenges", testChallenges},
		{"MFA/DeleteUser", testMFADeleteUser},
		{"MFA/ChallengePrune", testChallengePrune},
		{"Passkeys", testPasskeys},
		{"Passkeys/Counter", testPasskeyCounter},
		{"Passkeys/Limit", testPasskeyLimit},
		{"Passkeys/KeepOne", testPasskeyKeepOne},
		{"Passkeys/DeleteUser", testPasskeyDeleteUser},

		{"OIDC/Client/RoundTrip", testClientRoundTrip},
		{"OIDC/Client/Paging", testClientsPaging},
		{"OIDC/Client/Update", testClientUpdate},
		{"OIDC/Client/Secret", testClientSecret},
		{"OIDC/Client/Delete", testClientDelete},
		{"OIDC/Consent/Grant", testConsentGrant},
		{"OIDC/Consent/GrantConcurrent", testConsentGrantConcurrent},
		{"OIDC/Consent/List", testConsentsList},
		{"OIDC/Consent/Delete", testConsentDelete},
		{"OIDC/RevokeSessionTree", testRevokeSessionTree},
		{"OIDC/SessionScopeParent", testSessionScopeParent},
		{"OIDC/ChildUsesParent", testChildUsesParent},
		{"OIDC/ChildOfRevokedParent", testChildOfRevokedParent},
		{"OIDC/BackchannelLogout", testBackchannelLogout},
		{"OIDC/CodeFlowChallenges", testCodeFlowChallenges},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
	probe := open(t) // tells which optional capabilities the backend has
	for _, tt := range capabilityTests {
		if !tt.has(probe) {
			t.Logf("%s: %T does not have this optional capability", tt.name, probe)
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// ctx is the context of every call: the suite tests outcomes, not
// cancellation, which is each backend's own business.
var ctx = context.Background()

// t0 is the suite's epoch: far from the real clock, so a backend that reads
// time.Now() where it should use the caller's time fails, and with
// microseconds so truncation would show.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)

const day = 24 * time.Hour

func testPing(t *testing.T, s baton.Store) {
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: got %v, want nil", err)
	}
}

// hash returns the stored form of a refresh token named name.
func hash(name string) []byte {
	h := sha256.Sum256([]byte(name))
	return h[:]
}

// newUser returns a user with every field set (LockedAt is zero: unlocked).
func newUser(id string) *baton.User {
	return &baton.User{
		ID:                id,
		Username:          "User-" + id,
		CanonicalUsername: "user-" + id,
		PasswordHash:      "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + id,
		CreatedAt:         t0,
	}
}

func mustCreateUser(t *testing.T, s baton.Store, id string) *baton.User {
	t.Helper()
	u := newUser(id)
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser(%q): got %v, want nil", id, err)
	}
	return u
}

// newSession returns an unrevoked session created at created with every
// other field set, each time distinct so swapped columns show.
func newSession(userID, id string, created time.Time) *baton.Session {
	return &baton.Session{
		ID:            id,
		UserID:        userID,
		CreatedAt:     created,
		LastUsedAt:    created.Add(time.Second),
		ExpiresAt:     created.Add(30 * day),
		IdleExpiresAt: created.Add(7 * day),
		AuthTime:      created.Add(-time.Second),
		Transport:     baton.TransportRefreshCookie,
		ClientID:      "client-" + id,
		Scope:         "openid scope-" + id,
		Parent:        "parent-" + id,
		UserAgent:     "agent-" + id,
		IP:            "192.0.2.1",
		Binding:       "thumbprint-" + id,
		AMR:           []string{baton.AMRPassword},
	}
}

func mustCreateSession(t *testing.T, s baton.Store, sess *baton.Session, tokenHash []byte) {
	t.Helper()
	if err := s.CreateSession(ctx, sess, tokenHash); err != nil {
		t.Fatalf("CreateSession(%q): got %v, want nil", sess.ID, err)
	}
}

func mustSession(t *testing.T, s baton.Store, id string) *baton.Session {
	t.Helper()
	got, err := s.Session(ctx, id)
	if err != nil {
		t.Fatalf("Session(%q): got %v, want nil", id, err)
	}
	wantUTC(t, got)
	return got
}

func mustToken(t *testing.T, s baton.Store, h []byte) (*baton.RefreshToken, *baton.Session) {
	t.Helper()
	tok, sess, err := s.RefreshToken(ctx, h)
	if err != nil {
		t.Fatalf("RefreshToken(%x): got %v, want nil", h[:4], err)
	}
	wantUTC(t, tok)
	wantUTC(t, sess)
	return tok, sess
}

func mustRevoke(t *testing.T, s baton.Store, id string, r baton.Revoke) {
	t.Helper()
	ok, err := s.RevokeSession(ctx, id, r)
	if err != nil || !ok {
		t.Fatalf("RevokeSession(%q): got %v, %v, want true, nil", id, ok, err)
	}
}

// revoke returns a Revoke at now whose feed entry lives five minutes.
func revoke(now time.Time, reason string) baton.Revoke {
	return baton.Revoke{Now: now, Until: now.Add(5 * time.Minute), Reason: reason}
}

// wantCode fails unless err is a *baton.Error with code: every store error
// is one, and callers switch on the code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want code %q", code)
	}
	var e *baton.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want a *baton.Error with code %q", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("got code %q (%v), want %q", e.Code, err, code)
	}
}

// wantUTC fails when a time field of the struct v points to is not in UTC:
// cmp compares instants, so the location needs its own check.
func wantUTC(t *testing.T, v any) {
	t.Helper()
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return
		}
		rv = rv.Elem()
	}
	for i := range rv.NumField() {
		tm, ok := rv.Field(i).Interface().(time.Time)
		if ok && tm.Location() != time.UTC {
			t.Errorf("%s.%s: got location %v, want UTC", rv.Type().Name(), rv.Type().Field(i).Name, tm.Location())
		}
	}
}

// diff compares want and got; byte slices that are nil and empty are equal,
// as SQL NULL and an empty BLOB may come back as either.
func diff(want, got any) string {
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

// diffRevocations compares feed entries but their Seq, which the store
// assigns.
func diffRevocations(want, got []baton.Revocation) string {
	return cmp.Diff(want, got, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(baton.Revocation{}, "Seq"))
}

// concurrently calls f(0) … f(n-1) together, each in a goroutine of its
// own released at once, and returns their errors by index.
func concurrently(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// codes counts the outcomes of concurrent calls by code ("" for nil).
func codes(errs []error) map[string]int {
	m := make(map[string]int)
	for _, err := range errs {
		m[baton.ErrorCode(err)]++
	}
	return m
}

func ids(sessions []*baton.Session) []string {
	out := []string{}
	for _, s := range sessions {
		out = append(out, s.ID)
	}
	return out
}

// revocationsFor returns the feed entries (with Until after the far past, so
// all of them) of session id.
func revocationsFor(t *testing.T, s baton.Store, id string) []baton.Revocation {
	t.Helper()
	all, err := s.Revocations(ctx, 0, t0.Add(-365*day), 1000)
	if err != nil {
		t.Fatalf("Revocations: got %v, want nil", err)
	}
	var out []baton.Revocation
	for _, r := range all {
		wantUTC(t, &r)
		if r.SessionID == id {
			out = append(out, r)
		}
	}
	return out
}

func name(prefix string, i int) string { return fmt.Sprintf("%s-%02d", prefix, i) }
