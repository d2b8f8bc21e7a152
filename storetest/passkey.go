package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// The passkey cases: WebAuthn credentials, their per-user bound, and the
// signature counter's compare-and-set.

func newPasskey(id, userID string) *baton.Passkey {
	return &baton.Passkey{
		ID: id, UserID: userID, CredentialID: []byte("cred-" + id), PublicKey: []byte("cose-" + id),
		SignCount: 0, AAGUID: make([]byte, 16), Transports: []string{"internal", "hybrid"},
		Flags: baton.PasskeyFlags{UserVerified: true, BackupEligible: true}, Name: "key " + id, CreatedAt: t0,
	}
}

func mustCreatePasskey(t *testing.T, s baton.Store, p *baton.Passkey) {
	t.Helper()
	if err := s.CreatePasskey(ctx, p); err != nil {
		t.Fatalf("CreatePasskey(%q): %v", p.ID, err)
	}
}

func testPasskeys(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	mustCreateUser(t, s, "u2")
	wantCode(t, s.CreatePasskey(ctx, newPasskey("p0", "nobody")), baton.ENotFound)

	p1, p2 := newPasskey("p1", "u1"), newPasskey("p2", "u1")
	p2.CreatedAt, p2.Transports, p2.Flags, p2.SignCount = t0.Add(time.Second), nil, baton.PasskeyFlags{BackupState: true, BackupEligible: true}, 7
	mustCreatePasskey(t, s, p2)
	mustCreatePasskey(t, s, p1)
	other := newPasskey("o1", "u2")
	mustCreatePasskey(t, s, other)

	// Unique ids and credential ids, across users.
	dup := newPasskey("p3", "u2")
	dup.CredentialID = p1.CredentialID
	wantCode(t, s.CreatePasskey(ctx, dup), baton.EConflict)
	wantCode(t, s.CreatePasskey(ctx, newPasskey("p1", "u2")), baton.EConflict)

	got, err := s.Passkeys(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		wantUTC(t, p)
	}
	if d := diff([]*baton.Passkey{p1, p2}, got); d != "" {
		t.Errorf("Passkeys(u1) mismatch (-want +got):\n%s", d)
	}
	if got, err := s.Passkeys(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Errorf("Passkeys(nobody): got %v, %v, want none", got, err)
	}
	byCred, err := s.PasskeyByCredentialID(ctx, p2.CredentialID)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(p2, byCred); d != "" {
		t.Errorf("PasskeyByCredentialID mismatch (-want +got):\n%s", d)
	}
	_, err = s.PasskeyByCredentialID(ctx, []byte("unknown"))
	wantCode(t, err, baton.ENotFound)

	// Another user's passkey is not found, and stays.
	wantCode(t, s.DeletePasskey(ctx, "u1", other.ID, false), baton.ENotFound)
	wantCode(t, s.DeletePasskey(ctx, "u1", "nope", false), baton.ENotFound)
	if err := s.DeletePasskey(ctx, "u1", p1.ID, false); err != nil {
		t.Fatalf("DeletePasskey: %v", err)
	}
	wantCode(t, s.DeletePasskey(ctx, "u1", p1.ID, false), baton.ENotFound)
	_, err = s.PasskeyByCredentialID(ctx, p1.CredentialID)
	wantCode(t, err, baton.ENotFound)
	if _, err := s.PasskeyByCredentialID(ctx, other.CredentialID); err != nil {
		t.Errorf("the other user's passkey after a refused delete: %v", err)
	}
}

