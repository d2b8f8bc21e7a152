package main

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Text that clients choose (user agents, usernames, audit details) reaches
// an administrator's terminal through the admin commands. Printed raw, a
// C0 or C1 control can move the cursor, clear the screen or set the window
// title, and a bidirectional override (U+202E …) can make one row read as
// another; so the tables and the JSON show such characters escaped.

// cell returns s for a table cell: every character that is not graphic
// (controls, format characters such as bidi overrides and zero-width ones,
// line and paragraph separators), and a backslash, is escaped as \uXXXX
// (\UXXXXXXXX beyond the BMP), invalid UTF-8 as \xNN. Past max characters of
// output it is cut, between two characters or escapes, and ends in "...".
// An empty s is "-".
func cell(s string, max int) string {
	if s == "" {
		return "-"
	}
	var pieces []string
	total := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		switch {
		case r == utf8.RuneError && size == 1:
			piece = fmt.Sprintf(`\x%02x`, s[i])
		case r == '\\':
			piece = `\\`
		case !unicode.IsGraphic(r) && r > 0xffff:
			piece = fmt.Sprintf(`\U%08x`, r)
		case !unicode.IsGraphic(r):
			piece = fmt.Sprintf(`\u%04x`, r)
		default:
			piece = s[i : i+size]
		}
		pieces = append(pieces, piece)
		total += utf8.RuneCountInString(piece)
		i += size
	}
	if total <= max {
		return strings.Join(pieces, "")
	}
	var b strings.Builder
	n := 0
	for _, p := range pieces {
		w := utf8.RuneCountInString(p)
		if n+w > max-3 {
			break
		}
		b.WriteString(p)
		n += w
	}
	return b.String() + "..."
}

// jsonEscaper writes JSON with every non-ASCII character that is not
// graphic (C1 controls, bidi and other format characters, U+2028/9) as a
// \u escape. encoding/json escapes only C0 controls; the escaped form
// decodes to the same string, so scripts read the same data. It relies on
// being given whole JSON texts (json.Encoder writes one per Encode), so a
// character is never split between two writes.
type jsonEscaper struct{ w io.Writer }

func (j jsonEscaper) Write(p []byte) (int, error) {
	var b []byte
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r < utf8.RuneSelf || unicode.IsGraphic(r) || (r == utf8.RuneError && size == 1) {
			b = append(b, p[i:i+size]...)
		} else if r1, r2 := utf16.EncodeRune(r); r1 != unicode.ReplacementChar {
			b = fmt.Appendf(b, `\u%04x\u%04x`, r1, r2)
		} else {
			b = fmt.Appendf(b, `\u%04x`, r)
		}
		i += size
	}
	if _, err := j.w.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}
