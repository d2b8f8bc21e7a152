package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// The credential generation: session creation and rotation are
// compare-and-sets on the user's lock and generation, so a login that
// verified a password before a lock or password change completed cannot
// create a session after it.

func testRehashPassword(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	if err := s.RehashPassword(ctx, u.ID, u.PasswordHash, "$argon2id$stronger"); err != nil {
		t.Fatalf("RehashPassword: got %v, want nil", err)
	}
	got := mustUser(t, s, u.ID)
	if got.PasswordHash != "$argon2id$stronger" || got.CredentialGen != u.CredentialGen {
		t.Errorf("after RehashPassword: got hash %q gen %d, want %q gen %d", got.PasswordHash, got.CredentialGen, "$argon2id$stronger", u.CredentialGen)
	}
	// A password change in between wins: the rehash of the old password
	// must not bring it back.
	if _, err := s.SetPasswordHash(ctx, u.ID, "$argon2id$changed"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.RehashPassword(ctx, u.ID, "$argon2id$stronger", "$argon2id$old-again"), baton.EConflict)
	if got := mustUser(t, s, u.ID); got.PasswordHash != "$argon2id$changed" {
		t.Errorf("hash after a lost rehash: got %q, want %q", got.PasswordHash, "$argon2id$changed")
	}
	wantCode(t, s.RehashPassword(ctx, "nobody", "a", "b"), baton.ENotFound)
}

func testCreateSessionCredentialCAS(t *testing.T, s baton.Store) {
	tests := []struct {
		name     string
		prepare  func(u *baton.User) // what completes after the password check
		wantCode string
	}{
		{"Unchanged", func(*baton.User) {}, ""},
		{"Locked", func(u *baton.User) { mustOK(t, s.SetLocked(ctx, u.ID, t0)) }, baton.EConflict},
		{"LockedAndUnlocked", func(u *baton.User) {
			mustOK(t, s.SetLocked(ctx, u.ID, t0))
			mustOK(t, s.SetLocked(ctx, u.ID, time.Time{}))
		}, baton.EConflict},
		{"PasswordChanged", func(u *baton.User) {
			_, err := s.SetPasswordHash(ctx, u.ID, "$argon2id$new")
			mustOK(t, err)
		}, baton.EConflict},
		{"Rehashed", func(u *baton.User) { mustOK(t, s.RehashPassword(ctx, u.ID, u.PasswordHash, "$argon2id$re")) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustCreateUser(t, s, "u"+tt.name)
			tt.prepare(u)
			sess := newSession(u.ID, "s"+tt.name, t0)
			sess.CredentialGen = u.CredentialGen // what the login verified
			err := s.CreateSession(ctx, sess, hash("t"+tt.name))
			if tt.wantCode == "" {
				mustOK(t, err)
				if got := mustSession(t, s, sess.ID); got.CredentialGen != sess.CredentialGen {
					t.Errorf("CredentialGen: got %d, want %d", got.CredentialGen, sess.CredentialGen)
				}
				return
			}
			wantCode(t, err, tt.wantCode)
			_, err = s.Session(ctx, sess.ID)
			wantCode(t, err, baton.ENotFound)
			_, _, err = s.RefreshToken(ctx, hash("t"+tt.name))
			wantCode(t, err, baton.ENotFound)
		})
	}
}

func testRotateCredentialCAS(t *testing.T, s baton.Store) {
	tests := []struct {
		name    string
		prepare func(u *baton.User)
	}{
		{"Locked", func(u *baton.User) { mustOK(t, s.SetLocked(ctx, u.ID, t0)) }},
		{"PasswordChanged", func(u *baton.User) {
			_, err := s.SetPasswordHash(ctx, u.ID, "$argon2id$new")
			mustOK(t, err)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustCreateUser(t, s, "u"+tt.name)
			sess := newSession(u.ID, "s"+tt.name, t0)
			mustCreateSession(t, s, sess, hash("old"+tt.name))
			tt.prepare(u)
			err := s.Rotate(ctx, baton.Rotation{SessionID: sess.ID, OldHash: hash("old" + tt.name),
				NewHash: hash("new" + tt.name), Now: t0.Add(time.Minute), IdleExpiresAt: t0.Add(day)})
			wantCode(t, err, baton.EConflict)
			_, _, err = s.RefreshToken(ctx, hash("new"+tt.name))
			wantCode(t, err, baton.ENotFound)
		})
	}
}

// testCreateSessionRacesLock runs session creations against a lock: once
// SetLocked has returned, no creation that started before it with the old
// generation may succeed afterwards, and every creation that succeeded is
// visible to the revocation that follows the lock.
func testCreateSessionRacesLock(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	const n = 30
	var wg sync.WaitGroup
	start := make(chan struct{})
	var locked sync.WaitGroup
	locked.Add(1)
	results := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			if i >= n/2 {
				locked.Wait() // half of them surely after the lock
			}
			sess := newSession(u.ID, fmt.Sprintf("s%02d", i), t0)
			sess.CredentialGen = u.CredentialGen
			results[i] = s.CreateSession(ctx, sess, hash(fmt.Sprintf("t%02d", i)))
		}(i)
	}
	close(start)
	mustOK(t, s.SetLocked(ctx, u.ID, t0))
	locked.Done()
	revoked, err := s.RevokeUserSessions(ctx, u.ID, "", baton.Revoke{Now: t0, Until: t0.Add(time.Hour), Reason: baton.ReasonLocked})
	mustOK(t, err)
	wg.Wait()
	created := 0
	for i, err := range results {
		switch baton.ErrorCode(err) {
		case "":
			created++
			if i >= n/2 {
				t.Errorf("session %d created after the lock returned", i)
			}
		case baton.EConflict:
		default:
			t.Errorf("CreateSession %d: got %v, want nil or conflict", i, err)
		}
	}
	if len(revoked) != created {
		t.Errorf("revoked %d sessions after the lock, but %d were created", len(revoked), created)
	}
	live, err := s.Sessions(ctx, u.ID, t0, allSessions)
	mustOK(t, err)
	if len(live) != 0 {
		t.Errorf("live sessions after lock and revocation: got %d, want 0", len(live))
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("got %v, want nil", err)
	}
}

func mustUser(t *testing.T, s baton.Store, id string) *baton.User {
	t.Helper()
	u, err := s.UserByID(ctx, id)
	mustOK(t, err)
	return u
}
