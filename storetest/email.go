package storetest

import (
	"testing"

	"github.com/batonauth/baton"
)

// withEmail returns newUser(id) with the address addr, whose canonical form
// is canonical (the engine computes it; the store only compares it).
func withEmail(id, addr, canonical string) *baton.User {
	u := newUser(id)
	u.Email, u.CanonicalEmail = addr, canonical
	return u
}

func testEmailRoundTrip(t *testing.T, s baton.Store) {
	unverified := withEmail("u1", "Ada@Example.com", "ada@example.com")
	verified := withEmail("u2", "grace@example.org", "grace@example.org")
	verified.EmailVerified = true
	none := newUser("u3")
	for _, u := range []*baton.User{unverified, verified, none} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%q): got %v, want nil", u.ID, err)
		}
	}
	for _, u := range []*baton.User{unverified, verified, none} {
		got, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatalf("UserByID(%q): got %v, want nil", u.ID, err)
		}
		if d := diff(u, got); d != "" {
			t.Errorf("UserByID(%q) mismatch (-want +got):\n%s", u.ID, d)
		}
		if u.CanonicalEmail == "" {
			continue
		}
		got, err = s.UserByEmail(ctx, u.CanonicalEmail)
		if err != nil {
			t.Fatalf("UserByEmail(%q): got %v, want nil", u.CanonicalEmail, err)
		}
		wantUTC(t, got)
		if d := diff(u, got); d != "" {
			t.Errorf("UserByEmail(%q) mismatch (-want +got):\n%s", u.CanonicalEmail, d)
		}
	}
	users, err := s.Users(ctx, "", 10)
	if err != nil {
		t.Fatalf("Users: got %v, want nil", err)
	}
	if d := diff([]*baton.User{unverified, verified, none}, users); d != "" {
		t.Errorf("Users mismatch (-want +got):\n%s", d)
	}
}

func testEmailTaken(t *testing.T, s baton.Store) {
	first := withEmail("u1", "Ada@Example.com", "ada@example.com")
	if err := s.CreateUser(ctx, first); err != nil {
		t.Fatalf("CreateUser: got %v, want nil", err)
	}
	for _, spelling := range []string{"ada@example.com", "ADA@EXAMPLE.COM", "Ada@Example.com"} {
		second := withEmail("u2", spelling, "ada@example.com")
		wantCode(t, s.CreateUser(ctx, second), baton.EEmailTaken)
		_, err := s.UserByID(ctx, second.ID)
		wantCode(t, err, baton.ENotFound)
		_, err = s.UserByName(ctx, second.CanonicalUsername)
		wantCode(t, err, baton.ENotFound)
	}
	got, err := s.UserByEmail(ctx, "ada@example.com")
	if err != nil || got.ID != first.ID {
		t.Fatalf("UserByEmail: got %v, %v, want user %q", got, err, first.ID)
	}

	// Both the username and the address taken: the username is the answer.
	both := withEmail("u3", "ada@example.com", "ada@example.com")
	both.Username, both.CanonicalUsername = first.Username, first.CanonicalUsername
	wantCode(t, s.CreateUser(ctx, both), baton.EUsernameTaken)

	// Deleting the user frees the address, as it frees the username.
	if _, err := s.DeleteUser(ctx, first.ID, revoke(t0, baton.ReasonAccountDeleted)); err != nil {
		t.Fatalf("DeleteUser: got %v, want nil", err)
	}
	if err := s.CreateUser(ctx, withEmail("u4", "ADA@example.com", "ada@example.com")); err != nil {
		t.Fatalf("CreateUser with the address of a deleted user: got %v, want nil", err)
	}
}

// testEmailNone: users without an address never collide on it (NULL, not
// an empty string, in SQL), and none of them is found by an empty address.
func testEmailNone(t *testing.T, s baton.Store) {
	for _, id := range []string{"u1", "u2", "u3"} {
		u := mustCreateUser(t, s, id)
		if u.Email != "" || u.CanonicalEmail != "" {
			t.Fatalf("newUser has an address")
		}
	}
	_, err := s.UserByEmail(ctx, "")
	wantCode(t, err, baton.ENotFound)
}

func testUserByEmailNotFound(t *testing.T, s baton.Store) {
	if err := s.CreateUser(ctx, withEmail("u1", "ada@example.com", "ada@example.com")); err != nil {
		t.Fatalf("CreateUser: got %v, want nil", err)
	}
	for _, canonical := range []string{"grace@example.com", "ADA@example.com", "user-u1"} {
		_, err := s.UserByEmail(ctx, canonical)
		wantCode(t, err, baton.ENotFound)
	}
}

// testEmailTakenConcurrent: of concurrent registrations of one address
// under different usernames exactly one succeeds.
func testEmailTakenConcurrent(t *testing.T, s baton.Store) {
	const n = 16
	errs := concurrently(n, func(i int) error {
		return s.CreateUser(ctx, withEmail(name("u", i), "ada@example.com", "ada@example.com"))
	})
	if got, want := codes(errs), map[string]int{"": 1, baton.EEmailTaken: n - 1}; !mapsEqual(got, want) {
		t.Fatalf("outcomes by code: got %v, want %v (errors: %v)", got, want, errs)
	}
}
