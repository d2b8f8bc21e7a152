package storetest

import (
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// The one-time link cases. The store has no read of a link: each case sees
// a link through what redeeming it does, and what Prune counts.

// newLink returns a link of purpose for userID to addr (canonical form
// canonical), created at t0 and expiring a day later; its token is named id.
func newLink(id, purpose, userID, addr, canonical string) *baton.Link {
	return &baton.Link{
		ID:             id,
		Hash:           hash("link-" + id),
		Purpose:        purpose,
		UserID:         userID,
		Email:          addr,
		CanonicalEmail: canonical,
		CreatedAt:      t0,
		ExpiresAt:      t0.Add(day),
	}
}

func mustCreateLink(t *testing.T, s baton.Store, l *baton.Link, ms ...*baton.OutboxMessage) {
	t.Helper()
	if err := s.CreateLink(ctx, l, ms...); err != nil {
		t.Fatalf("CreateLink(%q): got %v, want nil", l.ID, err)
	}
}

func mustCreateEmailUser(t *testing.T, s baton.Store, id, addr, canonical string) *baton.User {
	t.Helper()
	u := withEmail(id, addr, canonical)
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser(%q): got %v, want nil", id, err)
	}
	return u
}

// mustRedeem redeems the link at now and checks the user it returns against
// the store's.
func mustRedeem(t *testing.T, s baton.Store, l *baton.Link, now time.Time) *baton.User {
	t.Helper()
	u, err := s.RedeemEmailLink(ctx, l.Hash, now)
	if err != nil {
		t.Fatalf("RedeemEmailLink(%q): got %v, want nil", l.ID, err)
	}
	wantStoredUser(t, s, u, "RedeemEmailLink("+l.ID+")")
	return u
}

// wantStoredUser checks that the user a write returned (op names it) is
// the one the store now holds, in UTC.
func wantStoredUser(t *testing.T, s baton.Store, u *baton.User, op string) {
	t.Helper()
	wantUTC(t, u)
	stored, err := s.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatalf("UserByID(%q): got %v, want nil", u.ID, err)
	}
	if d := diff(stored, u); d != "" {
		t.Errorf("%s returned a user unlike the stored one (-stored +returned):\n%s", op, d)
	}
}

// wantInvalid redeems the link at now, expects EInvalidLink, and checks
// that the user did not change.
func wantInvalid(t *testing.T, s baton.Store, l *baton.Link, now time.Time) {
	t.Helper()
	before, err := s.UserByID(ctx, l.UserID)
	if err != nil {
		t.Fatalf("UserByID(%q): got %v, want nil", l.UserID, err)
	}
	u, err := s.RedeemEmailLink(ctx, l.Hash, now)
	wantCode(t, err, baton.EInvalidLink)
	if u != nil {
		t.Errorf("RedeemEmailLink(%q): got user %+v with the error, want nil", l.ID, u)
	}
	after, err := s.UserByID(ctx, l.UserID)
	if err != nil {
		t.Fatalf("UserByID(%q): got %v, want nil", l.UserID, err)
	}
	if d := diff(before, after); d != "" {
		t.Errorf("a refused RedeemEmailLink(%q) changed the user (-before +after):\n%s", l.ID, d)
	}
}

// spentLinks counts the links spent (not expired: every link here expires
// after olderThan) before olderThan, by pruning them.
func spentLinks(t *testing.T, s baton.Store, olderThan time.Time) int {
	t.Helper()
	n, err := s.Prune(ctx, olderThan, olderThan, 1000)
	if err != nil {
		t.Fatalf("Prune: got %v, want nil", err)
	}
	return n
}

