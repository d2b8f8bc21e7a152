package session

import (
	"testing"
	"unicode"

	"github.com/batonauth/baton"
)

// TestNormalizeUsername: emoji sequences are emoji, which usernames may
// hold, joiners and selectors included; the same invisible characters
// anywhere else, and bidi controls anywhere, are refused.
func TestNormalizeUsername(t *testing.T) {
	tests := []struct {
		name          string
		raw           string
		wantDisplay   string // "" when refused
		wantCanonical string
	}{
		{"Plain", "  Alice ", "Alice", "alice"},
		{"Email", "Ada@Example.com", "Ada@Example.com", "ada@example.com"},
		{"NFC", "Cafe\u0301", "Café", "café"},
		{"Emoji", "sam😀", "sam😀", "sam😀"},
		{"SkinTone", "👍🏽", "👍🏽", "👍🏽"},
		{"Flag", "🇫🇷fan", "🇫🇷fan", "🇫🇷fan"},

		// Emoji sequences: accepted (they were refused for their U+200D or tags).
		{"ZWJTechnologist", "dev👩\u200D💻", "dev👩\u200D💻", "dev👩\u200D💻"},
		{"ZWJSkinTone", "👩🏽\u200D💻", "👩🏽\u200D💻", "👩🏽\u200D💻"},
		{"ZWJFamily", "👨\u200D👩\u200D👧\u200D👦", "👨\u200D👩\u200D👧\u200D👦", "👨\u200D👩\u200D👧\u200D👦"},
		{"ZWJAfterSelector", "🏳\uFE0F\u200D🌈Kim", "🏳\uFE0F\u200D🌈Kim", "🏳\uFE0F\u200D🌈kim"},
		{"ZWJSelectorBothSides", "👁\uFE0F\u200D🗨\uFE0F", "👁\uFE0F\u200D🗨\uFE0F", "👁\uFE0F\u200D🗨\uFE0F"},
		{"HeartOnFire", "❤\uFE0F\u200D🔥", "❤\uFE0F\u200D🔥", "❤\uFE0F\u200D🔥"},
		{"EmojiSelector", "I❤\uFE0FGo", "I❤\uFE0FGo", "i❤\uFE0Fgo"},
		{"TextSelector", "☺\uFE0E", "☺\uFE0E", "☺\uFE0E"},
		{"Keycap", "room1\uFE0F\u20E3", "room1\uFE0F\u20E3", "room1\uFE0F\u20E3"},
		{"PirateFlag", "🏴\u200D☠\uFE0F", "🏴\u200D☠\uFE0F", "🏴\u200D☠\uFE0F"},
		{"England", "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007Ffan", "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007Ffan", "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007Ffan"},
		{"IdeographicVariant", "葛\U000E0100西", "葛\U000E0100西", "葛\U000E0100西"},

		// Invisible or format characters outside such sequences: refused.
		{"ZWJBetweenLetters", "a\u200Db", "", ""},
		{"ZWJAfterLetter", "a\u200D😀", "", ""},
		{"ZWJBeforeLetter", "😀\u200Da", "", ""},
		{"ZWJAtEnd", "😀\u200D", "", ""},
		{"ZWJAtStart", "\u200D😀", "", ""},
		{"TwoZWJ", "😀\u200D\u200D😀", "", ""},
		{"ZWJAfterLoneSkinTone", "🏽\u200D😀", "", ""},
		{"SelectorAfterLetter", "alice\uFE0F", "", ""},
		{"TextSelectorAfterLetter", "alice\uFE0E", "", ""},
		{"SelectorAlone", "\uFE0F", "", ""},
		{"TwoSelectors", "😀\uFE0F\uFE0F", "", ""},
		{"KeycapWithoutCap", "1\uFE0F", "", ""},
		{"OtherSelectorAfterLetter", "alice\uFE00", "", ""},
		{"IdeographicSelectorAfterLetter", "a\U000E0100", "", ""},
		{"BidiOverride", "\u202Eecila", "", ""},
		{"BidiOverrideAfterEmoji", "😀\u202Eab", "", ""},
		{"BidiIsolate", "ali\u2066ce", "", ""},
		{"RightToLeftMark", "alice\u200F", "", ""},
		{"ZeroWidthSpace", "ali\u200Bce", "", ""},
		{"ZeroWidthNonJoiner", "ali\u200Cce", "", ""},
		{"WordJoiner", "ali\u2060ce", "", ""},
		{"ByteOrderMark", "\uFEFFalice", "", ""},
		{"SoftHyphen", "ali\u00ADce", "", ""},
		{"HangulFiller", "\u3164", "", ""},
		{"HalfwidthHangulFiller", "alice\uFFA0", "", ""},
		{"CombiningGraphemeJoiner", "alice\u034F", "", ""},
		{"TagsAfterLetter", "a\U000E0061\U000E007F", "", ""},
		{"UnknownSubdivisionFlag", "🏴\U000E0061\U000E0062\U000E0063\U000E007F", "", ""},
		{"FlagTagsWithoutCancel", "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067", "", ""},
		{"HiddenTextInFlag", "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E0061\U000E007F", "", ""},
		{"Control", "eve\x00", "", ""},
		{"ReplacementCharacter", "eve\uFFFD", "", ""},
		{"InvalidUTF8", "eve\xff", "", ""},
		{"Empty", "   ", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			display, canonical, err := NormalizeUsername(tt.raw)
			if tt.wantDisplay == "" {
				if baton.ErrorCode(err) != baton.EInvalidUsername {
					t.Fatalf("NormalizeUsername(%+q) = %+q, %v; want %s", tt.raw, display, err, baton.EInvalidUsername)
				}
				return
			}
			if err != nil || display != tt.wantDisplay || canonical != tt.wantCanonical {
				t.Fatalf("NormalizeUsername(%+q) = %+q, %+q, %v; want %+q, %+q", tt.raw, display, canonical, err, tt.wantDisplay, tt.wantCanonical)
			}
		})
	}
}

// TestPictographicTable: the hand-copied property table is sorted and
// without overlaps (unicode.Is binary-searches it), and it holds what
// emoji are built from but not the parts that are not emoji on their own.
func TestPictographicTable(t *testing.T) {
	last := rune(-1)
	for _, r := range pictographic.R16 {
		if rune(r.Lo) <= last || r.Hi < r.Lo || r.Stride != 1 {
			t.Fatalf("R16 entry %#x-%#x out of order", r.Lo, r.Hi)
		}
		last = rune(r.Hi)
	}
	for _, r := range pictographic.R32 {
		if rune(r.Lo) <= last || r.Hi < r.Lo || r.Stride != 1 {
			t.Fatalf("R32 entry %#x-%#x out of order", r.Lo, r.Hi)
		}
		last = rune(r.Hi)
	}
	for _, r := range []rune{'©', '❤', '☠', '⚧', '😀', '🏴', '🔥', '🫠', '🦀'} {
		if !unicode.Is(pictographic, r) {
			t.Errorf("%q (%U) is not pictographic", r, r)
		}
	}
	for _, r := range []rune{'a', '1', '#', '\u200D', '\uFE0F', '\U0001F3FB', '\U0001F1EB', '\u20E3', '漢'} {
		if unicode.Is(pictographic, r) {
			t.Errorf("%q (%U) is pictographic", r, r)
		}
	}
}
