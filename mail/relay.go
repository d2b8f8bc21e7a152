package mail

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// Security is how a connection to the relay is protected.
type Security int

const (
	// STARTTLS (smtp://) connects in the clear and upgrades with STARTTLS
	// before anything else; a relay that does not offer it is a TLS
	// failure, never a fallback to plain text.
	STARTTLS Security = iota
	// ImplicitTLS (smtps://) speaks TLS from the first byte.
	ImplicitTLS
	// Plain (smtp+plain://) never uses TLS: for a relay on the same host
	// or a test server.
	Plain
)

func (s Security) String() string {
	switch s {
	case STARTTLS:
		return "STARTTLS"
	case ImplicitTLS:
		return "implicit TLS"
	case Plain:
		return "no TLS"
	}
	return "unknown"
}

// Relay is an SMTP relay as BATON_SMTP_URL names it.
type Relay struct {
	Security Security
	Host     string
	Port     int
	// Username and Password authenticate to the relay (SMTP AUTH) when
	// Username is set.
	Username, Password string
}

// Addr is host:port.
func (r *Relay) Addr() string { return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) }

// String is the relay's URL without its password, for logs.
func (r *Relay) String() string {
	u := url.URL{Scheme: schemes[r.Security], Host: r.Addr()}
	if r.Username != "" {
		u.User = url.User(r.Username)
	}
	return u.String()
}

var schemes = map[Security]string{STARTTLS: "smtp", ImplicitTLS: "smtps", Plain: "smtp+plain"}

// ParseRelay parses smtp://[user:pass@]host[:port] (STARTTLS, port 587 by
// default), smtps://[user:pass@]host[:port] (implicit TLS, port 465) or
// smtp+plain://[user:pass@]host:port (no TLS; the port is required, as no
// default would be right for a local relay or a test server). User and
// password are percent-decoded.
func ParseRelay(raw string) (*Relay, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the whole URL, password included.
		return nil, errors.New("not a URL such as smtp://user:pass@smtp.example.com:587")
	}
	r := &Relay{}
	switch u.Scheme {
	case "smtp":
		r.Security, r.Port = STARTTLS, 587
	case "smtps":
		r.Security, r.Port = ImplicitTLS, 465
	case "smtp+plain":
		r.Security = Plain
	default:
		return nil, fmt.Errorf("scheme %q is not smtp, smtps or smtp+plain", u.Scheme)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("want only [user:pass@]host[:port], no path, query or fragment")
	}
	r.Host = u.Hostname()
	if r.Host == "" {
		return nil, errors.New("no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q is not 1 to 65535", p)
		}
		r.Port = n
	} else if r.Security == Plain {
		return nil, errors.New("smtp+plain:// needs a port (host:port)")
	}
	if u.User != nil {
		r.Username = u.User.Username()
		r.Password, _ = u.User.Password()
		if r.Username == "" {
			return nil, errors.New("a password without a user name")
		}
	}
	return r, nil
}
