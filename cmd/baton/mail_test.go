package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/batonauth/baton/internal/testcert"
	"github.com/batonauth/baton/mail/smtptest"
)

// mailTest runs `baton mail test` in-process with env.
func mailTest(t *testing.T, env map[string]string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"mail", "test"}, args...), func(k string) string { return env[k] }, &out, &errb)
	return cliResult{out.String(), errb.String(), code}
}

func mailEnv(url string) map[string]string {
	return map[string]string{"BATON_SMTP_URL": url, "BATON_MAIL_FROM": "noreply@baton.test", "BATON_BRAND_NAME": "Acme"}
}

// TestCLIMailTest: `baton mail test` reports the relay's answer in words,
// against real SMTP servers on loopback.
func TestCLIMailTest(t *testing.T) {
	tlsCfg := testcert.New(t).Server
	refuse := func(string) error { return smtptest.Reply(550, "mailbox unavailable") }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	tests := []struct {
		name     string
		server   *smtptest.Options // nil: no server, the closed port
		url      func(addr string) string
		wantCode int
		want     string // the start of stdout (success) or stderr
	}{
		{"Accepted", &smtptest.Options{}, func(a string) string { return "smtp+plain://" + a }, 0, "accepted by 127.0.0.1:"},
		{"ConnectionRefused", nil, func(string) string { return "smtp+plain://" + closed }, 1, "baton mail test: connection refused (" + closed + ")"},
		{"NoSTARTTLS", &smtptest.Options{}, func(a string) string { return "smtp://" + a }, 1,
			"baton mail test: TLS failure: the relay does not offer STARTTLS"},
		{"UntrustedCertificate", &smtptest.Options{TLS: tlsCfg}, func(a string) string { return "smtp://" + a }, 1,
			"baton mail test: TLS failure: tls: failed to verify certificate"},
		{"AuthRefused", &smtptest.Options{Username: "relay", Password: "right"}, func(a string) string { return "smtp+plain://relay:wrong@" + a }, 1,
			"baton mail test: authentication refused: 535"},
		{"RecipientRefused", &smtptest.Options{Rcpt: refuse}, func(a string) string { return "smtp+plain://" + a }, 1,
			`baton mail test: recipient refused: 550 "mailbox unavailable"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := ""
			var srv *smtptest.Server
			if tt.server != nil {
				srv = smtptest.Start(t, *tt.server)
				addr = srv.Addr()
			}
			r := mailTest(t, mailEnv(tt.url(addr)), "--to", "ops@example.com")
			got := r.stderr
			if tt.wantCode == 0 {
				got = r.stdout
			}
			t.Logf("exit %d: %s", r.code, strings.TrimSpace(got))
			if r.code != tt.wantCode || !strings.HasPrefix(got, tt.want) {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q, want it to start with %q", r.code, tt.wantCode, r.stdout, r.stderr, tt.want)
			}
			if srv == nil {
				return
			}
			msgs := srv.Messages()
			if tt.wantCode != 0 {
				if len(msgs) != 0 {
					t.Fatalf("a refused test left %d messages", len(msgs))
				}
				return
			}
			if len(msgs) != 1 || msgs[0].To[0] != "ops@example.com" ||
				!strings.Contains(string(msgs[0].Data), "Subject: Acme test message\r\n") ||
				!strings.Contains(string(msgs[0].Data), "Auto-Submitted: auto-generated\r\n") {
				t.Fatalf("got %d messages: %+v", len(msgs), msgs)
			}
		})
	}
}

func TestCLIMailTestUsage(t *testing.T) {
	url := mailEnv("smtp+plain://127.0.0.1:25")
	for _, tt := range []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		want     string
	}{
		{"NoTo", url, nil, 2, "want --to ADDRESS"},
		{"BadTo", url, []string{"--to", "ops@example.com\r\nBcc: x@example.com"}, 2, "--to:"},
		{"Extra", url, []string{"--to", "ops@example.com", "more"}, 2, "want --to ADDRESS"},
		{"NoRelay", nil, []string{"--to", "ops@example.com"}, 1, "BATON_SMTP_URL is not set"},
		{"BadConfig", map[string]string{"BATON_SMTP_URL": "smtp://relay.example"}, []string{"--to", "ops@example.com"}, 2, "BATON_MAIL_FROM"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := mailTest(t, tt.env, tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, want %d; stderr %q, want %q", r.code, tt.wantCode, r.stderr, tt.want)
			}
		})
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"mail", "test", "-h"}, func(string) string { return "" }, &out, &errb); code != 0 ||
		!strings.HasPrefix(out.String(), "Usage: baton mail test --to ADDRESS") {
		t.Fatalf("-h: exit %d, stdout %q", code, out.String())
	}
}

// TestCLIMailTestSTARTTLS runs the binary against a relay with STARTTLS
// and AUTH whose certificate the process trusts through SSL_CERT_FILE, as
// an operator with a private CA would.
func TestCLIMailTestSTARTTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	cert := testcert.New(t)
	srv := smtptest.Start(t, smtptest.Options{TLS: cert.Server, Username: "relay", Password: "s3cret"})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, cert.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"SSL_CERT_FILE=" + ca, "SSL_CERT_DIR=" + t.TempDir(), "BATON_SMTP_URL=smtp://relay:s3cret@127.0.0.1:" + strconv.Itoa(srv.Port),
		"BATON_MAIL_FROM=noreply@baton.test"}
	r := runCLIEnv(t, env, "", "mail", "test", "--to", "ops@example.com").want(t, 0, "mail", "test")
	if want := "accepted by " + srv.Addr() + " (STARTTLS)"; !strings.HasPrefix(r.stdout, want) {
		t.Fatalf("stdout %q, want %q", r.stdout, want)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || !msgs[0].TLS || msgs[0].Auth != "relay" {
		t.Fatalf("got %+v, want one message over TLS authenticated as relay", msgs)
	}
}
