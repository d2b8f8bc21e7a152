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

func TestSessionRefreshToken(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	otherKey := []byte("fedcba9876543210fedcba9876543210")
	const sid = "9f1c2b4e-8a7d-4c3b-9e2f-1a2b3c4d5e6f"
	first, err := token.NewSessionRefreshToken(key, sid)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := token.NewSessionRefreshToken(key, sid); again == first {
		t.Fatal("two first tokens of one session are equal: the secret is not random")
	}
	if !strings.HasPrefix(first, token.RefreshPrefix) || !token.IsRefreshToken(first) {
		t.Fatalf("%q is not a well-formed refresh token", first)
	}
	if sr, ok := token.ParseSessionRefresh(key, first); !ok || sr != (token.SessionRefresh{SessionID: sid, Gen: 1}) {
		t.Fatalf("ParseSessionRefresh(first) = %+v, %v", sr, ok)
	}
	// The chain: each successor names the next generation, is derived (a
	// retry gets the same one) and genuine.
	tok := first
	for gen := int64(2); gen <= 5; gen++ {
		next := token.Successor(key, tok)
		if token.Successor(key, tok) != next || next == tok {
			t.Fatalf("successor of generation %d not deterministic or unchanged", gen-1)
		}
		if sr, ok := token.ParseSessionRefresh(key, next); !ok || sr != (token.SessionRefresh{SessionID: sid, Gen: gen}) {
			t.Fatalf("generation %d parses as %+v, %v", gen, sr, ok)
		}
		tok = next
	}
	if token.Successor(otherKey, first) == token.Successor(key, first) {
		t.Error("successor does not depend on the key")
	}

	payload := func(tok string) []byte {
		p, err := b64.DecodeString(strings.TrimPrefix(tok, token.RefreshPrefix))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	enc := func(p []byte) string { return token.RefreshPrefix + b64.EncodeToString(p) }
	edit := func(f func(p []byte) []byte) string { return enc(f(payload(first))) }
	tests := []struct {
		name       string
		tok        string
		wellFormed bool // IsRefreshToken
	}{
		{"OtherKey", first, true}, // checked under otherKey below
		{"TagChanged", edit(func(p []byte) []byte { p[50] ^= 1; return p }), true},
		{"GenerationRaised", edit(func(p []byte) []byte { p[8]++; return p }), true},
		{"GenerationZero", edit(func(p []byte) []byte { clear(p[1:9]); return p }), false},
		{"SessionChanged", edit(func(p []byte) []byte { p[len(p)-1] = 'x'; return p }), true},
		{"SessionTruncated", edit(func(p []byte) []byte { return p[:len(p)-1] }), true},
		{"NoSession", edit(func(p []byte) []byte { return p[:57] }), false},
		{"SessionBadByte", edit(func(p []byte) []byte { p[len(p)-1] = '.'; return p }), false},
		{"SessionTooLong", edit(func(p []byte) []byte { return append(p, strings.Repeat("a", 64)...) }), false},
		{"OtherVersion", edit(func(p []byte) []byte { p[0] = 3; return p }), false},
		{"NonCanonical", func() string {
			// 61 bytes encode to 82 characters with 4 bits to spare,
			// which must be zero.
			tk, _ := token.NewSessionRefreshToken(key, "abcd")
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			last := strings.IndexByte(alphabet, tk[len(tk)-1])
			return tk[:len(tk)-1] + string(alphabet[last|1])
		}(), false},
		{"NotBase64", first[:30] + "!" + first[31:], false},
		{"NoPrefix", "xrt_" + first[4:], false},
		{"FirstForm", func() string { tk, _ := token.NewRefreshToken(); return tk }(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := key
			if tt.name == "OtherKey" {
				k = otherKey
			}
			if sr, ok := token.ParseSessionRefresh(k, tt.tok); ok {
				t.Errorf("ParseSessionRefresh(%q) = %+v, true; want false", tt.tok, sr)
			}
			if got := token.IsRefreshToken(tt.tok); got != tt.wellFormed {
				t.Errorf("IsRefreshToken = %v, want %v", got, tt.wellFormed)
			}
		})
	}

	// The tag proves the session and generation, not the secret: a token
	// with another secret parses, and the store's hash refuses it.
	secret := edit(func(p []byte) []byte { p[20] ^= 1; return p })
	if sr, ok := token.ParseSessionRefresh(key, secret); !ok || sr.Gen != 1 || token.HashRefreshToken(secret) == nil ||
		string(token.HashRefreshToken(secret)) == string(token.HashRefreshToken(first)) {
		t.Errorf("a token with another secret: %+v, %v", sr, ok)
	}

	for _, bad := range []string{"", strings.Repeat("a", 65), "a.b", "a b", "é"} {
		if tok, err := token.NewSessionRefreshToken(key, bad); err == nil {
			t.Errorf("NewSessionRefreshToken(%q) = %q, want an error", bad, tok)
		}
	}
}
