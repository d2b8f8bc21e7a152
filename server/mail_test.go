package server_test

import (
	"strings"
	"testing"

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
