package password

import (
	"strings"
	"testing"

	"github.com/batonauth/baton"
)

func TestCheckPassword(t *testing.T) {
	for _, tt := range []struct {
		name     string
		username string
		pw       string
		wantWeak bool
	}{
		{"Passphrase", "alice", "correct horse battery staple", false},
		{"Exactly8", "alice", "xK9#mQ2v", false},
		{"Exactly1024", "alice", strings.Repeat("a", 1023) + "b", false},
		{"Unicode8Bytes", "alice", "€€ab", false}, // 8 bytes, 4 characters
		{"Empty", "alice", "", true},
		{"Short", "alice", "xK9#mQ2", true},
		{"ShortInCharacters", "alice", "ñandú", true}, // 7 bytes
		{"Long", "alice", strings.Repeat("a", 1025), true},
		{"InvalidUTF8", "alice", "abcdefgh\xff", true},
		{"Username", "alice.smith@example.com", "alice.smith@example.com", true},
		{"UsernameOtherCase", "alice.smith@example.com", "Alice.Smith@Example.COM", true},
		{"UsernameWithSpaces", "alicesmith", "  ALICESMITH ", true},
		{"UsernameUnicodeCase", "ÉLODIE-DUPONT", "élodie-dupont", true},
		{"ContainsUsername", "alice", "alice-likes-long-walks", false},
		{"Common", "alice", "password123", true},
		{"CommonOtherCase", "alice", "PassWord123", true},
		{"CommonUpper", "alice", "ILOVEYOU", true},
		{"CommonWithSpaces", "alice", " password123 ", true},
		{"CommonDeepInList", "alice", "qwertyuiop", true},
		{"AlmostCommon", "alice", "password123!x", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "Unicode8Bytes" && len(tt.pw) != 8 {
				t.Fatalf("fixture is %d bytes", len(tt.pw))
			}
			err := CheckPassword(tt.username, tt.pw)
			if got := err != nil; got != tt.wantWeak {
				t.Fatalf("CheckPassword(%q, %q) = %v, want weak %v", tt.username, tt.pw, err, tt.wantWeak)
			}
			if err != nil {
				if code := baton.ErrorCode(err); code != baton.EWeakPassword {
					t.Errorf("code %q, want %q", code, baton.EWeakPassword)
				}
				if baton.ErrorMessage(err) == "" || strings.Contains(baton.ErrorMessage(err), tt.pw) && tt.pw != "" {
					t.Errorf("message %q", baton.ErrorMessage(err))
				}
			}
		})
	}
}

func TestCommonList(t *testing.T) {
	set := commonPasswords()
	if n := len(set); n < 15000 {
		t.Fatalf("common list has %d entries", n)
	}
	for pw := range set {
		if len(pw) < MinBytes || pw != strings.ToLower(pw) || strings.TrimSpace(pw) != pw {
			t.Errorf("list entry %q: shorter than %d bytes, not lowercase or padded", pw, MinBytes)
		}
	}
}

func BenchmarkCheckPassword(b *testing.B) {
	commonPasswords()
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckPassword("alice", "Correct Horse Battery Staple"); err != nil {
			b.Fatal(err)
		}
	}
}
