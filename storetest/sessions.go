package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

func testCreateSessionRoundTrip(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	for i, amr := range [][]string{
		{baton.AMRPassword},
		baton.AMR(baton.AMROTP, baton.AMRPassword, baton.AMRMFA),
		baton.AMR(baton.AMRMFA, baton.AMRPasskey),
		baton.AMR(baton.AMRMFA, baton.AMRPasskey, baton.AMROTP, baton.AMRPassword),
		nil,
	} {
		t.Run(fmt.Sprintf("AMR%q", amr), func(t *testing.T) {
			sess := newSession(u.ID, name("s", i), t0)
			sess.AMR = amr
			mustCreateSession(t, s, sess, hash(name("t", i)))

			if d := diff(sess, mustSession(t, s, sess.ID)); d != "" {
				t.Errorf("Session mismatch (-want +got):\n%s", d)
			}
			tok, got := mustToken(t, s, hash(name("t", i)))
			// The first token is created with its session and is unspent.
			want := &baton.RefreshToken{Hash: hash(name("t", i)), SessionID: sess.ID, CreatedAt: sess.CreatedAt}
			if d := diff(want, tok); d != "" {
				t.Errorf("RefreshToken mismatch (-want +got):\n%s", d)
			}
			if d := diff(sess, got); d != "" {
				t.Errorf("RefreshToken's session mismatch (-want +got):\n%s", d)
			}
		})
	}
}

// testCreateSessionBadAMR: methods not in baton.AMR's form are refused
// before anything is stored, since they could not be read back.
func testCreateSessionBadAMR(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	for i, amr := range [][]string{{"otp", "pwd"}, {"pwd", "pwd"}, {"pwd otp"}, {"sms"}, {""}} {
		sess := newSession(u.ID, name("s", i), t0)
		sess.AMR = amr
		err := s.CreateSession(ctx, sess, hash(name("t", i)))
		wantCode(t, err, baton.EInternal)
		_, err = s.Session(ctx, sess.ID)
		wantCode(t, err, baton.ENotFound)
	}
}

func testCreateSessionUserNotFound(t *testing.T, s baton.Store) {
	err := s.CreateSession(ctx, newSession("nobody", "s1", t0), hash("t1"))
	wantCode(t, err, baton.ENotFound)
	_, err = s.Session(ctx, "s1")
	wantCode(t, err, baton.ENotFound)
	_, _, err = s.RefreshToken(ctx, hash("t1"))
	wantCode(t, err, baton.ENotFound)
}

func testSessionNotFound(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	mustCreateSession(t, s, newSession(u.ID, "s1", t0), hash("t1"))
	_, err := s.Session(ctx, "s2")
	wantCode(t, err, baton.ENotFound)
}

func testRefreshTokenNotFound(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	mustCreateSession(t, s, newSession(u.ID, "s1", t0), hash("t1"))
	_, _, err := s.RefreshToken(ctx, hash("t2"))
	wantCode(t, err, baton.ENotFound)
}

// rotation returns the rotation of session id from token old to token new at
// now, sliding the idle expiry a week and changing client details.
func rotation(id, old, new string, now time.Time) baton.Rotation {
	return baton.Rotation{
		SessionID:     id,
		OldHash:       hash(old),
		NewHash:       hash(new),
		Now:           now,
		IdleExpiresAt: now.Add(7 * day),
		UserAgent:     "agent-" + new,
		IP:            "2001:db8::" + new,
	}
}

// rotated returns sess as r leaves it.
func rotated(sess *baton.Session, r baton.Rotation) *baton.Session {
	s := *sess
	s.LastUsedAt = r.Now
	s.IdleExpiresAt = r.IdleExpiresAt
	s.UserAgent = r.UserAgent
	s.IP = r.IP
	return &s
}

