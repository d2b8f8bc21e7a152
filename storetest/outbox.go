package storetest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// The outbox cases. The store has no read of one message, so each case
// looks at messages the way the sender does: through what a claim returns
// and what the backlog counts.

const otherKind = "other"

// newOutboxMessage returns a due, unclaimed message of kind mail created at
// created, each field distinct so swapped columns show; the payload holds
// every byte value, NUL included.
func newOutboxMessage(id string, created time.Time) *baton.OutboxMessage {
	payload := make([]byte, 0, 256+len(id))
	for b := range 256 {
		payload = append(payload, byte(b))
	}
	return &baton.OutboxMessage{
		ID:            id,
		Kind:          baton.OutboxMail,
		Recipient:     "rcpt-" + id + "@example.com",
		Payload:       append(payload, id...),
		CreatedAt:     created,
		NextAttemptAt: created,
	}
}

func mustEnqueue(t *testing.T, s baton.Store, m *baton.OutboxMessage) {
	t.Helper()
	if err := s.Enqueue(ctx, m); err != nil {
		t.Fatalf("Enqueue(%q): got %v, want nil", m.ID, err)
	}
}

// mustClaim claims and checks what every claim promises: UTC times, the
// lease set to now+lease, and the kind asked for.
func mustClaim(t *testing.T, s baton.Store, kind string, now time.Time, lease time.Duration, limit int) []*baton.OutboxMessage {
	t.Helper()
	ms, err := s.ClaimOutbox(ctx, kind, now, lease, limit)
	if err != nil {
		t.Fatalf("ClaimOutbox(%q, %v, %d): got %v, want nil", kind, now, limit, err)
	}
	for _, m := range ms {
		wantUTC(t, m)
		if !m.LeaseUntil.Equal(now.Add(lease)) || m.Kind != kind {
			t.Errorf("claimed %q: got lease %v, kind %q, want %v, %q", m.ID, m.LeaseUntil, m.Kind, now.Add(lease), kind)
		}
	}
	return ms
}

func outboxIDs(ms []*baton.OutboxMessage) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func wantBacklog(t *testing.T, s baton.Store, kind string, queued int64, oldest time.Time) {
	t.Helper()
	n, got, err := s.OutboxBacklog(ctx, kind)
	if err != nil || n != queued || !got.Equal(oldest) || got.Location() != time.UTC {
		t.Errorf("OutboxBacklog(%q): got %d, %v, %v, want %d, %v (UTC), nil", kind, n, got, err, queued, oldest)
	}
}

// testOutboxRoundTrip enqueues a message with every field set and claims it
// back: the same message, bytes and microseconds exact, with its lease.
func testOutboxRoundTrip(t *testing.T, s baton.Store) {
	m := newOutboxMessage("m1", t0)
	m.NextAttemptAt = t0.Add(time.Minute)
	m.Attempts = 2
	m.LastError = "451 try again later"
	mustEnqueue(t, s, m)

	now := t0.Add(time.Hour)
	got := mustClaim(t, s, baton.OutboxMail, now, time.Minute, 10)
	want := *m
	want.LeaseUntil = now.Add(time.Minute)
	if d := diff([]*baton.OutboxMessage{&want}, got); d != "" {
		t.Errorf("claimed (-want +got):\n%s", d)
	}

	// A zero NextAttemptAt is due at CreatedAt.
	m2 := newOutboxMessage("m2", t0)
	m2.NextAttemptAt = time.Time{}
	m2.Payload = nil
	mustEnqueue(t, s, m2)
	got = mustClaim(t, s, baton.OutboxMail, t0, time.Minute, 10)
	if len(got) != 1 || got[0].ID != "m2" || !got[0].NextAttemptAt.Equal(t0) || len(got[0].Payload) != 0 {
		t.Errorf("claim of a message with a zero NextAttemptAt: got %+v, want m2 due at %v, no payload", got, t0)
	}
}

func testOutboxConflict(t *testing.T, s baton.Store) {
	mustEnqueue(t, s, newOutboxMessage("m1", t0))
	other := newOutboxMessage("m1", t0.Add(time.Second))
	other.Recipient = "someone-else@example.com"
	wantCode(t, s.Enqueue(ctx, other), baton.EConflict)
	got := mustClaim(t, s, baton.OutboxMail, t0.Add(time.Hour), time.Minute, 10)
	if len(got) != 1 || got[0].Recipient != "rcpt-m1@example.com" {
		t.Errorf("after a conflicting Enqueue: got %v, want the first m1 only", got)
	}
}

