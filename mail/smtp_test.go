package mail_test

import (
	"context"
	"errors"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/batonauth/baton/internal/testcert"
	"github.com/batonauth/baton/mail"
	"github.com/batonauth/baton/mail/smtptest"
)

const (
	from = "noreply@baton.test"
	link = "https://auth.example.com/account/reset-password#token=bt_rst_4Jx-_aZ09q8mN2c7vT1LwYpQeR5uS3dF6gH0jK9lZxC"
)

// message is a reset message as the flows will send it.
func message(t *testing.T, to string) *mail.Message {
	t.Helper()
	tpl, err := mail.NewTemplates("Acme")
	if err != nil {
		t.Fatal(err)
	}
	m, err := tpl.Render(mail.ResetPassword, mail.Data{Email: to, Link: link, ValidFor: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	m.MessageID = "0123456789abcdef@baton.test"
	m.Date = time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	return m
}

func relay(t *testing.T, scheme string, s *smtptest.Server, userinfo string) *mail.Relay {
	t.Helper()
	if userinfo != "" {
		userinfo += "@"
	}
	r, err := mail.ParseRelay(scheme + "://" + userinfo + s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sender(t *testing.T, r *mail.Relay, opt mail.SMTPOptions) *mail.SMTP {
	t.Helper()
	opt.Brand = "Acme"
	s, err := mail.NewSMTP(r, from, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// received is a delivered message taken apart: its header and its two
// parts, decoded.
type received struct {
	header     netmail.Header
	text, html string
}

func parse(t *testing.T, data []byte) received {
	t.Helper()
	p, err := smtptest.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Parts, ",") != "text/plain,text/html" {
		t.Fatalf("parts %v, want text/plain then text/html", p.Parts)
	}
	return received{header: p.Header, text: p.Text, html: p.HTML}
}

func only(t *testing.T, s *smtptest.Server) smtptest.Message {
	t.Helper()
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server holds %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

func TestSendPlain(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	to := "alice@example.com"
	if err := sender(t, relay(t, "smtp+plain", srv, ""), mail.SMTPOptions{}).Send(context.Background(), message(t, to)); err != nil {
		t.Fatal(err)
	}
	got := only(t, srv)
	if got.From != from || len(got.To) != 1 || got.To[0] != to || got.TLS {
		t.Fatalf("envelope: from %q to %q tls %v, want %q %q in the clear", got.From, got.To, got.TLS, from, to)
	}
	r := parse(t, got.Data)
	for name, want := range map[string]string{
		"From":           `"Acme" <noreply@baton.test>`,
		"To":             "<alice@example.com>",
		"Subject":        "Reset your Acme password",
		"Date":           "Fri, 04 Dec 2026 18:00:00 +0000",
		"Message-Id":     "<0123456789abcdef@baton.test>",
		"Auto-Submitted": "auto-generated",
		"Mime-Version":   "1.0",
	} {
		if g := r.header.Get(name); g != want {
			t.Errorf("%s: got %q, want %q", name, g, want)
		}
	}
	if mail.LinkLine(r.text) != link {
		t.Errorf("text part's link line: got %q, want %q", mail.LinkLine(r.text), link)
	}
	if !strings.Contains(r.html, `href="`+link+`"`) {
		t.Errorf("html part has no href with the exact link:\n%s", r.html)
	}
}

func TestSendSTARTTLS(t *testing.T) {
	c := testcert.New(t)
	cfg, roots := c.Server, c.Pool
	srv := smtptest.Start(t, smtptest.Options{TLS: cfg, Username: "relay-user", Password: "p@ss:w/rd"})
	r := relay(t, "smtp", srv, "relay-user:p%40ss%3Aw%2Frd")
	if err := sender(t, r, mail.SMTPOptions{RootCAs: roots}).Send(context.Background(), message(t, "bob@example.com")); err != nil {
		t.Fatal(err)
	}
	got := only(t, srv)
	if !got.TLS || got.Auth != "relay-user" {
		t.Fatalf("got tls %v auth %q, want a TLS session authenticated as relay-user", got.TLS, got.Auth)
	}
	if r := parse(t, got.Data); mail.LinkLine(r.text) != link {
		t.Fatalf("link line %q", mail.LinkLine(r.text))
	}
}

func TestSendImplicitTLS(t *testing.T) {
	c := testcert.New(t)
	cfg, roots := c.Server, c.Pool
	srv := smtptest.Start(t, smtptest.Options{TLS: cfg, Implicit: true, Username: "u", Password: "secret"})
	if err := sender(t, relay(t, "smtps", srv, "u:secret"), mail.SMTPOptions{RootCAs: roots}).Send(context.Background(), message(t, "carol@example.com")); err != nil {
		t.Fatal(err)
	}
	if got := only(t, srv); !got.TLS || got.Auth != "u" {
		t.Fatalf("got tls %v auth %q, want TLS and AUTH as u", got.TLS, got.Auth)
	}
}

// closedPort is a port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestSendFailures(t *testing.T) {
	c := testcert.New(t)
	cfg, roots := c.Server, c.Pool
	rcpt := func(code int) func(string) error {
		return func(to string) error {
			if strings.HasPrefix(to, "refuse") {
				return smtptest.Reply(code, "no such mailbox here")
			}
			return nil
		}
	}
	tests := []struct {
		name          string
		server        smtptest.Options
		scheme, user  string
		to            string
		trust         bool
		wantKind      mail.Kind
		wantCode      int
		wantPermanent bool
		wantText      string
	}{
		{name: "NoSTARTTLS", server: smtptest.Options{}, scheme: "smtp",
			wantKind: mail.TLS, wantText: "TLS failure: the relay does not offer STARTTLS"},
		{name: "UntrustedCertificate", server: smtptest.Options{TLS: cfg}, scheme: "smtp", trust: false,
			wantKind: mail.TLS, wantText: "TLS failure: tls: failed to verify certificate"},
		{name: "ImplicitTLSToPlainServer", server: smtptest.Options{}, scheme: "smtps", trust: true,
			wantKind: mail.TLS, wantText: "TLS failure: "},
		{name: "WrongPassword", server: smtptest.Options{TLS: cfg, Username: "u", Password: "right"}, scheme: "smtp", user: "u:wrong", trust: true,
			wantKind: mail.Auth, wantCode: 535, wantText: "authentication refused: 535"},
		{name: "NoAUTHOffered", server: smtptest.Options{TLS: cfg}, scheme: "smtp", user: "u:p", trust: true,
			wantKind: mail.Auth, wantText: "authentication refused: server does not support SMTP AUTH"},
		{name: "AuthRequired", server: smtptest.Options{Username: "u", Password: "p"}, scheme: "smtp+plain",
			wantKind: mail.SenderRefused, wantCode: 502, wantPermanent: true, wantText: "sender refused: 502"},
		{name: "RecipientTemporary", server: smtptest.Options{Rcpt: rcpt(450)}, scheme: "smtp+plain", to: "refuse@example.com",
			wantKind: mail.RecipientRefused, wantCode: 450, wantText: `recipient refused: 450 "no such mailbox here"`},
		{name: "RecipientPermanent", server: smtptest.Options{Rcpt: rcpt(550)}, scheme: "smtp+plain", to: "refuse@example.com",
			wantKind: mail.RecipientRefused, wantCode: 550, wantPermanent: true, wantText: `recipient refused: 550 "no such mailbox here"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.server)
			opt := mail.SMTPOptions{}
			if tt.trust {
				opt.RootCAs = roots
			}
			to := tt.to
			if to == "" {
				to = "dave@example.com"
			}
			err := sender(t, relay(t, tt.scheme, srv, tt.user), opt).Send(context.Background(), message(t, to))
			checkError(t, err, tt.wantKind, tt.wantCode, tt.wantPermanent, tt.wantText)
			if n := len(srv.Messages()); n != 0 {
				t.Fatalf("server holds %d messages, want none", n)
			}
		})
	}
	t.Run("ConnectionRefused", func(t *testing.T) {
		r, err := mail.ParseRelay("smtp+plain://127.0.0.1:" + strconv.Itoa(closedPort(t)))
		if err != nil {
			t.Fatal(err)
		}
		err = sender(t, r, mail.SMTPOptions{}).Send(context.Background(), message(t, "erin@example.com"))
		checkError(t, err, mail.Refused, 0, false, "connection refused (127.0.0.1:")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("%v does not wrap ECONNREFUSED", err)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{})
		m := message(t, "frank@example.com")
		m.Subject = "hi\r\nBcc: victim@example.com"
		err := sender(t, relay(t, "smtp+plain", srv, ""), mail.SMTPOptions{}).Send(context.Background(), m)
		checkError(t, err, mail.Invalid, 0, true, "invalid message: subject")
	})
}

func checkError(t *testing.T, err error, kind mail.Kind, code int, permanent bool, text string) {
	t.Helper()
	var me *mail.Error
	if !errors.As(err, &me) {
		t.Fatalf("got %v (%T), want a *mail.Error", err, err)
	}
	if me.Kind != kind || me.Code != code || me.Permanent() != permanent || mail.IsPermanent(err) != permanent {
		t.Fatalf("got kind %q code %d permanent %v (%v), want %q %d %v", me.Kind, me.Code, me.Permanent(), err, kind, code, permanent)
	}
	if !strings.HasPrefix(err.Error(), text) {
		t.Fatalf("got %q, want it to start with %q", err.Error(), text)
	}
}

// TestSendBounded: a relay that accepts the connection and never greets
// holds a delivery no longer than SendTimeout (go-mail alone bounds each
// step, not the whole), and that is not a permanent failure.
func TestSendBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent, until the test ends
		}
	}()
	r, err := mail.ParseRelay("smtp+plain://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := sender(t, r, mail.SMTPOptions{Timeout: time.Minute, SendTimeout: 200 * time.Millisecond})
	err = s.Send(context.Background(), message(t, "gina@example.com"))
	checkError(t, err, mail.Timeout, 0, false, "timed out")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v does not wrap the deadline", err)
	}

}
