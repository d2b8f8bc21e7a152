package session

import (
	"context"
	"time"

	"github.com/batonauth/baton"
)

// revocation is one cause ending sessions: exactly one session
// (SessionID), or every session of a user but one (UserID, Except), or a
// user's deletion (UserID, DeleteUser), which revokes every session in the
// same transaction, or the user's live sessions beyond the Keep most
// recently used (UserID, Keep), or a client's deletion (ClientID,
// DeleteClient), which revokes every session of the client, of every
// user, in the transaction that deletes it.
type revocation struct {
	SessionID string
	// Tree, with SessionID, also revokes the sessions SessionID issued
	// (a single-sign-on session's children).
	Tree bool
	// ConsentOf, with UserID, withdraws the user's consent for this
	// client and revokes the user's sessions of it.
	ConsentOf    string
	UserID       string
	Except       string
	DeleteUser   bool
	Keep         int
	ClientID     string
	DeleteClient bool
	// Reason is stored with the revoked sessions (baton.Reason*).
	Reason string
	// Event is the audit event of the cause; revoke fills in the user and
	// session ids it lacks.
	Event Event
}

// revoke is the one revocation path: logout, reuse detection, password
// change, account deletion, lock, admin revocations and client deletion
// all go through it, so none can skip a step. In order of durability:
//  1. the store revokes the sessions and appends their revocation-feed
//     entries in one transaction (on PostgreSQL the same transaction
//     notifies the other instances: the publication is as durable as the
//     revocation itself);
//  2. this instance's revoked set learns the ids at once, so their access
//     tokens fail here before the call returns;
//  3. the cause's audit event is written.
//
// It returns the ids of the sessions it revoked (a session that was
// already revoked is not among them).
func (s *Service) revoke(ctx context.Context, r revocation) ([]string, error) {
	now := s.Now()
	rv := baton.Revoke{Now: now, Until: s.revokedUntil(now), Reason: r.Reason}
	var ids []string
	switch {
	case r.SessionID != "" && r.Tree:
		var err error
		if ids, err = s.store.RevokeSessionTree(ctx, r.SessionID, rv); err != nil {
			return nil, err
		}
		s.revoked.add(r.SessionID, rv.Until)
	case r.ConsentOf != "":
		var err error
		if ids, err = s.store.DeleteConsent(ctx, r.UserID, r.ConsentOf, rv); err != nil {
			return nil, err
		}
	case r.SessionID != "":
		ok, err := s.store.RevokeSession(ctx, r.SessionID, rv)
		if err != nil {
			return nil, err
		}
		// Already revoked or not: its tokens must fail here from now on.
		s.revoked.add(r.SessionID, rv.Until)
		if ok {
			ids = []string{r.SessionID}
		}
	case r.Keep > 0:
		var err error
		if ids, err = s.store.RevokeExcessSessions(ctx, r.UserID, r.Keep, rv); err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, nil // under the cap: nothing happened, nothing to audit
		}
	case r.DeleteClient:
		var err error
		if ids, err = s.store.DeleteClient(ctx, r.ClientID, rv); err != nil {
			return nil, err
		}
		// Its client_credentials tokens, whose sid is its id.
		s.revoked.add(r.ClientID, rv.Until)
	case r.DeleteUser:
		var err error
		if ids, err = s.store.DeleteUser(ctx, r.UserID, rv); err != nil {
			return nil, err
		}
		s.profiles.drop(r.UserID)
	default:
		var err error
		if ids, err = s.store.RevokeUserSessions(ctx, r.UserID, r.Except, rv); err != nil {
			return nil, err
		}
	}
	for _, id := range ids {
		s.revoked.add(id, rv.Until)
	}
	e := r.Event
	if e.UserID == "" {
		e.UserID = r.UserID
	}
	if e.SessionID == "" {
		e.SessionID = r.SessionID
	}
	s.emit(ctx, e)
	return ids, nil
}

// revokedUntil is when the last access token of a session revoked at now
// expires, leeway included: measured with the longest access TTL ever
// configured on the store, not this instance's, so lowering
// BATON_ACCESS_TTL cannot bring a revoked session's older tokens back.
func (s *Service) revokedUntil(now time.Time) time.Time {
	return now.Add(s.MaxAccessTTL() + s.cfg.Leeway)
}

// MaxAccessTTL is the longest access-token lifetime any instance on the
// store was configured with: how long a token minted now or earlier can
// still be alive. Revocations and retired signing keys must outlive it.
func (s *Service) MaxAccessTTL() time.Duration {
	return max(s.cfg.AccessTTL, time.Duration(s.maxAccessTTL.Load()))
}
