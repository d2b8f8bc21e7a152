package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"syscall"

	gomail "github.com/wneessen/go-mail"
)

// Kind is what went wrong with a delivery, in the terms an operator
// checks: the network, TLS, the credentials, or the relay's verdict on the
// sender, a recipient or the message.
type Kind int

const (
	// Other is a failure that fits no kind below (a relay that hangs up
	// mid-conversation, an unexpected reply).
	Other Kind = iota
	// Refused: nothing listens at the relay's address.
	Refused
	// Unreachable: the relay's name does not resolve, no route leads to
	// it, or connecting timed out.
	Unreachable
	// TLS: STARTTLS was required and not offered, or the handshake failed
	// (an untrusted certificate, a wrong name, no common version).
	TLS
	// Auth: the relay refused the credentials, offers no authentication
	// baton can use, or would only take them without TLS.
	Auth
	// SenderRefused: MAIL FROM was refused (BATON_MAIL_FROM).
	SenderRefused
	// RecipientRefused: RCPT TO was refused.
	RecipientRefused
	// MessageRefused: the relay refused DATA or the message itself.
	MessageRefused
	// Timeout: the whole delivery took longer than its bound.
	Timeout
	// Invalid: the message failed validation; nothing was sent.
	Invalid
)

var kindWords = map[Kind]string{
	Other:            "delivery failed",
	Refused:          "connection refused",
	Unreachable:      "relay unreachable",
	TLS:              "TLS failure",
	Auth:             "authentication refused",
	SenderRefused:    "sender refused",
	RecipientRefused: "recipient refused",
	MessageRefused:   "message refused",
	Timeout:          "timed out",
	Invalid:          "invalid message",
}

func (k Kind) String() string { return kindWords[k] }

// Error is a failed delivery. Its text starts with the kind in words
// ("connection refused", "TLS failure: …", "authentication refused",
// "recipient refused (550 …)") and never holds the message's content or
// the relay's password.
type Error struct {
	Kind Kind
	// Code is the relay's SMTP reply code (such as 421 or 550), or 0 when
	// the failure came before or without a reply.
	Code int
	// Relay is host:port of the relay, when there was one.
	Relay string
	// Err is the cause, as go-mail or the network reported it.
	Err error
	// detail, when set, says the cause better than Err's own text.
	detail string
}

func (e *Error) Error() string {
	s := e.Kind.String()
	switch e.Kind {
	case Refused:
		return s + " (" + e.Relay + ")" // the cause only repeats it
	case Unreachable:
		s += " (" + e.Relay + ")"
	}
	switch {
	case e.detail != "":
		s += ": " + e.detail
	case e.Err != nil:
		s += ": " + trimGoMail(e.Err.Error())
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying the same message cannot succeed: the
// relay refused the sender, a recipient or the message with a 5xx reply,
// or the message is invalid. Everything else — no connection, TLS,
// authentication, a 4xx reply, a timeout — may succeed later, once the
// relay is back or its operator has fixed it, so a queue retries those.
func (e *Error) Permanent() bool {
	switch e.Kind {
	case Invalid:
		return true
	case SenderRefused, RecipientRefused, MessageRefused:
		return e.Code >= 500
	}
	return false
}

// IsPermanent reports whether err is an error that is Permanent.
// Other jobs of the outbox (back-channel logout) say so with a
// Permanent method of their own errors.
func IsPermanent(err error) bool {
	var e interface{ Permanent() bool }
	return errors.As(err, &e) && e.Permanent()
}

// stageError marks where a failure happened in the dialler baton gives
// go-mail: connecting, or the implicit-TLS handshake.
type stageError struct {
	tls bool
	err error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// noSTARTTLS replaces go-mail's wording for a relay without STARTTLS.
const noSTARTTLS = ("the relay does not offer STARTTLS, and smtp:// requires it (smtps:// is implicit TLS; smtp+plain:// is for a local relay)")

// classify turns what go-mail returned into an *Error. ctx is the
// delivery's context: once it is done, the failure is its timeout or
// cancellation whatever the connection reported.
func classify(ctx context.Context, relay string, err error) *Error {
	e := &Error{Relay: relay, Err: err}
	var (
		stage   *stageError
		send    *gomail.SendError
		reply   *textproto.Error
		tlsHdr  tls.RecordHeaderError
		tlsAl   tls.AlertError
		certErr *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &stage) && !stage.tls:
		e.Err = stage.err
		e.Kind = Unreachable
		if errors.Is(stage.err, syscall.ECONNREFUSED) {
			e.Kind = Refused
		}
		if ctx.Err() != nil {
			e.Kind = Timeout
		}
	case errors.As(err, &stage):
		e.Kind, e.Err = TLS, stage.err
	case ctx.Err() != nil:
		e.Kind, e.Err = Timeout, ctx.Err()
	case errors.As(err, &send):
		e.Code = send.ErrorCode()
		switch send.Reason {
		case gomail.ErrSMTPMailFrom:
			e.Kind = SenderRefused
		case gomail.ErrSMTPRcptTo:
			e.Kind = RecipientRefused
		case gomail.ErrSMTPData, gomail.ErrSMTPDataClose, gomail.ErrWriteContent, gomail.ErrNoUnencoded:
			e.Kind = MessageRefused
		}
		if e.Code == 0 && send.IsTemp() {
			e.Code = 400
		}
		e.detail = replyText(send)
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		e.Kind, e.detail = TLS, noSTARTTLS
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid),
		errors.As(err, &tlsHdr), errors.As(err, &tlsAl), strings.Contains(err.Error(), "tls: "):
		e.Kind = TLS
	case strings.Contains(err.Error(), "SMTP AUTH"), errors.Is(err, gomail.ErrNoSupportedAuthDiscovered):
		// go-mail runs AUTH right after TLS; its failures say "SMTP AUTH".
		e.Kind = Auth
		if errors.As(err, &reply) {
			e.Code = reply.Code
		}
	case errors.As(err, &reply):
		e.Code = reply.Code
	}
	return e
}

// replyText is the relay's reply inside a SendError, without go-mail's
// framing ("sending SMTP RCPT TO command: …, affected recipient(s): …").
func replyText(send *gomail.SendError) string {
	s := send.Error()
	if _, after, ok := strings.Cut(s, ": "); ok {
		s = after
	}
	if before, _, ok := strings.Cut(s, ", affected "); ok {
		s = before
	}
	return s
}

// trimGoMail drops go-mail's stage prefixes, which repeat what the kind
// says.
func trimGoMail(s string) string {
	for _, p := range []string{"dial failed: ", "send failed: ", "SMTP AUTH failed: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

// dialError marks a failure to connect or to shake hands.
func dialError(tlsStage bool, err error) error {
	var op *net.OpError
	if !tlsStage && errors.As(err, &op) {
		err = op.Err // "dial tcp 127.0.0.1:25:" repeats the relay's address
	}
	return &stageError{tls: tlsStage, err: err}
}