// testOutboxClaimFilter claims among messages of every state: only the due,
// queued, unleased ones of the kind come back, oldest first, limit at a
// time.
func testOutboxClaimFilter(t *testing.T, s baton.Store) {
	now := t0.Add(time.Hour)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	// Due, enqueued out of creation order; due5 is due exactly now.
	for _, c := range []struct {
		id      string
		created time.Time
	}{{"due3", at(3)}, {"due1", at(1)}, {"due5", at(5)}, {"due2", at(2)}, {"due4", at(4)}} {
		m := newOutboxMessage(c.id, c.created)
		if c.id == "due5" {
			m.NextAttemptAt = now
		}
		mustEnqueue(t, s, m)
	}
	// Not due yet, though the oldest.
	later := newOutboxMessage("later", at(0))
	later.NextAttemptAt = now.Add(time.Microsecond)
	mustEnqueue(t, s, later)
	// Another kind.
	other := newOutboxMessage("other", at(0))
	other.Kind = otherKind
	mustEnqueue(t, s, other)
	// Sent and given up.
	mustEnqueue(t, s, newOutboxMessage("sent", at(0)))
	if err := s.OutboxDelivered(ctx, "sent", at(10)); err != nil {
		t.Fatalf("OutboxDelivered: got %v, want nil", err)
	}
	mustEnqueue(t, s, newOutboxMessage("gaveUp", at(0)))
	if err := s.OutboxFailed(ctx, "gaveUp", at(10), time.Time{}, "550 no such user"); err != nil {
		t.Fatalf("OutboxFailed: got %v, want nil", err)
	}

	first := mustClaim(t, s, baton.OutboxMail, now, time.Minute, 3)
	if d := diff([]string{"due1", "due2", "due3"}, outboxIDs(first)); d != "" {
		t.Errorf("first claim (-want +got):\n%s", d)
	}
	// The first three are leased now.
	rest := mustClaim(t, s, baton.OutboxMail, now, time.Minute, 10)
	if d := diff([]string{"due4", "due5"}, outboxIDs(rest)); d != "" {
		t.Errorf("second claim (-want +got):\n%s", d)
	}
	if got := mustClaim(t, s, baton.OutboxMail, now, time.Minute, 10); len(got) != 0 {
		t.Errorf("third claim: got %v, want none", outboxIDs(got))
	}
	if got := mustClaim(t, s, otherKind, now, time.Minute, 10); len(got) != 1 || got[0].ID != "other" {
		t.Errorf("claim of kind %q: got %v, want [other]", otherKind, outboxIDs(got))
	}
	if got, err := s.ClaimOutbox(ctx, baton.OutboxMail, now, time.Minute, 0); err != nil || len(got) != 0 {
		t.Errorf("claim with limit 0: got %v, %v, want none, nil", outboxIDs(got), err)
	}
}

// testOutboxLease: a claimed message is not claimed again while its lease
// holds, and is once it ran out (delivery is at least once).
func testOutboxLease(t *testing.T, s baton.Store) {
	mustEnqueue(t, s, newOutboxMessage("m1", t0))
	lease := time.Minute
	if got := mustClaim(t, s, baton.OutboxMail, t0, lease, 10); len(got) != 1 {
		t.Fatalf("first claim: got %v, want [m1]", outboxIDs(got))
	}
	if got := mustClaim(t, s, baton.OutboxMail, t0.Add(lease-time.Microsecond), lease, 10); len(got) != 0 {
		t.Errorf("claim just before the lease ends: got %v, want none", outboxIDs(got))
	}
	got := mustClaim(t, s, baton.OutboxMail, t0.Add(lease), lease, 10)
	if len(got) != 1 || got[0].Attempts != 0 {
		t.Errorf("claim when the lease ended: got %+v, want m1 with no attempt recorded", got)
	}
	wantBacklog(t, s, baton.OutboxMail, 1, t0)
}

func testOutboxDelivered(t *testing.T, s baton.Store) {
	mustEnqueue(t, s, newOutboxMessage("m1", t0))
	mustEnqueue(t, s, newOutboxMessage("m2", t0.Add(time.Second)))
	mustClaim(t, s, baton.OutboxMail, t0, time.Minute, 1)
	if err := s.OutboxDelivered(ctx, "m1", t0.Add(time.Second)); err != nil {
		t.Fatalf("OutboxDelivered: got %v, want nil", err)
	}
	wantBacklog(t, s, baton.OutboxMail, 1, t0.Add(time.Second))
	// Long after any lease: only m2 is left to send.
	got := mustClaim(t, s, baton.OutboxMail, t0.Add(day), time.Minute, 10)
	if d := diff([]string{"m2"}, outboxIDs(got)); d != "" {
		t.Errorf("claim after delivery (-want +got):\n%s", d)
	}
}