func testLinkCreate(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "Ada@Example.com", "ada@example.com")
	withMail := newLink("l1", baton.LinkVerifyEmail, "u1", "Ada@Example.com", "ada@example.com")
	m := newOutboxMessage("m1", t0)
	mustCreateLink(t, s, withMail, m)
	without := newLink("l2", baton.LinkVerifyEmail, "u1", "Ada@Example.com", "ada@example.com")
	mustCreateLink(t, s, without, nil)

	// The message was stored with the link, and only it.
	claimed := mustClaim(t, s, baton.OutboxMail, t0, time.Minute, 10)
	want := *m
	want.LeaseUntil = t0.Add(time.Minute)
	if d := diff([]*baton.OutboxMessage{&want}, claimed); d != "" {
		t.Errorf("ClaimOutbox after CreateLink mismatch (-want +got):\n%s", d)
	}

	// Both links work, each once.
	if u := mustRedeem(t, s, withMail, t0.Add(time.Hour)); !u.EmailVerified || u.CanonicalEmail != "ada@example.com" {
		t.Errorf("after verifying: got verified %v, address %q, want true, %q", u.EmailVerified, u.CanonicalEmail, "ada@example.com")
	}
	wantInvalid(t, s, withMail, t0.Add(time.Hour))
	mustRedeem(t, s, without, t0.Add(time.Hour))
	wantInvalid(t, s, without, t0.Add(time.Hour))
}

func testLinkCreateUserNotFound(t *testing.T, s baton.Store) {
	l := newLink("l1", baton.LinkVerifyEmail, "nobody", "a@example.com", "a@example.com")
	wantCode(t, s.CreateLink(ctx, l, newOutboxMessage("m1", t0)), baton.ENotFound)
	// Neither the link nor its message was stored.
	if n, _, err := s.OutboxBacklog(ctx, baton.OutboxMail); err != nil || n != 0 {
		t.Errorf("OutboxBacklog: got %d, %v, want 0, nil", n, err)
	}
	mustCreateEmailUser(t, s, "nobody", "a@example.com", "a@example.com")
	_, err := s.RedeemEmailLink(ctx, l.Hash, t0)
	wantCode(t, err, baton.EInvalidLink)
}

func testLinkCreateConflict(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "a@example.com", "a@example.com")
	first := newLink("l1", baton.LinkVerifyEmail, "u1", "a@example.com", "a@example.com")
	mustCreateLink(t, s, first, newOutboxMessage("m1", t0))

	sameHash := newLink("l2", baton.LinkChangeEmail, "u1", "b@example.com", "b@example.com")
	sameHash.Hash = first.Hash
	wantCode(t, s.CreateLink(ctx, sameHash, newOutboxMessage("m2", t0)), baton.EConflict)
	sameID := newLink("l1", baton.LinkChangeEmail, "u1", "b@example.com", "b@example.com")
	sameID.Hash = hash("another")
	wantCode(t, s.CreateLink(ctx, sameID, newOutboxMessage("m3", t0)), baton.EConflict)

	// The refused links' messages were not stored, and the first link is
	// the one its hash redeems.
	if n, _, err := s.OutboxBacklog(ctx, baton.OutboxMail); err != nil || n != 1 {
		t.Errorf("OutboxBacklog: got %d, %v, want 1, nil", n, err)
	}
	if u := mustRedeem(t, s, first, t0); u.CanonicalEmail != "a@example.com" || !u.EmailVerified {
		t.Errorf("redeemed: got address %q verified %v, want the first link's verification", u.CanonicalEmail, u.EmailVerified)
	}
	wantInvalid(t, s, sameID, t0)
}

func testLinkRedeemRefused(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "a@example.com", "a@example.com")
	expiring := newLink("expiring", baton.LinkVerifyEmail, "u1", "a@example.com", "a@example.com")
	reset := newLink("reset", baton.LinkResetPassword, "u1", "a@example.com", "a@example.com")
	mustCreateLink(t, s, expiring, nil)
	mustCreateLink(t, s, reset, nil)

	// Expired at its expiry.
	wantInvalid(t, s, expiring, expiring.ExpiresAt)
	wantInvalid(t, s, expiring, expiring.ExpiresAt.Add(time.Microsecond))
	// Unknown.
	wantInvalid(t, s, &baton.Link{ID: "unknown", UserID: "u1", Hash: hash("unknown")}, t0)
	// Another purpose: not spent by the refusal.
	wantInvalid(t, s, reset, t0)
	if n := spentLinks(t, s, t0.Add(time.Hour)); n != 0 {
		t.Errorf("links spent after refusals: got %d, want 0", n)
	}
	// The expired link was refused, not spent: a moment before its expiry
	// it still works.
	mustRedeem(t, s, expiring, expiring.ExpiresAt.Add(-time.Microsecond))
}