func testRotate(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	sess := newSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t1"))
	other := newSession(u.ID, "s2", t0)
	mustCreateSession(t, s, other, hash("o1"))

	r := rotation(sess.ID, "t1", "t2", t0.Add(time.Hour))
	if err := s.Rotate(ctx, r); err != nil {
		t.Fatalf("Rotate: got %v, want nil", err)
	}

	want := rotated(sess, r)
	if d := diff(want, mustSession(t, s, sess.ID)); d != "" {
		t.Errorf("session after Rotate mismatch (-want +got):\n%s", d)
	}
	oldTok, _ := mustToken(t, s, hash("t1"))
	wantOld := &baton.RefreshToken{Hash: hash("t1"), SessionID: sess.ID, CreatedAt: sess.CreatedAt, SpentAt: r.Now}
	if d := diff(wantOld, oldTok); d != "" {
		t.Errorf("old token mismatch (-want +got):\n%s", d)
	}
	newTok, newSess := mustToken(t, s, hash("t2"))
	wantNew := &baton.RefreshToken{Hash: hash("t2"), SessionID: sess.ID, CreatedAt: r.Now}
	if d := diff(wantNew, newTok); d != "" {
		t.Errorf("new token mismatch (-want +got):\n%s", d)
	}
	if d := diff(want, newSess); d != "" {
		t.Errorf("new token's session mismatch (-want +got):\n%s", d)
	}
	// Another session of the same user is untouched.
	if d := diff(other, mustSession(t, s, other.ID)); d != "" {
		t.Errorf("other session changed (-want +got):\n%s", d)
	}
	if tok, _ := mustToken(t, s, hash("o1")); !tok.SpentAt.IsZero() {
		t.Errorf("other session's token: got SpentAt %v, want zero", tok.SpentAt)
	}
}

func testRotateChain(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	sess := newSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash(name("t", 0)))
	want := sess
	var rs []baton.Rotation
	for i := range 5 {
		r := rotation(sess.ID, name("t", i), name("t", i+1), t0.Add(time.Duration(i+1)*time.Hour))
		if err := s.Rotate(ctx, r); err != nil {
			t.Fatalf("Rotate %d: got %v, want nil", i, err)
		}
		rs = append(rs, r)
		want = rotated(want, r)
	}
	if d := diff(want, mustSession(t, s, sess.ID)); d != "" {
		t.Errorf("session after 5 rotations mismatch (-want +got):\n%s", d)
	}
	for i, r := range rs {
		tok, _ := mustToken(t, s, r.OldHash)
		if !tok.SpentAt.Equal(r.Now) {
			t.Errorf("token %d: got SpentAt %v, want %v", i, tok.SpentAt, r.Now)
		}
	}
	if tok, _ := mustToken(t, s, hash(name("t", 5))); !tok.SpentAt.IsZero() {
		t.Errorf("newest token: got SpentAt %v, want zero", tok.SpentAt)
	}
}

func testRotateSpent(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	sess := newSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t1"))
	first := rotation(sess.ID, "t1", "t2", t0.Add(time.Hour))
	if err := s.Rotate(ctx, first); err != nil {
		t.Fatalf("Rotate: got %v, want nil", err)
	}

	wantCode(t, s.Rotate(ctx, rotation(sess.ID, "t1", "t3", t0.Add(2*time.Hour))), baton.EConflict)

	// Nothing else changed: the session is as the first rotation left it,
	// the loser's token was not stored, the winner's is still unspent, and
	// the old token keeps its first spend time.
	if d := diff(rotated(sess, first), mustSession(t, s, sess.ID)); d != "" {
		t.Errorf("session changed by a conflicting Rotate (-want +got):\n%s", d)
	}
	_, _, err := s.RefreshToken(ctx, hash("t3"))
	wantCode(t, err, baton.ENotFound)
	if tok, _ := mustToken(t, s, hash("t2")); !tok.SpentAt.IsZero() {
		t.Errorf("winner's token: got SpentAt %v, want zero", tok.SpentAt)
	}
	if tok, _ := mustToken(t, s, hash("t1")); !tok.SpentAt.Equal(first.Now) {
		t.Errorf("old token: got SpentAt %v, want %v", tok.SpentAt, first.Now)
	}
}

