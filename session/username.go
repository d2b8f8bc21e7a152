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
	if !visible([]rune(display)) {
		return "", "", baton.Errorf(baton.EInvalidUsername, "the username contains control or invisible characters")
	}
	// Folding can denormalise (e.g. expanding ligatures), so normalise again.
	canonical = norm.NFC.String(cases.Fold().String(display))
	return display, canonical, nil
}

const (
	zwj         = '\u200D' // zero width joiner: glues emoji into one (👩‍💻)
	textStyle   = '\uFE0E' // variation selector 15: show as text
	emojiStyle  = '\uFE0F' // variation selector 16: show as emoji (❤️)
	keycap      = '\u20E3' // combining enclosing keycap (1️⃣)
	blackFlag   = '\U0001F3F4'
	cancelTag   = '\U000E007F'
	tagOffset   = 0xE0000 // tag characters mirror ASCII at this offset
	skinToneMin = '\U0001F3FB'
	skinToneMax = '\U0001F3FF'
)

// visible reports whether rs is free of characters that show nothing, or
// change how the rest shows, so two accounts cannot look alike: controls,
// format characters (bidi overrides and isolates, zero-width spaces and
// joiners, tags), variation selectors and other default-ignorable code
// points (Hangul fillers, the combining grapheme joiner). The exceptions
// are the parts of emoji, which are fine usernames (UTS #51):
//   - a zero width joiner between two emoji (👩‍💻, 🏳️‍🌈);
//   - a presentation selector (U+FE0E, U+FE0F) right after an emoji, and
//     U+FE0F in a keycap (1️⃣);
//   - the tags of the subdivision flags Unicode recommends (England,
//     Scotland, Wales), after 🏴 and closed by the cancel tag;
//   - other variation selectors right after a Han or Mongolian letter,
//     whose glyph variants they choose.
//
// Anything else hidden is refused: tags could carry invisible text, and a
// joiner or selector elsewhere changes nothing a reader could see.
func visible(rs []rune) bool {
	// emoji: the previous character ends an emoji, which a joiner may
	// follow.
	emoji := false
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		prev, next := rune(-1), rune(-1)
		if i > 0 {
			prev = rs[i-1]
		}
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		switch {
		case unicode.Is(pictographic, r):
			if r == blackFlag {
				i += subdivisionTags(rs[i+1:])
			}
			emoji = true
		case r == zwj:
			if !emoji || !unicode.Is(pictographic, next) {
				return false
			}
			emoji = false
		case r == textStyle || r == emojiStyle:
			switch {
			case unicode.Is(pictographic, prev):
				// emoji stays true: 🏳️‍🌈 joins after the selector.
			case r == emojiStyle && isKeycapBase(prev) && next == keycap:
				emoji = false
			default:
				return false
			}
		case r >= skinToneMin && r <= skinToneMax:
			// Visible on its own; after an emoji it is part of it (👩🏽‍💻).
			emoji = unicode.Is(pictographic, prev)
		case unicode.IsControl(r) || r == unicode.ReplacementChar:
			return false
		case unicode.Is(unicode.Variation_Selector, r):
			if !unicode.Is(unicode.Han, prev) && !unicode.Is(unicode.Mongolian, prev) {
				return false
			}
			emoji = false
		case unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point):
			return false
		default:
			emoji = false
		}
	}
	return true
}

func isKeycapBase(r rune) bool { return r == '#' || r == '*' || (r >= '0' && r <= '9') }

// subdivisionFlags are the tag sequences of the subdivision flags Unicode
// recommends for general interchange (🏴󠁧󠁢󠁥󠁮󠁧󠁿 is 🏴 + "gbeng" in tags + cancel).
var subdivisionFlags = []string{"gbeng", "gbsct", "gbwls"}

// subdivisionTags returns how many of rs (what follows a 🏴) are the tags
// of a recommended subdivision flag, cancel tag included; 0 if none.
func subdivisionTags(rs []rune) int {
	for _, code := range subdivisionFlags {
		if len(rs) < len(code)+1 || rs[len(code)] != cancelTag {
			continue
		}
		match := true
		for j, c := range code {
			if rs[j] != tagOffset+c {
				match = false
				break
			}
		}
		if match {
			return len(code) + 1
		}
	}
	return 0
}

