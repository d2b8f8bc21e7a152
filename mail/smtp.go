package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Default bounds of a delivery.
const (
	// DefaultTimeout bounds connecting and each step of the conversation.
	DefaultTimeout = 15 * time.Second
	// DefaultSendTimeout bounds a whole delivery, from connecting to QUIT.
	DefaultSendTimeout = time.Minute
)

// SMTPOptions tune an SMTP sender; every field is optional.
type SMTPOptions struct {
	// Brand is the display name of the From header ("baton" by default).
	Brand string
	// RootCAs are the certificate authorities trusted for the relay's
	// certificate; nil means the system's. Tests pass their own root here:
	// certificate verification is never turned off.
	RootCAs *x509.CertPool
	// Timeout bounds connecting and each step (DefaultTimeout).
	Timeout time.Duration
	// SendTimeout bounds a whole delivery (DefaultSendTimeout).
	SendTimeout time.Duration
	// Now is the clock for a message without a Date (time.Now).
	Now func() time.Time
}

// SMTP delivers messages to a relay, one connection per message: the
// messages baton sends are few (a sign-up, a reset), and a connection
// opened for each one cannot go stale between them.
type SMTP struct {
	relay Relay
	from  string
	opt   SMTPOptions
}

var _ Sender = (*SMTP)(nil)

// NewSMTP returns a Sender that delivers through relay with from (a bare
// address, see ParseAddress) as the envelope sender and From header.
func NewSMTP(relay *Relay, from string, opt SMTPOptions) (*SMTP, error) {
	if _, err := ParseAddress(from); err != nil {
		return nil, err
	}
	if opt.Brand == "" {
		opt.Brand = "baton"
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.SendTimeout <= 0 {
		opt.SendTimeout = DefaultSendTimeout
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &SMTP{relay: *relay, from: from, opt: opt}, nil
}

// Relay is the relay's host:port.
func (s *SMTP) Relay() string { return s.relay.Addr() }

// Send delivers m. It returns nil once the relay accepted the message
// (250 after DATA), even if saying goodbye afterwards failed: the message
// is the relay's then, and sending it again would duplicate it.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	if err := m.check(); err != nil {
		return &Error{Kind: Invalid, Err: err}
	}
	msg, err := s.build(m)
	if err != nil {
		return &Error{Kind: Invalid, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opt.SendTimeout)
	defer cancel()
	c, err := s.client(ctx)
	if err != nil {
		return &Error{Kind: Other, Relay: s.relay.Addr(), Err: err}
	}
	err = c.DialAndSendWithContext(ctx, msg)
	if err == nil || msg.IsDelivered() {
		return nil
	}
	return classify(ctx, s.relay.Addr(), err)
}

// build is m as a go-mail message: multipart/alternative with the text
// part first (RFC 2046 §5.1.4: the preferred, richer part comes last).
func (s *SMTP) build(m *Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.FromFormat(s.opt.Brand, s.from); err != nil {
		return nil, err
	}
	if err := msg.To(m.To); err != nil {
		return nil, err
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	date := m.Date
	if date.IsZero() {
		date = s.opt.Now()
	}
	msg.SetDateWithValue(date)
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), AutoSubmitted)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// client is a go-mail client for one delivery under ctx.
func (s *SMTP) client(ctx context.Context) (*gomail.Client, error) {
	tlsConfig := &tls.Config{ServerName: s.relay.Host, RootCAs: s.opt.RootCAs, MinVersion: tls.VersionTLS12}
	opts := []gomail.Option{
		gomail.WithPort(s.relay.Port),
		gomail.WithTimeout(s.opt.Timeout),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithDialContextFunc(s.dialer(ctx, tlsConfig)),
	}
	switch s.relay.Security {
	case STARTTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case ImplicitTLS:
		// The dialler shakes hands; go-mail must not try STARTTLS on top.
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS))
	case Plain:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.relay.Username != "" {
		// PLAIN and LOGIN send the password itself, so go-mail offers
		// them only over TLS (or to localhost); SCRAM never reveals it.
		opts = append(opts, gomail.WithUsername(s.relay.Username), gomail.WithPassword(s.relay.Password),
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin))
	}
	return gomail.NewClient(s.relay.Host, opts...)
}

// dialer connects (and for implicit TLS shakes hands) itself rather than
// leaving it to go-mail, for two reasons: a failure to connect or to shake
// hands is then known for what it is, and the connection is closed when
// ctx ends, which bounds the whole delivery — go-mail bounds only each
// step.
func (s *SMTP) dialer(ctx context.Context, tlsConfig *tls.Config) gomail.DialContextFunc {
	return func(dctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: s.opt.Timeout}
		conn, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, dialError(false, err)
		}
		if s.relay.Security == ImplicitTLS {
			tc := tls.Client(conn, tlsConfig)
			if err := tc.HandshakeContext(dctx); err != nil {
				conn.Close()
				return nil, dialError(true, err)
			}
			conn = tc
		}
		// Not wrapped: go-mail's SMTP client recognises a *tls.Conn as
		// encrypted. Closing it again after QUIT is harmless.
		context.AfterFunc(ctx, func() { conn.Close() })
		return conn, nil
	}
}