func testRotateRevoked(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	sess := newSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t1"))
	r := revoke(t0.Add(time.Hour), baton.ReasonLogout)
	mustRevoke(t, s, sess.ID, r)

	wantCode(t, s.Rotate(ctx, rotation(sess.ID, "t1", "t2", t0.Add(2*time.Hour))), baton.EConflict)

	// Whether t1 is now marked spent is unspecified; everything else is as
	// the revocation left it, and the session stays revoked.
	want := *sess
	want.RevokedAt = r.Now
	want.RevokeReason = r.Reason
	if d := diff(&want, mustSession(t, s, sess.ID)); d != "" {
		t.Errorf("revoked session changed by Rotate (-want +got):\n%s", d)
	}
	_, _, err := s.RefreshToken(ctx, hash("t2"))
	wantCode(t, err, baton.ENotFound)
}

func testRotateNotFound(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	sess := newSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t1"))

	wantCode(t, s.Rotate(ctx, rotation(sess.ID, "unknown", "t2", t0.Add(time.Hour))), baton.ENotFound)
	_, _, err := s.RefreshToken(ctx, hash("t2"))
	wantCode(t, err, baton.ENotFound)
	if d := diff(sess, mustSession(t, s, sess.ID)); d != "" {
		t.Errorf("session changed by a Rotate of an unknown token (-want +got):\n%s", d)
	}
}

