package session

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/batonauth/baton"
)

// Bounds of an address, in bytes: the longest forward path an SMTP server
// must accept (RFC 5321 §4.5.3.1.3) less its angle brackets, and the
// longest local part and domain label (§4.5.3.1.1, RFC 1035 §2.3.4).
const (
	MaxEmailBytes = 254
	maxLocalBytes = 64
	maxLabelBytes = 63
)

// NormalizeEmail returns the address as stored (spaces around it removed)
// and its canonical form (NFC, lower-cased), which uniqueness and lookups
// use, so "Ada@Example.com" and "ada@example.com" are one address.
//
// Only a bare address local@domain is accepted, and more strictly than
// net/mail does: the address ends up in the To header of messages baton
// sends, so anything that could change a header's meaning is refused —
// control characters (CR and LF would start a header of their own), spaces,
// invisible format characters, display names, angle brackets, comments and
// quoted local parts. The domain must be a host name with a dot (a mail
// domain, not "localhost" or a bare IP). EInvalidEmail otherwise.
func NormalizeEmail(raw string) (addr, canonical string, err error) {
	if !utf8.ValidString(raw) {
		return "", "", invalidEmail("is not valid UTF-8")
	}
	addr = strings.Trim(raw, " ")
	if addr == "" {
		return "", "", invalidEmail("is empty")
	}
	if len(addr) > MaxEmailBytes {
		return "", "", invalidEmail("is longer than %d bytes", MaxEmailBytes)
	}
	for _, r := range addr {
		// IsGraphic is false for controls (CR, LF, NUL, DEL…), format
		// characters (bidi overrides, zero-width spaces), surrogates and
		// unassigned code points.
		if !unicode.IsGraphic(r) || unicode.IsSpace(r) || r == utf8.RuneError {
			return "", "", invalidEmail("contains a space, a control character or an invisible character")
		}
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", "", invalidEmail("has no @")
	}
	local, domain := addr[:at], addr[at+1:]
	// net/mail reads the RFC 5322 grammar (dot-atoms, the characters a
	// local part may hold); what it parses must be the whole input, or the
	// input had a display name, brackets, a comment or quotes around it.
	if p, err := mail.ParseAddress(addr); err != nil || p.Name != "" || p.Address != addr {
		return "", "", invalidEmail("is not a bare address of the form name@example.com")
	}
	if len(local) > maxLocalBytes {
		return "", "", invalidEmail("has a part before the @ longer than %d bytes", maxLocalBytes)
	}
	if err := checkMailDomain(domain); err != nil {
		return "", "", err
	}
	return addr, strings.ToLower(norm.NFC.String(addr)), nil
}

// checkMailDomain accepts host names of at least two labels, each of
// letters, digits and inner hyphens (letters of any script: international
// domain names), the last not all digits.
func checkMailDomain(domain string) error {
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return invalidEmail("has a domain without a dot")
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabelBytes {
			return invalidEmail("has a domain with an empty part or a part longer than %d bytes", maxLabelBytes)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return invalidEmail("has a domain part that starts or ends with a hyphen")
		}
		for _, r := range l {
			if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) && !(r >= utf8.RuneSelf && unicode.IsMark(r)) {
				return invalidEmail("has a domain with a character other than letters, digits, hyphens and dots")
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return invalidEmail("has a domain that is a number, not a name")
	}
	return nil
}

func invalidEmail(format string, args ...any) error {
	return baton.Errorf(baton.EInvalidEmail, "the email address "+format, args...)
}

// emailOf returns the address a registration gives the user, in its stored
// and canonical forms, "" when none: the explicit address when there is one
// (EInvalidEmail when it is malformed), otherwise the username when it is
// itself an address.
func emailOf(email *string, username string) (addr, canonical string, err error) {
	if email != nil {
		return NormalizeEmail(*email)
	}
	if addr, canonical, err := NormalizeEmail(username); err == nil {
		return addr, canonical, nil
	}
	return "", "", nil
}