func testLinkRedeemVerify(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "Ada@Example.com", "ada@example.com")
	mustCreateEmailUser(t, s, "u2", "b@example.com", "b@example.com")
	l := newLink("l1", baton.LinkVerifyEmail, "u1", "Ada@Example.com", "ada@example.com")
	mustCreateLink(t, s, l, nil)
	want, err := s.UserByID(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	want.EmailVerified = true
	got := mustRedeem(t, s, l, t0.Add(time.Hour))
	if d := diff(want, got); d != "" {
		t.Errorf("RedeemEmailLink mismatch (-want +got):\n%s", d)
	}
	// Spent: a second redemption is refused.
	wantInvalid(t, s, l, t0.Add(time.Hour))
	if n := spentLinks(t, s, t0.Add(2*time.Hour)); n != 1 {
		t.Errorf("links spent: got %d, want 1", n)
	}
	// The other user is untouched.
	if u, err := s.UserByID(ctx, "u2"); err != nil || u.EmailVerified {
		t.Errorf("UserByID(u2): got %+v, %v, want unverified", u, err)
	}
}

// testLinkRedeemVerifyStale verifies an address the user has replaced
// since: refused, and the link is left unspent (rolled back), so it works
// again once the address is the user's again.
func testLinkRedeemVerifyStale(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "a@example.com", "a@example.com")
	verify := newLink("verify", baton.LinkVerifyEmail, "u1", "a@example.com", "a@example.com")
	away := newLink("away", baton.LinkChangeEmail, "u1", "b@example.com", "b@example.com")
	back := newLink("back", baton.LinkChangeEmail, "u1", "a@example.com", "a@example.com")
	for _, l := range []*baton.Link{verify, away, back} {
		mustCreateLink(t, s, l, nil)
	}
	mustRedeem(t, s, away, t0)
	wantInvalid(t, s, verify, t0)
	if n := spentLinks(t, s, t0.Add(time.Microsecond)); n != 1 {
		t.Errorf("links spent: got %d, want 1 (the change only)", n)
	}
	mustRedeem(t, s, back, t0.Add(time.Hour))
	if u := mustRedeem(t, s, verify, t0.Add(time.Hour)); u.CanonicalEmail != "a@example.com" || !u.EmailVerified {
		t.Errorf("after verifying: got %q verified %v, want %q verified", u.CanonicalEmail, u.EmailVerified, "a@example.com")
	}
}

func testLinkRedeemChange(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "a@example.com", "a@example.com")
	l := newLink("l1", baton.LinkChangeEmail, "u1", "New@Example.org", "new@example.org")
	mustCreateLink(t, s, l, nil)
	want, err := s.UserByID(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	want.Email, want.CanonicalEmail, want.EmailVerified = "New@Example.org", "new@example.org", true
	if d := diff(want, mustRedeem(t, s, l, t0)); d != "" {
		t.Errorf("RedeemEmailLink mismatch (-want +got):\n%s", d)
	}
	if u, err := s.UserByEmail(ctx, "new@example.org"); err != nil || u.ID != "u1" {
		t.Errorf("UserByEmail(new): got %v, %v, want u1", u, err)
	}
	_, err = s.UserByEmail(ctx, "a@example.com")
	wantCode(t, err, baton.ENotFound)
	wantInvalid(t, s, l, t0)
}

