package session

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/batonauth/baton"
)

// MaxUsernameChars bounds usernames (an email address fits).
const MaxUsernameChars = 254

// NormalizeUsername returns the username as stored (trimmed, NFC) and its
// canonical form (case-folded), which is what uniqueness and lookups use, so
// "Alice", "alice" and "ALICE" are one account. EInvalidUsername otherwise.
func NormalizeUsername(raw string) (display, canonical string, err error) {
	if !utf8.ValidString(raw) {
		return "", "", baton.Errorf(baton.EInvalidUsername, "the username is not valid UTF-8")
	}
	display = norm.NFC.String(strings.TrimSpace(raw))
	n := utf8.RuneCountInString(display)
	if n == 0 {
		return "", "", baton.Errorf(baton.EInvalidUsername, "the username is empty")
	}
	if n > MaxUsernameChars {
		return "", "", baton.Errorf(baton.EInvalidUsername, "the username is longer than %d characters", MaxUsernameChars)
	}
	for _, r := range display {
		if unicode.IsControl(r) || r == unicode.ReplacementChar || unicode.In(r, unicode.Cf) {
			return "", "", baton.Errorf(baton.EInvalidUsername, "the username contains control or invisible characters")
		}
	}
	// Folding can denormalise (e.g. expanding ligatures), so normalise again.
	canonical = norm.NFC.String(cases.Fold().String(display))
	return display, canonical, nil
}
