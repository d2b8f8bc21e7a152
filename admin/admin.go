// Package admin holds the operations behind baton's admin commands (`baton
// users|sessions|audit|keys|clients …`): finding users by name or id,
// locking, deleting, setting passwords and email addresses, resetting
// second factors, revoking sessions, reading the audit log, rotating and
// retiring signing keys, and registering OpenID clients. Every operation
// is reported to the Observer as a session.Event (so the audit log and
// metrics see it) and logged.
//
// The operations work on the same store as a running server. A server
// picks up what they change through its periodic revocation sync (within a
// second), its profile cache (a user's address, within seconds) and key
// reload (KeyReloadInterval, 30s by default); clients at their next use
// (nothing caches them).
package admin

import (
	"context"
	"log/slog"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
)

// Event types of admin operations, beside the session package's.
const (
	EventLock      = "lock"
	EventUnlock    = "unlock"
	EventEmailSet  = "email_set"
	EventKeyRotate = "key_rotate"
	EventKeyRetire = "key_retire"
	EventKeyDelete = "key_delete"
	EventKeyReseal = "key_reseal"
)

// DetailAdmin marks events caused by an administrator.
const DetailAdmin = "admin"

// Options configure an Admin.
type Options struct {
	// Observer is told of every operation (the audit writer, metrics).
	Observer func(session.Event)
	Logger   *slog.Logger
	// Client names the administrator in session records and events.
	Client session.Client
}

// Store is what the admin operations read and change beside the session
// engine: user records and the audit log, to find and show, and the key
// table, which operators manage directly. Everything that ends sessions or
// changes credentials goes through the engine instead, so it takes the one
// revocation path.
type Store interface {
	UserByID(ctx context.Context, id string) (*baton.User, error)
	UserByName(ctx context.Context, canonical string) (*baton.User, error)
	Users(ctx context.Context, after string, limit int) ([]*baton.User, error)
	AuditEvents(ctx context.Context, after int64, limit int) ([]*baton.AuditEvent, error)
	baton.KeyStore
}

// Admin runs admin operations on a session engine and its store. It is
// safe for concurrent use.
type Admin struct {
	svc   *session.Service
	store Store
	opt   Options
}

// New returns the admin operations for svc, which runs on store.
func New(svc *session.Service, store Store, opt Options) *Admin {
	return &Admin{svc: svc, store: store, opt: opt.withDefaults()}
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Client.UserAgent == "" {
		o.Client.UserAgent = "baton-admin"
	}
	return o
}

func (a *Admin) emit(ctx context.Context, e session.Event) { a.opt.emit(ctx, e) }

func (o Options) emit(ctx context.Context, e session.Event) {
	if e.Client == (session.Client{}) {
		e.Client = o.Client
	}
	o.Logger.InfoContext(ctx, "auth event", "event", e.Type, "outcome", e.Outcome,
		"user_id", e.UserID, "session_id", e.SessionID, "ip", e.Client.IP, "detail", e.Detail)
	if o.Observer != nil {
		o.Observer(e)
	}
}

// UserRef names a user by username or, with ByID, by id. One string is
// never tried as both: anyone can register a username equal to another
// user's id, and an administrator locking "that name" must not lock
// somebody else.
type UserRef struct {
	Value string
	ByID  bool
}

// Username refers to the user registered as name (in any spelling that
// normalizes to it).
func Username(name string) UserRef { return UserRef{Value: name} }

// UserID refers to the user whose id is id.
func UserID(id string) UserRef { return UserRef{Value: id, ByID: true} }

// FindUser returns the user ref names. ENotFound.
func (a *Admin) FindUser(ctx context.Context, ref UserRef) (*baton.User, error) {
	var u *baton.User
	var err error
	if ref.ByID {
		u, err = a.store.UserByID(ctx, ref.Value)
	} else if _, canonical, nerr := session.NormalizeUsername(ref.Value); nerr != nil {
		err = baton.Errorf(baton.ENotFound, "no such user")
	} else {
		u, err = a.store.UserByName(ctx, canonical)
	}
	switch {
	case baton.ErrorCode(err) != baton.ENotFound:
		return u, err
	case ref.ByID:
		return nil, baton.Errorf(baton.ENotFound, "no user with id %q", ref.Value)
	}
	return nil, baton.Errorf(baton.ENotFound, "no user %q", ref.Value)
}

// AddUser registers an account, with the same rules as POST /v1/register.
func (a *Admin) AddUser(ctx context.Context, req session.RegisterRequest) (*baton.User, error) {
	return a.svc.Register(ctx, req, a.opt.Client)
}

// Users lists users ordered by canonical username, after the canonical
// name after, at most limit.
func (a *Admin) Users(ctx context.Context, after string, limit int) ([]*baton.User, error) {
	return a.store.Users(ctx, after, limit)
}

