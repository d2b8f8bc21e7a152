// Package smtptest runs a real SMTP server on 127.0.0.1 for tests: it
// speaks SMTP over TCP (github.com/emersion/go-smtp), can offer STARTTLS
// or implicit TLS (with a certificate from internal/testcert), can demand or
// refuse authentication and refuse recipients, and keeps every message it
// accepted for the test to read back. Only tests import it (and
// internal/smtpsink, which serves it to the browser tests).
package smtptest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options shape the server; the zero value accepts everything in the
// clear and offers no AUTH.
type Options struct {
	// TLS, when set, is offered with STARTTLS, or from the first byte when
	// Implicit is true.
	TLS      *tls.Config
	Implicit bool
	// Username and Password, when Username is set, are the credentials
	// AUTH PLAIN accepts; any other pair gets 535.
	Username, Password string
	// Rcpt, when set, answers RCPT TO: a non-nil error (an *SMTPError such
	// as Reply(550, …)) refuses the recipient.
	Rcpt func(to string) error
	// Addr, when set, is the loopback host:port to listen on, such as a
	// port a test first left dead to play a relay that is down; by
	// default a free port on 127.0.0.1.
	Addr string
}

// Reply is an SMTP reply for Options.Rcpt.
func Reply(code int, msg string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.NoEnhancedCode, Message: msg}
}

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Data []byte // as received after DATA, CRLF line endings
	// Auth is the user name the client authenticated as, if any.
	Auth string
	TLS  bool
}

// Server is a running SMTP server.
type Server struct {
	Host string // 127.0.0.1
	Port int
	opt  Options

	mu   sync.Mutex
	msgs []Message
}

// Start starts a server on 127.0.0.1 at a free port (or at opt.Addr); it
// stops when the test ends.
func Start(tb testing.TB, opt Options) *Server {
	tb.Helper()
	s, stop, err := Listen(opt)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return s
}

// Listen is Start for a program that is not a Go test (the browser tests'
// mail sink, internal/smtpsink): stop closes the server.
func Listen(opt Options) (s *Server, stop func(), err error) {
	addr := "127.0.0.1:0"
	if opt.Addr != "" {
		addr = opt.Addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if opt.Implicit {
		ln = tls.NewListener(ln, opt.TLS)
	}
	ta := ln.Addr().(*net.TCPAddr)
	s = &Server{Host: ta.IP.String(), Port: ta.Port, opt: opt}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{s: s, tls: isTLS || opt.Implicit, conn: c}, nil
	}))
	srv.Domain = "smtptest.localhost"
	srv.AllowInsecureAuth = true // the client decides whether to send a password in the clear
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 1 << 20
	if !opt.Implicit {
		srv.TLSConfig = opt.TLS
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return s, func() {
		srv.Close()
		// Close does not reach a listener that Serve has not started on
		// yet (a test that never connected may end that fast): closing it
		// here ends such a Serve too.
		ln.Close()
		<-done
	}, nil
}

// DownAddr returns a loopback host:port where nothing listens: a relay
// that is down, until a test starts one there with Options.Addr.
func DownAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Messages returns the messages accepted so far. A message is stored
// before the server answers DATA, so it is here once the client saw it
// accepted.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

type session struct {
	s    *Server
	conn *smtp.Conn
	tls  bool
	auth string
	msg  Message
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opt.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.opt.Username || password != ss.s.opt.Password {
			return smtp.ErrAuthFailed
		}
		ss.auth = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opt.Username != "" && ss.auth == "" {
		return smtp.ErrAuthRequired
	}
	ss.msg = Message{From: from, Auth: ss.auth}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if f := ss.s.opt.Rcpt; f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	ss.msg.To = append(ss.msg.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.msg.Data, ss.msg.TLS = b, isTLS || ss.tls
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, ss.msg)
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.msg = Message{} }
func (ss *session) Logout() error { return nil }

// Parsed is a received message taken apart: its header and its plain-text
// and HTML parts, decoded.
type Parsed struct {
	Header     netmail.Header
	Text, HTML string
	// Parts lists the parts' media types in order.
	Parts []string
}

// Parse takes apart a message as baton sends it: multipart/alternative
// with a plain-text and an HTML part, either possibly quoted-printable.
func Parse(data []byte) (*Parsed, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		return nil, fmt.Errorf("Content-Type %q, want multipart/alternative", msg.Header.Get("Content-Type"))
	}
	r := &Parsed{Header: msg.Header}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return r, nil
		} else if err != nil {
			return nil, err
		}
		var body io.Reader = p
		if p.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			body = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, err
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		r.Parts = append(r.Parts, ct)
		switch ct {
		case "text/plain":
			r.Text = string(b)
		case "text/html":
			r.HTML = string(b)
		}
	}
}

// Await waits, a bounded while, until the server holds n messages, calling
// poke (e.g. a dispatcher's Drain) between looks, and returns them; it
// fails the test when another number arrives or ten seconds pass.
func (s *Server) Await(tb testing.TB, n int, poke func()) []Message {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		poke()
		if msgs := s.Messages(); len(msgs) >= n || time.Now().After(deadline) {
			if len(msgs) != n {
				tb.Fatalf("relay holds %d messages, want %d", len(msgs), n)
			}
			return msgs
		}
	}
}

var linkToken = regexp.MustCompile(`#token=([A-Za-z0-9_%.-]+)`)

// LinkToken returns the decoded text part of a received message and the
// token in the fragment of its link (#token=…), failing the test without
// one.
func LinkToken(tb testing.TB, data []byte) (text, token string) {
	tb.Helper()
	p, err := Parse(data)
	if err != nil {
		tb.Fatal(err)
	}
	m := linkToken.FindStringSubmatch(p.Text)
	if m == nil {
		tb.Fatalf("no link in the message:\n%s", p.Text)
	}
	tok, err := url.QueryUnescape(m[1])
	if err != nil {
		tb.Fatal(err)
	}
	return p.Text, tok
}
