package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/mail"
	"github.com/batonauth/baton/mail/smtptest"
	"github.com/batonauth/baton/server"
)

// TestEmailFlowsAudited runs every address flow through a real server and
// a real SMTP relay — registration with an address, verification,
// forgot-password, reset, address change, and a delivery the relay refuses
// for good — then reads the audit log back from the store: each step has
// its event under the right account, and no event (nor any log line)
// holds a link, a link's token or a password.
func TestEmailFlowsAudited(t *testing.T) {
	const refused = "bounce@example.com"
	relay := smtptest.Start(t, smtptest.Options{Rcpt: func(to string) error {
		if strings.EqualFold(to, refused) {
			return smtptest.Reply(550, "no")
		}
		return nil
	}})
	ts := newTestServer(t, map[string]string{"BATON_SMTP_URL": "smtp+plain://" + relay.Addr(),
		"BATON_MAIL_FROM": "noreply@auth.example"}, nil, server.Options{})
	u := ts.URL
	drain := func() { _, _ = ts.Mail.Drain(context.Background()) }
	sent := 0
	// next waits for the next message the relay accepts and returns its
	// link's token.
	next := func() string {
		t.Helper()
		sent++
		msgs := relay.Await(t, sent, drain)
		_, tok := smtptest.LinkToken(t, msgs[sent-1].Data)
		return tok
	}
	// nextNotice waits for the next message, which carries no link.
	nextNotice := func() {
		t.Helper()
		sent++
		relay.Await(t, sent, drain)
	}
	want := func(r reply, status int) reply {
		t.Helper()
		if r.status != status {
			t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
		}
		return r
	}
	const pw2, pw3 = "an entirely new passphrase", "the weakest link" // pw3 is refused
	var tokens []string

	// Register with an address: verification requested, then sent.
	want(call(t, "POST", u+"/v1/register", "", map[string]string{"username": "alice", "password": pw, "email": "alice@example.com"}), 201)
	verify := next()
	tokens = append(tokens, verify)
	// Verify.
	want(call(t, "POST", u+"/v1/email/verify", "", map[string]string{"token": verify}), 200)
	// Forgot (requested), its message (sent); a reset refused for a weak
	// password, then the reset (password_reset, revoke) and its notice.
	login := want(call(t, "POST", u+"/v1/login", "", map[string]string{"username": "alice", "password": pw}), 200)
	tokens = append(tokens, login.str("access_token"), login.str("refresh_token"))
	want(call(t, "POST", u+"/v1/password/forgot", "", map[string]string{"email": "alice@example.com"}), 202)
	reset := next()
	tokens = append(tokens, reset)
	want(call(t, "POST", u+"/v1/password/reset", "", map[string]string{"token": reset, "new_password": "alice"}), 400)
	want(call(t, "POST", u+"/v1/password/reset", "", map[string]string{"token": reset, "new_password": pw2}), 204)
	nextNotice()
	// A forgot-password for nobody: requested, failed, nothing sent.
	want(call(t, "POST", u+"/v1/password/forgot", "", map[string]string{"email": "nobody@example.com"}), 202)
	// Address change: requested (confirmation to the new address, notice
	// to the old), then changed.
	login = want(call(t, "POST", u+"/v1/login", "", map[string]string{"username": "alice", "password": pw2}), 200)
	tokens = append(tokens, login.str("access_token"), login.str("refresh_token"))
	want(call(t, "POST", u+"/v1/email", login.str("access_token"), map[string]string{"email": "alice@new.example"}), 202)
	sent += 2
	msgs := relay.Await(t, sent, drain)
	var change string
	for _, m := range msgs[sent-2:] {
		if m.To[0] == "alice@new.example" {
			_, change = smtptest.LinkToken(t, m.Data)
		}
	}
	if change == "" {
		t.Fatal("no confirmation to the new address")
	}
	tokens = append(tokens, change)
	want(call(t, "POST", u+"/v1/email/verify", "", map[string]string{"token": change}), 200)
	// A second account whose address the relay refuses for good.
	want(call(t, "POST", u+"/v1/register", "", map[string]string{"username": "bob", "password": pw3, "email": refused}), 201)
	// Wait until the refusal is recorded: the background dispatcher may
	// hold the message, and closing the server would cut its delivery.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		drain()
		n, _, err := ts.Store.OutboxBacklog(context.Background(), baton.OutboxMail)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still queued", n)
		}
	}
	if n := len(relay.Messages()); n != sent {
		t.Fatalf("relay holds %d messages, want %d", n, sent)
	}

	ctx := context.Background()
	alice, err := ts.Store.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := ts.Store.UserByName(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	ts.Close() // flushes the audit log
	events := allAuditEvents(t, ts)

	// Every step's events under the right account ("" for the request
	// about nobody), each matched by an event of its own. Not in order:
	// the dispatcher's events interleave with the requests'.
	wantAuditSteps(t, events, []auditStep{
		{"email_verification_requested", "ok", alice.ID, ""},
		{"email_sent", "ok", alice.ID, mail.VerifyEmail},
		{"email_verified", "ok", alice.ID, ""},
		{"password_reset_requested", "ok", alice.ID, ""},
		{"email_sent", "ok", alice.ID, mail.ResetPassword},
		{"revoke", "ok", alice.ID, ""},
		{"password_reset", "ok", alice.ID, ""},
		{"email_sent", "ok", alice.ID, mail.PasswordChanged},
		{"password_reset_requested", "failed", "", ""},
		{"email_change_requested", "ok", alice.ID, ""},
		{"email_sent", "ok", alice.ID, mail.ConfirmEmail},
		{"email_sent", "ok", alice.ID, mail.EmailChanged},
		{"email_changed", "ok", alice.ID, ""},
		{"email_verification_requested", "ok", bob.ID, ""},
		{"email_delivery_failed", "gave_up", bob.ID, mail.VerifyEmail},
	})
	// The dispatcher writes the forgot-password events, with the client
	// that asked (carried in the outbox row).
	for _, e := range events {
		if e.Type == "password_reset_requested" && (e.IP != "127.0.0.1" || e.UserAgent == "") {
			t.Errorf("password_reset_requested without its requester: ip %q, user agent %q", e.IP, e.UserAgent)
		}
	}
	if t.Failed() {
		t.Logf("audit log:\n%s", auditEventsOf(t, ts))
	}

	// Nothing that works as a link, nor a password, in any field.
	wantNoSecrets(t, events, ts.Logs.String(), append([]string{"bve_", "brs_", "bce_", "#token=", "/account/", pw, pw2, pw3}, tokens...))
}