// Lock locks the user and revokes every session: the user can neither log
// in nor refresh until Unlock.
func (a *Admin) Lock(ctx context.Context, ref UserRef) (*baton.User, error) {
	u, err := a.FindUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := a.svc.LockUser(ctx, u.ID, a.opt.Client); err != nil {
		return nil, err
	}
	a.emit(ctx, session.Event{Type: EventLock, Outcome: session.OutcomeOK, UserID: u.ID, Detail: DetailAdmin})
	return a.store.UserByID(ctx, u.ID)
}

// Unlock lets a locked user log in again.
func (a *Admin) Unlock(ctx context.Context, ref UserRef) (*baton.User, error) {
	u, err := a.FindUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := a.svc.UnlockUser(ctx, u.ID); err != nil {
		return nil, err
	}
	a.emit(ctx, session.Event{Type: EventUnlock, Outcome: session.OutcomeOK, UserID: u.ID, Detail: DetailAdmin})
	return a.store.UserByID(ctx, u.ID)
}

// SetEmail sets the user's email address (checked as at registration)
// and whether it counts as verified, or removes it when addr is empty; it
// returns the user afterwards. Sessions stay: an address is no credential.
// A running server shows the change on GET /v1/me within a few seconds
// (its profile cache). EInvalidEmail; EEmailTaken; ENotFound.
func (a *Admin) SetEmail(ctx context.Context, ref UserRef, addr string, verified bool) (*baton.User, error) {
	u, err := a.FindUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := a.svc.SetEmail(ctx, u.ID, addr, verified); err != nil {
		return nil, err
	}
	detail := DetailAdmin
	switch {
	case addr == "":
		detail += ", removed"
	case verified:
		detail += ", verified"
	}
	// The address stays out of the audit log, as in every email event.
	a.emit(ctx, session.Event{Type: EventEmailSet, Outcome: session.OutcomeOK, UserID: u.ID, Detail: detail})
	return a.store.UserByID(ctx, u.ID)
}

// Delete revokes every session of the user and deletes the account; the
// username is free again. The session engine reports account_deleted.
func (a *Admin) Delete(ctx context.Context, ref UserRef) (*baton.User, error) {
	u, err := a.FindUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	return u, a.svc.DeleteUser(ctx, u.ID, a.opt.Client)
}

// SetPassword replaces the user's password (checked against the password
// policy) and revokes every session, as a password change does.
func (a *Admin) SetPassword(ctx context.Context, ref UserRef, pw string) (*baton.User, error) {
	u, err := a.FindUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	return u, a.svc.SetPassword(ctx, u, pw, a.opt.Client)
}

// MFA returns the state of the user's second factors (with a pending TOTP
// enrolment). ENotFound.
func (a *Admin) MFA(ctx context.Context, ref UserRef) (*baton.User, session.MFAStatus, error) {
	u, err := a.FindUser(ctx, ref)
	if err != nil {
		return nil, session.MFAStatus{}, err
	}
	m, err := a.svc.UserMFA(ctx, u.ID)
	return u, m, err
}

// ResetMFA removes every second factor of the user (TOTP, a pending
// enrolment, recovery codes, passkeys) and revokes every session: the next
// sign-in is with the password alone, and the user enrols again. A user
// without factors loses their sessions all the same (Removed says there
// was nothing). The session engine reports mfa_reset. ENotFound.
func (a *Admin) ResetMFA(ctx context.Context, ref UserRef) (*baton.User, *session.MFAReset, error) {
	u, err := a.FindUser(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	r, err := a.svc.ResetMFA(ctx, u.ID, a.opt.Client)
	if err != nil {
		return nil, nil, err
	}
	return u, r, nil
}

// Sessions lists the user's live sessions, most recently used first.
func (a *Admin) Sessions(ctx context.Context, ref UserRef) (*baton.User, []*baton.Session, error) {
	u, err := a.FindUser(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	var all []*baton.Session
	for cursor := ""; ; {
		page, next, err := a.svc.UserSessions(ctx, u.ID, cursor, 0)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, page...)
		if next == "" {
			return u, all, nil
		}
		cursor = next
	}
}

// RevokeSession revokes one session; false when it was already revoked.
// ENotFound.
func (a *Admin) RevokeSession(ctx context.Context, id string) (bool, error) {
	return a.svc.RevokeSession(ctx, id, baton.ReasonAdmin, a.opt.Client)
}

// RevokeAll revokes every session of the user and returns their ids.
func (a *Admin) RevokeAll(ctx context.Context, ref UserRef) (*baton.User, []string, error) {
	u, err := a.FindUser(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	ids, err := a.svc.RevokeUserSessions(ctx, u.ID, baton.ReasonAdmin, a.opt.Client)
	if err != nil {
		return nil, nil, err
	}
	return u, ids, nil
}

// Audit returns audit events oldest first: with after > 0 up to limit
// events after that sequence number, else the newest limit.
func (a *Admin) Audit(ctx context.Context, after int64, limit int) ([]*baton.AuditEvent, error) {
	return a.store.AuditEvents(ctx, after, limit)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
