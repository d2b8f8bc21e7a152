package mail_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/batonauth/baton/mail"
	"github.com/google/go-cmp/cmp"
)

func TestParseRelay(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    *mail.Relay
		wantErr string
	}{
		{"STARTTLS", "smtp://smtp.example.com", &mail.Relay{Security: mail.STARTTLS, Host: "smtp.example.com", Port: 587}, ""},
		{"STARTTLSPortUser", "smtp://u%40x:p%3Aw@smtp.example.com:2525", &mail.Relay{Security: mail.STARTTLS, Host: "smtp.example.com", Port: 2525, Username: "u@x", Password: "p:w"}, ""},
		{"Implicit", "smtps://u:p@smtp.example.com", &mail.Relay{Security: mail.ImplicitTLS, Host: "smtp.example.com", Port: 465, Username: "u", Password: "p"}, ""},
		{"Plain", "smtp+plain://127.0.0.1:25", &mail.Relay{Security: mail.Plain, Host: "127.0.0.1", Port: 25}, ""},
		{"IPv6", "smtp://[::1]:587/", &mail.Relay{Security: mail.STARTTLS, Host: "::1", Port: 587}, ""},
		{"PlainNoPort", "smtp+plain://localhost", nil, "needs a port"},
		{"Scheme", "http://smtp.example.com", nil, "not smtp, smtps or smtp+plain"},
		{"NoHost", "smtp://", nil, "no host"},
		{"Port", "smtp://h:0", nil, "port"},
		{"PortRange", "smtp://h:70000", nil, "port"},
		{"Path", "smtp://h/x", nil, "no path"},
		{"Query", "smtp://h?x=1", nil, "no path, query"},
		{"PasswordNoUser", "smtp://:p@h", nil, "without a user"},
		{"NotAURL", "smtp://u:sec ret@h:x", nil, "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mail.ParseRelay(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "sec ret") {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
			if strings.Contains(got.String(), ":"+got.Password+"@") && got.Password != "" {
				t.Fatalf("String shows the password: %s", got)
			}
		})
	}
}

func TestParseAddress(t *testing.T) {
	for _, ok := range []string{"noreply@example.com", "a.b+c@sub.example.org", "ops@localhost"} {
		if _, err := mail.ParseAddress(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "example.com", "Baton <noreply@example.com>", "noreply@example.com\r\nBcc: x@y.z",
		"a@b\n", "noreply@example.com (comment)", strings.Repeat("a", 250) + "@example.com"} {
		if _, err := mail.ParseAddress(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	s := &mail.LogSender{Log: slog.New(slog.NewTextHandler(&buf, nil))}
	if err := s.Send(context.Background(), message(t, "alice@example.com")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"to=alice@example.com", `subject="Reset your Acme password"`, "link=\"" + link + "\""} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
	m := message(t, "not an address")
	if err := s.Send(context.Background(), m); !mail.IsPermanent(err) {
		t.Errorf("a bad recipient: got %v, want a permanent error", err)
	}
}

func TestNewMessageID(t *testing.T) {
	a, b := mail.NewMessageID("noreply@example.com"), mail.NewMessageID("noreply@example.com")
	if a == b || !strings.HasSuffix(a, "@example.com") || len(a) != 32+len("@example.com") {
		t.Fatalf("got %q and %q", a, b)
	}
}
