package mail_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/mail"
	"github.com/batonauth/baton/mail/smtptest"
	"github.com/batonauth/baton/sqlite"
)

// outboxRig is a real SQLite outbox, a real SMTP server and a dispatcher
// between them, on a fake clock.
type outboxRig struct {
	store *sqlite.DB
	srv   *smtptest.Server
	clock *batontest.Clock
	d     *mail.Dispatcher
	mu    sync.Mutex
	seen  []mail.Delivery
}

func newOutboxRig(t *testing.T, rcpt func(string) error, link func(context.Context, string) (string, error)) *outboxRig {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "baton.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &outboxRig{store: db, srv: smtptest.Start(t, smtptest.Options{Rcpt: rcpt}),
		clock: batontest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))}
	tpl, err := mail.NewTemplates("Acme")
	if err != nil {
		t.Fatal(err)
	}
	relay := relay(t, "smtp+plain", r.srv, "")
	r.d = mail.NewDispatcher(mail.DispatcherOptions{
		Store: db, Sender: sender(t, relay, mail.SMTPOptions{}), Templates: tpl, Link: link,
		Now: r.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Observe: func(d mail.Delivery) { r.mu.Lock(); r.seen = append(r.seen, d); r.mu.Unlock() },
	})
	return r
}

func (r *outboxRig) enqueue(t *testing.T, id, to string, p mail.Payload) {
	t.Helper()
	raw, err := mail.EncodePayload(p)
	if err != nil {
		t.Fatal(err)
	}
	now := r.clock.Now()
	if err := r.store.Enqueue(context.Background(), &baton.OutboxMessage{ID: id, Kind: baton.OutboxMail,
		Recipient: to, Payload: raw, CreatedAt: now, NextAttemptAt: now}); err != nil {
		t.Fatal(err)
	}
}

func (r *outboxRig) drain(t *testing.T) int {
	t.Helper()
	n, err := r.d.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (r *outboxRig) outcomes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, d := range r.seen {
		out = append(out, d.Outcome)
	}
	return out
}

func notice(user string) mail.Payload {
	return mail.Payload{Template: mail.PasswordChanged, Data: mail.Data{Username: user}}
}

func TestDispatcherDelivers(t *testing.T) {
	r := newOutboxRig(t, nil, nil)
	for _, u := range []string{"alice", "bob", "carol"} {
		r.enqueue(t, "m-"+u+"@mail.example", u+"@example.com", notice(u))
	}
	if n := r.drain(t); n != 3 {
		t.Fatalf("attempted %d, want 3", n)
	}
	got := r.srv.Messages()
	if len(got) != 3 {
		t.Fatalf("relay received %d messages, want 3", len(got))
	}
	for _, m := range got {
		if !bytes.Contains(m.Data, []byte("Message-ID: <m-")) || !bytes.Contains(m.Data, []byte("@mail.example>")) {
			t.Errorf("message without the outbox id as Message-ID:\n%s", m.Data)
		}
	}
	if n := r.drain(t); n != 0 {
		t.Errorf("a second pass attempted %d delivered messages", n)
	}
	if q, _, err := r.store.OutboxBacklog(context.Background(), baton.OutboxMail); err != nil || q != 0 {
		t.Errorf("backlog after delivery: %d, %v", q, err)
	}
}

// A temporary refusal is retried after the back-off with the same
// Message-ID; a permanent one is given up at once.
func TestDispatcherRetries(t *testing.T) {
	var mu sync.Mutex
	refusals := map[string]int{"later@example.com": 450, "never@example.com": 550}
	r := newOutboxRig(t, func(to string) error {
		mu.Lock()
		defer mu.Unlock()
		if code := refusals[to]; code != 0 {
			if code == 450 {
				delete(refusals, to) // only the first time
			}
			return smtptest.Reply(code, "mailbox busy or unknown")
		}
		return nil
	}, nil)
	r.enqueue(t, "later@mail.example", "later@example.com", notice("later"))
	r.enqueue(t, "never@mail.example", "never@example.com", notice("never"))
	r.drain(t)
	if got := strings.Join(r.outcomes(), ","); got != "retry,gave_up" {
		t.Fatalf("first pass: got %s, want retry,gave_up", got)
	}
	// Not due before its back-off.
	r.clock.Advance(mail.Backoff(1) - time.Second)
	if n := r.drain(t); n != 0 {
		t.Fatalf("claimed %d before the back-off ran out", n)
	}
	r.clock.Advance(time.Second)
	if n := r.drain(t); n != 1 {
		t.Fatalf("after the back-off: attempted %d, want 1 (the given-up one stays given up)", n)
	}
	got := r.srv.Messages()
	if len(got) != 1 || !bytes.Contains(got[0].Data, []byte("Message-ID: <later@mail.example>")) {
		t.Fatalf("retry did not arrive under its Message-ID: %d messages", len(got))
	}
	if q, _, _ := r.store.OutboxBacklog(context.Background(), baton.OutboxMail); q != 0 {
		t.Errorf("backlog: %d, want 0", q)
	}
}

// An unreachable relay is retried for a day, then given up.
func TestDispatcherGivesUpAfterADay(t *testing.T) {
	r := newOutboxRig(t, func(string) error { return smtptest.Reply(421, "try later") }, nil)
	r.enqueue(t, "m1@mail.example", "a@example.com", notice("a"))
	for i := 0; i < 30; i++ { // an attempt an hour
		r.drain(t)
		r.clock.Advance(time.Hour)
	}
	out := r.outcomes()
	if len(out) != 25 || out[len(out)-1] != mail.Given {
		t.Fatalf("outcomes over a day: %d %v, want 24 retries then gave_up", len(out), out)
	}
	for _, o := range out[:len(out)-1] {
		if o != mail.Retry {
			t.Fatalf("outcomes: %v", out)
		}
	}
}

// The outbox row names the link; only the message sent holds it.
func TestDispatcherLink(t *testing.T) {
	const link = "https://auth.example.com/account/reset-password#token=brp_secret"
	r := newOutboxRig(t, nil, func(_ context.Context, id string) (string, error) {
		if id != "link-1" {
			t.Errorf("link id %q", id)
		}
		return link, nil
	})
	p := mail.Payload{Template: mail.ResetPassword, LinkID: "link-1",
		Data: mail.Data{Link: link, ValidFor: 30 * time.Minute}}
	raw, _ := mail.EncodePayload(p)
	if bytes.Contains(raw, []byte("brp_secret")) {
		t.Fatalf("the payload holds the link: %s", raw)
	}
	r.enqueue(t, "m1@mail.example", "a@example.com", p)
	r.drain(t)
	got := r.srv.Messages()
	if len(got) != 1 || !bytes.Contains(got[0].Data, []byte("brp_secret")) {
		t.Fatalf("the sent message lacks the link")
	}
}

func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		attempts int
		want     time.Duration
	}{
		{-1, 10 * time.Second}, {0, 10 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second},
		{9, 2560 * time.Second}, {10, time.Hour}, {11, time.Hour}, {64, time.Hour}, {1 << 30, time.Hour},
	} {
		if got := mail.Backoff(tt.attempts); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.attempts, got, tt.want)
		}
	}
}
