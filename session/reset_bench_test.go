package session_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/mail"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/session"
)

// resetBench is a Service on real SQLite with one account that has an
// address, and the store, to play the outbox dispatcher's part.
type resetBench struct {
	svc   *session.Service
	store baton.Store
	email string
}

func newResetBench(b *testing.B, mods ...func(*session.Config)) *resetBench {
	b.Helper()
	store := batontest.OpenSQLite(b)
	r := &resetBench{svc: newBenchServiceOn(b, store, mods...), store: store, email: "alice@example.com"}
	if _, err := r.svc.Register(ctx, session.RegisterRequest{Username: "alice", Password: pw, Email: &r.email}, cl); err != nil {
		b.Fatalf("Register: %v", err)
	}
	r.sendAll(b) // the verification message
	return r
}

// process does what the dispatcher does with the forgot-password
// requests queued: claim, resolve into a link and its message, mark done.
func (r *resetBench) process(b *testing.B) {
	b.Helper()
	jobs, err := r.store.ClaimOutbox(ctx, baton.OutboxForgot, time.Now(), time.Minute, 100)
	if err != nil || len(jobs) == 0 {
		b.Fatalf("ClaimOutbox: %d jobs, %v", len(jobs), err)
	}
	for _, m := range jobs {
		if err := r.svc.ProcessForgot(ctx, m); err != nil {
			b.Fatalf("ProcessForgot: %v", err)
		}
		if err := r.store.OutboxDelivered(ctx, m.ID, time.Now()); err != nil {
			b.Fatalf("OutboxDelivered: %v", err)
		}
	}
}

// sendAll marks every queued message sent and returns the token of the
// last reset link among them ("" when none).
func (r *resetBench) sendAll(b *testing.B) (token string) {
	b.Helper()
	ms, err := r.store.ClaimOutbox(ctx, baton.OutboxMail, time.Now(), time.Minute, 100)
	if err != nil {
		b.Fatalf("ClaimOutbox: %v", err)
	}
	for _, m := range ms {
		var p mail.Payload
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			b.Fatal(err)
		}
		if p.Template == mail.ResetPassword {
			link, err := r.svc.LinkURL(ctx, p.LinkID)
			if err != nil {
				b.Fatalf("LinkURL: %v", err)
			}
			_, frag, _ := strings.Cut(link, "#token=")
			if token, err = url.QueryUnescape(frag); err != nil {
				b.Fatal(err)
			}
		}
		if err := r.store.OutboxDelivered(ctx, m.ID, time.Now()); err != nil {
			b.Fatalf("OutboxDelivered: %v", err)
		}
	}
	return token
}

// BenchmarkForgotPassword: Request is what the HTTP request waits for
// (validate, one durable outbox row — the same for every account);
// ToLink adds the dispatcher's part for an existing account — claim the
// row, find the account, store the link and its message in one
// transaction, mark the row done — until the mail is ready to send.
func BenchmarkForgotPassword(b *testing.B) {
	b.Run("Request", func(b *testing.B) {
		r := newResetBench(b)
		b.ReportAllocs()
		for b.Loop() {
			if err := r.svc.ForgotPassword(ctx, session.ForgotRequest{Email: &r.email}, cl); err != nil {
				b.Fatalf("ForgotPassword: %v", err)
			}
		}
	})
	b.Run("ToLink", func(b *testing.B) {
		r := newResetBench(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := r.svc.ForgotPassword(ctx, session.ForgotRequest{Email: &r.email}, cl); err != nil {
				b.Fatalf("ForgotPassword: %v", err)
			}
			r.process(b)
			if i%64 == 63 {
				// Keep the outbox as short as production's: sent mail
				// leaves the queue (outside the timer).
				b.StopTimer()
				r.sendAll(b)
				b.StartTimer()
			}
		}
	})
}

// BenchmarkResetPassword redeems a reset link: look it up, hash the new
// password, spend the link and set the password with the notice in one
// transaction, revoke the user's sessions. Each iteration gets a fresh
// link outside the timer (a reset kills the user's other links). The
// argon2id hash dominates: Cheap uses the bench setup's parameters
// (batontest.CheapPasswords: 64 KiB, 1 pass, 1 lane), Default the
// production ones (password.DefaultParams: 19 MiB, 2 passes, 1 lane).
func BenchmarkResetPassword(b *testing.B) {
	for _, tc := range []struct {
		name   string
		params password.Params
	}{
		{"Cheap", batontest.CheapPasswords},
		{"Default", password.DefaultParams},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := newResetBench(b, func(c *session.Config) { c.Hasher = password.NewHasher(tc.params, 4) })
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				if err := r.svc.ForgotPassword(ctx, session.ForgotRequest{Email: &r.email}, cl); err != nil {
					b.Fatalf("ForgotPassword: %v", err)
				}
				r.process(b)
				tok := r.sendAll(b)
				if tok == "" {
					b.Fatal("no reset link in the outbox")
				}
				b.StartTimer()
				if err := r.svc.ResetPassword(ctx, tok, "a brand new passphrase", cl); err != nil {
					b.Fatalf("ResetPassword: %v", err)
				}
			}
		})
	}
}
