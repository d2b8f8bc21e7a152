package server_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/mail"
	"github.com/batonauth/baton/mail/smtptest"
	"github.com/batonauth/baton/server"
)

// TestResetThroughRelayOutage: with the relay down, forgot-password still
// answers 202 at once and the instance stays ready; the reset message
// waits in the outbox, where the metrics show it, and the failed attempt
// counts as a retry. Once a relay listens on that port and the back-off
// has passed, the message arrives exactly once and its link resets the
// password.
func TestResetThroughRelayOutage(t *testing.T) {
	addr := smtptest.DownAddr(t)
	clock := batontest.NewClock(time.Now())
	s := newTestServer(t, map[string]string{"BATON_SMTP_URL": "smtp+plain://" + addr,
		"BATON_MAIL_FROM": "noreply@example.com"}, clock, server.Options{})
	u := s.URL
	ctx := context.Background()
	drain := func() { _, _ = s.Mail.Drain(ctx) }

	reg := call(t, "POST", u+"/v1/register", "", map[string]string{"username": "alice", "password": pw})
	if reg.status != 201 {
		t.Fatalf("register: %d %s", reg.status, reg.raw)
	}
	// The address as `baton users set-email` gives it: no verification
	// message, so the reset message is the only mail.
	if err := s.Service.SetEmail(ctx, reg.str("id"), "alice@example.com", false); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if r := call(t, "POST", u+"/v1/password/forgot", "", map[string]string{"email": "alice@example.com"}); r.status != 202 {
		t.Fatalf("forgot with the relay down: %d %s", r.status, r.raw)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("forgot took %v with the relay down; it must not wait for the relay", d)
	}
	// The job becomes a reset link and a message, whose delivery fails.
	// The background dispatcher, woken by the request, may be at it while
	// a Drain here finds nothing to claim: wait for the failed attempt in
	// the log. The clock stands still, so there is exactly one.
	failed := `"kind":"` + baton.OutboxMail + `","template":"` + mail.ResetPassword + `","outcome":"` + mail.Retry + `"`
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(s.Logs.String(), failed); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no failed delivery of the reset message in the log:\n%s", s.Logs.String())
		}
		drain()
	}
	if r := call(t, "GET", u+"/readyz", "", nil); r.status != 200 {
		t.Fatalf("/readyz with the relay down: %d %s", r.status, r.raw)
	}
	// The message ages, still short of its retry 10 s after the failure.
	// The gauges are read from the store at the first scrape and then kept
	// 10 s; the counter is live, and counts the attempt right after the
	// log line.
	clock.Advance(5 * time.Second)
	text := awaitMetric(t, u, `baton_mail_deliveries_total{outcome="retry"}`, "1")
	if got := metricValue(t, text, "baton_mail_queued"); got != "1" {
		t.Fatalf("baton_mail_queued with the relay down: %q, want 1", got)
	}
	if got, _ := strconv.ParseFloat(metricValue(t, text, "baton_mail_oldest_queued_seconds"), 64); got <= 0 || got > 5 {
		t.Fatalf("baton_mail_oldest_queued_seconds: %v, want in (0, 5]", got)
	}
	if got := metricValue(t, text, `baton_mail_deliveries_total{outcome="sent"}`); got != "" && got != "0" {
		t.Fatalf("sent %s with the relay down", got)
	}

	// The relay comes back on the same port; the message is not due before
	// 10 s after its failure, and goes then.
	relay := smtptest.Start(t, smtptest.Options{Addr: addr})
	clock.Advance(5*time.Second - time.Millisecond)
	drain()
	if n := len(relay.Messages()); n != 0 {
		t.Fatalf("%d messages before the back-off ran out", n)
	}
	clock.Advance(time.Millisecond)
	msgs := relay.Await(t, 1, drain)
	time.Sleep(200 * time.Millisecond) // room for a second copy to show
	drain()
	if n := len(relay.Messages()); n != 1 {
		t.Fatalf("relay holds %d messages, want the reset message once", n)
	}
	if msgs[0].To[0] != "alice@example.com" {
		t.Fatalf("reset message to %v", msgs[0].To)
	}
	_, tok := smtptest.LinkToken(t, msgs[0].Data)
	const next = "a brand new passphrase"
	if r := call(t, "POST", u+"/v1/password/reset", "", map[string]string{"token": tok, "new_password": next}); r.status != 204 {
		t.Fatalf("reset: %d %s", r.status, r.raw)
	}
	if r := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "alice", "password": pw}); r.status != 401 {
		t.Fatalf("login with the old password: %d", r.status)
	}
	if r := call(t, "POST", u+"/v1/login", "", map[string]string{"username": "alice", "password": next}); r.status != 200 {
		t.Fatalf("login with the new password: %d %s", r.status, r.raw)
	}
	// The reset's notice follows; the reset message is not sent again.
	msgs = relay.Await(t, 2, drain)
	if p, err := smtptest.Parse(msgs[1].Data); err != nil || strings.Contains(p.Text, "token=") {
		t.Fatalf("second message: %v\n%s, want the notice, not the reset message again", err, msgs[1].Data)
	}
	// The relay holds a message before its sender records it: the count
	// follows a moment later.
	text = awaitMetric(t, u, `baton_mail_deliveries_total{outcome="sent"}`, "2")
	if got := metricValue(t, text, `baton_mail_deliveries_total{outcome="retry"}`); got != "1" {
		t.Fatalf(`baton_mail_deliveries_total{outcome="retry"} after the relay came back: %q, want 1`, got)
	}
}

// awaitMetric scrapes until series has the value want, a bounded while,
// and returns the last scrape.
func awaitMetric(t *testing.T, url, series, want string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		text := string(call(t, "GET", url+"/metrics", "", nil).raw)
		if got := metricValue(t, text, series); got == want {
			return text
		} else if time.Now().After(deadline) {
			t.Fatalf("%s: %q, want %s", series, got, want)
		}
	}
}
