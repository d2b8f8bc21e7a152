package server_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/mail"
	"github.com/batonauth/baton/mail/smtptest"
	"github.com/batonauth/baton/server"
)

// TestMailWarning: without a relay, start-up says that mail goes to the
// log; with one, it says nothing about it.
func TestMailWarning(t *testing.T) {
	const warning = "BATON_SMTP_URL is not set"
	s := newTestServer(t, nil, nil, server.Options{})
	if !strings.Contains(s.Logs.String(), warning) || !strings.Contains(s.Logs.String(), `"level":"WARN"`) {
		t.Fatalf("no warning that mail goes to the log:\n%s", s.Logs.String())
	}
	s = newTestServer(t, map[string]string{"BATON_SMTP_URL": "smtp://relay.example", "BATON_MAIL_FROM": "noreply@example.com"}, nil, server.Options{})
	if strings.Contains(s.Logs.String(), warning) {
		t.Fatalf("warned with a relay configured:\n%s", s.Logs.String())
	}
}

// TestOutboxDeliversOverSMTP: a message put in the server's outbox is
// delivered by its dispatcher over real SMTP, under its outbox id as
// Message-ID, and the mail metrics count it; while the relay refuses, the
// message stays queued and the backlog shows it.
func TestOutboxDeliversOverSMTP(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	relay := smtptest.Start(t, smtptest.Options{Rcpt: func(string) error {
		if refuse.Load() {
			return smtptest.Reply(451, "try again later")
		}
		return nil
	}})
	clock := batontest.NewClock(time.Now())
	s := newTestServer(t, map[string]string{"BATON_SMTP_URL": "smtp+plain://" + relay.Addr(),
		"BATON_MAIL_FROM": "noreply@example.com"}, clock, server.Options{})
	payload, err := mail.EncodePayload(mail.Payload{Template: mail.PasswordChanged, Data: mail.Data{Username: "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now().UTC().Truncate(time.Microsecond)
	if err := s.Store.Enqueue(context.Background(), &baton.OutboxMessage{ID: "n1@example.com", Kind: baton.OutboxMail,
		Recipient: "alice@example.com", Payload: payload, CreatedAt: now, NextAttemptAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mail.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	scrape := func() string { return string(call(t, "GET", s.URL+"/metrics", "", nil).raw) }
	// The server's own dispatcher may have claimed the message just before
	// this Drain (it starts with the server): then its attempt, not
	// Drain's, is the one counted, once it has finished.
	metricSoon := func(series, want string) string {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			text := scrape()
			if got := metricValue(t, text, series); got == want || time.Now().After(deadline) {
				return text
			}
		}
	}
	text := metricSoon(`baton_mail_deliveries_total{outcome="retry"}`, "1")
	if got := metricValue(t, text, `baton_mail_deliveries_total{outcome="retry"}`); got != "1" {
		t.Fatalf("retry count: got %q, want 1", got)
	}
	if got := metricValue(t, text, "baton_mail_queued"); got != "1" {
		t.Fatalf("queued while the relay refuses: got %q, want 1", got)
	}
	refuse.Store(false)
	clock.Advance(time.Minute) // the back-off
	if _, err := s.Mail.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	text = metricSoon(`baton_mail_deliveries_total{outcome="sent"}`, "1")
	got := relay.Messages()
	if len(got) != 1 || !strings.Contains(string(got[0].Data), "Message-ID: <n1@example.com>") {
		t.Fatalf("relay received %d messages, want the one under its outbox id", len(got))
	}
	if got := metricValue(t, text, `baton_mail_deliveries_total{outcome="sent"}`); got != "1" {
		t.Fatalf("sent count: got %q, want 1", got)
	}
}