// testRotateConcurrent is the race behind reuse detection: of many requests
// presenting the same refresh token at once exactly one rotates it.
func testRotateConcurrent(t *testing.T, s baton.Store) {
	const n = 32
	u := mustCreateUser(t, s, "u1")
	sess := newSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t0"))

	errs := concurrently(n, func(i int) error {
		return s.Rotate(ctx, rotation(sess.ID, "t0", name("new", i), t0.Add(time.Hour)))
	})

	got := codes(errs)
	if want := map[string]int{"": 1, baton.EConflict: n - 1}; !mapsEqual(got, want) {
		t.Fatalf("outcomes by code: got %v, want %v (errors: %v)", got, want, errs)
	}
	winner := slices.IndexFunc(errs, func(err error) bool { return err == nil })
	tok, got2 := mustToken(t, s, hash(name("new", winner)))
	if tok.SessionID != sess.ID || !tok.SpentAt.IsZero() {
		t.Errorf("winner's token: got session %q, SpentAt %v, want %q, zero", tok.SessionID, tok.SpentAt, sess.ID)
	}
	if got2.UserAgent != "agent-"+name("new", winner) {
		t.Errorf("session UserAgent: got %q, want the winner's %q", got2.UserAgent, "agent-"+name("new", winner))
	}
	for i := range n {
		if i == winner {
			continue
		}
		if _, _, err := s.RefreshToken(ctx, hash(name("new", i))); baton.ErrorCode(err) != baton.ENotFound {
			t.Errorf("loser %d's token: got %v, want ENotFound", i, err)
		}
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func testSessions(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	other := mustCreateUser(t, s, "u2")
	now := t0.Add(10 * day)

	live := func(id string, created time.Time) *baton.Session {
		sess := newSession(u.ID, id, created)
		sess.ExpiresAt = now.Add(20 * day)
		sess.IdleExpiresAt = now.Add(day)
		return sess
	}
	oldest := live("oldest", t0)
	middle := live("middle", t0.Add(time.Hour))
	middle.AMR = baton.AMR(baton.AMRPasskey, baton.AMRMFA)
	newest := live("newest", t0.Add(2*time.Hour))
	revoked := live("revoked", t0.Add(3*time.Hour))
	expired := live("expired", t0.Add(4*time.Hour))
	expired.ExpiresAt = now.Add(-time.Second)
	idle := live("idle", t0.Add(5*time.Hour))
	idle.IdleExpiresAt = now.Add(-time.Second)
	// Session.Live: a session is dead at the instant it expires.
	boundary := live("boundary", t0.Add(6*time.Hour))
	boundary.IdleExpiresAt = now
	others := newSession(other.ID, "others", t0.Add(7*time.Hour))
	others.ExpiresAt = now.Add(20 * day)
	others.IdleExpiresAt = now.Add(day)

	// Inserted out of order: the listing orders by creation time.
	for i, sess := range []*baton.Session{middle, revoked, newest, expired, oldest, idle, boundary, others} {
		mustCreateSession(t, s, sess, hash(name("t", i)))
	}
	mustRevoke(t, s, revoked.ID, revoke(t0.Add(9*day), baton.ReasonLogout))

	got, err := s.Sessions(ctx, u.ID, now, allSessions)
	if err != nil {
		t.Fatalf("Sessions: got %v, want nil", err)
	}
	for _, sess := range got {
		wantUTC(t, sess)
	}
	if d := diff([]*baton.Session{newest, middle, oldest}, got); d != "" {
		t.Errorf("Sessions mismatch (-want +got):\n%s", d)
	}

	got, err = s.Sessions(ctx, "nobody", now, allSessions)
	if err != nil || len(got) != 0 {
		t.Errorf("Sessions of unknown user: got %v, %v, want none, nil", ids(got), err)
	}
}

func testRevokeSession(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	sess := newSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t1"))
	other := newSession(u.ID, "s2", t0)
	mustCreateSession(t, s, other, hash("t2"))

	r := revoke(t0.Add(time.Hour), baton.ReasonLogout)
	ok, err := s.RevokeSession(ctx, sess.ID, r)
	if err != nil || !ok {
		t.Fatalf("RevokeSession: got %v, %v, want true, nil", ok, err)
	}
	want := *sess
	want.RevokedAt = r.Now
	want.RevokeReason = r.Reason
	if d := diff(&want, mustSession(t, s, sess.ID)); d != "" {
		t.Errorf("revoked session mismatch (-want +got):\n%s", d)
	}
	if _, got := mustToken(t, s, hash("t1")); got.RevokedAt.IsZero() {
		t.Errorf("RefreshToken's session: got RevokedAt zero, want %v", r.Now)
	}
	wantRevs := []baton.Revocation{{SessionID: sess.ID, RevokedAt: r.Now, Until: r.Until}}
	if d := diffRevocations(wantRevs, revocationsFor(t, s, sess.ID)); d != "" {
		t.Errorf("revocations mismatch (-want +got):\n%s", d)
	}
	if d := diff(other, mustSession(t, s, other.ID)); d != "" {
		t.Errorf("other session changed (-want +got):\n%s", d)
	}
	if revs := revocationsFor(t, s, other.ID); len(revs) != 0 {
		t.Errorf("revocations of other session: got %v, want none", revs)
	}
}

func testRevokeSessionIdempotent(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	sess := newSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t1"))
	first := revoke(t0.Add(time.Hour), baton.ReasonLogout)
	mustRevoke(t, s, sess.ID, first)

	ok, err := s.RevokeSession(ctx, sess.ID, revoke(t0.Add(2*time.Hour), baton.ReasonAdmin))
	if err != nil || ok {
		t.Fatalf("second RevokeSession: got %v, %v, want false, nil", ok, err)
	}
	got := mustSession(t, s, sess.ID)
	if !got.RevokedAt.Equal(first.Now) || got.RevokeReason != first.Reason {
		t.Errorf("after second RevokeSession: got RevokedAt %v, reason %q, want %v, %q",
			got.RevokedAt, got.RevokeReason, first.Now, first.Reason)
	}
	wantRevs := []baton.Revocation{{SessionID: sess.ID, RevokedAt: first.Now, Until: first.Until}}
	if d := diffRevocations(wantRevs, revocationsFor(t, s, sess.ID)); d != "" {
		t.Errorf("revocations mismatch (-want +got):\n%s", d)
	}
}

func testRevokeSessionNotFound(t *testing.T, s baton.Store) {
	_, err := s.RevokeSession(ctx, "nobody", revoke(t0, baton.ReasonLogout))
	wantCode(t, err, baton.ENotFound)
}

func testRevokeSessionConcurrent(t *testing.T, s baton.Store) {
	const n = 16
	u := mustCreateUser(t, s, "u1")
	sess := newSession(u.ID, "s1", t0)
	mustCreateSession(t, s, sess, hash("t1"))

	oks := make([]bool, n)
	errs := concurrently(n, func(i int) (err error) {
		oks[i], err = s.RevokeSession(ctx, sess.ID, revoke(t0.Add(time.Duration(i+1)*time.Minute), baton.ReasonLogout))
		return err
	})

	if got := codes(errs); !mapsEqual(got, map[string]int{"": n}) {
		t.Fatalf("outcomes by code: got %v, want all nil (errors: %v)", got, errs)
	}
	winner := slices.Index(oks, true)
	if c := countTrue(oks); c != 1 {
		t.Fatalf("RevokeSession returned true %d times, want 1", c)
	}
	r := revoke(t0.Add(time.Duration(winner+1)*time.Minute), baton.ReasonLogout)
	if got := mustSession(t, s, sess.ID); !got.RevokedAt.Equal(r.Now) {
		t.Errorf("RevokedAt: got %v, want the winner's %v", got.RevokedAt, r.Now)
	}
	wantRevs := []baton.Revocation{{SessionID: sess.ID, RevokedAt: r.Now, Until: r.Until}}
	if d := diffRevocations(wantRevs, revocationsFor(t, s, sess.ID)); d != "" {
		t.Errorf("revocations mismatch (-want +got):\n%s", d)
	}
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// userSessions creates user u1 with sessions a, b and c (c revoked at
// t0+1h) and user u2 with session d, and returns c's revocation.
func userSessions(t *testing.T, s baton.Store) baton.Revoke {
	t.Helper()
	u := mustCreateUser(t, s, "u1")
	other := mustCreateUser(t, s, "u2")
	for i, id := range []string{"a", "b", "c"} {
		mustCreateSession(t, s, newSession(u.ID, id, t0.Add(time.Duration(i)*time.Minute)), hash(id))
	}
	mustCreateSession(t, s, newSession(other.ID, "d", t0), hash("d"))
	r := revoke(t0.Add(time.Hour), baton.ReasonLogout)
	mustRevoke(t, s, "c", r)
	return r
}

// wantRevoked checks that each session in revoked is revoked by r with one
// feed entry, and each in untouched is as userSessions left it.
func wantRevoked(t *testing.T, s baton.Store, r baton.Revoke, revoked []string, untouched []string) {
	t.Helper()
	for _, id := range revoked {
		got := mustSession(t, s, id)
		if !got.RevokedAt.Equal(r.Now) || got.RevokeReason != r.Reason {
			t.Errorf("session %s: got RevokedAt %v, reason %q, want %v, %q", id, got.RevokedAt, got.RevokeReason, r.Now, r.Reason)
		}
		want := []baton.Revocation{{SessionID: id, RevokedAt: r.Now, Until: r.Until}}
		if d := diffRevocations(want, revocationsFor(t, s, id)); d != "" {
			t.Errorf("revocations of %s mismatch (-want +got):\n%s", id, d)
		}
	}
	for _, id := range untouched {
		if got := mustSession(t, s, id); !got.RevokedAt.IsZero() {
			t.Errorf("session %s: got RevokedAt %v, want zero", id, got.RevokedAt)
		}
		if revs := revocationsFor(t, s, id); len(revs) != 0 {
			t.Errorf("revocations of %s: got %v, want none", id, revs)
		}
	}
}

func testRevokeUserSessionsAll(t *testing.T, s baton.Store) {
	earlier := userSessions(t, s)
	r := revoke(t0.Add(2*time.Hour), baton.ReasonPasswordChange)
	got, err := s.RevokeUserSessions(ctx, "u1", "", r)
	if err != nil {
		t.Fatalf("RevokeUserSessions: got %v, want nil", err)
	}
	slices.Sort(got)
	if d := diff([]string{"a", "b"}, got); d != "" {
		t.Errorf("revoked ids mismatch (-want +got):\n%s", d)
	}
	wantRevoked(t, s, r, []string{"a", "b"}, []string{"d"})
	// Already revoked: neither revoked again nor a second entry.
	wantRevoked(t, s, earlier, []string{"c"}, nil)
}

func testRevokeUserSessionsExcept(t *testing.T, s baton.Store) {
	earlier := userSessions(t, s)
	r := revoke(t0.Add(2*time.Hour), baton.ReasonUser)
	got, err := s.RevokeUserSessions(ctx, "u1", "b", r)
	if err != nil {
		t.Fatalf("RevokeUserSessions: got %v, want nil", err)
	}
	if d := diff([]string{"a"}, got); d != "" {
		t.Errorf("revoked ids mismatch (-want +got):\n%s", d)
	}
	wantRevoked(t, s, r, []string{"a"}, []string{"b", "d"})
	wantRevoked(t, s, earlier, []string{"c"}, nil)
}

func testRevokeUserSessionsNone(t *testing.T, s baton.Store) {
	userSessions(t, s)
	r := revoke(t0.Add(2*time.Hour), baton.ReasonUser)
	if _, err := s.RevokeUserSessions(ctx, "u1", "", r); err != nil {
		t.Fatalf("RevokeUserSessions: got %v, want nil", err)
	}
	tests := []struct {
		name   string
		userID string
	}{
		{"AllRevoked", "u1"},
		{"UnknownUser", "nobody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.RevokeUserSessions(ctx, tt.userID, "", revoke(t0.Add(3*time.Hour), baton.ReasonUser))
			if err != nil || len(got) != 0 {
				t.Errorf("RevokeUserSessions(%q): got %v, %v, want none, nil", tt.userID, got, err)
			}
		})
	}
	wantRevoked(t, s, r, []string{"a", "b"}, []string{"d"})
}

func testRevocations(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	var rs []baton.Revoke
	for i := range 4 {
		id := name("s", i)
		mustCreateSession(t, s, newSession(u.ID, id, t0), hash(id))
		// Until is not monotonic in Seq: the filter must not assume it.
		r := baton.Revoke{
			Now:    t0.Add(time.Duration(i+1) * time.Minute),
			Until:  t0.Add(time.Duration([]int{10, 30, 20, 40}[i]) * time.Minute),
			Reason: baton.ReasonLogout,
		}
		mustRevoke(t, s, id, r)
		rs = append(rs, r)
	}
	all, err := s.Revocations(ctx, 0, t0, 100)
	if err != nil {
		t.Fatalf("Revocations: got %v, want nil", err)
	}
	var want []baton.Revocation
	for i, r := range rs {
		want = append(want, baton.Revocation{SessionID: name("s", i), RevokedAt: r.Now, Until: r.Until})
	}
	if d := diffRevocations(want, all); d != "" {
		t.Fatalf("Revocations mismatch (-want +got):\n%s", d)
	}
	for i := range all {
		wantUTC(t, &all[i])
		if i > 0 && all[i].Seq <= all[i-1].Seq {
			t.Errorf("Seq not increasing: entry %d has %d, entry %d has %d", i-1, all[i-1].Seq, i, all[i].Seq)
		}
	}

	tests := []struct {
		name  string
		after int64
		now   time.Time
		limit int
		want  []baton.Revocation
	}{
		{"All", 0, t0, 100, all},
		{"Limit", 0, t0, 2, all[:2]},
		{"After", all[1].Seq, t0, 100, all[2:]},
		{"AfterAndLimit", all[0].Seq, t0, 2, all[1:3]},
		{"AfterLast", all[3].Seq, t0, 100, nil},
		// "Until after now": s-00 (until +10m) is gone, s-02 (until +20m)
		// at the instant of its Until is gone too.
		{"Until", 0, t0.Add(20 * time.Minute), 100, []baton.Revocation{all[1], all[3]}},
		{"UntilAndAfter", all[1].Seq, t0.Add(20 * time.Minute), 100, []baton.Revocation{all[3]}},
		{"AllExpired", 0, t0.Add(time.Hour), 100, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Revocations(ctx, tt.after, tt.now, tt.limit)
			if err != nil {
				t.Fatalf("Revocations(%d, %v, %d): got %v, want nil", tt.after, tt.now, tt.limit, err)
			}
			if d := diff(tt.want, got); d != "" {
				t.Errorf("Revocations(%d, %v, %d) mismatch (-want +got):\n%s", tt.after, tt.now, tt.limit, d)
			}
		})
	}
}

func testRevocationsEmpty(t *testing.T, s baton.Store) {
	got, err := s.Revocations(ctx, 0, t0, 100)
	if err != nil || len(got) != 0 {
		t.Errorf("Revocations: got %v, %v, want none, nil", got, err)
	}
}

// allSessions is a first page large enough for every test's sessions.
var allSessions = baton.SessionPage{Limit: 1000}

// testSessionsPaging walks a user's sessions page by page, most recently
// used first, ties on LastUsedAt broken by id, and checks each session
// appears exactly once.
func testSessionsPaging(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	now := t0.Add(time.Hour)
	var want []string
	for i := 0; i < 7; i++ {
		sess := newSession(u.ID, fmt.Sprintf("s%d", i), t0)
		// Two sessions share each LastUsedAt but the last.
		sess.LastUsedAt = t0.Add(time.Duration(i/2) * time.Minute)
		mustCreateSession(t, s, sess, hash(sess.ID))
	}
	want = []string{"s6", "s5", "s4", "s3", "s2", "s1", "s0"}
	var got []string
	page := baton.SessionPage{Limit: 3}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatalf("paging does not end: %v", got)
		}
		list, err := s.Sessions(ctx, u.ID, now, page)
		mustOK(t, err)
		got = append(got, ids(list)...)
		if len(list) < page.Limit {
			break
		}
		last := list[len(list)-1]
		page = baton.SessionPage{AfterUsed: last.LastUsedAt, AfterID: last.ID, Limit: 3}
	}
	if d := diff(want, got); d != "" {
		t.Errorf("sessions paged (-want +got):\n%s", d)
	}
	if list, err := s.Sessions(ctx, u.ID, now, baton.SessionPage{}); err != nil || len(list) != 0 {
		t.Errorf("Sessions with limit 0: got %v, %v, want none", ids(list), err)
	}
}

