package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// The password-reset cases, and the outbox messages other writes carry.

const newPasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$reset"

func mustReset(t *testing.T, s baton.Store, l *baton.Link, now time.Time, notices ...*baton.OutboxMessage) *baton.User {
	t.Helper()
	u, err := s.ResetPassword(ctx, l.Hash, now, newPasswordHash, notices...)
	if err != nil {
		t.Fatalf("ResetPassword(%q): got %v, want nil", l.ID, err)
	}
	wantStoredUser(t, s, u, "ResetPassword("+l.ID+")")
	return u
}

// wantResetRefused resets with the link at now, expects EInvalidLink, and
// checks that neither the user nor the outbox changed.
func wantResetRefused(t *testing.T, s baton.Store, l *baton.Link, now time.Time) {
	t.Helper()
	before, err := s.UserByID(ctx, l.UserID)
	if err != nil {
		t.Fatalf("UserByID(%q): got %v, want nil", l.UserID, err)
	}
	queued, _, err := s.OutboxBacklog(ctx, baton.OutboxMail)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.ResetPassword(ctx, l.Hash, now, newPasswordHash, newOutboxMessage("refused-"+l.ID, now))
	wantCode(t, err, baton.EInvalidLink)
	if u != nil {
		t.Errorf("ResetPassword(%q): got user %+v with the error, want nil", l.ID, u)
	}
	if after, err := s.UserByID(ctx, l.UserID); err != nil || diff(before, after) != "" {
		t.Errorf("a refused ResetPassword(%q) changed the user: got %+v, %v, want %+v", l.ID, after, err, before)
	}
	if n, _, err := s.OutboxBacklog(ctx, baton.OutboxMail); err != nil || n != queued {
		t.Errorf("a refused ResetPassword(%q) queued a message: backlog %d, %v, want %d", l.ID, n, err, queued)
	}
}

func testResetApply(t *testing.T, s baton.Store) {
	before := mustCreateEmailUser(t, s, "u1", "Ada@Example.com", "ada@example.com")
	mustCreateSession(t, s, newSession("u1", "s1", t0), hash("rt1"))
	first := newLink("first", baton.LinkResetPassword, "u1", "Ada@Example.com", "ada@example.com")
	second := newLink("second", baton.LinkResetPassword, "u1", "Ada@Example.com", "ada@example.com")
	verify := newLink("verify", baton.LinkVerifyEmail, "u1", "Ada@Example.com", "ada@example.com")
	for _, l := range []*baton.Link{first, second, verify} {
		mustCreateLink(t, s, l, nil)
	}
	notice := newOutboxMessage("notice", t0)
	u := mustReset(t, s, second, t0.Add(time.Minute), notice)

	want := *before
	want.PasswordHash, want.CredentialGen, want.EmailVerified = newPasswordHash, before.CredentialGen+1, true
	if d := diff(&want, u); d != "" {
		t.Errorf("ResetPassword mismatch (-want +got):\n%s", d)
	}
	// The notice was stored with the reset.
	claimed := mustClaim(t, s, baton.OutboxMail, t0.Add(time.Minute), time.Minute, 10)
	if len(claimed) != 1 || claimed[0].ID != "notice" {
		t.Errorf("ClaimOutbox after ResetPassword: got %d messages, want the notice only", len(claimed))
	}
	// The link is spent, and so is the user's other reset link; the
	// verification link is not a reset link and still works.
	wantResetRefused(t, s, second, t0.Add(time.Minute))
	wantResetRefused(t, s, first, t0.Add(time.Minute))
	if l, err := s.LinkByHash(ctx, first.Hash); err != nil || !l.SpentAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("LinkByHash(first): got %+v, %v, want spent at the reset", l, err)
	}
	mustRedeem(t, s, verify, t0.Add(time.Hour))
	// The session of the old password does not rotate any more.
	r := rotation("s1", "rt1", "rt2", t0.Add(time.Hour))
	wantCode(t, s.Rotate(ctx, r), baton.EConflict)
}

// testResetKeepsOthers resets one user's password: another user's reset
// links, and its password, are untouched.
func testResetKeepsOthers(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "a@example.com", "a@example.com")
	other := mustCreateEmailUser(t, s, "u2", "b@example.com", "b@example.com")
	mine := newLink("mine", baton.LinkResetPassword, "u1", "a@example.com", "a@example.com")
	theirs := newLink("theirs", baton.LinkResetPassword, "u2", "b@example.com", "b@example.com")
	mustCreateLink(t, s, mine, nil)
	mustCreateLink(t, s, theirs, nil)
	mustReset(t, s, mine, t0)
	if u, err := s.UserByID(ctx, "u2"); err != nil || diff(other, u) != "" {
		t.Errorf("the other user after a reset: got %+v, %v, want %+v", u, err, other)
	}
	mustReset(t, s, theirs, t0)
}

