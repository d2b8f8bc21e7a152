package session_test

import (
	"strings"
	"testing"
)

// TestCSRFSession: only a value of the current form whose HMAC verifies
// names a session; the older form, tampered values and oversized ones name
// none, and CSRFTokenMatches accepts both forms of the right session only.
func TestCSRFSession(t *testing.T) {
	f := newFixture(t, nil)
	const sid = "0b0f2a4e-6a53-4c5f-9d3e-2b8f0c1d2e3f"
	tok := f.svc.CSRFToken(sid)
	i := strings.LastIndexByte(tok, '.')
	if i < 0 || tok[:i] != sid {
		t.Fatalf("CSRFToken(%q) = %q: want the session id, a dot and the HMAC", sid, tok)
	}
	mac := tok[i+1:]
	other := f.svc.CSRFToken("another-session")
	flip := func(s string) string {
		b := []byte(s)
		if b[len(b)-1] == 'A' {
			b[len(b)-1] = 'B'
		} else {
			b[len(b)-1] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name, v, want string
	}{
		{"Current", tok, sid},
		{"OlderForm", mac, ""},
		{"TamperedHMAC", flip(tok), ""},
		{"OtherSessionsHMAC", sid + "." + other[strings.LastIndexByte(other, '.')+1:], ""},
		{"NoSession", "." + mac, ""},
		{"NoHMAC", sid + ".", ""},
		{"Empty", "", ""},
		// Well formed and verifying, but longer than any session id: not
		// worth hashing.
		{"Oversized", f.svc.CSRFToken(strings.Repeat("x", 300)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.svc.CSRFSession(tt.v); got != tt.want {
				t.Errorf("CSRFSession(%q) = %q, want %q", tt.v, got, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		v, sid string
		want   bool
	}{
		{tok, sid, true}, {mac, sid, true}, {tok, "another-session", false}, {mac, "another-session", false},
		{other, sid, false}, {flip(tok), sid, false}, {"", sid, false},
	} {
		if got := f.svc.CSRFTokenMatches(tt.v, tt.sid); got != tt.want {
			t.Errorf("CSRFTokenMatches(%q, %q) = %v, want %v", tt.v, tt.sid, got, tt.want)
		}
	}
}