// testRevokeExcessSessions keeps the most recently used live sessions and
// revokes the rest, with feed entries; dead sessions do not count.
func testRevokeExcessSessions(t *testing.T, s baton.Store) {
	u := mustCreateUser(t, s, "u1")
	other := mustCreateUser(t, s, "u2")
	now := t0.Add(time.Hour)
	for i := 0; i < 5; i++ {
		sess := newSession(u.ID, fmt.Sprintf("s%d", i), t0)
		sess.LastUsedAt = t0.Add(time.Duration(i) * time.Minute)
		mustCreateSession(t, s, sess, hash(sess.ID))
	}
	dead := newSession(u.ID, "dead", t0)
	dead.LastUsedAt = t0.Add(time.Hour)
	dead.IdleExpiresAt = now.Add(-time.Second)
	mustCreateSession(t, s, dead, hash("dead"))
	mustCreateSession(t, s, newSession(other.ID, "theirs", t0), hash("theirs"))

	got, err := s.RevokeExcessSessions(ctx, u.ID, 2, revoke(now, baton.ReasonSessionLimit))
	mustOK(t, err)
	slices.Sort(got)
	if d := diff([]string{"s0", "s1", "s2"}, got); d != "" {
		t.Errorf("revoked (-want +got):\n%s", d)
	}
	live, err := s.Sessions(ctx, u.ID, now, allSessions)
	mustOK(t, err)
	if d := diff([]string{"s4", "s3"}, ids(live)); d != "" {
		t.Errorf("live after (-want +got):\n%s", d)
	}
	if sess := mustSession(t, s, "s0"); sess.RevokeReason != baton.ReasonSessionLimit {
		t.Errorf("revoke reason: got %q, want %q", sess.RevokeReason, baton.ReasonSessionLimit)
	}
	revs, err := s.Revocations(ctx, 0, now, 10)
	mustOK(t, err)
	if len(revs) != 3 {
		t.Errorf("feed entries: got %d, want 3", len(revs))
	}
	if sess := mustSession(t, s, "theirs"); !sess.RevokedAt.IsZero() {
		t.Errorf("another user's session revoked")
	}
	// Under the cap: nothing.
	got, err = s.RevokeExcessSessions(ctx, u.ID, 2, revoke(now, baton.ReasonSessionLimit))
	if err != nil || len(got) != 0 {
		t.Errorf("second call: got %v, %v, want none", got, err)
	}
}