// testLinkRedeemChangeTaken changes to an address another user took after
// the link was sent: EEmailTaken, nothing changed, the link unspent.
func testLinkRedeemChangeTaken(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "a@example.com", "a@example.com")
	l := newLink("l1", baton.LinkChangeEmail, "u1", "c@example.com", "c@example.com")
	mustCreateLink(t, s, l, nil)
	mustCreateEmailUser(t, s, "u2", "C@Example.com", "c@example.com")
	before, err := s.UserByID(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.RedeemEmailLink(ctx, l.Hash, t0)
	wantCode(t, err, baton.EEmailTaken)
	if u != nil {
		t.Errorf("RedeemEmailLink: got user %+v with the error, want nil", u)
	}
	if after, err := s.UserByID(ctx, "u1"); err != nil || diff(before, after) != "" {
		t.Errorf("user after EEmailTaken: got %+v, %v, want %+v", after, err, before)
	}
	if n := spentLinks(t, s, t0.Add(time.Microsecond)); n != 0 {
		t.Errorf("links spent: got %d, want 0", n)
	}
	// Once the address is free again the link works.
	if _, err := s.DeleteUser(ctx, "u2", revoke(t0, baton.ReasonAccountDeleted)); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if u := mustRedeem(t, s, l, t0.Add(time.Hour)); u.CanonicalEmail != "c@example.com" {
		t.Errorf("after the change: got %q, want %q", u.CanonicalEmail, "c@example.com")
	}
}

func testLinkRedeemConcurrent(t *testing.T, s baton.Store) {
	for _, purpose := range []string{baton.LinkVerifyEmail, baton.LinkChangeEmail} {
		t.Run(purpose, func(t *testing.T) {
			id := "u-" + purpose
			mustCreateEmailUser(t, s, id, id+"@example.com", id+"@example.com")
			l := newLink(purpose, purpose, id, id+"@example.com", id+"@example.com")
			mustCreateLink(t, s, l, nil)
			const n = 16
			errs := concurrently(n, func(int) error {
				_, err := s.RedeemEmailLink(ctx, l.Hash, t0)
				return err
			})
			if got := codes(errs); got[""] != 1 || got[baton.EInvalidLink] != n-1 {
				t.Errorf("%d concurrent redemptions: got outcomes %v, want 1 success and %d %s", n, got, n-1, baton.EInvalidLink)
			}
		})
	}
}

// testLinkDeleteUser deletes a user: its links go with it, so a user
// created again with the same id and address cannot redeem them.
func testLinkDeleteUser(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "a@example.com", "a@example.com")
	l := newLink("l1", baton.LinkVerifyEmail, "u1", "a@example.com", "a@example.com")
	mustCreateLink(t, s, l, nil)
	if _, err := s.DeleteUser(ctx, "u1", revoke(t0, baton.ReasonAccountDeleted)); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	mustCreateEmailUser(t, s, "u1", "a@example.com", "a@example.com")
	wantInvalid(t, s, l, t0)
}

func testLinkPrune(t *testing.T, s baton.Store) {
	mustCreateEmailUser(t, s, "u1", "a@example.com", "a@example.com")
	at := func(d int) time.Time { return t0.Add(time.Duration(d) * day) }
	link := func(id string, expires int) *baton.Link {
		l := newLink(id, baton.LinkVerifyEmail, "u1", "a@example.com", "a@example.com")
		l.ExpiresAt = at(expires)
		mustCreateLink(t, s, l, nil)
		return l
	}
	mustRedeem(t, s, link("spentOld", 200), at(10))
	link("expiredOld", 20)
	mustRedeem(t, s, link("spentNew", 200), at(60))
	live := link("live", 200)
	link("expiredNew", 60)

	now, olderThan := at(100), at(50)
	n, err := s.Prune(ctx, now, olderThan, 1)
	if err != nil || n != 1 {
		t.Fatalf("Prune(limit 1): got %d, %v, want 1, nil", n, err)
	}
	n, err = s.Prune(ctx, now, olderThan, 10)
	if err != nil || n != 1 {
		t.Fatalf("Prune: got %d, %v, want 1 (2 in all), nil", n, err)
	}
	// The live link was kept and works.
	mustRedeem(t, s, live, now)
	// Pruning later takes spentNew and expiredNew, not live, spent at now.
	if n, err := s.Prune(ctx, now, at(70), 10); err != nil || n != 2 {
		t.Errorf("Prune(older than day 70): got %d, %v, want 2, nil", n, err)
	}
}
