package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

func testCreateUserRoundTrip(t *testing.T, s baton.Store) {
	unlocked := newUser("u1")
	locked := newUser("u2")
	locked.CreatedAt = t0.Add(time.Hour)
	locked.LockedAt = t0.Add(2 * time.Hour)
	for _, u := range []*baton.User{unlocked, locked} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%q): got %v, want nil", u.ID, err)
		}
		got, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatalf("UserByID(%q): got %v, want nil", u.ID, err)
		}
		wantUTC(t, got)
		if d := diff(u, got); d != "" {
			t.Errorf("UserByID(%q) mismatch (-want +got):\n%s", u.ID, d)
		}
		got, err = s.UserByName(ctx, u.CanonicalUsername)
		if err != nil {
			t.Fatalf("UserByName(%q): got %v, want nil", u.CanonicalUsername, err)
		}
		wantUTC(t, got)
		if d := diff(u, got); d != "" {
			t.Errorf("UserByName(%q) mismatch (-want +got):\n%s", u.CanonicalUsername, d)
		}
	}
}

func testCreateUserUsernameTaken(t *testing.T, s baton.Store) {
	first := mustCreateUser(t, s, "u1")
	second := newUser("u2")
	second.Username = "USER-U1" // another spelling, the same canonical name
	second.CanonicalUsername = first.CanonicalUsername
	wantCode(t, s.CreateUser(ctx, second), baton.EUsernameTaken)

	got, err := s.UserByName(ctx, first.CanonicalUsername)
	if err != nil {
		t.Fatalf("UserByName: got %v, want nil", err)
	}
	if got.ID != first.ID {
		t.Errorf("UserByName: got user %q, want %q", got.ID, first.ID)
	}
	_, err = s.UserByID(ctx, second.ID)
	wantCode(t, err, baton.ENotFound)
}

func testUserByIDNotFound(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	_, err := s.UserByID(ctx, "nobody")
	wantCode(t, err, baton.ENotFound)
}

func testUserByNameNotFound(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	_, err := s.UserByName(ctx, "nobody")
	wantCode(t, err, baton.ENotFound)
}

func testUsersPaging(t *testing.T, s baton.Store) {
	// Created out of order: the listing orders by canonical name, not by
	// insertion or id.
	for _, c := range []string{"carol", "alice", "dave", "bob"} {
		u := newUser("id-" + c)
		u.CanonicalUsername = c
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%q): got %v, want nil", c, err)
		}
	}
	tests := []struct {
		name  string
		after string
		limit int
		want  []string
	}{
		{"All", "", 10, []string{"alice", "bob", "carol", "dave"}},
		{"Limit", "", 2, []string{"alice", "bob"}},
		{"After", "bob", 10, []string{"carol", "dave"}},
		{"AfterAbsentName", "bz", 1, []string{"carol"}},
		{"AfterLast", "dave", 10, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, err := s.Users(ctx, tt.after, tt.limit)
			if err != nil {
				t.Fatalf("Users(%q, %d): got %v, want nil", tt.after, tt.limit, err)
			}
			got := []string{}
			for _, u := range users {
				wantUTC(t, u)
				got = append(got, u.CanonicalUsername)
			}
			if d := diff(tt.want, got); d != "" {
				t.Errorf("Users(%q, %d) mismatch (-want +got):\n%s", tt.after, tt.limit, d)
			}
		})
	}
	users, err := s.Users(ctx, "", 1)
	if err != nil || len(users) != 1 {
		t.Fatalf("Users: got %d users, %v, want 1, nil", len(users), err)
	}
	want := newUser("id-alice")
	want.CanonicalUsername = "alice"
	if d := diff(want, users[0]); d != "" {
		t.Errorf("Users: first user mismatch (-want +got):\n%s", d)
	}
}

func testSetPasswordHash(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	other := mustCreateUser(t, s, "u2")
	gen, err := s.SetPasswordHash(ctx, u.ID, "$argon2id$new")
	if err != nil || gen != u.CredentialGen+1 {
		t.Fatalf("SetPasswordHash: got %d, %v, want %d, nil", gen, err, u.CredentialGen+1)
	}
	want := *u
	want.PasswordHash = "$argon2id$new"
	want.CredentialGen = gen
	got, err := s.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatalf("UserByID: got %v, want nil", err)
	}
	if d := diff(&want, got); d != "" {
		t.Errorf("user after SetPasswordHash mismatch (-want +got):\n%s", d)
	}
	got, err = s.UserByID(ctx, other.ID)
	if err != nil {
		t.Fatalf("UserByID: got %v, want nil", err)
	}
	if d := diff(other, got); d != "" {
		t.Errorf("other user changed (-want +got):\n%s", d)
	}
}

func testSetPasswordHashNotFound(t *testing.T, s baton.Store) {
	_, err := s.SetPasswordHash(ctx, "nobody", "$argon2id$new")
	wantCode(t, err, baton.ENotFound)
}

