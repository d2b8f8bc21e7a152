package token_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/batonauth/baton/token"
)

func TestNewRefreshToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := token.NewRefreshToken()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, token.RefreshPrefix) || len(tok) != 47 || !token.IsRefreshToken(tok) {
			t.Fatalf("token %q is not a well-formed refresh token", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q made twice", tok)
		}
		seen[tok] = true
	}
}

func TestSuccessor(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	tok, err := token.NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	next := token.Successor(key, tok)
	if again := token.Successor(key, tok); again != next {
		t.Errorf("successor not deterministic: %q then %q", next, again)
	}
	if !token.IsRefreshToken(next) || next == tok {
		t.Errorf("successor %q of %q", next, tok)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tok))
	if want := token.RefreshPrefix + b64.EncodeToString(m.Sum(nil)); next != want {
		t.Errorf("successor %q, want HMAC-SHA256 %q", next, want)
	}
	otherKey := []byte("fedcba9876543210fedcba9876543210")
	if token.Successor(otherKey, tok) == next {
		t.Error("successor does not depend on the key")
	}
	if token.Successor(key, next) == next {
		t.Error("successor of the successor is the successor")
	}

	t.Run("ShortKeyPanics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("Successor with a 16-byte key did not panic")
			}
		}()
		token.Successor(key[:16], tok)
	})
}

func TestHashRefreshToken(t *testing.T) {
	tok := "brt_" + strings.Repeat("A", 43)
	want := sha256.Sum256([]byte(tok))
	if got := token.HashRefreshToken(tok); string(got) != string(want[:]) {
		t.Errorf("hash %x, want %x", got, want)
	}
}

func TestIsRefreshToken(t *testing.T) {
	valid := "brt_" + strings.Repeat("A", 42) + "Q" // Q = 16: trailing bits zero
	for _, tt := range []struct {
		name string
		tok  string
		want bool
	}{
		{"OK", valid, true},
		{"OKAlphabet", "brt_abcdefghijklmnopqrstuvwxyz0123456789-_AAAAA", true},
		{"Empty", "", false},
		{"PrefixOnly", "brt_", false},
		{"WrongPrefix", "brx_" + valid[4:], false},
		{"UpperPrefix", "BRT_" + valid[4:], false},
		{"Short", valid[:46], false},
		{"Long", valid + "A", false},
		{"Padded", valid[:46] + "=", false},
		{"StdAlphabetPlus", valid[:10] + "+" + valid[11:], false},
		{"StdAlphabetSlash", valid[:10] + "/" + valid[11:], false},
		{"Space", valid[:10] + " " + valid[11:], false},
		{"NUL", valid[:10] + "\x00" + valid[11:], false},
		{"NonASCII", valid[:10] + "é" + valid[12:], false},
		{"NonCanonicalTail", valid[:46] + "R", false},
		{"AccessToken", "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.sig", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := token.IsRefreshToken(tt.tok); got != tt.want {
				t.Errorf("IsRefreshToken(%q) = %v, want %v", tt.tok, got, tt.want)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { token.IsRefreshToken(valid) }); n != 0 {
		t.Errorf("IsRefreshToken allocates %v times, want 0", n)
	}
}

// FuzzIsRefreshToken checks IsRefreshToken against the plain definition:
// the prefix and the canonical unpadded base64url encoding of 32 bytes.
func FuzzIsRefreshToken(f *testing.F) {
	f.Add("brt_" + strings.Repeat("A", 43))
	f.Add("brt_" + strings.Repeat("_", 43))
	f.Add("brt_" + strings.Repeat("A", 42) + "B")
	f.Add("brt_" + strings.Repeat("A", 42) + "=")
	f.Add("brt_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		body, ok := strings.CutPrefix(s, token.RefreshPrefix)
		want := false
		if ok {
			b, err := b64.Strict().DecodeString(body)
			want = err == nil && len(b) == 32 && !strings.ContainsAny(body, "\r\n")
		}
		if got := token.IsRefreshToken(s); got != want {
			t.Errorf("IsRefreshToken(%q) = %v, want %v", s, got, want)
		}
	})
}

func BenchmarkNewRefreshToken(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := token.NewRefreshToken(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSuccessor(b *testing.B) {
	key := make([]byte, 32)
	tok, _ := token.NewRefreshToken()
	b.ReportAllocs()
	for b.Loop() {
		token.Successor(key, tok)
	}
}

func BenchmarkHashRefreshToken(b *testing.B) {
	tok, _ := token.NewRefreshToken()
	b.ReportAllocs()
	for b.Loop() {
		token.HashRefreshToken(tok)
	}
}

func BenchmarkIsRefreshToken(b *testing.B) {
	tok, _ := token.NewRefreshToken()
	b.ReportAllocs()
	for b.Loop() {
		if !token.IsRefreshToken(tok) {
			b.Fatal("not a refresh token")
		}
	}
}