// pictographic is Unicode's Extended_Pictographic property (emoji-data.txt,
// Unicode 16.0), which the standard library does not provide: the
// characters that emoji sequences are built from.
var pictographic = &unicode.RangeTable{
	R16: []unicode.Range16{
		{0x00A9, 0x00A9, 1}, {0x00AE, 0x00AE, 1}, {0x203C, 0x203C, 1}, {0x2049, 0x2049, 1},
		{0x2122, 0x2122, 1}, {0x2139, 0x2139, 1}, {0x2194, 0x2199, 1}, {0x21A9, 0x21AA, 1},
		{0x231A, 0x231B, 1}, {0x2328, 0x2328, 1}, {0x2388, 0x2388, 1}, {0x23CF, 0x23CF, 1},
		{0x23E9, 0x23F3, 1}, {0x23F8, 0x23FA, 1}, {0x24C2, 0x24C2, 1}, {0x25AA, 0x25AB, 1},
		{0x25B6, 0x25B6, 1}, {0x25C0, 0x25C0, 1}, {0x25FB, 0x25FE, 1}, {0x2600, 0x2605, 1},
		{0x2607, 0x2612, 1}, {0x2614, 0x2685, 1}, {0x2690, 0x2705, 1}, {0x2708, 0x2712, 1},
		{0x2714, 0x2714, 1}, {0x2716, 0x2716, 1}, {0x271D, 0x271D, 1}, {0x2721, 0x2721, 1},
		{0x2728, 0x2728, 1}, {0x2733, 0x2734, 1}, {0x2744, 0x2744, 1}, {0x2747, 0x2747, 1},
		{0x274C, 0x274C, 1}, {0x274E, 0x274E, 1}, {0x2753, 0x2755, 1}, {0x2757, 0x2757, 1},
		{0x2763, 0x2767, 1}, {0x2795, 0x2797, 1}, {0x27A1, 0x27A1, 1}, {0x27B0, 0x27B0, 1},
		{0x27BF, 0x27BF, 1}, {0x2934, 0x2935, 1}, {0x2B05, 0x2B07, 1}, {0x2B1B, 0x2B1C, 1},
		{0x2B50, 0x2B50, 1}, {0x2B55, 0x2B55, 1}, {0x3030, 0x3030, 1}, {0x303D, 0x303D, 1},
		{0x3297, 0x3297, 1}, {0x3299, 0x3299, 1},
	},
	R32: []unicode.Range32{
		{0x1F000, 0x1F0FF, 1}, {0x1F10D, 0x1F10F, 1}, {0x1F12F, 0x1F12F, 1}, {0x1F16C, 0x1F171, 1},
		{0x1F17E, 0x1F17F, 1}, {0x1F18E, 0x1F18E, 1}, {0x1F191, 0x1F19A, 1}, {0x1F1AD, 0x1F1E5, 1},
		{0x1F201, 0x1F20F, 1}, {0x1F21A, 0x1F21A, 1}, {0x1F22F, 0x1F22F, 1}, {0x1F232, 0x1F23A, 1},
		{0x1F23C, 0x1F23F, 1}, {0x1F249, 0x1F3FA, 1}, {0x1F400, 0x1F53D, 1}, {0x1F546, 0x1F64F, 1},
		{0x1F680, 0x1F6FF, 1}, {0x1F774, 0x1F77F, 1}, {0x1F7D5, 0x1F7FF, 1}, {0x1F80C, 0x1F80F, 1},
		{0x1F848, 0x1F84F, 1}, {0x1F85A, 0x1F85F, 1}, {0x1F888, 0x1F88F, 1}, {0x1F8AE, 0x1F8FF, 1},
		{0x1F90C, 0x1F93A, 1}, {0x1F93C, 0x1F945, 1}, {0x1F947, 0x1FAFF, 1}, {0x1FC00, 0x1FFFD, 1},
	},
	LatinOffset: 2,
}