// testOutboxFailed: a failed attempt makes the message due at next, counts
// the attempt and keeps the reason, cut to 1,000 bytes at a rune boundary;
// a failure without a next time gives the message up.
func testOutboxFailed(t *testing.T, s baton.Store) {
	mustEnqueue(t, s, newOutboxMessage("m1", t0))
	mustClaim(t, s, baton.OutboxMail, t0, time.Hour, 10)
	next := t0.Add(10 * time.Minute)
	// 600 two-byte runes: 1,200 bytes, cut to 500 of them.
	reason := strings.Repeat("é", 600)
	if err := s.OutboxFailed(ctx, "m1", t0.Add(time.Second), next, reason); err != nil {
		t.Fatalf("OutboxFailed: got %v, want nil", err)
	}
	// The failure ended the hour's lease: due at next, not before.
	if got := mustClaim(t, s, baton.OutboxMail, next.Add(-time.Microsecond), time.Minute, 10); len(got) != 0 {
		t.Errorf("claim before next: got %v, want none", outboxIDs(got))
	}
	got := mustClaim(t, s, baton.OutboxMail, next, time.Minute, 10)
	want := newOutboxMessage("m1", t0)
	want.NextAttemptAt = next
	want.Attempts = 1
	want.LastError = strings.Repeat("é", 500)
	want.LeaseUntil = next.Add(time.Minute)
	if d := diff([]*baton.OutboxMessage{want}, got); d != "" {
		t.Errorf("claim at next (-want +got):\n%s", d)
	}

	// Cut at a rune boundary: 999 bytes of ASCII and a two-byte rune keep
	// the ASCII only.
	reason = strings.Repeat("x", 999) + "é" + strings.Repeat("y", 100)
	if err := s.OutboxFailed(ctx, "m1", next, next.Add(time.Minute), reason); err != nil {
		t.Fatalf("OutboxFailed: got %v, want nil", err)
	}
	got = mustClaim(t, s, baton.OutboxMail, next.Add(time.Minute), time.Minute, 10)
	if len(got) != 1 || got[0].Attempts != 2 || got[0].LastError != strings.Repeat("x", 999) {
		t.Errorf("second failure: got %+v, want attempts 2 and 999 bytes of x", got)
	}

	// No next time: given up, never claimed again, out of the backlog.
	if err := s.OutboxFailed(ctx, "m1", next.Add(2*time.Minute), time.Time{}, "550 no such user"); err != nil {
		t.Fatalf("OutboxFailed without next: got %v, want nil", err)
	}
	if got := mustClaim(t, s, baton.OutboxMail, t0.Add(365*day), time.Minute, 10); len(got) != 0 {
		t.Errorf("claim after giving up: got %v, want none", outboxIDs(got))
	}
	wantBacklog(t, s, baton.OutboxMail, 0, time.Time{})
}

func testOutboxNotFound(t *testing.T, s baton.Store) {
	mustEnqueue(t, s, newOutboxMessage("m1", t0))
	wantCode(t, s.OutboxDelivered(ctx, "nope", t0), baton.ENotFound)
	wantCode(t, s.OutboxFailed(ctx, "nope", t0, t0.Add(time.Minute), "x"), baton.ENotFound)
	wantCode(t, s.OutboxFailed(ctx, "nope", t0, time.Time{}, "x"), baton.ENotFound)
	wantBacklog(t, s, baton.OutboxMail, 1, t0)
}

func testOutboxBacklog(t *testing.T, s baton.Store) {
	wantBacklog(t, s, baton.OutboxMail, 0, time.Time{})
	for i, created := range []time.Time{t0.Add(3 * time.Second), t0.Add(time.Second), t0.Add(2 * time.Second)} {
		mustEnqueue(t, s, newOutboxMessage(name("m", i), created))
	}
	other := newOutboxMessage("other", t0)
	other.Kind = otherKind
	mustEnqueue(t, s, other)
	// Claimed (leased) messages are still queued.
	mustClaim(t, s, baton.OutboxMail, t0.Add(time.Hour), time.Minute, 1)
	wantBacklog(t, s, baton.OutboxMail, 3, t0.Add(time.Second))
	wantBacklog(t, s, otherKind, 1, t0)
	if err := s.OutboxDelivered(ctx, "m-01", t0.Add(time.Hour)); err != nil {
		t.Fatalf("OutboxDelivered: got %v, want nil", err)
	}
	wantBacklog(t, s, baton.OutboxMail, 2, t0.Add(2*time.Second))
}

