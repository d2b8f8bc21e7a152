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

// testSetEmail: SetEmail sets, changes, verifies and removes the address
// in place, leaving every other column alone; another user's address (in
// any letter case, as canonical forms compare) is EEmailTaken and changes
// nothing.
func testSetEmail(t *testing.T, s baton.Store) {
	other := withEmail("other", "Taken@Example.com", "taken@example.com")
	if err := s.CreateUser(ctx, other); err != nil {
		t.Fatalf("CreateUser: got %v, want nil", err)
	}
	tests := []struct {
		name                 string
		start                *baton.User // created before the call; nil: no such user
		email, canonical     string
		verified             bool
		wantCode             string
		wantEmail, wantCanon string // the stored address afterwards
		wantVerified         bool
		freed                string // a canonical address no user has afterwards
	}{
		{name: "SetWhereNone", start: newUser("u1"), email: "Ada@Example.com", canonical: "ada@example.com",
			wantEmail: "Ada@Example.com", wantCanon: "ada@example.com"},
		{name: "SetVerified", start: newUser("u2"), email: "grace@example.org", canonical: "grace@example.org", verified: true,
			wantEmail: "grace@example.org", wantCanon: "grace@example.org", wantVerified: true},
		{name: "Change", start: verifiedEmail("u3", "old@example.com"), email: "new@example.com", canonical: "new@example.com",
			wantEmail: "new@example.com", wantCanon: "new@example.com", freed: "old@example.com"},
		{name: "VerifyOwn", start: withEmail("u4", "own@example.com", "own@example.com"), email: "own@example.com", canonical: "own@example.com", verified: true,
			wantEmail: "own@example.com", wantCanon: "own@example.com", wantVerified: true},
		{name: "OwnInAnotherCase", start: verifiedEmail("u5", "case@example.com"), email: "CASE@Example.com", canonical: "case@example.com", verified: true,
			wantEmail: "CASE@Example.com", wantCanon: "case@example.com", wantVerified: true},
		{name: "Unverify", start: verifiedEmail("u6", "unv@example.com"), email: "unv@example.com", canonical: "unv@example.com",
			wantEmail: "unv@example.com", wantCanon: "unv@example.com"},
		{name: "Remove", start: verifiedEmail("u7", "gone@example.com"), freed: "gone@example.com"},
		{name: "RemoveVerifiedIsUnverified", start: verifiedEmail("u8", "gone2@example.com"), verified: true, freed: "gone2@example.com"},
		{name: "RemoveWhereNone", start: newUser("u9")},
		{name: "TakenByAnother", start: withEmail("u10", "mine@example.com", "mine@example.com"),
			email: "TAKEN@example.COM", canonical: "taken@example.com", verified: true, wantCode: baton.EEmailTaken,
			wantEmail: "mine@example.com", wantCanon: "mine@example.com"},
		{name: "NotFound", email: "x@example.com", canonical: "x@example.com", wantCode: baton.ENotFound, freed: "x@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "nobody"
			if tt.start != nil {
				id = tt.start.ID
				if err := s.CreateUser(ctx, tt.start); err != nil {
					t.Fatalf("CreateUser: got %v, want nil", err)
				}
			}
			err := s.SetEmail(ctx, id, tt.email, tt.canonical, tt.verified)
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode)
			} else if err != nil {
				t.Fatalf("SetEmail: got %v, want nil", err)
			}
			if tt.freed != "" {
				_, err := s.UserByEmail(ctx, tt.freed)
				wantCode(t, err, baton.ENotFound)
			}
			if tt.start == nil {
				_, err := s.UserByID(ctx, id)
				wantCode(t, err, baton.ENotFound)
				return
			}
			want := *tt.start
			want.Email, want.CanonicalEmail, want.EmailVerified = tt.wantEmail, tt.wantCanon, tt.wantVerified
			got, err := s.UserByID(ctx, id)
			if err != nil {
				t.Fatalf("UserByID: got %v, want nil", err)
			}
			if d := diff(&want, got); d != "" {
				t.Errorf("user after SetEmail mismatch (-want +got):\n%s", d)
			}
			if want.CanonicalEmail != "" {
				got, err := s.UserByEmail(ctx, want.CanonicalEmail)
				if err != nil || got.ID != id {
					t.Errorf("UserByEmail(%q): got %v, %v, want user %q", want.CanonicalEmail, got, err, id)
				}
			}
		})
	}
	// The other user kept its address throughout, and a removed address
	// is free for anyone.
	if got, err := s.UserByEmail(ctx, other.CanonicalEmail); err != nil || got.ID != other.ID {
		t.Fatalf("UserByEmail(%q): got %v, %v, want user %q", other.CanonicalEmail, got, err, other.ID)
	}
	if err := s.SetEmail(ctx, other.ID, "Gone@example.com", "gone@example.com", false); err != nil {
		t.Fatalf("SetEmail to a removed address: got %v, want nil", err)
	}
}

// testSetEmailConcurrent: of concurrent SetEmail calls giving one address
// to different users exactly one succeeds.
func testSetEmailConcurrent(t *testing.T, s baton.Store) {
	const n = 16
	for i := range n {
		mustCreateUser(t, s, name("u", i))
	}
	errs := concurrently(n, func(i int) error {
		return s.SetEmail(ctx, name("u", i), "ada@example.com", "ada@example.com", false)
	})
	if got, want := codes(errs), map[string]int{"": 1, baton.EEmailTaken: n - 1}; !mapsEqual(got, want) {
		t.Fatalf("outcomes by code: got %v, want %v (errors: %v)", got, want, errs)
	}
}

// verifiedEmail returns newUser(id) with the verified address addr, which
// is its own canonical form.
func verifiedEmail(id, addr string) *baton.User {
	u := withEmail(id, addr, addr)
	u.EmailVerified = true
	return u
}
