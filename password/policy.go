package password

import (
	"bufio"
	"bytes"
	"embed"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/batonauth/baton"
)

// Length bounds of a password, in bytes (API.md, Register). The upper bound
// keeps hashing cost and request sizes sane while leaving room for any
// passphrase; bytes rather than characters because that is what costs.
const (
	MinBytes = 8
	MaxBytes = 1024
)

// CheckPassword returns nil when pw is acceptable for the user username,
// and otherwise an *baton.Error with code baton.EWeakPassword whose message
// says why. Following NIST SP 800-63B §3.1.1.2 there are no composition
// rules (they push users towards predictable patterns); instead pw must be
// valid UTF-8 of MinBytes to MaxBytes bytes, must not be the username
// (ignoring case and surrounding spaces), and must not be on the list of
// common passwords (ignoring case).
func CheckPassword(username, pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return baton.Errorf(baton.EWeakPassword, "the password must be valid UTF-8 text")
	case len(pw) < MinBytes:
		// Under MinBytes bytes is also under MinBytes characters.
		return baton.Errorf(baton.EWeakPassword, "the password must be at least %d characters long", MinBytes)
	case len(pw) > MaxBytes:
		return baton.Errorf(baton.EWeakPassword, "the password must be at most %d bytes long", MaxBytes)
	}
	trimmed := strings.TrimSpace(pw)
	if u := strings.TrimSpace(username); u != "" && strings.EqualFold(trimmed, u) {
		return baton.Errorf(baton.EWeakPassword, "the password must not be the username")
	}
	if isCommon(pw) || isCommon(trimmed) {
		return baton.Errorf(baton.EWeakPassword, "the password is too common: it is on a list of passwords attackers try first")
	}
	return nil
}

//go:embed common-passwords.txt
var commonFS embed.FS

// commonPasswords is the set of common-passwords.txt (see
// common-passwords.LICENSE.md), built on first use: 18,000 entries are not
// worth holding in memory for processes that never register anyone, such as
// the admin commands.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	data, err := commonFS.ReadFile("common-passwords.txt")
	if err != nil {
		panic("password: embedded list missing: " + err.Error())
	}
	set := make(map[string]struct{}, bytes.Count(data, []byte("\n")))
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			set[line] = struct{}{}
		}
	}
	return set
})

// isCommon reports whether pw is on the common list; the list is lowercase.
func isCommon(pw string) bool {
	_, ok := commonPasswords()[strings.ToLower(pw)]
	return ok
}