func testPasskeyCounter(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	counted, uncounted := newPasskey("counted", "u1"), newPasskey("uncounted", "u1")
	counted.SignCount = 5
	mustCreatePasskey(t, s, counted)
	mustCreatePasskey(t, s, uncounted)
	wantCode(t, s.UsePasskey(ctx, "nope", 1, t0), baton.ENotFound)

	for i, tc := range []struct {
		id    string
		count uint32
		want  string
	}{
		{"counted", 5, baton.EConflict}, // equal: a clone or a replay
		{"counted", 4, baton.EConflict}, // backwards
		{"counted", 0, baton.EConflict}, // a counter that stopped
		{"counted", 6, ""},
		{"counted", 6, baton.EConflict},
		{"counted", 100, ""},
		{"uncounted", 0, ""}, // no counter kept: every use is fine
		{"uncounted", 0, ""},
		{"uncounted", 3, ""}, // starts counting
		{"uncounted", 0, baton.EConflict},
	} {
		at := t0.Add(time.Duration(i+1) * time.Minute)
		err := s.UsePasskey(ctx, tc.id, tc.count, at)
		if tc.want == "" && err != nil || tc.want != "" && baton.ErrorCode(err) != tc.want {
			t.Errorf("#%d UsePasskey(%s, %d): got %v, want %q", i, tc.id, tc.count, err, tc.want)
		}
	}
	got, err := s.PasskeyByCredentialID(ctx, counted.CredentialID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SignCount != 100 || !got.LastUsedAt.Equal(t0.Add(6*time.Minute)) {
		t.Errorf("after uses: got count %d last used %v, want 100 at %v", got.SignCount, got.LastUsedAt, t0.Add(6*time.Minute))
	}

	// Concurrent uses of one counter value: one wins.
	const n = 16
	errs := concurrently(n, func(int) error { return s.UsePasskey(ctx, "counted", 200, t0) })
	if got := codes(errs); got[""] != 1 || got[baton.EConflict] != n-1 {
		t.Errorf("%d concurrent uses of one count: got %v, want 1 success", n, got)
	}
}

func testPasskeyLimit(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	mustCreateUser(t, s, "u2")
	for i := range baton.MaxPasskeysPerUser - 2 {
		mustCreatePasskey(t, s, newPasskey(fmt.Sprintf("p%d", i), "u1"))
	}
	// Concurrent creations never pass the limit.
	const n = 8
	errs := concurrently(n, func(i int) error { return s.CreatePasskey(ctx, newPasskey(fmt.Sprintf("race%d", i), "u1")) })
	if got := codes(errs); got[""] != 2 || got[baton.EConflict] != n-2 {
		t.Errorf("%d concurrent creations with room for 2: got %v", n, got)
	}
	if got, err := s.Passkeys(ctx, "u1"); err != nil || len(got) != baton.MaxPasskeysPerUser {
		t.Errorf("Passkeys after the race: got %d, %v, want %d", len(got), err, baton.MaxPasskeysPerUser)
	}
	// The bound is per user; a deletion makes room.
	mustCreatePasskey(t, s, newPasskey("other", "u2"))
	if err := s.DeletePasskey(ctx, "u1", "p0", false); err != nil {
		t.Fatal(err)
	}
	mustCreatePasskey(t, s, newPasskey("again", "u1"))
}

// testPasskeyDeleteUser: a deleted user's passkeys go with it.
func testPasskeyDeleteUser(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	p := newPasskey("p1", "u1")
	mustCreatePasskey(t, s, p)
	if _, err := s.DeleteUser(ctx, "u1", revoke(t0, baton.ReasonAccountDeleted)); err != nil {
		t.Fatal(err)
	}
	_, err := s.PasskeyByCredentialID(ctx, p.CredentialID)
	wantCode(t, err, baton.ENotFound)
	mustCreateUser(t, s, "u1")
	mustCreatePasskey(t, s, p)
}

// testPasskeyKeepOne: a deletion that must keep one passkey refuses the
// last, also when several race.
func testPasskeyKeepOne(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	mustCreateUser(t, s, "u2")
	mustCreatePasskey(t, s, newPasskey("only", "u1"))
	wantCode(t, s.DeletePasskey(ctx, "u1", "only", true), baton.EConflict)
	wantCode(t, s.DeletePasskey(ctx, "u1", "nope", true), baton.ENotFound)
	mustCreatePasskey(t, s, newPasskey("other", "u2"))
	wantCode(t, s.DeletePasskey(ctx, "u1", "other", true), baton.ENotFound)
	if got, _ := s.Passkeys(ctx, "u1"); len(got) != 1 {
		t.Fatalf("after refused deletions: %d passkeys, want 1", len(got))
	}
	const n = 6
	for i := range n - 1 {
		mustCreatePasskey(t, s, newPasskey(fmt.Sprintf("p%d", i), "u1"))
	}
	ids := []string{"only", "p0", "p1", "p2", "p3", "p4"}
	errs := concurrently(n, func(i int) error { return s.DeletePasskey(ctx, "u1", ids[i], true) })
	if got := codes(errs); got[""] != n-1 || got[baton.EConflict] != 1 {
		t.Errorf("%d concurrent deletions keeping one: got %v, want %d successes", n, got, n-1)
	}
	if got, _ := s.Passkeys(ctx, "u1"); len(got) != 1 {
		t.Errorf("after the race: %d passkeys, want 1", len(got))
	}
	// Without keepOne the last goes.
	got, _ := s.Passkeys(ctx, "u1")
	if err := s.DeletePasskey(ctx, "u1", got[0].ID, false); err != nil {
		t.Fatalf("DeletePasskey of the last without keepOne: %v", err)
	}
}
