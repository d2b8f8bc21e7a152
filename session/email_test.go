package session

import (
	"strings"
	"testing"

	"github.com/batonauth/baton"
)

// TestNormalizeEmail: bare addresses are accepted and compared
// case-insensitively; everything that could change the meaning of the To
// header a message is sent with, or that is not a deliverable address, is
// refused with invalid_email.
func TestNormalizeEmail(t *testing.T) {
	local64 := strings.Repeat("l", 64)
	label63 := strings.Repeat("d", 63)
	long := local64 + "@" + label63 + "." + label63 + "." + strings.Repeat("e", 61) // 254 bytes
	tests := []struct {
		name          string
		raw           string
		wantAddr      string // "" when refused
		wantCanonical string
	}{
		{"Plain", "ada@example.com", "ada@example.com", "ada@example.com"},
		{"Case", "Ada.Lovelace@Example.COM", "Ada.Lovelace@Example.COM", "ada.lovelace@example.com"},
		{"SpacesAround", "  ada@example.com ", "ada@example.com", "ada@example.com"},
		{"Plus", "ada+baton@example.com", "ada+baton@example.com", "ada+baton@example.com"},
		{"Atext", "a!#$%&'*+/=?^_`{|}~-b@example.com", "a!#$%&'*+/=?^_`{|}~-b@example.com", "a!#$%&'*+/=?^_`{|}~-b@example.com"},
		{"Subdomain", "ada@mail.example.co.uk", "ada@mail.example.co.uk", "ada@mail.example.co.uk"},
		{"Hyphen", "ada@my-host.example", "ada@my-host.example", "ada@my-host.example"},
		{"Punycode", "ada@xn--bcher-kva.example", "ada@xn--bcher-kva.example", "ada@xn--bcher-kva.example"},
		{"Unicode", "Zoë@Bücher.example", "Zoë@Bücher.example", "zoë@bücher.example"},
		{"NFD", "Zoe\u0308@example.com", "Zoe\u0308@example.com", "zoë@example.com"},
		{"Longest", long, long, long},

		// Header injection and invisible characters.
		{"CRLF", "ada@example.com\r\nBcc: eve@example.com", "", ""},
		{"LF", "ada@example.com\nBcc: eve@example.com", "", ""},
		{"CR", "ada\r@example.com", "", ""},
		{"TrailingCRLF", "ada@example.com\r\n", "", ""},
		{"NUL", "ada\x00@example.com", "", ""},
		{"Tab", "ada@example.com\t", "", ""},
		{"DEL", "ada\x7f@example.com", "", ""},
		{"C1Control", "ada\u0085@example.com", "", ""},
		{"BidiOverride", "ada\u202e@example.com", "", ""},
		{"ZeroWidthSpace", "ada\u200b@example.com", "", ""},
		{"InnerSpace", "ada lovelace@example.com", "", ""},
		{"NoBreakSpace", "ada\u00a0@example.com", "", ""},
		{"InvalidUTF8", "ada\xff@example.com", "", ""},
		{"ReplacementChar", "ada\ufffd@example.com", "", ""},

		// Not a bare address.
		{"Empty", "", "", ""},
		{"OnlySpaces", "   ", "", ""},
		{"DisplayName", "Ada <ada@example.com>", "", ""},
		{"QuotedDisplayName", `"Ada" <ada@example.com>`, "", ""},
		{"AngleBrackets", "<ada@example.com>", "", ""},
		{"Comment", "ada@example.com(comment)", "", ""},
		{"QuotedLocal", `"ada"@example.com`, "", ""},
		{"List", "ada@example.com,eve@example.com", "", ""},
		{"Group", "undisclosed:ada@example.com;", "", ""},

		// Not deliverable on the Internet, or malformed.
		{"NoAt", "ada.example.com", "", ""},
		{"TwoAts", "ada@eve@example.com", "", ""},
		{"NoLocal", "@example.com", "", ""},
		{"NoDomain", "ada@", "", ""},
		{"NoDot", "ada@localhost", "", ""},
		{"TrailingDot", "ada@example.com.", "", ""},
		{"LeadingDot", "ada@.example.com", "", ""},
		{"DoubleDot", "ada@example..com", "", ""},
		{"LocalDoubleDot", "ada..lovelace@example.com", "", ""},
		{"LocalLeadingDot", ".ada@example.com", "", ""},
		{"HyphenLabel", "ada@-example.com", "", ""},
		{"Underscore", "ada@ex_ample.com", "", ""},
		{"DomainLiteral", "ada@[192.0.2.1]", "", ""},
		{"IPAddress", "ada@192.0.2.1", "", ""},
		{"LongLabel", "ada@" + label63 + "d.com", "", ""},
		{"LongLocal", local64 + "l@example.com", "", ""},
		{"TooLong", long + "e", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, canonical, err := NormalizeEmail(tt.raw)
			if tt.wantAddr == "" {
				if baton.ErrorCode(err) != baton.EInvalidEmail {
					t.Fatalf("NormalizeEmail(%q): got %q, %q, %v, want invalid_email", tt.raw, addr, canonical, err)
				}
				return
			}
			if err != nil || addr != tt.wantAddr || canonical != tt.wantCanonical {
				t.Fatalf("NormalizeEmail(%q): got %q, %q, %v, want %q, %q, nil", tt.raw, addr, canonical, err, tt.wantAddr, tt.wantCanonical)
			}
		})
	}
	if len(long) != MaxEmailBytes {
		t.Fatalf("the longest address has %d bytes, want %d", len(long), MaxEmailBytes)
	}
}