func testResetRefused(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "a@example.com", "a@example.com")
	reset := newLink("reset", baton.LinkResetPassword, "u1", "a@example.com", "a@example.com")
	verify := newLink("verify", baton.LinkVerifyEmail, "u1", "a@example.com", "a@example.com")
	change := newLink("change", baton.LinkChangeEmail, "u1", "b@example.com", "b@example.com")
	for _, l := range []*baton.Link{reset, verify, change} {
		mustCreateLink(t, s, l, nil)
	}
	wantResetRefused(t, s, reset, reset.ExpiresAt)
	wantResetRefused(t, s, &baton.Link{ID: "unknown", UserID: "u1", Hash: hash("unknown")}, t0)
	// Links of other purposes reset nothing, and stay unspent.
	wantResetRefused(t, s, verify, t0)
	wantResetRefused(t, s, change, t0)
	mustRedeem(t, s, verify, t0)
	// The reset link refused at its expiry still works a moment before.
	mustReset(t, s, reset, reset.ExpiresAt.Add(-time.Microsecond))
}

// testResetStaleAddress resets with a link sent to an address the user has
// replaced since: the password changes, the address stays unverified.
func testResetStaleAddress(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "c@example.com", "c@example.com")
	stale := newLink("stale", baton.LinkResetPassword, "u1", "old@example.com", "old@example.com")
	mustCreateLink(t, s, stale, nil)
	u := mustReset(t, s, stale, t0)
	if u.EmailVerified || u.PasswordHash != newPasswordHash {
		t.Errorf("reset through a link to another address: got verified %v, hash %q, want unverified with the new hash", u.EmailVerified, u.PasswordHash)
	}
}

func testResetConcurrent(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "a@example.com", "a@example.com")
	l := newLink("reset", baton.LinkResetPassword, "u1", "a@example.com", "a@example.com")
	mustCreateLink(t, s, l, nil)
	const n = 16
	errs := concurrently(n, func(i int) error {
		_, err := s.ResetPassword(ctx, l.Hash, t0, newPasswordHash, newOutboxMessage("notice-"+string(rune('a'+i)), t0))
		return err
	})
	if got := codes(errs); got[""] != 1 || got[baton.EInvalidLink] != n-1 {
		t.Errorf("%d concurrent resets: got outcomes %v, want 1 success and %d %s", n, got, n-1, baton.EInvalidLink)
	}
	if q, _, err := s.OutboxBacklog(ctx, baton.OutboxMail); err != nil || q != 1 {
		t.Errorf("notices queued by %d concurrent resets: got %d, %v, want 1", n, q, err)
	}
	u, err := s.UserByID(ctx, "u1")
	if err != nil || u.CredentialGen != 1 {
		t.Errorf("credential generation after one reset: got %+v, %v, want 1", u, err)
	}
}

func testLinkByHash(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "Ada@Example.com", "ada@example.com")
	l := newLink("l1", baton.LinkResetPassword, "u1", "Ada@Example.com", "ada@example.com")
	mustCreateLink(t, s, l, nil)
	got, err := s.LinkByHash(ctx, l.Hash)
	if err != nil {
		t.Fatalf("LinkByHash: got %v, want nil", err)
	}
	wantUTC(t, got)
	if d := diff(l, got); d != "" {
		t.Errorf("LinkByHash mismatch (-want +got):\n%s", d)
	}
	_, err = s.LinkByHash(ctx, hash("unknown"))
	wantCode(t, err, baton.ENotFound)
}

// testMessagesWithWrites stores notices with a password change and
// several messages with a link; a refused write stores none of them.
func testMessagesWithWrites(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "a@example.com", "a@example.com")
	if _, err := s.SetPasswordHash(ctx, "u1", newPasswordHash, newOutboxMessage("changed", t0)); err != nil {
		t.Fatalf("SetPasswordHash with a notice: %v", err)
	}
	_, err := s.SetPasswordHash(ctx, "nobody", newPasswordHash, newOutboxMessage("nobody", t0))
	wantCode(t, err, baton.ENotFound)

	l := newLink("change", baton.LinkChangeEmail, "u1", "b@example.com", "b@example.com")
	mustCreateLink(t, s, l, newOutboxMessage("confirm", t0), nil, newOutboxMessage("old-address", t0))
	// A message id that exists refuses the whole write, link included.
	dup := newLink("dup", baton.LinkChangeEmail, "u1", "c@example.com", "c@example.com")
	wantCode(t, s.CreateLink(ctx, dup, newOutboxMessage("fresh", t0), newOutboxMessage("confirm", t0)), baton.EConflict)
	_, err = s.RedeemEmailLink(ctx, dup.Hash, t0)
	wantCode(t, err, baton.EInvalidLink)

	var got []string
	for _, m := range mustClaim(t, s, baton.OutboxMail, t0, time.Minute, 10) {
		got = append(got, m.ID)
	}
	if d := diff([]string{"changed", "confirm", "old-address"}, slices.Sorted(slices.Values(got))); d != "" {
		t.Errorf("messages stored (-want +got):\n%s", d)
	}
}