// testOutboxClaimConcurrent: 16 claimers take from one queue at once.
func testOutboxClaimConcurrent(t *testing.T, s baton.Store) {
	ClaimOutboxConcurrently(t, s)
}

// ClaimOutboxConcurrently enqueues 100 messages through stores[0], then
// lets 16 claimers take from the queue at once, claimer i through
// stores[i % len(stores)], each until it finds nothing left: every message
// must be claimed by exactly one of them. Backends pass several stores open
// on the same database to stand for several instances (or processes).
func ClaimOutboxConcurrently(t *testing.T, stores ...baton.Store) {
	t.Helper()
	const messages, claimers, limit = 100, 16, 3
	for i := range messages {
		mustEnqueue(t, stores[0], newOutboxMessage(name("m", i), t0.Add(time.Duration(i)*time.Microsecond)))
	}
	now := t0.Add(time.Hour)
	var mu sync.Mutex
	claimedBy := make(map[string][]int)
	errs := concurrently(claimers, func(i int) error {
		s := stores[i%len(stores)]
		for {
			ms, err := s.ClaimOutbox(ctx, baton.OutboxMail, now, time.Hour, limit)
			if err != nil || len(ms) == 0 {
				return err
			}
			if len(ms) > limit {
				t.Errorf("claimer %d: got %d messages, want at most %d", i, len(ms), limit)
			}
			mu.Lock()
			for _, m := range ms {
				claimedBy[m.ID] = append(claimedBy[m.ID], i)
			}
			mu.Unlock()
		}
	})
	if c := codes(errs); c[""] != claimers {
		t.Fatalf("claimers' outcomes: got %v, want %d × nil", c, claimers)
	}
	twice := 0
	for i := range messages {
		id := name("m", i)
		by := claimedBy[id]
		if len(by) != 1 {
			t.Errorf("%s: claimed by %v, want exactly one claimer", id, by)
		}
		if len(by) > 1 {
			twice++
		}
	}
	if len(claimedBy) != messages || twice > 0 {
		t.Errorf("got %d distinct messages claimed, %d of them more than once, want %d, 0", len(claimedBy), twice, messages)
	}
}

// testOutboxPrune: messages sent or given up before olderThan go; queued
// ones (however old) and ones finished after olderThan stay.
func testOutboxPrune(t *testing.T, s baton.Store) {
	at := func(d int) time.Time { return t0.Add(time.Duration(d) * day) }
	now, olderThan := at(100), at(50)
	for i, c := range []struct {
		id       string
		finished int
		gaveUp   bool
	}{
		{"sentOld", 40, false},
		{"gaveUpOld", 45, true},
		{"sentNew", 60, false},
		{"gaveUpNew", 70, true},
		{"queued", 0, false},
	} {
		mustEnqueue(t, s, newOutboxMessage(c.id, at(i)))
		var err error
		switch {
		case c.finished == 0:
		case c.gaveUp:
			err = s.OutboxFailed(ctx, c.id, at(c.finished), time.Time{}, "550")
		default:
			err = s.OutboxDelivered(ctx, c.id, at(c.finished))
		}
		if err != nil {
			t.Fatalf("finishing %s: got %v, want nil", c.id, err)
		}
	}
	prune := func(olderThan time.Time, want int) {
		t.Helper()
		if n, err := s.Prune(ctx, now, olderThan, 100); err != nil || n != want {
			t.Errorf("Prune(olderThan %v): got %d, %v, want %d, nil", olderThan, n, err, want)
		}
	}
	prune(olderThan, 2)
	prune(olderThan, 0)
	// The ones finished after olderThan were kept: a later cut takes them.
	prune(at(80), 2)
	wantBacklog(t, s, baton.OutboxMail, 1, at(4))
	if got := mustClaim(t, s, baton.OutboxMail, now, time.Minute, 10); len(got) != 1 || got[0].ID != "queued" {
		t.Errorf("claim after Prune: got %v, want [queued]", outboxIDs(got))
	}
	// Re-enqueueing a pruned id works: the row is gone.
	mustEnqueue(t, s, newOutboxMessage("sentOld", now))
}