func testSetLocked(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	lockedAt := t0.Add(time.Hour)
	for _, at := range []time.Time{lockedAt, {}} {
		if err := s.SetLocked(ctx, u.ID, at); err != nil {
			t.Fatalf("SetLocked(%v): got %v, want nil", at, err)
		}
		got, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatalf("UserByID: got %v, want nil", err)
		}
		wantUTC(t, got)
		want := *u
		want.LockedAt = at
		want.CredentialGen = 1 // locking moves it on; unlocking does not
		if d := diff(&want, got); d != "" {
			t.Errorf("user after SetLocked(%v) mismatch (-want +got):\n%s", at, d)
		}
	}
}

func testSetLockedNotFound(t *testing.T, s baton.Store) {
	wantCode(t, s.SetLocked(ctx, "nobody", t0), baton.ENotFound)
}

// testDeleteUser checks that the revoked sessions reach the feed and the name
// is free again. Afterwards a refresh token of the deleted user may be
// unknown (ENotFound: the backend deleted the sessions with the user) or
// belong to a revoked session (the backend kept them): both make a refresh
// fail, so the test accepts either.
func testDeleteUser(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	other := mustCreateUser(t, s, "u2")
	mustCreateSession(t, s, newSession(u.ID, "s-a", t0), hash("a"))
	mustCreateSession(t, s, newSession(u.ID, "s-b", t0.Add(time.Minute)), hash("b"))
	mustCreateSession(t, s, newSession(u.ID, "s-c", t0.Add(2*time.Minute)), hash("c"))
	mustCreateSession(t, s, newSession(other.ID, "s-d", t0), hash("d"))
	earlier := revoke(t0.Add(time.Hour), baton.ReasonLogout)
	mustRevoke(t, s, "s-c", earlier)

	r := revoke(t0.Add(2*time.Hour), baton.ReasonAccountDeleted)
	got, err := s.DeleteUser(ctx, u.ID, r)
	if err != nil {
		t.Fatalf("DeleteUser: got %v, want nil", err)
	}
	slices.Sort(got)
	if d := diff([]string{"s-a", "s-b"}, got); d != "" {
		t.Errorf("DeleteUser: revoked ids mismatch (-want +got):\n%s", d)
	}

	for _, id := range []string{"s-a", "s-b"} {
		want := []baton.Revocation{{SessionID: id, RevokedAt: r.Now, Until: r.Until}}
		if d := diffRevocations(want, revocationsFor(t, s, id)); d != "" {
			t.Errorf("revocations of %s mismatch (-want +got):\n%s", id, d)
		}
	}
	// The session revoked before keeps its one entry.
	want := []baton.Revocation{{SessionID: "s-c", RevokedAt: earlier.Now, Until: earlier.Until}}
	if d := diffRevocations(want, revocationsFor(t, s, "s-c")); d != "" {
		t.Errorf("revocations of s-c mismatch (-want +got):\n%s", d)
	}

	_, err = s.UserByID(ctx, u.ID)
	wantCode(t, err, baton.ENotFound)
	_, err = s.UserByName(ctx, u.CanonicalUsername)
	wantCode(t, err, baton.ENotFound)

	for _, tok := range []string{"a", "b", "c"} {
		_, sess, err := s.RefreshToken(ctx, hash(tok))
		switch {
		case baton.ErrorCode(err) == baton.ENotFound:
		case err != nil:
			t.Errorf("RefreshToken(%s): got %v, want ENotFound or a revoked session", tok, err)
		case sess.RevokedAt.IsZero():
			t.Errorf("RefreshToken(%s): got live session %q, want ENotFound or a revoked session", tok, sess.ID)
		}
	}
	live, err := s.Sessions(ctx, u.ID, t0.Add(3*time.Hour), allSessions)
	if err != nil || len(live) != 0 {
		t.Errorf("Sessions of deleted user: got %v, %v, want none", ids(live), err)
	}

	// The other user is untouched.
	if sess := mustSession(t, s, "s-d"); !sess.RevokedAt.IsZero() {
		t.Errorf("other user's session: got RevokedAt %v, want zero", sess.RevokedAt)
	}
	if _, err := s.UserByID(ctx, other.ID); err != nil {
		t.Errorf("UserByID(other): got %v, want nil", err)
	}

	// The name is free: a new account may take it.
	again := newUser("u3")
	again.CanonicalUsername = u.CanonicalUsername
	if err := s.CreateUser(ctx, again); err != nil {
		t.Fatalf("CreateUser with the deleted user's name: got %v, want nil", err)
	}
	if got, err := s.UserByName(ctx, u.CanonicalUsername); err != nil || got.ID != again.ID {
		t.Errorf("UserByName: got %v, %v, want user %q", got, err, again.ID)
	}
}

func testDeleteUserNotFound(t *testing.T, s baton.Store) {
	_, err := s.DeleteUser(ctx, "nobody", revoke(t0, baton.ReasonAccountDeleted))
	wantCode(t, err, baton.ENotFound)
}
