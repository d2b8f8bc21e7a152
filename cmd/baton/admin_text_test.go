package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCell(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"Empty", "", 40, "-"},
		{"Plain", "curl/8.5.0", 40, "curl/8.5.0"},
		{"NonASCIIGraphic", "Mozilla/5.0 (Łódź; 日本語)", 40, "Mozilla/5.0 (Łódź; 日本語)"},
		{"BidiOverride", "evil\u202etxt.exe", 40, `evil\u202etxt.exe`},
		{"BidiIsolates", "a\u2066b\u2067c\u2068d\u2069e", 40, `a\u2066b\u2067c\u2068d\u2069e`},
		{"BidiMarks", "\u200e\u200f\u061c", 40, `\u200e\u200f\u061c`},
		{"BidiEmbeddings", "\u202a\u202b\u202c\u202d", 40, `\u202a\u202b\u202c\u202d`},
		{"C0", "a\x1b[2Jb\r\n\t\x00", 40, `a\u001b[2Jb\u000d\u000a\u0009\u0000`},
		{"DEL", "a\x7fb", 40, `a\u007fb`},
		{"C1", "a\u009b31mb\u0085", 40, `a\u009b31mb\u0085`},
		{"LineSeparators", "a\u2028b\u2029c", 40, `a\u2028b\u2029c`},
		{"ZeroWidth", "a\u200bb\ufeffc", 40, `a\u200bb\ufeffc`},
		{"Backslash", `a\u202eb`, 40, `a\\u202eb`},
		{"InvalidUTF8", "a\xffb\xc3", 40, `a\xffb\xc3`},
		{"TagCharacter", "a\U000E0041", 40, `a\U000e0041`},
		{"Exact", strings.Repeat("x", 40), 40, strings.Repeat("x", 40)},
		{"Long", strings.Repeat("x", 41), 40, strings.Repeat("x", 37) + "..."},
		{"LongMultibyte", strings.Repeat("é", 50), 40, strings.Repeat("é", 37) + "..."},
		{"LongCutBeforeEscape", strings.Repeat("x", 35) + "\u202e" + strings.Repeat("y", 10), 40, strings.Repeat("x", 35) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cell(tt.in, tt.max)
			if got != tt.want {
				t.Fatalf("cell(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
			if !utf8.ValidString(got) || utf8.RuneCountInString(got) > tt.max {
				t.Fatalf("cell(%q) = %q: invalid UTF-8 or longer than %d", tt.in, got, tt.max)
			}
			for _, r := range got {
				if r < 0x20 || (r >= 0x7f && r <= 0x9f) || (r >= 0x2000 && r <= 0x206f && r != 0x2026) {
					t.Fatalf("cell(%q) = %q keeps %U", tt.in, got, r)
				}
			}
		})
	}
}

func TestJSONEscaper(t *testing.T) {
	for _, in := range []string{
		"plain", "evil\u202etxt", "c1\u0085\u009b", "ls\u2028ps\u2029", "zwj👩\u200d💻", "tag\U000E0041", "ctl\x1b\x00", "ok 日本語",
	} {
		var buf bytes.Buffer
		if err := json.NewEncoder(jsonEscaper{&buf}).Encode(map[string]string{"user_agent": in}); err != nil {
			t.Fatal(err)
		}
		var back map[string]string
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back["user_agent"] != in {
			t.Fatalf("%q: escaped JSON %s decodes to %q (%v)", in, buf.Bytes(), back["user_agent"], err)
		}
		for _, r := range buf.String() {
			if (r < 0x20 && r != '\n') || (r >= 0x7f && r <= 0x9f) || r == 0x202e || r == 0x2028 || r == 0x200d || r == 0xe0041 {
				t.Fatalf("%q: output %q keeps %U", in, buf.String(), r)
			}
		}
	}
}
