package dpop

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// sameURL reports, as an error, whether the htu claim differs from the
// request's URL, both without query and fragment (RFC 9449 §4.3 check 9).
func sameURL(htu, request string) error {
	a, err := normalizeURL(htu)
	if err != nil {
		return fmt.Errorf("htu: %w", err)
	}
	b, err := normalizeURL(request)
	if err != nil {
		return fmt.Errorf("request URL: %w", err)
	}
	if a != b {
		return fmt.Errorf("htu %.128q, request %.128q", a, b)
	}
	return nil
}

// normalizeURL returns the form of an absolute http or https URL that
// sameURL compares: without query and fragment, after the syntax-based and
// scheme-based normalisation RFC 9449 §4.3 recommends (RFC 3986 §6.2.2 and
// §6.2.3), so that clients spelling one URL differently are not refused.
// Scheme and host are lowercased, a default or empty port dropped, an
// empty path made "/", percent-encodings of unreserved characters decoded
// and the others' hex digits uppercased, and dot segments removed. Nothing
// else is: two URLs this keeps apart may still name one resource, which
// costs a refused proof, never an accepted one.
func normalizeURL(raw string) (string, error) {
	// Cut first: what follows cannot matter, so it must not make parsing
	// fail either.
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https": // Parse lowercases the scheme
		return "", fmt.Errorf("scheme %.16q is not http or https", u.Scheme)
	case u.Opaque != "" || u.Host == "":
		return "", errors.New("not an absolute URL with a host")
	case u.User != nil:
		return "", errors.New("URL has user information")
	}
	host, err := normalizeHost(u.Hostname())
	if err != nil {
		return "", err
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return "", fmt.Errorf("port %.8q out of range", port)
		}
		if !(u.Scheme == "http" && n == 80 || u.Scheme == "https" && n == 443) {
			// Itoa drops leading zeros: "0443" is port 443.
			host = net.JoinHostPort(host, strconv.Itoa(n))
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	path := removeDotSegments(normalizePercent(u.EscapedPath()))
	if path == "" {
		path = "/"
	}
	return u.Scheme + "://" + host + path, nil
}

// normalizeHost lowercases a host name, or writes an IPv6 address in its
// canonical form. Anything else, percent-encoded or non-ASCII names and
// IPv6 zones included, is refused: no host baton serves is spelt so, and
// refusing costs only a refused proof.
func normalizeHost(h string) (string, error) {
	if strings.Contains(h, ":") {
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", fmt.Errorf("host %.64q is not an IPv6 address", h)
		}
		return a.String(), nil
	}
	if h == "" {
		return "", errors.New("empty host")
	}
	upper := false
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case 'A' <= c && c <= 'Z':
			upper = true
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
		default:
			return "", fmt.Errorf("host %.64q has a character outside [A-Za-z0-9._-]", h)
		}
	}
	if upper {
		return strings.ToLower(h), nil
	}
	return h, nil
}

// normalizePercent decodes percent-encoded unreserved characters and
// uppercases the hex digits of the other encodings (RFC 3986 §6.2.2.1,
// §6.2.2.2). It returns p itself when there is nothing to change.
func normalizePercent(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' || i+2 >= len(p) {
			b.WriteByte(c)
			continue
		}
		hi, ok1 := unhex(p[i+1])
		lo, ok2 := unhex(p[i+2])
		if !ok1 || !ok2 {
			b.WriteByte(c)
			continue
		}
		if d := hi<<4 | lo; isUnreserved(d) {
			b.WriteByte(d)
		} else {
			b.WriteByte('%')
			b.WriteByte(upperHex[hi])
			b.WriteByte(upperHex[lo])
		}
		i += 2
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isUnreserved reports whether c is an unreserved character (RFC 3986
// §2.3), which means the same encoded or not.
func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// removeDotSegments is RFC 3986 §5.2.4's algorithm: "/a/./b/../c" is
// "/a/c". It returns p itself when p has no dot segment.
func removeDotSegments(p string) string {
	if !hasDotSegment(p) {
		return p
	}
	out := make([]byte, 0, len(p))
	for len(p) > 0 {
		switch {
		case strings.HasPrefix(p, "../"):
			p = p[3:]
		case strings.HasPrefix(p, "./"):
			p = p[2:]
		case strings.HasPrefix(p, "/./"):
			p = p[2:]
		case p == "/.":
			p = "/"
		case strings.HasPrefix(p, "/../"):
			p = p[3:]
			out = popSegment(out)
		case p == "/..":
			p = "/"
			out = popSegment(out)
		case p == "." || p == "..":
			p = ""
		default:
			// Move the first segment, with its leading "/", to out.
			start := 0
			if p[0] == '/' {
				start = 1
			}
			end := len(p)
			if j := strings.IndexByte(p[start:], '/'); j >= 0 {
				end = start + j
			}
			out = append(out, p[:end]...)
			p = p[end:]
		}
	}
	return string(out)
}

// popSegment removes the last segment of out and its preceding "/".
func popSegment(out []byte) []byte {
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] == '/' {
			return out[:i]
		}
	}
	return out[:0]
}

// hasDotSegment reports whether some segment of p is "." or "..".
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
