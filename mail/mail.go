// Package mail turns one rendered message into an SMTP delivery: it parses
// the relay's settings (BATON_SMTP_URL), renders the messages baton sends
// from templates embedded in the binary, and delivers them over SMTP with
// STARTTLS, implicit TLS or (for a local relay) no TLS. Failures are
// classified in words an operator can act on, and say whether retrying can
// help. Without a relay, a Sender that writes to the log stands in, so local
// development works.
//
// Queueing and retries are not here: a Sender delivers one message, once.
package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"
)

// AutoSubmitted is the value of the Auto-Submitted header of every message
// (RFC 3834): baton's mail is generated, and auto-responders must not
// answer it.
const AutoSubmitted = "auto-generated"

// Message is one rendered message for one recipient.
type Message struct {
	To      string // a bare address
	Subject string
	Text    string // the plain-text part
	HTML    string // the HTML part
	// MessageID is the Message-ID without angle brackets (local@domain).
	// The caller chooses it (NewMessageID) and keeps it, so that every
	// retry of the same message carries the same Message-ID and the
	// recipient's system can tell a retry from a new message.
	MessageID string
	// Date is the Date header; zero means the time of sending.
	Date time.Time
}

// Sender delivers one message.
type Sender interface {
	// Send delivers m once, or fails with an *Error that says what went
	// wrong and whether retrying can help (Permanent). Send may be called
	// from several goroutines at once. A message that fails validation
	// (a bad address, a header with a line break) is a permanent *Error of
	// kind Invalid, and nothing is sent.
	Send(ctx context.Context, m *Message) error
}

// maxAddress is the longest address SMTP carries (RFC 5321 §4.5.3.1.3,
// a path of 256 octets less the angle brackets).
const maxAddress = 254

// ParseAddress checks that s is a bare address (local@domain, no display
// name, no comment) that is safe in a header: no CR or LF, which would let
// a value inject headers, and not longer than SMTP allows.
func ParseAddress(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty address")
	}
	if len(s) > maxAddress {
		return "", fmt.Errorf("address longer than %d bytes", maxAddress)
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", errors.New("address contains a line break")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("%q is not a bare address such as noreply@example.com", s)
	}
	return s, nil
}

// NewMessageID returns a new Message-ID (without angle brackets) whose
// right-hand side is the domain of from: 128 random bits, so two messages
// never share one.
func NewMessageID(from string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	domain := "localhost"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i < len(from)-1 {
		domain = from[i+1:]
	}
	return hex.EncodeToString(b[:]) + "@" + domain
}

// check validates a message before anything is sent.
func (m *Message) check() error {
	if _, err := ParseAddress(m.To); err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	if m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("subject is empty or contains a line break")
	}
	if m.Text == "" {
		return errors.New("the plain-text part is empty")
	}
	id := m.MessageID
	if at := strings.IndexByte(id, '@'); at <= 0 || at == len(id)-1 || len(id) > 250 ||
		strings.ContainsAny(id, "<>\r\n\t ") {
		return fmt.Errorf("Message-ID %q is not local@domain", id)
	}
	return nil
}

// LogSender stands in for SMTP when no relay is configured: it writes the
// recipient, the subject and the link of each message to the log, so that
// local development can follow a verification or reset link. The link is a
// one-time secret; the start-up warning says mail goes to the log.
type LogSender struct {
	Log *slog.Logger
}

var _ Sender = (*LogSender)(nil)

// Send logs m and reports success, or fails like an SMTP Sender on a
// message that fails validation.
func (s *LogSender) Send(ctx context.Context, m *Message) error {
	if err := m.check(); err != nil {
		return &Error{Kind: Invalid, Err: err}
	}
	s.Log.LogAttrs(ctx, slog.LevelInfo, "mail not sent (BATON_SMTP_URL is not set)",
		slog.String("to", m.To), slog.String("subject", m.Subject),
		slog.String("link", LinkLine(m.Text)), slog.String("message_id", m.MessageID))
	return nil
}

// LinkLine returns the first line of a plain-text part that is a link
// (http:// or https://), or "" when there is none. The text templates put
// each link on a line of its own.
func LinkLine(text string) string {
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "https://") || strings.HasPrefix(line, "http://") {
			return line
		}
	}
	return ""
}
