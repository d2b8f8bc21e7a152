package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// The second-factor cases: TOTP enrolment and steps, recovery codes, and
// the challenges of multi-step ceremonies.

func codeHashes(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = hash(fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func mustTOTP(t *testing.T, s baton.Store, userID string) *baton.TOTP {
	t.Helper()
	got, err := s.TOTP(ctx, userID)
	if err != nil {
		t.Fatalf("TOTP(%q): got %v, want nil", userID, err)
	}
	wantUTC(t, got)
	return got
}

func codesLeft(t *testing.T, s baton.Store, userID string) int {
	t.Helper()
	n, err := s.RecoveryCodesLeft(ctx, userID)
	if err != nil {
		t.Fatalf("RecoveryCodesLeft(%q): %v", userID, err)
	}
	return n
}

func testTOTPEnrol(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	_, err := s.TOTP(ctx, "u1")
	wantCode(t, err, baton.ENotFound)
	wantCode(t, s.SetPendingTOTP(ctx, "nobody", []byte("s0"), t0), baton.ENotFound)

	if err := s.SetPendingTOTP(ctx, "u1", []byte("s1"), t0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPendingTOTP(ctx, "u1", []byte("s2"), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	want := &baton.TOTP{UserID: "u1", Pending: []byte("s2"), PendingAt: t0.Add(time.Minute)}
	if d := diff(want, mustTOTP(t, s, "u1")); d != "" {
		t.Errorf("pending TOTP mismatch (-want +got):\n%s", d)
	}
	// The replaced enrolment cannot be confirmed.
	wantCode(t, s.ConfirmTOTP(ctx, "u1", []byte("s1"), 100, codeHashes("a", 10), t0), baton.EConflict)
	if n := codesLeft(t, s, "u1"); n != 0 {
		t.Errorf("codes after a refused confirmation: got %d, want 0", n)
	}
	if err := s.ConfirmTOTP(ctx, "u1", []byte("s2"), 100, codeHashes("a", 10), t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	want = &baton.TOTP{UserID: "u1", Secret: []byte("s2"), EnabledAt: t0.Add(2 * time.Minute), LastStep: 100}
	if d := diff(want, mustTOTP(t, s, "u1")); d != "" {
		t.Errorf("confirmed TOTP mismatch (-want +got):\n%s", d)
	}
	if n := codesLeft(t, s, "u1"); n != 10 {
		t.Errorf("codes after confirmation: got %d, want 10", n)
	}
	// Confirmed once: a second confirmation of the same secret is refused.
	wantCode(t, s.ConfirmTOTP(ctx, "u1", []byte("s2"), 101, codeHashes("b", 10), t0), baton.EConflict)

	// Re-enrolment: the old secret holds until the new one is confirmed,
	// which replaces the recovery codes too.
	if err := s.SetPendingTOTP(ctx, "u1", []byte("s3"), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := mustTOTP(t, s, "u1"); string(got.Secret) != "s2" || string(got.Pending) != "s3" {
		t.Errorf("re-enrolling: got secret %q pending %q, want s2 and s3", got.Secret, got.Pending)
	}
	if err := s.ConfirmTOTP(ctx, "u1", []byte("s3"), 200, codeHashes("c", 10), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseRecoveryCode(ctx, "u1", codeHashes("a", 1)[0], t0); baton.ErrorCode(err) != baton.ENotFound {
		t.Errorf("an old code after re-enrolment: got %v, want ENotFound", err)
	}
	if left, err := s.UseRecoveryCode(ctx, "u1", codeHashes("c", 1)[0], t0); err != nil || left != 9 {
		t.Errorf("a new code: got %d, %v, want 9 left", left, err)
	}
}

func testTOTPSteps(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	mustCreateUser(t, s, "pending")
	if err := s.SetPendingTOTP(ctx, "pending", []byte("p"), t0); err != nil {
		t.Fatal(err)
	}
	// TOTP not on: no step is accepted.
	wantCode(t, s.UseTOTPStep(ctx, "pending", 1), baton.EConflict)
	wantCode(t, s.UseTOTPStep(ctx, "nobody", 1), baton.EConflict)

	if err := s.SetPendingTOTP(ctx, "u1", []byte("s"), t0); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmTOTP(ctx, "u1", []byte("s"), 100, nil, t0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		step int64
		want string
	}{
		{100, baton.EConflict}, // the confirmation's step
		{101, ""},
		{101, baton.EConflict}, // a replay
		{99, baton.EConflict},  // before one used
		{103, ""},
		{102, baton.EConflict},
	} {
		err := s.UseTOTPStep(ctx, "u1", tc.step)
		if tc.want == "" && err != nil || tc.want != "" && baton.ErrorCode(err) != tc.want {
			t.Errorf("UseTOTPStep(%d): got %v, want %q", tc.step, err, tc.want)
		}
	}
	if got := mustTOTP(t, s, "u1"); got.LastStep != 103 {
		t.Errorf("last step: got %d, want 103", got.LastStep)
	}
	const n = 16
	errs := concurrently(n, func(int) error { return s.UseTOTPStep(ctx, "u1", 200) })
	if got := codes(errs); got[""] != 1 || got[baton.EConflict] != n-1 {
		t.Errorf("%d concurrent uses of one step: got %v, want 1 success", n, got)
	}
}

func testTOTPDisable(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	wantCode(t, s.DisableTOTP(ctx, "u1"), baton.ENotFound)
	if err := s.SetPendingTOTP(ctx, "u1", []byte("s"), t0); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmTOTP(ctx, "u1", []byte("s"), 1, codeHashes("a", 10), t0); err != nil {
		t.Fatal(err)
	}
	if err := s.DisableTOTP(ctx, "u1"); err != nil {
		t.Fatalf("DisableTOTP: %v", err)
	}
	_, err := s.TOTP(ctx, "u1")
	wantCode(t, err, baton.ENotFound)
	if n := codesLeft(t, s, "u1"); n != 0 {
		t.Errorf("codes after disabling: got %d, want 0", n)
	}
	wantCode(t, s.UseTOTPStep(ctx, "u1", 5), baton.EConflict)
	wantCode(t, s.DisableTOTP(ctx, "u1"), baton.ENotFound)
}

func testRecoveryCodes(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	mustCreateUser(t, s, "u2")
	wantCode(t, s.ReplaceRecoveryCodes(ctx, "nobody", codeHashes("x", 2), t0), baton.ENotFound)
	if err := s.ReplaceRecoveryCodes(ctx, "u1", codeHashes("a", 10), t0); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceRecoveryCodes(ctx, "u2", codeHashes("b", 10), t0); err != nil {
		t.Fatal(err)
	}
	code := codeHashes("a", 1)[0]
	// Another user's code is not this user's.
	_, err := s.UseRecoveryCode(ctx, "u2", code, t0)
	wantCode(t, err, baton.ENotFound)
	if left, err := s.UseRecoveryCode(ctx, "u1", code, t0); err != nil || left != 9 {
		t.Fatalf("UseRecoveryCode: got %d, %v, want 9, nil", left, err)
	}
	_, err = s.UseRecoveryCode(ctx, "u1", code, t0)
	wantCode(t, err, baton.ENotFound)
	if n := codesLeft(t, s, "u2"); n != 10 {
		t.Errorf("the other user's codes: got %d, want 10", n)
	}
	// Concurrent uses of one code: one wins.
	second := codeHashes("a", 2)[1]
	const n = 16
	errs := concurrently(n, func(int) error {
		_, err := s.UseRecoveryCode(ctx, "u1", second, t0)
		return err
	})
	if got := codes(errs); got[""] != 1 || got[baton.ENotFound] != n-1 {
		t.Errorf("%d concurrent uses of one code: got %v, want 1 success", n, got)
	}
	// A new set replaces the old one entirely.
	if err := s.ReplaceRecoveryCodes(ctx, "u1", codeHashes("c", 10), t0); err != nil {
		t.Fatal(err)
	}
	if n := codesLeft(t, s, "u1"); n != 10 {
		t.Errorf("after a new set: got %d, want 10", n)
	}
	_, err = s.UseRecoveryCode(ctx, "u1", codeHashes("a", 3)[2], t0)
	wantCode(t, err, baton.ENotFound)
	// An empty set removes them all (an administrator's reset-mfa).
	if err := s.ReplaceRecoveryCodes(ctx, "u1", nil, t0); err != nil {
		t.Fatal(err)
	}
	if n := codesLeft(t, s, "u1"); n != 0 {
		t.Errorf("after an empty set: got %d, want 0", n)
	}
	if n := codesLeft(t, s, "u2"); n != 10 {
		t.Errorf("the other user's codes after an empty set: got %d, want 10", n)
	}
}

func newChallenge(id, userID string) *baton.Challenge {
	return &baton.Challenge{ID: id, Hash: hash("challenge-" + id), Kind: baton.ChallengeMFA, UserID: userID,
		Data: []byte(`{"transport":"body","id":"` + id + `"}`), CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
}

func testChallenges(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	wantCode(t, s.CreateChallenge(ctx, newChallenge("c0", "nobody")), baton.ENotFound)
	c := newChallenge("c1", "u1")
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	dup := newChallenge("c2", "u1")
	dup.Hash = c.Hash
	wantCode(t, s.CreateChallenge(ctx, dup), baton.EConflict)
	anon := newChallenge("anon", "")
	if err := s.CreateChallenge(ctx, anon); err != nil {
		t.Fatalf("CreateChallenge without a user: %v", err)
	}

	got, err := s.Challenge(ctx, c.Hash, baton.ChallengeMFA)
	if err != nil {
		t.Fatal(err)
	}
	wantUTC(t, got)
	if d := diff(c, got); d != "" {
		t.Errorf("Challenge mismatch (-want +got):\n%s", d)
	}
	_, err = s.Challenge(ctx, c.Hash, "other")
	wantCode(t, err, baton.ENotFound)

	// Failures count up; at the limit the challenge cannot be spent.
	for want := 1; want <= 2; want++ {
		if n, err := s.FailChallenge(ctx, c.Hash, baton.ChallengeMFA, t0); err != nil || n != want {
			t.Fatalf("FailChallenge: got %d, %v, want %d", n, err, want)
		}
	}
	_, err = s.SpendChallenge(ctx, c.Hash, baton.ChallengeMFA, t0, 2)
	wantCode(t, err, baton.ENotFound)
	spent, err := s.SpendChallenge(ctx, c.Hash, baton.ChallengeMFA, t0.Add(time.Second), 3)
	if err != nil {
		t.Fatalf("SpendChallenge under the limit: %v", err)
	}
	want := *c
	want.Failures, want.SpentAt = 2, t0.Add(time.Second)
	if d := diff(&want, spent); d != "" {
		t.Errorf("SpendChallenge mismatch (-want +got):\n%s", d)
	}
	// Spent: neither spent again nor failed.
	_, err = s.SpendChallenge(ctx, c.Hash, baton.ChallengeMFA, t0, 5)
	wantCode(t, err, baton.ENotFound)
	_, err = s.FailChallenge(ctx, c.Hash, baton.ChallengeMFA, t0)
	wantCode(t, err, baton.ENotFound)

	// Expired at its expiry; another kind does not spend it.
	_, err = s.SpendChallenge(ctx, anon.Hash, "other", t0, 5)
	wantCode(t, err, baton.ENotFound)
	_, err = s.FailChallenge(ctx, anon.Hash, baton.ChallengeMFA, anon.ExpiresAt)
	wantCode(t, err, baton.ENotFound)
	_, err = s.SpendChallenge(ctx, anon.Hash, baton.ChallengeMFA, anon.ExpiresAt, 5)
	wantCode(t, err, baton.ENotFound)
	if _, err := s.SpendChallenge(ctx, anon.Hash, baton.ChallengeMFA, anon.ExpiresAt.Add(-time.Microsecond), 5); err != nil {
		t.Errorf("SpendChallenge a moment before expiry: %v", err)
	}

	// Concurrent spends: one wins.
	race := newChallenge("race", "u1")
	if err := s.CreateChallenge(ctx, race); err != nil {
		t.Fatal(err)
	}
	const n = 16
	errs := concurrently(n, func(int) error {
		_, err := s.SpendChallenge(ctx, race.Hash, baton.ChallengeMFA, t0, 5)
		return err
	})
	if got := codes(errs); got[""] != 1 || got[baton.ENotFound] != n-1 {
		t.Errorf("%d concurrent spends: got %v, want 1 success", n, got)
	}
}

// testMFADeleteUser: a deleted user's factors and challenges go with it.
func testMFADeleteUser(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	if err := s.SetPendingTOTP(ctx, "u1", []byte("s"), t0); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmTOTP(ctx, "u1", []byte("s"), 1, codeHashes("a", 10), t0); err != nil {
		t.Fatal(err)
	}
	c := newChallenge("c1", "u1")
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser(ctx, "u1", revoke(t0, baton.ReasonAccountDeleted)); err != nil {
		t.Fatal(err)
	}
	mustCreateUser(t, s, "u1")
	_, err := s.TOTP(ctx, "u1")
	wantCode(t, err, baton.ENotFound)
	if n := codesLeft(t, s, "u1"); n != 0 {
		t.Errorf("codes of a deleted user: got %d, want 0", n)
	}
	_, err = s.Challenge(ctx, c.Hash, baton.ChallengeMFA)
	wantCode(t, err, baton.ENotFound)
}

func testChallengePrune(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	spentOld, expiredOld, live := newChallenge("spentOld", "u1"), newChallenge("expiredOld", "u1"), newChallenge("live", "u1")
	live.ExpiresAt = at(1000)
	for _, c := range []*baton.Challenge{spentOld, expiredOld, live} {
		if err := s.CreateChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SpendChallenge(ctx, spentOld.Hash, baton.ChallengeMFA, at(1), 5); err != nil {
		t.Fatal(err)
	}
	n, err := s.Prune(ctx, at(100), at(50), 100)
	if err != nil || n != 2 {
		t.Fatalf("Prune: got %d, %v, want the spent and the expired challenge", n, err)
	}
	if _, err := s.Challenge(ctx, live.Hash, baton.ChallengeMFA); err != nil {
		t.Errorf("the live challenge after Prune: %v", err)
	}
}
